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
    /// 以案定补: yuan awarded per successful mediation to each mediator who sat in it, by the
    /// review's grade from SIMPLE to MAJOR (the seed: 50 to 500).
    pub case_award_by_grade: [u32; 5],
    /// Yuan a month of a full-time mediator's living allowance (the seed: 2,000).
    pub full_time_stipend_per_month: u32,
    /// Yuan a year of the mediation fund the subsidies are reported against (1.5 million).
    pub mediation_fund_per_year: u64,
}

impl Default for AssessmentConfig {
    fn default() -> Self {
        Self {
            listen: listen_on(Assessment::DEFAULT_PORT),
            case_award_by_grade: domain::subsidy::DEFAULT_AWARDS_YUAN,
            full_time_stipend_per_month: 2_000,
            mediation_fund_per_year: 1_500_000,
        }
    }
}

impl AssessmentConfig {
    pub fn subsidy_rates(&self) -> domain::subsidy::Rates {
        domain::subsidy::Rates::from_yuan(
            self.case_award_by_grade,
            self.full_time_stipend_per_month,
            self.mediation_fund_per_year,
        )
    }
}

/// The routing keys assessment consumes.
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::ALL_CASE,
    yimen_proto::event_type::ALL_DEPARTMENT,
    yimen_proto::event_type::MEDIATION_CONCLUDED,
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
