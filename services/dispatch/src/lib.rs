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
pub mod joint;
pub mod moves;
pub mod seed;
pub mod store;
pub mod supervision;

use std::sync::Arc;

use yimen_platform::bus::Bus;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Migrations};
use yimen_platform::service::{Context, Definition, Service, listen_on};
use yimen_platform::telemetry::metrics;
use yimen_proto::v1::JoinDepartmentRequest;
use yimen_proto::v1::dispatch_service_server::DispatchServiceServer;

pub use seed::parse_seed;

pub const SERVICE: &str = "dispatch";

pub const MIGRATIONS: Migrations = yimen_platform::migrations!();

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Where the gRPC server listens.
    pub listen: String,
    /// Days a department has to accept an assignment (信访工作条例: 15).
    pub accept_days: u32,
    /// Days from acceptance to the reply (信访工作条例: 60).
    pub handle_days: u32,
    /// The public holidays a deadline skips at its end: `builtin` (deploy/holidays.toml as
    /// built), a holidays file's path, or "" for none (every day a working day).
    pub holidays: yimen_platform::calendar::Holidays,
    /// Days the review body has to decide a review (复查) or re-review (复核) (信访工作条例: 30).
    pub review_days: u32,
    /// Declare `yimen.dept.<code>` for each department, so its own system can consume its work.
    pub department_queues: bool,
    /// The return that makes a case a problem case (问题件), escalated to supervision (督办)
    /// and alerted: 3, the third; 0 never.
    pub problem_case_returns: u32,
    /// How often, in seconds, dispatch's deadline watcher looks for assignments past a running
    /// deadline (催办 for acceptance, 督办 for handling, once each); 0 turns it off.
    pub overdue_check_secs: u64,
    /// The most cases one similar-case sweep (SweepSimilarCases) takes.
    pub sweep_max_cases: u32,
    /// Departments joined at start when not registered yet (standalone's seed file, read by
    /// the binary); not a settings key.
    #[serde(skip)]
    pub seed: Vec<JoinDepartmentRequest>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            listen: listen_on(Dispatch::DEFAULT_PORT),
            accept_days: 15,
            handle_days: 60,
            holidays: yimen_platform::calendar::Holidays::default(),
            department_queues: true,
            review_days: 30,
            problem_case_returns: 3,
            overdue_check_secs: 60,
            sweep_max_cases: 500,
            seed: Vec::new(),
        }
    }
}

/// The routing keys dispatch consumes: new and reopened cases, supplements, mediation's
/// outcomes, and withdrawals (撤回).
pub const CONSUMED: &[&str] = &[
    yimen_proto::event_type::CASE_REGISTERED,
    yimen_proto::event_type::CASE_REOPENED,
    yimen_proto::event_type::CASE_SUPPLEMENTED,
    yimen_proto::event_type::MEDIATION_OPENED,
    yimen_proto::event_type::MEDIATION_CONCLUDED,
    yimen_proto::event_type::CASE_REVIEW_REQUESTED,
    yimen_proto::event_type::CASE_WITHDRAWN,
];

/// Triage and assignment, as a process runs it.
pub struct Dispatch {
    config: DispatchConfig,
}

impl Definition for Dispatch {
    const NAME: &'static str = SERVICE;
    const DEFAULT_PORT: u16 = 50052;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const CONSUMED: &'static [&'static str] = CONSUMED;
    type Config = DispatchConfig;

    fn new(config: DispatchConfig) -> Self {
        Self { config }
    }
}

#[async_trait::async_trait]
impl Service for Dispatch {
    /// Declares the department queues the store knows of (see [`declare_department_queues`])
    /// and joins the seed's departments not registered yet.
    async fn prepare(&self, context: &Context) -> anyhow::Result<()> {
        if self.config.department_queues {
            declare_department_queues(&context.db, &context.bus).await?;
        }
        if !self.config.seed.is_empty() {
            let joined =
                seed_departments(&context.db, &context.bus, &self.config, &self.config.seed)
                    .await?;
            tracing::info!(joined, "departments seeded");
        }
        Ok(())
    }

    fn routes(&self, context: &Context) -> tonic::service::Routes {
        let api = api::Api::new(context.db.clone(), context.bus.clone(), &self.config)
            .ending_on(context.shutdown.clone());
        tonic::service::Routes::new(DispatchServiceServer::new(api))
    }

    /// The handler works in the consumer loop's transaction, so it needs no store of its own.
    fn handler(&self, _context: &Context) -> Arc<dyn EventHandler> {
        let deadlines = app::Deadlines::new(&self.config);
        Arc::new(consumers::DispatchHandler::new(deadlines))
    }

    /// The departments' workload for the metrics, read every [`WORKLOAD_EVERY`]; and the
    /// deadline watcher, every `overdue_check_secs`.
    fn background(&self, context: &Context) -> Vec<futures::future::BoxFuture<'static, ()>> {
        let db = context.db.clone();
        vec![
            Box::pin(metrics::sample_every(
                "department workload",
                WORKLOAD_EVERY,
                context.shutdown.clone(),
                move || report_workload(db.clone()),
            )),
            // The deadline watcher (催办 / 督办 without anyone asking).
            Box::pin(supervision::watch_deadlines(
                context.db.clone(),
                self.config.clone(),
                context.shutdown.clone(),
            )),
        ]
    }
}

/// How often the departments' workload is read for the metrics: one grouped query of the open
/// assignments, whatever the scrapes.
pub const WORKLOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads every active department's open, overdue and escalated cases and sets the gauges
/// `yimen.cases.open`, `yimen.cases.overdue` and `yimen.cases.escalated` (label `department`:
/// its code). Every replica reports the installation's figures: aggregate them with `max`.
pub async fn report_workload(db: Db) -> anyhow::Result<()> {
    let mut conn = db.pool().acquire().await?;
    let now = yimen_platform::db::now_millis();
    let workload = store::workload(&mut conn, now).await?;
    let gauges = [
        ("yimen.cases.open", "Open cases a department holds"),
        (
            "yimen.cases.overdue",
            "Open cases past their running deadline (acceptance, or handling once accepted)",
        ),
        (
            "yimen.cases.escalated",
            "Open cases escalated (催办 and above)",
        ),
    ];
    for (i, (name, description)) in gauges.into_iter().enumerate() {
        metrics::Sampled::gauge(name, description).set(workload.iter().map(|w| {
            let value = [w.open, w.overdue, w.escalated][i];
            (
                vec![("department", w.department.clone())],
                u64::try_from(value).unwrap_or(0),
            )
        }));
    }
    Ok(())
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
    fn the_third_return_makes_a_problem_case_and_deadlines_are_watched_every_minute() {
        let config = DispatchConfig::default();
        assert_eq!(config.problem_case_returns, 3);
        assert_eq!(config.overdue_check_secs, 60);
        assert_eq!(config.sweep_max_cases, 500);
    }

    #[test]
    fn dispatch_queue_takes_new_and_reopened_cases_and_mediation_outcomes() {
        let queue = Dispatch::queue();
        assert_eq!(queue.name, "yimen.dispatch");
        assert_eq!(
            queue.bindings,
            [
                "case.registered",
                "case.reopened",
                "case.supplemented",
                "mediation.opened",
                "mediation.concluded",
                "case.review_requested",
                "case.withdrawn"
            ]
        );
    }
}
