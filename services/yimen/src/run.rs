//! Composes services into one process: for each target its store (migrated), its gRPC server,
//! its consumer and its outbox relay, all on one bus; and stops them in order — servers and
//! consumers first, then the relay drains what they committed, then the bus closes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yimen_platform::bus::{Bus, QueueSpec};
use yimen_platform::db::{Db, Migrations};
use yimen_platform::server::{Readiness, ServeOptions};

use crate::settings::Settings;

/// A service the binary can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Target {
    Intake,
    Dispatch,
    Mediation,
    Analysis,
    Assessment,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Intake,
        Target::Dispatch,
        Target::Mediation,
        Target::Analysis,
        Target::Assessment,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Intake => yimen_intake::SERVICE,
            Target::Dispatch => yimen_dispatch::SERVICE,
            Target::Mediation => yimen_mediation::SERVICE,
            Target::Analysis => yimen_analysis::SERVICE,
            Target::Assessment => yimen_assessment::SERVICE,
        }
    }

    pub fn migrations(self) -> Migrations {
        match self {
            Target::Intake => yimen_intake::MIGRATIONS,
            Target::Dispatch => yimen_dispatch::MIGRATIONS,
            Target::Mediation => yimen_mediation::MIGRATIONS,
            Target::Analysis => yimen_analysis::MIGRATIONS,
            Target::Assessment => yimen_assessment::MIGRATIONS,
        }
    }

    pub fn listen(self, settings: &Settings) -> &str {
        match self {
            Target::Intake => &settings.intake.listen,
            Target::Dispatch => &settings.dispatch.listen,
            Target::Mediation => &settings.mediation.listen,
            Target::Analysis => &settings.analysis.listen,
            Target::Assessment => &settings.assessment.listen,
        }
    }

    /// The durable queue the service consumes.
    pub fn queue(self) -> QueueSpec {
        match self {
            Target::Intake => yimen_intake::queue(),
            Target::Dispatch => yimen_dispatch::queue(),
            Target::Mediation => yimen_mediation::queue(),
            Target::Analysis => yimen_analysis::queue(),
            Target::Assessment => yimen_assessment::queue(),
        }
    }

    /// The default port, for clients (`yimen case ...`, `yimen healthcheck`).
    pub fn default_port(self) -> u16 {
        match self {
            Target::Intake => 50051,
            Target::Dispatch => 50052,
            Target::Mediation => 50053,
            Target::Analysis => 50054,
            Target::Assessment => 50055,
        }
    }
}

/// How long a starting process waits for its database and broker before giving up.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(60);

