//! Intake, the one door (群众信访接待服务中心): registers every matter that reaches the center
//! (publishing `case.registered`) and answers the petitioner-facing view of a case — its
//! status and full timeline — kept current from the events of the rest of the process:
//! dispatch's assignments, acceptances, returns, replies, referrals to mediation, escalations
//! (催办, 督办, 包案) and extensions; mediation's openings, conclusions and court decisions
//! (司法确认); analysis's alerts.
//!
//! It also takes the petitioner's evaluation of a reply (质量评价): satisfied or basically
//! satisfied closes the case (办结, `case.closed`), unsatisfied reopens it (`case.reopened`)
//! for dispatch to assign again; either way `case.evaluated` is published. The evaluation's
//! comment stays in intake's store.
//!
//! Instead, an unsatisfied petitioner may ask for a review (复查) of the reply and then a
//! re-review (复核) of the review decision, each within `review_window_days`
//! (`case.review_requested`); after the re-review the matter is closed for good, and a new
//! submission of it (a shared petitioner fingerprint, the same category, a similar subject) is
//! refused with the earlier case number (不再受理) unless it states new facts.
//!
//! Layout: `domain` (pure rules), `store` (SQL), `app` (the use cases, one transaction per
//! operation), `api` (gRPC, thin), `consumers` (events).

pub mod api;
pub mod app;
pub mod consumers;
pub mod domain;
pub mod notices;
pub mod notifier;
pub mod store;

use std::sync::Arc;

use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Migrations;
use yimen_platform::overload::{Limits, Overload};
use yimen_platform::seal::SealedTable;
use yimen_platform::service::{Context, Definition, Service, listen_on};
use yimen_proto::v1::intake_service_server::IntakeServiceServer;

pub const SERVICE: &str = "intake";

/// The case number sequence is an auto-increment column, which the dialects write differently.
pub const MIGRATIONS: Migrations = yimen_platform::migrations!(forked);

#[derive(Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Where the gRPC server listens.
    pub listen: String,
    /// Empty (the default): the petitioner fingerprints carried in `case.registered` (keyed
    /// hashes of identity numbers, for matching repeat petitioners) are keyed with the data
    /// key file's lookup key (`security.data_key_file`). Kept for installations from before
    /// that file: when set, they stay HMAC-SHA256 under this key, so fingerprints match those
    /// of earlier cases. Secret (set `YIMEN__INTAKE__PETITIONER_KEY`); changing the key either
    /// way breaks the matching of earlier cases.
    pub petitioner_key: String,
    /// How many status queries (GetCaseStatus, no token) one peer address may make a minute
    /// on average; 0: no limit.
    pub status_rate_per_min: u32,
    /// How many of them it may make at once.
    pub status_rate_burst: u32,
    /// Unsent events in the outbox past which SubmitCase and SubmitEvaluation answer
    /// RESOURCE_EXHAUSTED with retry advice (the relay cannot keep up, or the broker has been
    /// away for long); 0: no bound.
    pub max_outbox_backlog: u64,
    /// A transaction that waited this long for a database connection makes them answer the
    /// same until the wait eases; 0: no bound.
    pub max_pool_wait_ms: u64,
    /// How many case numbers one process reserves at a time. Registrations then never wait on
    /// each other's commits for a number; a number reserved and not used (a failed
    /// registration, a process that stopped) is skipped, and with several replicas numbers
    /// follow registration order only roughly. 0: each registration takes its number in its
    /// own transaction — no number is ever skipped, but registrations queue one behind
    /// another's commit.
    pub case_number_block: u32,
    /// Where notices to petitioners (告知书) go: empty, the log (that a notice of a kind was
    /// sent for a case); else the `http://` URL of an SMS gateway taking them as JSON. A URL
    /// that is not one stops the settings from loading.
    #[serde(deserialize_with = "gateway_url")]
    pub sms_gateway_url: String,
    /// Days after an answer (the reply, or a review decision) within which the petitioner may
    /// ask for its review (复查) or re-review (复核) (信访工作条例: 30); a window whose last day
    /// is a rest day runs to the next working day.
    pub review_window_days: u32,
    /// The public holidays the review window skips at its end: `builtin`, a holidays file's
    /// path, or "" for none (as `dispatch.holidays`).
    pub holidays: yimen_platform::calendar::Holidays,
    /// How similar (the Jaccard index of the subjects' character bigrams, 0 to 1) a new
    /// submission's subject must be to a matter closed for good after its re-review, with a
    /// shared petitioner and the same category, to be refused as the same matter (不再受理)
    /// unless it states new facts.
    pub same_matter_similarity: f64,
}

