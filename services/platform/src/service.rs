//! The shape every yimen service has, so one runner starts any of them: a [`Definition`] (its
//! static facts: name, default port, typed settings section, migrations and the events it
//! consumes) and a [`Service`] (what it brings to a running process: preparation, its gRPC
//! routes, its event handler and any background task). The binary lists the definitions once, in its registry; adding a
//! service is a crate that implements both traits and one line there.

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::bus::{Bus, QueueSpec};
use crate::consumer::EventHandler;
use crate::db::{Db, Migrations};
use crate::seal::{Keyring, SealedTable};

/// What a process gives each service it runs.
#[derive(Clone)]
pub struct Context {
    /// The service's own store, migrated.
    pub db: Db,
    /// The process's bus.
    pub bus: Arc<dyn Bus>,
    /// The installation's data keys, for the personal data a store keeps sealed.
    pub keyring: Arc<Keyring>,
    /// Cancelled when the process starts to stop; background tasks end on it.
    pub shutdown: CancellationToken,
}

/// A service as a process runs it. The runner migrates the service's store
/// ([`Definition::MIGRATIONS`]) and declares its queue ([`Definition::queue`]) before anything
/// publishes, calls [`Service::prepare`], then serves [`Service::routes`] (beside health and
/// reflection), feeds the queue to [`Service::handler`] through the platform's consumer loop
/// (inbox, retries, dead letters), runs [`Service::background`] until shutdown and relays the
/// service's outbox.
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    /// Work done once the store and queue exist, before the service serves (declarations that
    /// depend on stored state, for instance).
    async fn prepare(&self, _context: &Context) -> anyhow::Result<()> {
        Ok(())
    }

    /// The service's gRPC API.
    fn routes(&self, context: &Context) -> Routes;

    /// What the service does with each event of its queue.
    fn handler(&self, context: &Context) -> Arc<dyn EventHandler>;

    /// Tasks that run beside the server until `context.shutdown` (timers, sweeps).
    fn background(&self, _context: &Context) -> Vec<BoxFuture<'static, ()>> {
        Vec::new()
    }
}

/// What is known of a service before it runs: the registry's entry.
pub trait Definition: Service + Sized {
    /// Lowercase letters: the store's schema or file name, the logs' `service`, `--target`,
    /// and its queue `yimen.<NAME>`.
    const NAME: &'static str;
    /// Where it listens unless its settings say otherwise.
    const DEFAULT_PORT: u16;
    /// The store's schema, dialect by dialect ([`migrations!`](crate::migrations)).
    const MIGRATIONS: Migrations;
    /// The routing keys bound to its queue (`yimen_proto::event_type`).
    const CONSUMED: &'static [&'static str];
    /// The columns of its store that hold sealed personal data, for `yimen keys rotate`
    /// ([`crate::seal::reseal`]).
    const SEALED: &'static [SealedTable] = &[];
    /// Its section of the settings (`[NAME]`, `YIMEN__NAME__KEY`); it has a `listen` key.
    type Config: Debug + Clone + Default + Serialize + DeserializeOwned + Send + Sync + 'static;

    fn new(config: Self::Config) -> Self;

    /// The durable queue it consumes: `yimen.<NAME>`, bound to [`Definition::CONSUMED`].
    fn queue() -> QueueSpec {
        QueueSpec::new(format!("yimen.{}", Self::NAME), Self::CONSUMED)
    }
}

/// The default `listen` of a service's settings: every interface, its default port.
pub fn listen_on(port: u16) -> String {
    format!("0.0.0.0:{port}")
}
