//! Composes services of the registry (`settings::registry!`) into one process: for each target
//! its store (migrated), its gRPC server, its consumer, its background tasks, its audit
//! chainer and its outbox relay, all on one bus; and stops them in order — servers and
//! consumers first, then the relay drains what they committed, then the bus closes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yimen_platform::auth::Auth;
use yimen_platform::bus::Bus;
use yimen_platform::db::Db;
use yimen_platform::seal::Keyring;
use yimen_platform::server::{Readiness, ServeOptions};
use yimen_platform::service::Context;

use crate::settings::Settings;
pub use crate::settings::Target;

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

/// Starts `targets` on `bus`: for each, its store and queue, its preparation, then its
/// server, consumer, background tasks and outbox relay.
pub async fn start(
    settings: &Settings,
    targets: &[Target],
    bus: Arc<dyn Bus>,
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
    // Every call but the health check needs a verified token its role allows.
    let auth = Arc::new(Auth::load(&settings.auth)?);
    let tls = settings.server.tls.load()?;
    // Only a process whose services keep sealed data needs (and is given) the data keys.
    let keyring = Arc::new(if targets.iter().any(|t| !t.sealed().is_empty()) {
        settings.security.keyring()?
    } else {
        Keyring::without_keys()
    });
    let stores = migrate(settings, targets).await?;
    declare_queues(bus.as_ref(), targets).await?;
    for (target, db) in stores {
        let service = target.service(settings);
        let context = Context {
            db: db.clone(),
            bus: bus.clone(),
            keyring: keyring.clone(),
            shutdown: shutdown.clone(),
        };
        service.prepare(&context).await?;
        let listener = yimen_platform::server::bind(target.listen(settings)).await?;
        running.addrs.insert(target, listener.local_addr()?);
        let readiness = Readiness {
            stores: vec![db.clone()],
            bus: bus.clone(),
        };
        let mut options = ServeOptions::new(target.name());
        options.grace = grace;
        options.auth = Some(auth.clone());
        options.tls = tls.clone();
        options.audit = Some(db.clone());
        let routes = service.routes(&context);
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
                service.handler(&context),
                yimen_platform::consumer::Lanes::of(&settings.bus),
                shutdown.clone(),
            )));
        // Background tasks stop with the servers and consumers, before the relay drains (it
        // publishes the audit chainer's last anchor).
        running
            .front
            .extend(service.background(&context).into_iter().map(tokio::spawn));
        running
            .front
            .push(tokio::spawn(yimen_platform::audit::run_chainer(
                db.clone(),
                settings.audit.clone(),
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
