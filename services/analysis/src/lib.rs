//! Analysis, the intelligence-analysis center (综治信访维稳情报研判中心): consumes every event
//! into read models (counts by category, town, department, channel and day; open and overdue
//! cases), answers the situation, and raises alerts with the facts behind them.
//!
//! Layout: `domain` (pure rules), `store` (SQL), `api` (gRPC), `consumers` (events).

pub mod api;
pub mod consumers;

use std::sync::Arc;

use sqlx::migrate::Migrator;
use yimen_platform::bus::QueueSpec;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Migrations};
use yimen_proto::v1::analysis_service_server::AnalysisServiceServer;

pub const SERVICE: &str = "analysis";

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

pub const MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
};

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Where the gRPC server listens.
    pub listen: String,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:50054".into(),
        }
    }
}

/// The routing keys analysis consumes.
pub const CONSUMED: &[&str] = &["#"];

/// Analysis's queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("yimen.analysis", CONSUMED)
}

/// The AnalysisService routes.
pub fn routes(db: Db, config: &AnalysisConfig) -> tonic::service::Routes {
    tonic::service::Routes::new(AnalysisServiceServer::new(api::Api::new(db, config)))
}

/// The handler of analysis's queue.
pub fn handler(db: Db, config: &AnalysisConfig) -> Arc<dyn EventHandler> {
    Arc::new(consumers::Handler::new(db, config))
}