/// Retries `attempt` with backoff until it succeeds or `patience` runs out, saying what it
/// waits for — a pod that starts before its database or broker waits instead of crashing.
pub async fn wait_for<T, E, F, Fut>(what: &str, patience: Duration, attempt: F) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use yimen_platform::backoff::{Backoff, retry};
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    retry(
        backoff,
        patience,
        attempt,
        |e, _| tracing::warn!(error = %e, "waiting for {what}"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{what}: {e} (gave up after {patience:?})"))
}

/// Connects and migrates the store of each target.
pub async fn migrate(settings: &Settings, targets: &[Target]) -> anyhow::Result<Vec<(Target, Db)>> {
    let mut stores = Vec::new();
    for &target in targets {
        let db = wait_for(
            &format!("the {} database", target.name()),
            STARTUP_PATIENCE,
            || Db::connect(&settings.database, target.name()),
        )
        .await?;
        db.migrate(target.migrations()).await?;
        tracing::info!(service = target.name(), "store migrated");
        stores.push((target, db));
    }
    Ok(stores)
}

/// Declares the queues of `targets` (idempotent). Done before anything is published, so an event
/// of one service is never dropped for want of another's queue: by `start` for the services of
/// the process, and by `yimen migrate` for those of the whole installation.
pub async fn declare_queues(bus: &dyn Bus, targets: &[Target]) -> anyhow::Result<()> {
    for &target in targets {
        let queue = target.queue();
        bus.declare_queue(&queue)
            .await
            .map_err(|e| anyhow::anyhow!("declaring queue {}: {e}", queue.name))?;
    }
    Ok(())
}

/// Services running in this process.
pub struct Running {
    pub addrs: BTreeMap<Target, SocketAddr>,
    bus: Arc<dyn Bus>,
    stores: Vec<Db>,
    shutdown: CancellationToken,
    relay_stop: CancellationToken,
    front: Vec<JoinHandle<()>>,
    relays: Vec<JoinHandle<()>>,
    grace: Duration,
}

/// Starts `targets` on `bus`. `seed` joins departments not registered yet (dispatch only).
pub async fn start(
    settings: &Settings,
    targets: &[Target],
    bus: Arc<dyn Bus>,
    seed: &[yimen_proto::v1::JoinDepartmentRequest],
) -> anyhow::Result<Running> {
    let shutdown = CancellationToken::new();
    let relay_stop = CancellationToken::new();
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    let mut running = Running {
        addrs: BTreeMap::new(),
        bus: bus.clone(),
        stores: Vec::new(),
        shutdown: shutdown.clone(),
        relay_stop: relay_stop.clone(),
        front: Vec::new(),
        relays: Vec::new(),
        grace,
    };
    let stores = migrate(settings, targets).await?;
    declare_queues(bus.as_ref(), targets).await?;
    for (target, db) in stores {
        let listener = yimen_platform::server::bind(target.listen(settings)).await?;
        running.addrs.insert(target, listener.local_addr()?);
        let (routes, handler) = match target {
            Target::Intake => (
                yimen_intake::routes(db.clone(), &settings.intake),
                yimen_intake::handler(db.clone()),
            ),
            Target::Dispatch => {
                if settings.dispatch.department_queues {
                    yimen_dispatch::declare_department_queues(&db, &bus).await?;
                }
                if !seed.is_empty() {
                    let joined =
                        yimen_dispatch::seed_departments(&db, &bus, &settings.dispatch, seed)
                            .await?;
                    tracing::info!(joined, "departments seeded");
                }
                (
                    yimen_dispatch::routes(db.clone(), bus.clone(), &settings.dispatch),
                    yimen_dispatch::handler(db.clone(), &settings.dispatch),
                )
            }
            Target::Mediation => (
                yimen_mediation::routes(db.clone(), &settings.mediation),
                yimen_mediation::handler(db.clone(), &settings.mediation),
            ),
            Target::Analysis => {
                // Stops with the servers and consumers, before the relay drains its alerts.
                running
                    .front
                    .push(tokio::spawn(yimen_analysis::run_overdue_sweeper(
                        db.clone(),
                        settings.analysis.clone(),
                        shutdown.clone(),
                    )));
                (
                    yimen_analysis::routes(db.clone(), &settings.analysis),
                    yimen_analysis::handler(db.clone(), &settings.analysis),
                )
            }
            Target::Assessment => (
                yimen_assessment::routes(db.clone(), &settings.assessment),
                yimen_assessment::handler(db.clone(), &settings.assessment),
            ),
        };
        let readiness = Readiness {
            stores: vec![db.clone()],
            bus: bus.clone(),
        };
        let mut options = ServeOptions::new(target.name());
        options.grace = grace;
        let server_stop = shutdown.clone();
        running.front.push(tokio::spawn(async move {
            if let Err(e) = yimen_platform::server::serve(
                listener,
                routes,
                readiness,
                options,
                server_stop.clone(),
            )
            .await
            {
                tracing::error!(error = %e, "server failed");
                server_stop.cancel();
            }
        }));
        running
            .front
            .push(tokio::spawn(yimen_platform::consumer::run_consumer(
                db.clone(),
                bus.clone(),
                target.queue(),
                handler,
                shutdown.clone(),
            )));
        running
            .relays
            .push(tokio::spawn(yimen_platform::outbox::run_relay(
                db.clone(),
                bus.clone(),
                relay_stop.clone(),
            )));
        running.stores.push(db);
    }
    Ok(running)
}

impl Running {
    /// A token that stops everything when cancelled (signals, a failed server).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled, then stops in order.
    pub async fn wait(self) {
        self.shutdown.cancelled().await;
        self.stop().await;
    }

    /// Stops in order, each step bounded by the grace period.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let front = futures::future::join_all(self.front);
        if tokio::time::timeout(self.grace + Duration::from_secs(1), front)
            .await
            .is_err()
        {
            tracing::warn!("servers or consumers still busy after the grace period");
        }
        // Servers and consumers are done: whatever they committed is in the outboxes.
        self.relay_stop.cancel();
        let relays = futures::future::join_all(self.relays);
        if tokio::time::timeout(self.grace, relays).await.is_err() {
            tracing::warn!("outbox not fully drained; the rest is published on the next start");
        }
        self.bus.close().await;
        for db in self.stores {
            db.close().await;
        }
    }
}
