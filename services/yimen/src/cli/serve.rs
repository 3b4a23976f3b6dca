//! The process commands: run services (`serve`, `standalone`), prepare stores (`migrate`),
//! probe health (`healthcheck`), measure (`bench`) and play the scenarios (`demo`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::Conn;
use crate::client::{self, Clients, Urls};
use crate::run::{self, Target};
use crate::settings::Settings;

#[derive(Args)]
pub struct Serve {
    /// Comma-separated: intake,dispatch,mediation,analysis,assessment
    #[arg(long, value_delimiter = ',', required = true)]
    target: Vec<Target>,
}

impl Serve {
    pub async fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let settings = Settings::load(config)?;
        let (running, telemetry) = start(settings, &self.target).await?;
        running.wait().await;
        telemetry.shutdown();
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Args)]
pub struct Standalone {
    /// Where the SQLite files live (default: ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Departments joined on start: `builtin` (the default: the list built into the binary), a
    /// departments file (the format of deploy/departments.toml), or "" for none.
    #[arg(long)]
    seed: Option<String>,
    /// Once serving, play the seed's seven scenarios and show the three summaries.
    #[arg(long)]
    demo: bool,
}

impl Standalone {
    /// Every service; with `demo`, the seven scenarios played once it serves.
    pub async fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let mut settings = Settings::load(config)?;
        if let Some(dir) = self.data_dir {
            settings.standalone.data_dir = dir;
        }
        if let Some(seed) = self.seed {
            settings.standalone.seed_departments = seed;
        }
        let mut settings = settings.into_standalone();
        settings.dispatch.seed = yimen_dispatch::seed::load(&settings.standalone.seed_departments)?;
        let token = crate::auth::prepare_standalone(&mut settings)?;
        eprintln!(
            "yimen: an administrator's token is in {} (the CLI run here reads it)",
            crate::auth::operator_token_file(&settings).display()
        );
        if self.demo {
            quiet_unless_asked(&mut settings);
        }
        let (running, telemetry) = start(settings, &Target::ALL).await?;
        if self.demo {
            let urls = Urls::from_fn(|t| format!("http://{}", running.addrs[&t])).with_token(token);
            let played = async {
                let clients = Clients::connect(&urls).await?;
                crate::scenarios::demo(clients, |line| println!("{line}")).await
            };
            match played.await {
                Ok(()) => println!(
                    "\nyimen keeps serving (Ctrl-C to stop); try `yimen situation`, `yimen alerts`, `yimen scorecard`, `yimen case list`."
                ),
                Err(e) => eprintln!("error: the demo stopped: {e:#}"),
            }
        }
        running.wait().await;
        telemetry.shutdown();
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Args)]
pub struct Migrate {
    #[arg(long, value_delimiter = ',', default_values_t = Target::ALL.to_vec(), value_enum)]
    target: Vec<Target>,
    /// Also join the departments not registered yet, straight into dispatch's store: `builtin`
    /// (the list built into the binary) or a departments file. Idempotent.
    #[arg(long, value_name = "builtin|FILE")]
    departments: Option<String>,
}

impl Migrate {
    pub async fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let settings = Settings::load(config)?;
        let _telemetry = yimen_platform::telemetry::init("yimen-migrate", &settings.telemetry)?;
        let departments = match &self.departments {
            Some(source) => {
                anyhow::ensure!(
                    self.target.contains(&Target::Dispatch),
                    "--departments joins departments in dispatch's store: migrate dispatch too"
                );
                yimen_dispatch::seed::load(source)?
            }
            None => Vec::new(),
        };
        let stores = run::migrate(&settings, &self.target).await?;
        // A broker outlives the processes: its queues, declared before any service starts,
        // keep what one service publishes until another first comes up to read it.
        let bus = if settings.bus.url.starts_with("amqp") {
            let bus = run::wait_for("the broker", run::STARTUP_PATIENCE, || {
                yimen_platform::bus::connect(&settings.bus)
            })
            .await?;
            run::declare_queues(bus.as_ref(), &self.target).await?;
            tracing::info!("queues declared");
            Some(bus)
        } else {
            None
        };
        if !departments.is_empty() {
            let (_, db) = stores
                .iter()
                .find(|(target, _)| *target == Target::Dispatch)
                .expect("dispatch is among the targets");
            // Their `department.joined` events wait in dispatch's outbox for its relay; with no
            // broker here, the department queues are declared when dispatch starts.
            let bus = bus.clone().unwrap_or_else(|| {
                std::sync::Arc::new(yimen_platform::bus::MemoryBus::new(settings.bus.clone()))
            });
            let joined =
                yimen_dispatch::seed_departments(db, &bus, &settings.dispatch, &departments)
                    .await?;
            eprintln!(
                "joined {joined} department(s); {} already registered",
                departments.len() - joined
            );
        }
        if let Some(bus) = bus {
            bus.close().await;
        }
        for (_, db) in stores {
            db.close().await;
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Args)]
pub struct Healthcheck {
    #[arg(long)]
    target: Target,
    /// Address to probe (default: http://127.0.0.1:<the service's port>); https:// for TLS.
    #[arg(long)]
    addr: Option<String>,
    /// What to ask: `readiness` (it can do its job: its database answers; the default),
    /// `liveness` (the server answers at all), or the detail: `database` or `broker`.
    #[arg(long, default_value = "readiness", value_parser = ["readiness", "liveness", "database", "broker"])]
    probe: String,
    #[command(flatten)]
    tls: super::TlsArgs,
}

