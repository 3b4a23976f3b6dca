//! Assessment's reaction to events: every case and department event that tells something about
//! a department's work is recorded inside the consumer loop's transaction (so the inbox claim
//! and the record commit together). Records are upserts, so events arriving in any order, or
//! about an assignment or case assessment has not seen yet, are kept, never refused.

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::time::millis;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{Event, MediationConcluded, MediationState};

use crate::AssessmentConfig;
use crate::domain::scorecard::is_satisfied;
use crate::domain::{Fact, Observed, facts, negative};
use crate::store::{self, Evaluation, NewAssignment, Step};

pub struct Handler;

impl Handler {
    /// It works in the consumer loop's transaction, so it needs no store of its own.
    pub fn new(_db: Db, _config: &AssessmentConfig) -> Self {
        Self
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        if let Some(Payload::MediationConcluded(concluded)) = &event.payload {
            return record_mediation(tx, event, concluded).await;
        }
        let Some(observed) = facts::read(event, now_millis())? else {
            tracing::debug!(event_type = %event.r#type, "event not scored by assessment; ignored");
            return Ok(());
        };
        apply(tx, &event.id, &observed).await?;
        tracing::debug!(
            event_type = %event.r#type,
            event_id = %event.id,
            case_id = %observed.case_id,
            "recorded for assessment"
        );
        Ok(())
    }
}

/// `mediation.concluded`: the file, its outcome, difficulty and mediators, for the quarterly
/// expert review and the subsidies (以案定补).
async fn record_mediation(
    tx: &mut Tx,
    event: &Event,
    concluded: &MediationConcluded,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !concluded.mediation_id.is_empty(),
        "mediation.concluded event {} without mediation_id",
        event.id
    );
    let mediators: Vec<String> = concluded
        .mediators
        .iter()
        .map(|m| m.trim().replace(',', ""))
        .filter(|m| !m.is_empty())
        .collect();
    store::record_mediation(
        tx,
        &store::NewMediation {
            mediation_id: &concluded.mediation_id,
            committee: concluded.committee.trim(),
            outcome: MediationState::try_from(concluded.outcome)
                .unwrap_or(MediationState::Unspecified),
            difficulty: concluded.difficulty,
            mediators: &mediators,
            concluded_at: event.occurred_at.as_ref().map_or_else(now_millis, millis),
        },
    )
    .await?;
    tracing::debug!(event_id = %event.id, mediation_id = %concluded.mediation_id, "mediation recorded for subsidies");
    Ok(())
}

/// Records one fact; `event_id` keys what is recorded once per event (evaluations).
async fn apply(tx: &mut Tx, event_id: &str, observed: &Observed) -> anyhow::Result<()> {
    let case_id = observed.case_id.as_str();
    let at = observed.at;
    match &observed.fact {
        Fact::Registered {
            headcount,
            case_number,
        } => {
            let case = store::record_registration(tx, case_id, *headcount, case_number).await?;
            sync_collective(tx, case_id, &case, at).await?;
        }
        Fact::Assigned {
            assignment_id,
            department,
            department_name,
            accept_by,
        } => {
            store::know_department(tx, department, department_name).await?;
            let assignment = NewAssignment {
                assignment_id,
                case_id,
                department,
                assigned_at: at,
                accept_by: *accept_by,
            };
            let case = store::record_assignment(tx, &assignment).await?;
            sync_collective(tx, case_id, &case, at).await?;
        }
        Fact::Accepted {
            assignment_id,
            department,
        } => {
            store::know_department(tx, department, "").await?;
            store::record_acceptance(tx, step(observed, assignment_id, department)).await?;
        }
        Fact::Returned {
            assignment_id,
            department,
        } => {
            store::know_department(tx, department, "").await?;
            store::record_return(tx, step(observed, assignment_id, department)).await?;
        }
        Fact::Replied {
            assignment_id,
            department,
            within_deadline,
        } => {
            store::know_department(tx, department, "").await?;
            store::record_reply(
                tx,
                step(observed, assignment_id, department),
                *within_deadline,
            )
            .await?;
        }
        Fact::AcceptanceResumed {
            assignment_id,
            department,
            accept_by,
        } => {
            store::know_department(tx, department, "").await?;
            store::move_acceptance_deadline(
                tx,
                step(observed, assignment_id, department),
                *accept_by,
            )
            .await?;
        }
        Fact::Escalated {
            department, level, ..
        } => {
            store::know_department(tx, department, "").await?;
            if let Some(entry) = negative::escalated(case_id, department, *level, at) {
                store::put_escalation(tx, &entry).await?;
            }
        }
        Fact::Overdue {
            assignment_id,
            department,
        } => {
            store::know_department(tx, department, "").await?;
            store::record_overdue(tx, step(observed, assignment_id, department)).await?;
        }
        Fact::Evaluated {
            department,
            satisfaction,
        } => {
            // An evaluation that does not name the department judges the current holder's reply.
            let department = if department.is_empty() {
                store::case(tx, case_id)
                    .await?
                    .map(|case| case.department)
                    .unwrap_or_default()
            } else {
                department.clone()
            };
            if department.is_empty() {
                tracing::warn!(
                    case_id,
                    event_id,
                    "evaluation of a case whose department is unknown; not scored"
                );
                return Ok(());
            }
            store::know_department(tx, &department, "").await?;
            let evaluation = Evaluation {
                evaluation_id: event_id,
                case_id,
                department: &department,
                satisfaction: *satisfaction as i32,
                satisfied: is_satisfied(*satisfaction),
                at,
            };
            store::record_evaluation(tx, &evaluation).await?;
        }
        Fact::DepartmentJoined { code, name } => {
            store::department_joined(tx, code, name, at).await?;
        }
        Fact::DepartmentLeft { code } => {
            store::department_left(tx, code, at).await?;
        }
    }
    Ok(())
}

fn step<'a>(observed: &'a Observed, assignment_id: &'a str, department: &'a str) -> Step<'a> {
    Step {
        assignment_id,
        case_id: &observed.case_id,
        department,
        at: observed.at,
    }
}

/// Keeps a collective case's one COLLECTIVE entry on the department that holds it now (`case`,
/// as the upsert that recorded the event left it): made once both the headcount and a holder
/// are known, moved whenever the holder changes.
async fn sync_collective(
    tx: &mut Tx,
    case_id: &str,
    case: &store::CaseRow,
    at: i64,
) -> anyhow::Result<()> {
    let since = case.first_assigned_at.unwrap_or(at);
    if let Some(entry) = negative::collective(case_id, case.headcount, &case.department, since) {
        store::put_entry(tx, &entry).await?;
    }
    Ok(())
}
