//! `yimen auth init` and `yimen token issue`: the keys of an installation and the tokens its
//! callers present.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use yimen_platform::auth::{Principal, Role, generate_keys};

use crate::settings::Settings;

#[derive(Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Make a signing key (signing.pem, keep it secret) and the JWKS that verifies its tokens
    /// (jwks.json, for every service's auth.verify_keys_file).
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
}

impl AuthArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let AuthCommand::Init { dir } = self.command;
        let files = generate_keys(&dir)?;
        println!("signing key: {}", files.signing_key.display());
        println!("JWKS:        {}", files.jwks.display());
        println!(
            "give every service YIMEN__AUTH__VERIFY_KEYS_FILE={} and issue tokens with YIMEN__AUTH__SIGNING_KEY_FILE={} yimen token issue --role ...",
            files.jwks.display(),
            files.signing_key.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a signed token (auth.signing_key_file, else the standalone key under the data dir).
    Issue {
        /// reception, department, mediator, supervisor, analyst, leader, auditor, admin or system
        #[arg(long)]
        role: Role,
        /// The department a `department` token acts for.
        #[arg(long)]
        dept: Option<String>,
        /// The committee a `mediator` token acts for.
        #[arg(long)]
        committee: Option<String>,
        /// Who the token speaks for (logged and audited; no personal data).
        #[arg(long, default_value = "operator")]
        subject: String,
        /// How long it is valid: 90s, 30m, 8h, 7d.
        #[arg(long, default_value = "8h", value_parser = crate::auth::parse_ttl)]
        ttl: std::time::Duration,
    },
}

impl TokenArgs {
    pub fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let TokenCommand::Issue {
            role,
            dept,
            committee,
            subject,
            ttl,
        } = self.command;
        match role {
            Role::Department if dept.is_none() => {
                anyhow::bail!("a department token needs --dept CODE")
            }
            Role::Mediator if committee.is_none() => {
                anyhow::bail!("a mediator token needs --committee CODE")
            }
            _ => {}
        }
        let settings = Settings::load(config)?;
        let principal = Principal {
            subject,
            role,
            department: dept,
            committee,
        };
        let signing = crate::auth::signing_key_file(&settings);
        println!(
            "{}",
            crate::auth::issue(&settings, &signing, &principal, ttl)?
        );
        Ok(ExitCode::SUCCESS)
    }
}
