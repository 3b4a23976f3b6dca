//! Assessment, the comprehensive governance center (综治中心): consumes the process's events and
//! keeps, per department, assignments, acceptances and replies in time, returns, satisfaction and
//! the negative list; answers scorecards for any period.
//!
//! Layout: `domain` (pure rules), `store` (SQL), `app` (the use cases: the answers,
//! scorecards computed in one place), `api` (gRPC, thin), `consumers` (events).

pub mod api;
pub mod app;
pub mod consumers;
pub mod domain;
pub mod store;

use std::sync::Arc;

use sqlx::migrate::Migrator;
use yimen_platform::bus::QueueSpec;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Migrations};
use yimen_proto::v1::assessment_service_server::AssessmentServiceServer;

pub const SERVICE: &str = "assessment";

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

pub const MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssessmentConfig {
    /// Where the gRPC server listens.
    pub listen: String,
}

impl Default for AssessmentConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:50055".into(),
        }
    }
}

/// The routing keys assessment consumes.
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::ALL_CASE,
    yimen_proto::event_type::ALL_DEPARTMENT,
];

/// Assessment's queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("yimen.assessment", CONSUMED)
}

/// The AssessmentService routes.
pub fn routes(db: Db, config: &AssessmentConfig) -> tonic::service::Routes {
    tonic::service::Routes::new(AssessmentServiceServer::new(api::Api::new(db, config)))
}

/// The handler of assessment's queue.
pub fn handler(db: Db, config: &AssessmentConfig) -> Arc<dyn EventHandler> {
    Arc::new(consumers::Handler::new(db, config))
}
