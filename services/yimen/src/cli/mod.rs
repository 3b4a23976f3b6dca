//! The operator's command line, by noun: each module owns its clap arguments and its handler;
//! [`parse`] reads what an operator types and [`render`] shows what the services answer.

pub mod analysis;
pub mod assignment;
pub mod audit;
pub mod auth;
pub mod case;
pub mod dept;
pub mod keys;
pub mod mediation;
pub mod parse;
pub mod render;
pub mod scorecard;
pub mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use yimen_proto::v1::Period;

use crate::client::{CliError, ClientTls, Urls};
use crate::run::Target;

/// Where the five services answer, for the commands that call them.
#[derive(Args)]
pub struct Conn {
    /// Intake's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_INTAKE_URL",
        default_value_t = Target::Intake.local_url()
    )]
    pub intake: String,
    /// Dispatch's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_DISPATCH_URL",
        default_value_t = Target::Dispatch.local_url()
    )]
    pub dispatch: String,
    /// Mediation's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_MEDIATION_URL",
        default_value_t = Target::Mediation.local_url()
    )]
    pub mediation: String,
    /// Analysis' address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_ANALYSIS_URL",
        default_value_t = Target::Analysis.local_url()
    )]
    pub analysis: String,
    /// Assessment's address.
    #[arg(
        long,
        global = true,
        env = "YIMEN_ASSESSMENT_URL",
        default_value_t = Target::Assessment.local_url()
    )]
    pub assessment: String,
    /// The bearer token to present (default: $YIMEN_TOKEN, else ./data/operator.token, which
    /// `yimen standalone` writes).
    #[arg(long, global = true, env = "YIMEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// What a client brings to `https://` addresses.
#[derive(Args)]
pub struct TlsArgs {
    /// The CA that signed the servers' certificates (PEM; default: the system's roots).
    #[arg(long, global = true, env = "YIMEN_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// This client's certificate (PEM), for servers that ask for one (mTLS); with --key-file.
    #[arg(long, global = true, env = "YIMEN_CERT_FILE")]
    pub cert_file: Option<PathBuf>,
    /// The key of --cert-file (PEM).
    #[arg(long, global = true, env = "YIMEN_KEY_FILE", hide_env_values = true)]
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate must hold (default: the address's host).
    #[arg(long, global = true, env = "YIMEN_SERVER_NAME")]
    pub server_name: Option<String>,
}

impl TlsArgs {
    pub fn client_tls(&self) -> ClientTls {
        ClientTls {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            server_name: self.server_name.clone(),
        }
    }
}

/// Where standalone leaves its administrator's token, relative to where it was started.
pub const OPERATOR_TOKEN_FILE: &str = "data/operator.token";

impl Conn {
    pub fn urls(&self) -> Urls {
        Urls {
            intake: self.intake.clone(),
            dispatch: self.dispatch.clone(),
            mediation: self.mediation.clone(),
            analysis: self.analysis.clone(),
            assessment: self.assessment.clone(),
            token: self.token.clone().or_else(|| {
                std::fs::read_to_string(OPERATOR_TOKEN_FILE)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            }),
            tls: self.tls.client_tls(),
        }
    }
}

/// The period of the situation and the scorecard.
#[derive(Args)]
pub struct PeriodArgs {
    /// From (2026-11-01, midnight China time, or RFC 3339), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// To, exclusive.
    #[arg(long)]
    to: Option<String>,
}

impl PeriodArgs {
    /// None when neither end is given: the service's default period.
    pub fn period(&self) -> Result<Option<Period>, CliError> {
        if self.from.is_none() && self.to.is_none() {
            return Ok(None);
        }
        Ok(Some(Period {
            from: self.from.as_deref().map(parse::time).transpose()?,
            to: Some(match &self.to {
                Some(to) => parse::time(to)?,
                None => yimen_platform::time::timestamp(yimen_platform::db::now_millis()),
            }),
        }))
    }
}

/// An operator command's exit: 0, or 2 with its one-line error.
pub fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
