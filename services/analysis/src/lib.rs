//! Analysis, the intelligence-analysis center (综治信访维稳情报研判中心): consumes every event
//! into read models (counts by category, town, department, channel and day; open and overdue
//! cases), answers the situation, and raises alerts with the facts behind them.
//!
//! Layout: `domain` (pure rules), `store` (SQL), `app` (the use cases: the reads behind the
//! RPCs), `api` (gRPC, thin), `consumers` (events), `sweep` (the overdue alerts, on a timer).

pub mod api;
pub mod app;
pub mod consumers;
pub mod domain;
pub mod store;
pub mod sweep;

pub use sweep::{run_overdue_sweeper, sweep_overdue};

use std::sync::Arc;

use futures::future::BoxFuture;

use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Migrations;
use yimen_platform::service::{Context, Definition, Service, listen_on};
use yimen_platform::telemetry::metrics;
use yimen_proto::v1::analysis_service_server::AnalysisServiceServer;

pub const SERVICE: &str = "analysis";

pub const MIGRATIONS: Migrations = yimen_platform::migrations!();

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Where the gRPC server listens.
    pub listen: String,
    /// People coming together with a common matter from this many on are a collective
    /// petition (集体访; 信访工作条例: five or more).
    pub collective_threshold: u32,
    /// How often, in seconds, analysis itself looks for open cases past their acceptance or
    /// handling deadline and raises an overdue alert (once per case); 0 (the default) turns
    /// this sweep off. Dispatch's deadline watcher (`case.overdue`) is the source of overdue
    /// alerts; the sweep is only for an installation whose watcher is off
    /// (`dispatch.overdue_check_secs = 0`).
    pub overdue_sweep_secs: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            listen: listen_on(Analysis::DEFAULT_PORT),
            collective_threshold: 5,
            overdue_sweep_secs: 0,
        }
    }
}

/// The routing keys analysis consumes.
pub const CONSUMED: &[&str] = &["#"];

/// The intelligence center, as a process runs it.
pub struct Analysis {
    config: AnalysisConfig,
}

impl Definition for Analysis {
    const NAME: &'static str = SERVICE;
    const DEFAULT_PORT: u16 = 50054;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const CONSUMED: &'static [&'static str] = CONSUMED;
    type Config = AnalysisConfig;

    fn new(config: AnalysisConfig) -> Self {
        Self { config }
    }
}

#[async_trait::async_trait]
impl Service for Analysis {
    fn routes(&self, context: &Context) -> tonic::service::Routes {
        tonic::service::Routes::new(AnalysisServiceServer::new(
            api::Api::new(context.db.clone(), &self.config).ending_on(context.shutdown.clone()),
        ))
    }

    fn handler(&self, context: &Context) -> Arc<dyn EventHandler> {
        Arc::new(consumers::Handler::new(context.db.clone(), &self.config))
    }

    /// The overdue sweep, on its timer; the alerts raised, for the metrics.
    fn background(&self, context: &Context) -> Vec<BoxFuture<'static, ()>> {
        let db = context.db.clone();
        vec![
            Box::pin(run_overdue_sweeper(
                context.db.clone(),
                self.config.clone(),
                context.shutdown.clone(),
            )),
            Box::pin(metrics::sample_every(
                "alerts raised",
                ALERTS_EVERY,
                context.shutdown.clone(),
                move || report_alerts(db.clone()),
            )),
        ]
    }
}

/// How often the alerts raised are counted for the metrics.
pub const ALERTS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts the alerts raised by kind and sets the counter `yimen.alerts` (label `kind`:
/// `collective`, `repeat_petitioner`, `no_owner`, `overdue`, `problem_case`, ...; every kind, zero included). Read
/// from the store, it counts what committed and survives restarts; every replica reports the
/// installation's totals: aggregate them with `max`.
pub async fn report_alerts(db: yimen_platform::db::Db) -> anyhow::Result<()> {
    use yimen_proto::v1::AlertKind;
    let mut conn = db.pool().acquire().await?;
    let stored = store::alerts_by_kind(&mut conn).await?;
    // Every kind of the contract (the numbers are not contiguous: each feature took its own).
    let rows = (1..64)
        .filter_map(|k| AlertKind::try_from(k).ok())
        .map(|kind| {
            let n = stored
                .iter()
                .filter(|(k, _)| *k == kind as i64)
                .map(|(_, n)| n)
                .sum();
            (vec![("kind", domain::labels::alert_kind_key(kind))], n)
        });
    metrics::Sampled::counter("yimen.alerts", "Alerts raised, by kind").set(rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_or_more_people_are_a_collective_petition_by_default() {
        let config = AnalysisConfig::default();
        assert_eq!(config.collective_threshold, 5);
        assert_eq!(config.listen, "0.0.0.0:50054");
    }

    #[test]
    fn dispatchs_overdue_events_raise_the_overdue_alerts_so_the_sweep_is_off_by_default() {
        assert_eq!(AnalysisConfig::default().overdue_sweep_secs, 0);
    }

    #[test]
    fn analysis_hears_every_event() {
        assert_eq!(Analysis::queue().bindings, ["#"]);
    }
}