impl Healthcheck {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        use tonic_health::pb::health_check_response::ServingStatus;
        let target = self.target;
        let addr = self.addr.unwrap_or_else(|| target.local_url());
        let service = match self.probe.as_str() {
            "liveness" => "",
            detail => detail,
        };
        let answer = client::health(target.name(), &addr, &self.tls.client_tls(), service).await;
        let (line, code) = match answer {
            Ok(ServingStatus::Serving) => ("SERVING".to_string(), ExitCode::SUCCESS),
            Ok(other) => (other.as_str_name().to_string(), ExitCode::FAILURE),
            Err(e) => (e.to_string(), ExitCode::FAILURE),
        };
        match self.probe.as_str() {
            "readiness" => println!("{}: {line}", target.name()),
            probe => println!("{} {probe}: {line}", target.name()),
        }
        Ok(code)
    }
}

#[derive(Args)]
pub struct Bench {
    /// How many cases to submit (at most 100000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    cases: u32,
    /// How many callers submit at once (at most 256).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Give up when the pipeline has not drained after this many seconds.
    #[arg(long, default_value_t = 300)]
    patience_secs: u64,
    /// Offer this many cases a second (paced) instead of submitting as fast as answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Then read the cases back with this many GetCase calls (0: none).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    reads: u32,
    /// How many callers read at once (at most 256).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=256))]
    read_concurrency: u32,
    /// Bench a running installation instead of a fresh standalone one: its broker, watched for
    /// each case's `case.assigned.*` (the load goes to --intake, with the usual token).
    #[arg(long, value_name = "URL")]
    bus: Option<String>,
    /// The installation's `bus.prefix`.
    #[arg(long, default_value = "", requires = "bus")]
    bus_prefix: String,
    /// Also measure the machine's raw limits first, in the same run (durable commits/s on this
    /// PostgreSQL database; confirmed, consumed messages/s on the --bus broker), and print the
    /// ratio.
    #[arg(long, value_name = "POSTGRES_URL", requires = "bus")]
    raw_limits: Option<String>,
    /// How long each raw limit is measured.
    #[arg(long, default_value_t = 5)]
    raw_secs: u64,
    /// Also follow every department's work with WatchAssignments through the run, as the
    /// departments' own systems would, and report when each case reached a stream.
    #[arg(long, requires = "bus")]
    watch: bool,
    #[command(flatten)]
    conn: super::Conn,
}

impl Bench {
    pub async fn run(self, config: Option<&Path>) -> anyhow::Result<ExitCode> {
        let mut settings = Settings::load(config)?;
        quiet_unless_asked(&mut settings);
        let _telemetry = yimen_platform::telemetry::init("yimen-bench", &settings.telemetry)?;
        settings.dispatch.seed = yimen_dispatch::seed::load(&settings.standalone.seed_departments)?;
        if let Some(rate) = self.rate {
            anyhow::ensure!(rate > 0.0, "--rate must be above 0 cases a second");
        }
        let load = crate::bench::Load {
            cases: self.cases as usize,
            concurrency: self.concurrency as usize,
            rate: self.rate,
            patience: std::time::Duration::from_secs(self.patience_secs),
            reads: self.reads as usize,
            read_concurrency: self.read_concurrency as usize,
        };
        if let Some(url) = self.bus {
            let progress = crate::progress::Progress::stderr();
            let raw = match &self.raw_limits {
                Some(database) => {
                    let window = std::time::Duration::from_secs(self.raw_secs.max(1));
                    let raw = crate::bench::raw::measure(
                        database,
                        &url,
                        &self.bus_prefix,
                        window,
                        &progress,
                    );
                    Some(raw.await?)
                }
                None => None,
            };
            let broker = crate::bench::remote::Broker {
                url,
                prefix: self.bus_prefix,
            };
            let report = crate::bench::remote::run(
                &self.conn.urls(),
                &broker,
                load,
                raw,
                self.watch,
                progress,
            )
            .await?;
            print!("{report}");
            return Ok(ExitCode::SUCCESS);
        }
        let report = crate::bench::run(settings, load, crate::progress::Progress::stderr()).await?;
        print!("{report}");
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Args)]
pub struct Chaos {
    /// Cases offered a second, through every round.
    #[arg(long, env = "CHAOS_RATE", default_value_t = 50.0)]
    rate: f64,
    /// How many callers submit at once (at most 256).
    #[arg(long, env = "CHAOS_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Seconds of steady load before each fault.
    #[arg(long, env = "CHAOS_STEADY_SECS", default_value_t = 5)]
    steady_secs: u64,
    /// Seconds PostgreSQL and RabbitMQ stay down.
    #[arg(long, env = "CHAOS_DOWN_SECS", default_value_t = 2)]
    down_secs: u64,
    /// Service must resume within this many seconds of each fault's end.
    #[arg(long, default_value_t = 10)]
    resume_target_secs: u64,
}

