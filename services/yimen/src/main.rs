//! `yimen`: run services (`serve`, `standalone`), prepare stores (`migrate`), probe health
//! (`healthcheck`), measure (`bench`, `chaos`), operate a running installation (`case`, `dept`, `assignment`,
//! `mediation`), read what the centers made of it (`situation`, `alerts`, `scorecard`), check
//! the audit trails (`audit`), and
//! play the seed's seven scenarios (`demo`). This file only parses the command line; each noun's
//! arguments and handler live in `yimen::cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yimen::cli::{
    self, analysis, assignment, audit, auth, case, dept, keys, mediation, scorecard, serve,
};

#[derive(Parser)]
#[command(
    name = "yimen",
    version,
    about = "一门 yimen: one door for every petition and dispute"
)]
struct Cli {
    /// TOML config file (layered over the defaults, under YIMEN__SECTION__KEY variables).
    #[arg(long, global = true, env = "YIMEN_CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON for scripts (client commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the named services against PostgreSQL and RabbitMQ (as configured).
    Serve(serve::Serve),
    /// Run every service in one process on embedded storage and the in-process bus.
    Standalone(serve::Standalone),
    /// Create or update the stores of the named services (and, on RabbitMQ, declare their
    /// queues), then exit.
    Migrate(serve::Migrate),
    /// Exit 0 only when the service answers SERVING on the health check asked (`--probe`:
    /// readiness by default; liveness; or the detail, database or broker).
    Healthcheck(serve::Healthcheck),
    /// The installation's keys: `auth init --dir DIR` makes a signing key and its JWKS.
    Auth(auth::AuthArgs),
    /// The data keys of personal data at rest: `keys init --file F [--algorithm sm4-gcm]`,
    /// `keys rotate [--batch 500]`, `keys reseal`.
    Keys(keys::KeysArgs),
    /// Tokens: `token issue --role ROLE [--dept CODE] [--committee CODE] [--ttl 8h]`.
    Token(auth::TokenArgs),
    /// Cases at the one door.
    Case(case::CaseArgs),
    /// The department registry.
    Dept(dept::DeptArgs),
    /// A department's work: its assignments.
    Assignment(assignment::AssignmentArgs),
    /// The mediation center: committees and mediation files.
    Mediation(mediation::MediationArgs),
    /// The intelligence center's situation: cases, open, overdue, by category, town, department.
    Situation(analysis::SituationArgs),
    /// The intelligence center's alerts, newest first; `alerts ack ID` acknowledges one.
    Alerts(analysis::AlertsArgs),
    /// Every department's scorecard (or one's) for a period (default: this month).
    Scorecard(scorecard::ScorecardArgs),
    /// The services' tamper-evident audit trails: `audit verify [--target X]` walks the hash
    /// chains, `audit list --case REF` shows who did what to a case.
    Audit(audit::AuditArgs),
    /// Play the seed's seven scenarios against a running installation, then show the summaries.
    Demo(serve::Demo),
    /// Measure a fresh standalone installation in this process (loopback only): SubmitCase
    /// latency and rate, and the time until every case is routed and counted.
    Bench(serve::Bench),
    /// Fault rounds under steady load on a private installation (its own PostgreSQL, RabbitMQ
    /// and five `serve` processes, loopback only): RabbitMQ restarted, PostgreSQL stopped at
    /// once, each service killed, a department leaving; then every accepted case checked.
    Chaos(serve::Chaos),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    let json = cli.json;
    Ok(match cli.command {
        Command::Serve(c) => c.run(config).await?,
        Command::Standalone(c) => c.run(config).await?,
        Command::Migrate(c) => c.run(config).await?,
        Command::Healthcheck(c) => c.run().await?,
        Command::Bench(c) => c.run(config).await?,
        Command::Chaos(c) => c.run().await?,
        Command::Demo(c) => c.run().await?,
        Command::Auth(c) => c.run()?,
        Command::Token(c) => c.run(config)?,
        Command::Keys(c) => c.run(config).await?,
        Command::Case(c) => cli::exit(c.run(json).await),
        Command::Dept(c) => cli::exit(c.run(json).await),
        Command::Assignment(c) => cli::exit(c.run(json).await),
        Command::Mediation(c) => cli::exit(c.run(json).await),
        Command::Situation(c) => cli::exit(c.run(json).await),
        Command::Alerts(c) => cli::exit(c.run(json).await),
        Command::Scorecard(c) => cli::exit(c.run(json).await),
        Command::Audit(c) => cli::exit(c.run(json).await),
    })
}
