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

use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Migrations;
use yimen_platform::service::{Context, Definition, Service, listen_on};
use yimen_proto::v1::assessment_service_server::AssessmentServiceServer;

pub const SERVICE: &str = "assessment";

pub const MIGRATIONS: Migrations = yimen_platform::migrations!();

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssessmentConfig {
    /// Where the gRPC server listens.
    pub listen: String,
}

impl Default for AssessmentConfig {
    fn default() -> Self {
        Self {
            listen: listen_on(Assessment::DEFAULT_PORT),
        }
    }
}

/// The routing keys assessment consumes.
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::ALL_CASE,
    yimen_proto::event_type::ALL_DEPARTMENT,
];

/// The scorecards, as a process runs it.
pub struct Assessment {
    config: AssessmentConfig,
}

impl Definition for Assessment {
    const NAME: &'static str = SERVICE;
    const DEFAULT_PORT: u16 = 50055;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const CONSUMED: &'static [&'static str] = CONSUMED;
    type Config = AssessmentConfig;

    fn new(config: AssessmentConfig) -> Self {
        Self { config }
    }
}

#[async_trait::async_trait]
impl Service for Assessment {
    fn routes(&self, context: &Context) -> tonic::service::Routes {
        tonic::service::Routes::new(AssessmentServiceServer::new(api::Api::new(
            context.db.clone(),
            &self.config,
        )))
    }

    fn handler(&self, context: &Context) -> Arc<dyn EventHandler> {
        Arc::new(consumers::Handler::new(context.db.clone(), &self.config))
    }
}
