//! Dispatch (分流交办), triage and assignment: holds the department registry, routes every
//! registered case to the department that owns its category at the right level (village, town,
//! city; else the city center, the terminus), holds the department to its deadlines (with the
//! one extension, and escalation up to a leader), hands open cases on when a department returns
//! one or leaves, refers disputes to mediation and replies a case with a mediated agreement,
//! and assigns a reopened case again.
//!
//! Layout: `domain` (pure rules), `store` (SQL), `app` (the use cases, one transaction per
//! operation), `api` (gRPC, thin), `consumers` (events), `seed` (the department seed file).

pub mod api;
pub mod app;
pub mod consumers;
pub mod domain;
pub mod seed;
pub mod store;

use std::sync::Arc;

use sqlx::migrate::Migrator;
use yimen_platform::bus::{Bus, QueueSpec};
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Migrations};
use yimen_proto::v1::JoinDepartmentRequest;
use yimen_proto::v1::dispatch_service_server::DispatchServiceServer;

pub use seed::parse_seed;

pub const SERVICE: &str = "dispatch";

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

pub const MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Where the gRPC server listens.
    pub listen: String,
    /// Days a department has to accept an assignment (信访工作条例: 15).
    pub accept_days: u32,
    /// Days from acceptance to the reply (信访工作条例: 60).
    pub handle_days: u32,
    /// Declare `yimen.dept.<code>` for each department, so its own system can consume its work.
    pub department_queues: bool,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:50052".into(),
            accept_days: 15,
            handle_days: 60,
            department_queues: true,
        }
    }
}

/// The routing keys dispatch consumes: new and reopened cases, and mediation's outcomes.
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::CASE_REGISTERED,
    yimen_proto::event_type::CASE_REOPENED,
    yimen_proto::event_type::MEDIATION_OPENED,
    yimen_proto::event_type::MEDIATION_CONCLUDED,
];

/// Dispatch's queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("yimen.dispatch", CONSUMED)
}

/// The DispatchService routes.
pub fn routes(db: Db, bus: Arc<dyn Bus>, config: &DispatchConfig) -> tonic::service::Routes {
    tonic::service::Routes::new(DispatchServiceServer::new(api::Api::new(db, bus, config)))
}

/// The handler of dispatch's queue. It works in the consumer loop's transaction, so it needs
/// no store of its own.
pub fn handler(_db: Db, config: &DispatchConfig) -> Arc<dyn EventHandler> {
    Arc::new(consumers::DispatchHandler::new(app::Deadlines::new(config)))
}

/// Joins every department of the seed that is not registered yet (idempotent); answers how
/// many joined.
pub async fn seed_departments(
    db: &Db,
    bus: &Arc<dyn Bus>,
    config: &DispatchConfig,
    seed: &[JoinDepartmentRequest],
) -> anyhow::Result<usize> {
    app::seed_departments(db, bus, config, seed).await
}

/// Declares `yimen.dept.<code>` for every active department (called at start when
/// `department_queues`), repairing any declaration a join could not make.
pub async fn declare_department_queues(db: &Db, bus: &Arc<dyn Bus>) -> anyhow::Result<()> {
    app::declare_department_queues(db, bus).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deadlines_follow_the_petition_regulation() {
        let config = DispatchConfig::default();
        assert_eq!((config.accept_days, config.handle_days), (15, 60));
        assert_eq!(config.listen, "0.0.0.0:50052");
        assert!(config.department_queues);
    }

    #[test]
    fn dispatch_queue_takes_new_and_reopened_cases_and_mediation_outcomes() {
        let queue = queue();
        assert_eq!(queue.name, "yimen.dispatch");
        assert_eq!(
            queue.bindings,
            [
                "case.registered",
                "case.reopened",
                "mediation.opened",
                "mediation.concluded"
            ]
        );
    }
}