impl IntakeConfig {
    /// The bounds of the overload answer.
    pub fn overload_limits(&self) -> Limits {
        Limits {
            max_outbox_backlog: self.max_outbox_backlog,
            max_pool_wait: std::time::Duration::from_millis(self.max_pool_wait_ms),
        }
    }
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            listen: listen_on(Intake::DEFAULT_PORT),
            petitioner_key: String::new(),
            status_rate_per_min: 30,
            status_rate_burst: 10,
            // At the design peak of 200 cases a second, over four minutes of events held back.
            max_outbox_backlog: 50_000,
            max_pool_wait_ms: 1_000,
            case_number_block: 20,
            sms_gateway_url: String::new(),
            review_window_days: 30,
            holidays: yimen_platform::calendar::Holidays::default(),
            same_matter_similarity: 0.5,
        }
    }
}

// By hand, so the key never reaches a log line.
impl std::fmt::Debug for IntakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeConfig")
            .field("listen", &self.listen)
            .field("petitioner_key", &"<redacted>")
            .field("status_rate_per_min", &self.status_rate_per_min)
            .field("status_rate_burst", &self.status_rate_burst)
            .field("max_outbox_backlog", &self.max_outbox_backlog)
            .field("max_pool_wait_ms", &self.max_pool_wait_ms)
            .field("case_number_block", &self.case_number_block)
            .field("sms_gateway_url", &self.sms_gateway_url)
            .field("review_window_days", &self.review_window_days)
            .field("holidays", &self.holidays)
            .field("same_matter_similarity", &self.same_matter_similarity)
            .finish()
    }
}

/// `intake.sms_gateway_url`, checked as it is read.
fn gateway_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = <String as serde::Deserialize>::deserialize(deserializer)?;
    notifier::from_setting(&url).map_err(serde::de::Error::custom)?;
    Ok(url)
}

/// The routing keys of the events that move a case or add to its timeline (`*` is the
/// department). Intake's own `case.evaluated`, `case.closed` and `case.reopened` are recorded
/// where they are published, so they are not consumed.
pub const CONSUMED: &[&str] = &[
    // dispatch
    yimen_proto::event_type::CASE_ASSIGNED_ANY,
    yimen_proto::event_type::CASE_ACCEPTED_ANY,
    yimen_proto::event_type::CASE_RETURNED_ANY,
    yimen_proto::event_type::CASE_REPLIED_ANY,
    yimen_proto::event_type::CASE_REFERRED_ANY,
    yimen_proto::event_type::CASE_ESCALATED_ANY,
    yimen_proto::event_type::CASE_EXTENDED_ANY,
    yimen_proto::event_type::CASE_REFUSED_ANY,
    yimen_proto::event_type::CASE_FORWARDED_ANY,
    yimen_proto::event_type::CASE_SUPPLEMENT_REQUESTED_ANY,
    yimen_proto::event_type::CASE_RESUMED_ANY,
    yimen_proto::event_type::CASE_REVIEW_STARTED_ANY,
    yimen_proto::event_type::CASE_REVIEWED_ANY,
    yimen_proto::event_type::CASE_TRANSFERRED_ANY,
    yimen_proto::event_type::CASE_OVERDUE_ANY,
    yimen_proto::event_type::CASE_PART_REPLIED_ANY,
    yimen_proto::event_type::CASE_INSTRUCTED_ANY,
    // mediation
    yimen_proto::event_type::MEDIATION_OPENED,
    yimen_proto::event_type::MEDIATION_CONCLUDED,
    yimen_proto::event_type::MEDIATION_COURT_CONFIRMED,
    // analysis
    yimen_proto::event_type::ALERT_RAISED,
];

