//! Analysis's reaction to events: every event of the process is projected into the read
//! models, and the alert rules run on what arrives, inside the consumer loop's transaction (so
//! the inbox claim, the projection, the alerts and their `alert.raised` events commit together).
//!
//! Order-tolerant: an event about a case analysis has not heard registered yet creates a
//! partial row that the registration completes; nothing here fails on a missing case, and an
//! event analysis does not use is acknowledged and ignored.

use std::collections::BTreeSet;

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::outbox;
use yimen_platform::time::{millis, timestamp};
use yimen_proto::event_type::ALERT_RAISED;
use yimen_proto::v1::{self as pb, AssignmentCause, Event, event::Payload};

use crate::domain::{AlertDraft, Deadline, Registration, alerts, holding, labels};
use crate::store::{self, AssignmentUpdate};
use crate::{AnalysisConfig, SERVICE};

pub struct Handler {
    collective_threshold: u32,
}

impl Handler {
    /// The handler works in the consumer loop's transaction, so it needs no store of its own.
    pub fn new(_db: Db, config: &AnalysisConfig) -> Self {
        Self {
            collective_threshold: config.collective_threshold,
        }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        let at = event.occurred_at.as_ref().map_or_else(now_millis, millis);
        let case_id = event.case_id.trim();
        let Some(payload) = &event.payload else {
            tracing::debug!(event_type = %event.r#type, "event without a payload analysis knows; ignored");
            return Ok(());
        };
        match payload {
            // Analysis's own alerts come back on "#"; audit anchors are kept by the platform's
            // consumer loop before a handler is asked.
            Payload::AlertRaised(_) | Payload::AuditAnchored(_) => return Ok(()),
            Payload::DepartmentJoined(joined) => {
                if let Some(d) = &joined.department {
                    store::name_department(tx, &d.code, &d.name, Some(true)).await?;
                }
                return Ok(());
            }
            Payload::DepartmentLeft(left) => {
                store::name_department(tx, &left.code, "", Some(false)).await?;
                return Ok(());
            }
            _ if case_id.is_empty() => {
                tracing::warn!(event_type = %event.r#type, event_id = %event.id, "case event without case_id; ignored");
                return Ok(());
            }
            _ => {}
        }
        match payload {
            Payload::CaseRegistered(registered) => {
                self.registered(tx, case_id, at, registered).await?;
            }
            // A co-handler (协办) holds a part beside the lead, never the case: the case's
            // holding stays the lead's.
            Payload::CaseAssigned(pb::CaseAssigned { cause, .. })
                if *cause == AssignmentCause::CoHandling as i32 =>
            {
                store::ensure_case(tx, case_id).await?;
            }
            Payload::CaseAccepted(pb::CaseAccepted {
                co_handling: true, ..
            })
            | Payload::CasePartReplied(_)
            | Payload::CaseInstructed(_) => {
                store::ensure_case(tx, case_id).await?;
            }
            Payload::CaseAssigned(assigned) => {
                let location = assigned.location.clone().unwrap_or_default();
                store::describe_case(
                    tx,
                    case_id,
                    &assigned.case_number,
                    i64::from(assigned.category),
                    &location,
                )
                .await?;
                store::name_department(tx, &assigned.department, &assigned.department_name, None)
                    .await?;
                let update = AssignmentUpdate {
                    cause: i64::from(assigned.cause),
                    assigned: true,
                    accept_by: assigned.accept_by.as_ref().map(millis),
                    ..update(case_id, &assigned.assignment_id, &assigned.department, at)
                };
                apply_known(tx, update).await?;
                // A similar-case sweep (全面排查) sends a settled case for handling again.
                if assigned.cause == AssignmentCause::Sweep as i32 {
                    store::set_state(tx, case_id, false, at).await?;
                }
                if assigned.cause == AssignmentCause::NoOwner as i32 {
                    let category = labels::category_of(i64::from(assigned.category));
                    let draft = alerts::no_owner(category, &assigned.department);
                    raise(tx, case_id, draft).await?;
                }
            }
            Payload::CaseAccepted(accepted) => {
                let update = AssignmentUpdate {
                    accepted: true,
                    handle_by: accepted.handle_by.as_ref().map(millis),
                    ..update(case_id, &accepted.assignment_id, &accepted.department, at)
                };
                apply(tx, update).await?;
            }
            Payload::CaseExtended(extended) => {
                let update = AssignmentUpdate {
                    extended_handle_by: extended.handle_by.as_ref().map(millis),
                    ..update(case_id, &extended.assignment_id, &extended.department, at)
                };
                apply(tx, update).await?;
            }
            Payload::CaseReplied(replied) => {
                let update = AssignmentUpdate {
                    replied: true,
                    within_deadline: Some(replied.within_deadline),
                    ..update(case_id, &replied.assignment_id, &replied.department, at)
                };
                apply(tx, update).await?;
            }
            Payload::CaseReturned(returned) => {
                let update = AssignmentUpdate {
                    returned: true,
                    ..update(case_id, &returned.assignment_id, &returned.department, at)
                };
                apply(tx, update).await?;
            }
            // 问题件: returned again and again, now under supervision.
            Payload::CaseEscalated(escalated)
                if escalated.cause == pb::EscalationCause::ProblemCase as i32 =>
            {
                store::ensure_case(tx, case_id).await?;
                raise(
                    tx,
                    case_id,
                    alerts::problem_case(&escalated.department, &escalated.reason),
                )
                .await?;
            }
            Payload::CaseEscalated(_) | Payload::CaseReferred(_) => {
                // Counted nowhere yet; the case is known from them on.
                store::ensure_case(tx, case_id).await?;
            }
            // Dispatch's deadline watcher is the source of the overdue alert (once per case).
            Payload::CaseOverdue(overdue) => {
                store::ensure_case(tx, case_id).await?;
                let deadline = overdue.deadline.as_ref().map_or(at, millis);
                let deadline = if overdue.stage == pb::OverdueStage::Handling as i32 {
                    Deadline::Handling(deadline)
                } else {
                    Deadline::Acceptance(deadline)
                };
                raise(
                    tx,
                    case_id,
                    alerts::overdue(&overdue.department, deadline, at),
                )
                .await?;
            }
            Payload::MediationOpened(_) => {
                store::ensure_case(tx, case_id).await?;
                store::set_mediation(tx, case_id, true, at).await?;
            }
            Payload::MediationConcluded(_) => {
                store::ensure_case(tx, case_id).await?;
                store::set_mediation(tx, case_id, false, at).await?;
            }
            Payload::MediationCourtConfirmed(_) => {
                store::ensure_case(tx, case_id).await?;
            }
            Payload::CaseEvaluated(evaluated) => {
                store::ensure_case(tx, case_id).await?;
                store::set_satisfaction(tx, case_id, i64::from(evaluated.satisfaction)).await?;
            }
            // Not accepted, or gone to an authority outside the system: the center is done with
            // it, as with a closed case.
            // Withdrawn (撤回) too: not overdue from then on, nothing against the department.
            Payload::CaseClosed(_)
            | Payload::CaseRefused(_)
            | Payload::CaseForwarded(_)
            | Payload::CaseWithdrawn(_) => {
                store::ensure_case(tx, case_id).await?;
                store::set_state(tx, case_id, true, at).await?;
            }
            // The pause is excluded: the deadlines move by it.
            Payload::CaseResumed(resumed) => {
                let handle_by = resumed.handle_by.as_ref().map(millis);
                let update = AssignmentUpdate {
                    resumed: true,
                    accept_by: resumed
                        .accept_by
                        .as_ref()
                        .map(millis)
                        .filter(|_| handle_by.is_none()),
                    extended_handle_by: handle_by,
                    ..update(case_id, &resumed.assignment_id, &resumed.department, at)
                };
                apply(tx, update).await?;
            }
            Payload::CaseSupplementRequested(requested) => {
                let update = AssignmentUpdate {
                    paused: true,
                    ..update(case_id, &requested.assignment_id, &requested.department, at)
                };
                apply(tx, update).await?;
            }
            // The next department's case.assigned follows: the latest assignment holds the case.
            Payload::CaseSupplemented(_) | Payload::CaseTransferred(_) => {
                store::ensure_case(tx, case_id).await?;
            }
            Payload::CaseReopened(_) => {
                store::ensure_case(tx, case_id).await?;
                store::count_reopening(tx, case_id).await?;
                store::set_state(tx, case_id, false, at).await?;
            }
            // A review (复查 / 复核) asked for opens the matter again until it is decided.
            Payload::CaseReviewRequested(_) => {
                store::ensure_case(tx, case_id).await?;
                store::set_state(tx, case_id, false, at).await?;
            }
            Payload::CaseReviewStarted(_) => {
                store::ensure_case(tx, case_id).await?;
            }
            // Upheld or changed, the decision closes the matter; handled again, the new
            // assignment follows.
            Payload::CaseReviewed(reviewed) => {
                store::ensure_case(tx, case_id).await?;
                if reviewed.outcome != pb::ReviewOutcome::Rehandle as i32 {
                    store::set_state(tx, case_id, true, at).await?;
                }
            }
            Payload::AlertRaised(_)
            | Payload::AuditAnchored(_)
            | Payload::DepartmentJoined(_)
            | Payload::DepartmentLeft(_) => {}
        }
        tracing::debug!(event_type = %event.r#type, case_id, "event projected");
        Ok(())
    }
}

impl Handler {
    /// case.registered: the case's facts, its petitioner keys, and the collective and
    /// repeat-petitioner rules.
    async fn registered(
        &self,
        tx: &mut Tx,
        case_id: &str,
        at: i64,
        registered: &pb::CaseRegistered,
    ) -> anyhow::Result<()> {
        let location = registered.location.clone().unwrap_or_default();
        let case = store::Registered {
            case_id: case_id.to_string(),
            case_number: registered.case_number.trim().to_string(),
            category: i64::from(registered.category),
            town: location.town.trim().to_string(),
            village: location.village.trim().to_string(),
            channel: i64::from(registered.channel),
            headcount: i64::from(registered.headcount),
            amount_fen: registered.amount_claimed.map_or(0, |m| m.fen),
            registered_at: at,
            settled_at_desk: registered.settled_at_desk,
        };
        let registered_at = store::register_case(tx, &case).await?;
        let keys: BTreeSet<String> = registered
            .petitioner_keys
            .iter()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        let keys: Vec<String> = keys.into_iter().collect();
        store::add_petitioner_keys(tx, &case, &keys).await?;

        let facts = Registration {
            headcount: registered.headcount,
            category: labels::category_of(case.category),
            town: &case.town,
            village: &case.village,
            amount_fen: case.amount_fen,
        };
        if let Some(draft) = alerts::collective(&facts, self.collective_threshold) {
            raise(tx, case_id, draft).await?;
        }
        // This case may repeat earlier ones; later cases heard before it may repeat it.
        let later = judge_repeat_of(tx, case_id, case.category, registered_at).await?;
        for later in later {
            judge_repeat(tx, &later).await?;
        }
        Ok(())
    }
}

/// The update every assignment event starts from.
fn update(case_id: &str, assignment_id: &str, department: &str, at: i64) -> AssignmentUpdate {
    AssignmentUpdate {
        assignment_id: assignment_id.trim().to_string(),
        case_id: case_id.to_string(),
        department: department.trim().to_string(),
        at,
        ..Default::default()
    }
}

/// Merges an assignment event and re-derives who holds the case and which deadline runs.
async fn apply(tx: &mut Tx, update: AssignmentUpdate) -> anyhow::Result<()> {
    store::ensure_case(tx, &update.case_id).await?;
    apply_known(tx, update).await
}

/// [`apply`] for a case whose row this transaction has made sure of already.
async fn apply_known(tx: &mut Tx, update: AssignmentUpdate) -> anyhow::Result<()> {
    if update.assignment_id.is_empty() {
        tracing::warn!(case_id = %update.case_id, "assignment event without assignment_id; not projected");
        return Ok(());
    }
    store::update_assignment(tx, &update).await?;
    let assignments = store::assignments_of(tx, &update.case_id).await?;
    store::set_holding(tx, &update.case_id, &holding(&assignments)).await?;
    Ok(())
}

/// Raises the repeat-petitioner alert on `case_id` when a petitioner of it brought an earlier
/// case of the same category; answers the matched cases registered after it.
async fn judge_repeat(tx: &mut Tx, case_id: &str) -> anyhow::Result<Vec<String>> {
    let Some(case) = store::case(tx, case_id).await? else {
        return Ok(vec![]);
    };
    let Some(registered_at) = case.registered_at else {
        return Ok(vec![]);
    };
    judge_repeat_of(tx, case_id, case.category, registered_at).await
}

/// [`judge_repeat`] of a case whose category and registration time are known already.
async fn judge_repeat_of(
    tx: &mut Tx,
    case_id: &str,
    category: i64,
    registered_at: i64,
) -> anyhow::Result<Vec<String>> {
    let (earlier, later): (Vec<_>, Vec<_>) = store::key_matches(tx, case_id)
        .await?
        .into_iter()
        .partition(|m| m.is_before(registered_at, case_id));
    if let Some(draft) = alerts::repeat_petitioner(labels::category_of(category), &earlier) {
        raise(tx, case_id, draft).await?;
    }
    let later: BTreeSet<String> = later.into_iter().map(|m| m.case_id).collect();
    Ok(later.into_iter().collect())
}

/// Stores the alert (unless the case has one of its kind already) and publishes
/// `alert.raised` with it, in the caller's transaction; true when it was raised. The consumer
/// and the overdue sweep raise every alert here.
pub(crate) async fn raise(tx: &mut Tx, case_id: &str, draft: AlertDraft) -> anyhow::Result<bool> {
    let case = store::case(tx, case_id).await?;
    let alert = pb::Alert {
        alert_id: uuid::Uuid::now_v7().to_string(),
        kind: draft.kind as i32,
        case_id: case_id.to_string(),
        facts: draft.facts,
        raised_at: Some(timestamp(now_millis())),
        acknowledged: false,
        case_number: case
            .as_ref()
            .map(|c| c.case_number.clone())
            .unwrap_or_default(),
        category: labels::category_of(case.as_ref().map_or(0, |c| c.category)) as i32,
    };
    if !store::insert_alert(tx, &alert).await? {
        return Ok(false);
    }
    tracing::info!(
        case_id,
        alert_id = %alert.alert_id,
        kind = draft.kind.as_str_name(),
        "alert raised"
    );
    outbox::publish(
        tx,
        ALERT_RAISED,
        case_id,
        SERVICE,
        Payload::AlertRaised(pb::AlertRaised { alert: Some(alert) }),
    )
    .await?;
    Ok(true)
}
