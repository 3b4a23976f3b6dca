//! `yimen keys init`, `yimen keys rotate` and `yimen keys reseal`: the data keys that seal
//! personal data at rest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use yimen_platform::seal::Algorithm;

use crate::keys::Progress;
use crate::settings::Settings;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new data key file (readable by its owner only; never over an existing one), for
    /// every service's security.data_key_file.
    Init {
        #[arg(long)]
        file: PathBuf,
        /// aes-256-gcm or sm4-gcm (国密); default: security.algorithm.
        #[arg(long)]
        algorithm: Option<Algorithm>,
    },
    /// Add a data key version and make it current, then seal every stored value again with it,
    /// online, batch by batch (security.data_key_file, else the standalone data dir's).
    Rotate {
        #[command(flatten)]
        reseal: Reseal,
        /// Only add the version: when the services read a copy of the file (a Kubernetes
        /// Secret), update their copy first, then run `keys reseal`.
        #[arg(long)]
        no_reseal: bool,
    },
    /// Seal again every stored value not at the current key version: what `rotate` does after
    /// adding the version, to finish one that was interrupted.
    Reseal(Reseal),
}

#[derive(Args)]
struct Reseal {
    /// Rows per batch (one transaction each).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// A standalone installation's data directory: its SQLite files and its key file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Reseal {
    fn settings(&self, config: Option<&Path>) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(config)?;
        if let Some(dir) = &self.data_dir {
            settings.standalone.data_dir = dir.clone();
            settings = settings.into_standalone();
        }
        Ok(settings)
    }
}

/// Resealing's progress: rows per service, a bar each on a terminal.
fn shown(progress: &crate::progress::Progress) -> impl FnMut(Progress) + '_ {
    |p: Progress| progress.step(p.service, p.done, p.total)
}

impl KeysArgs {
    pub async fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        match self.command {
            KeysCommand::Init { file, algorithm } => {
                let algorithm = match algorithm {
                    Some(a) => a,
                    None => Settings::load(config)?.security.algorithm,
                };
                crate::keys::init(&file, algorithm)?;
                println!("data key file: {} ({algorithm})", file.display());
                println!(
                    "give every service YIMEN__SECURITY__DATA_KEY_FILE={} (and YIMEN__SECURITY__ALGORITHM={algorithm})",
                    file.display()
                );
            }
            KeysCommand::Rotate {
                reseal: args,
                no_reseal: true,
            } => {
                let version = crate::keys::add_version(&args.settings(config)?)?;
                println!(
                    "data key version {version} is current; once every service reads this file, run `yimen keys reseal`"
                );
            }
            KeysCommand::Rotate {
                reseal: args,
                no_reseal: false,
            } => {
                let settings = args.settings(config)?;
                let progress = crate::progress::Progress::stderr();
                let rotated = crate::keys::rotate(&settings, args.batch, shown(&progress)).await?;
                println!("data key version {} is current", rotated.version);
                for (service, rows) in rotated.resealed {
                    println!("{service}: {rows} rows sealed again");
                }
            }
            KeysCommand::Reseal(args) => {
                let settings = args.settings(config)?;
                let progress = crate::progress::Progress::stderr();
                for (service, rows) in
                    crate::keys::reseal_stores(&settings, args.batch, shown(&progress)).await?
                {
                    println!("{service}: {rows} rows sealed again");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