/// The one door, as a process runs it.
pub struct Intake {
    config: IntakeConfig,
    /// Its API's overload check, kept current by its background watcher.
    overload: Arc<Overload>,
    /// Where its notices go.
    notifier: Arc<dyn notifier::Notifier>,
}

impl Definition for Intake {
    const NAME: &'static str = SERVICE;
    const DEFAULT_PORT: u16 = 50051;
    const MIGRATIONS: Migrations = MIGRATIONS;
    const CONSUMED: &'static [&'static str] = CONSUMED;
    const SEALED: &'static [SealedTable] = store::SEALED;
    type Config = IntakeConfig;

    fn new(config: IntakeConfig) -> Self {
        let overload = Arc::new(Overload::new(config.overload_limits()));
        let notifier = notifier::from_setting(&config.sms_gateway_url).unwrap_or_else(|e| {
            // Checked when the settings are read (`gateway_url`), so only a config built in
            // code gets here; the log stands in.
            tracing::error!(error = %e, "SMS gateway not usable; notices go to the log");
            Arc::new(notifier::LogNotifier)
        });
        Self {
            config,
            overload,
            notifier,
        }
    }
}

#[async_trait::async_trait]
impl Service for Intake {
    fn routes(&self, context: &Context) -> tonic::service::Routes {
        let api = api::Api::new(context.db.clone(), &self.config, context.keyring.clone())
            .with_overload(self.overload.clone())
            .ending_on(context.shutdown.clone());
        tonic::service::Routes::new(IntakeServiceServer::new(api))
    }

    /// The overload watcher (counts the outbox backlog and the connection waits) and the
    /// sender of notices.
    fn background(&self, context: &Context) -> Vec<futures::future::BoxFuture<'static, ()>> {
        let (overload, db, shutdown) = (
            self.overload.clone(),
            context.db.clone(),
            context.shutdown.clone(),
        );
        let sender = notices::run_sender(
            context.db.clone(),
            context.keyring.clone(),
            self.notifier.clone(),
            context.shutdown.clone(),
        );
        vec![
            Box::pin(async move { overload.watch(db, shutdown).await }),
            Box::pin(sender),
        ]
    }

    /// The handler works in the consumer loop's transaction, so it needs no store of its own.
    fn handler(&self, _context: &Context) -> Arc<dyn EventHandler> {
        Arc::new(consumers::IntakeHandler)
    }
}

#[cfg(test)]
mod tests {
    use yimen_platform::bus::topic_matches;

    use super::CONSUMED;

    fn consumed(routing_key: &str) -> bool {
        CONSUMED.iter().any(|b| topic_matches(b, routing_key))
    }

    #[test]
    fn the_queue_takes_every_event_that_moves_a_case() {
        for key in [
            "case.assigned.civil-affairs",
            "case.accepted.civil-affairs",
            "case.returned.civil-affairs",
            "case.replied.civil-affairs",
            "case.referred.civil-affairs",
            "case.escalated.medical-insurance",
            "case.extended.housing",
            "case.refused.human-resources",
            "case.forwarded.natural-resources",
            "case.supplement_requested.human-resources",
            "case.resumed.human-resources",
            "case.review_started.city-center",
            "case.reviewed.city-center",
            "case.overdue.housing",
            "case.part_replied.yingzhong-office",
            "case.instructed.yingzhong-office",
            "mediation.opened",
            "mediation.concluded",
            "mediation.court_confirmed",
            "alert.raised",
        ] {
            assert!(consumed(key), "{key} is not consumed");
        }
    }

    #[test]
    fn the_queue_leaves_intakes_own_and_unrelated_events() {
        for key in [
            "case.registered",
            "case.evaluated",
            "case.closed",
            "case.reopened",
            "case.review_requested",
            "department.joined",
            "department.left",
        ] {
            assert!(!consumed(key), "{key} is consumed");
        }
    }
}