impl Chaos {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        anyhow::ensure!(
            self.rate > 0.0 && self.rate <= 2000.0,
            "--rate must be above 0 and at most 2000 cases a second"
        );
        anyhow::ensure!(
            (1..=300).contains(&self.steady_secs) && self.down_secs <= 60,
            "--steady-secs must be 1 to 300, --down-secs at most 60"
        );
        let secs = std::time::Duration::from_secs;
        let plan = crate::bench::chaos::Plan {
            rate: self.rate,
            concurrency: self.concurrency as usize,
            steady: secs(self.steady_secs),
            down: secs(self.down_secs),
            resume_target: secs(self.resume_target_secs),
            resume_patience: secs(self.resume_target_secs.max(1) * 3),
            drain_patience: secs(120),
        };
        let progress = crate::progress::Progress::stderr();
        let interrupted = tokio_util::sync::CancellationToken::new();
        yimen_platform::server::cancel_on_signal(interrupted.clone());
        let report = tokio::select! {
            report = crate::bench::chaos::run(plan, &progress) => report?,
            _ = interrupted.cancelled() => {
                anyhow::bail!("interrupted; the private servers and processes were stopped")
            }
        };
        print!("{report}");
        Ok(if report.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

#[derive(Args)]
pub struct Demo {
    #[command(flatten)]
    conn: Conn,
}

impl Demo {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let clients = Clients::connect(&self.conn.urls()).await?;
        crate::scenarios::demo(clients, |line| println!("{line}")).await?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Logs at `warn` when nobody asked for a level (neither the setting nor `RUST_LOG`): the demo's
/// journeys and the bench's figures are what those commands are for.
fn quiet_unless_asked(settings: &mut Settings) {
    let default_level = yimen_platform::telemetry::TelemetryConfig::default().log_level;
    if settings.telemetry.log_level == default_level && std::env::var_os("RUST_LOG").is_none() {
        settings.telemetry.log_level = "warn".into();
    }
}

/// Starts `targets` on the configured bus, saying where each listens; signals stop them.
async fn start(
    settings: Settings,
    targets: &[Target],
) -> anyhow::Result<(run::Running, yimen_platform::telemetry::TelemetryGuard)> {
    let name = format!(
        "yimen-{}",
        targets
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("-")
    );
    let telemetry = yimen_platform::telemetry::init(&name, &settings.telemetry)?;
    // One scrape endpoint for the process, whatever services it runs; bound first, so a taken
    // port fails the start before anything runs. It answers until the process ends.
    let metrics = yimen_platform::telemetry::metrics::serve(
        &settings.telemetry.metrics_listen,
        tokio_util::sync::CancellationToken::new(),
    )
    .await?;
    let bus: Arc<dyn yimen_platform::bus::Bus> =
        run::wait_for("the broker", run::STARTUP_PATIENCE, || {
            yimen_platform::bus::connect(&settings.bus)
        })
        .await?;
    let running = run::start(&settings, targets, bus).await?;
    for (target, addr) in &running.addrs {
        tracing::info!(service = target.name(), %addr, "listening");
        eprintln!("yimen: {} listening on {addr}", target.name());
    }
    if let Some(addr) = metrics {
        eprintln!(
            "yimen: metrics on http://{addr}{}",
            yimen_platform::telemetry::metrics::METRICS_PATH
        );
    }
    yimen_platform::server::cancel_on_signal(running.shutdown_token());
    Ok((running, telemetry))
}
