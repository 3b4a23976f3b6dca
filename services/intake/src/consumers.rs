//! Intake's reaction to events: dispatch's assignments, acceptances, returns, replies,
//! referrals, escalations and extensions, mediation's openings, conclusions and court
//! decisions, and analysis's alerts keep each case's status and timeline current, inside the
//! consumer loop's transaction (so the inbox claim and the change commit together). The events
//! the petitioner is told of (acceptance, refusal, forward, reply) write their notice there too.

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Tx, now_millis};
use yimen_platform::time::millis;
use yimen_proto::v1::{CaseStatus, Event};

use crate::domain::{CaseRef, progress};
use crate::{notices, store};

pub struct IntakeHandler;

#[async_trait]
impl EventHandler for IntakeHandler {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        let Some(mut progress) = progress::of(event) else {
            tracing::debug!(event_type = %event.r#type, "event does not move a case; ignored");
            return Ok(());
        };
        if event.case_id.is_empty() {
            // E.g. an alert about no single case: nothing to add to a timeline.
            tracing::debug!(event_type = %event.r#type, event_id = %event.id, "event is about no case; ignored");
            return Ok(());
        }
        let at = event.occurred_at.as_ref().map_or_else(now_millis, millis);
        // Unknown: the case may not be committed yet, or the event is misaddressed. An error
        // gives it back to the broker, which retries and finally dead-letters it. One read
        // answers all the handler needs of the case: its status, when it was set, its number.
        let Some(case) = store::case_state(tx, &CaseRef::Id(event.case_id.clone())).await? else {
            anyhow::bail!(
                "event {} is about case `{}`, which intake does not know",
                event.id,
                event.case_id
            );
        };
        if case.status == CaseStatus::Withdrawn {
            // 撤回 is final: what the withdrawal itself ended (a mediation, an assignment)
            // still shows in the timeline, but moves the case no more.
            progress.holding = None;
        }
        if !store::record(tx, &event.case_id, &event.id, at, &progress, case.status_at).await? {
            anyhow::bail!(
                "case {} moved while event {} was applied; retrying",
                event.case_id,
                event.id
            );
        }
        notices::record(tx, event, &case.case_number, at).await?;
        if crate::domain::review::closes_for_good(event) {
            store::close_for_good(tx, &event.case_id, at).await?;
        }
        tracing::info!(
            case_id = %event.case_id,
            event_id = %event.id,
            kind = %progress.line.kind,
            department = %progress.line.department,
            "case timeline updated"
        );
        Ok(())
    }
}
