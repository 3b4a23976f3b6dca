//! Review and re-review (复查 / 复核) in dispatch: a `case.review_requested` gives the review to
//! the review body of the department whose answer is contested (a REVIEWING assignment, to be
//! decided within `dispatch.review_days`, announced as `case.review_started.<body>`); the body
//! decides it (DecideReview, `case.reviewed.<body>`), and a decision to handle the matter again
//! gives the case back to the department that answered it (cause REHANDLE).

use std::collections::BTreeSet;

use yimen_platform::auth::Scope;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::Error;
use yimen_platform::time::timestamp;
use yimen_proto::event_type;
use yimen_proto::v1::{self as pb, ReviewOutcome, ReviewStage, event::Payload};

use super::{Deadlines, assign, committed, department_name, enqueue, load_for, moved_on};
use crate::domain::review::{self, ReviewDecision};
use crate::domain::{AssignmentState, CITY_CENTER, Transition, Trigger};
use crate::store::{self, AssignmentRecord};

/// `case.review_requested`: the review body of the contested department takes the review. A
/// re-review contests the review decision, so it goes to the review body of the body that
/// reviewed. A case whose review is still undecided gets no second one.
pub async fn review_requested(
    tx: &mut Tx,
    event: &pb::Event,
    deadlines: &Deadlines,
) -> anyhow::Result<()> {
    let requested = yimen_platform::payload!(event, CaseReviewRequested)?;
    let case_id = &event.case_id;
    let Some(case) = store::case(tx, case_id).await? else {
        // Retried: its registration may not have arrived yet.
        anyhow::bail!(
            "case.review_requested event {} for unknown case {case_id:?}",
            event.id
        );
    };
    let stage = match ReviewStage::try_from(requested.stage) {
        Ok(ReviewStage::ReReview) => ReviewStage::ReReview,
        _ => ReviewStage::Review,
    };
    let last = store::last_review(tx, case_id).await?;
    if let Some(open) = last
        .as_ref()
        .filter(|r| r.state == AssignmentState::Reviewing)
    {
        tracing::warn!(case_id = %case_id, assignment_id = %open.assignment_id, "a review of the case is still undecided; not given twice");
        return Ok(());
    }
    let contested = match (stage, &last) {
        (ReviewStage::ReReview, Some(reviewed)) => reviewed.department.clone(),
        _ => match requested.department.trim() {
            "" => store::last_replier(tx, case_id)
                .await?
                .unwrap_or_else(|| CITY_CENTER.to_string()),
            named => named.to_string(),
        },
    };
    let departments = store::departments(tx, false).await?;
    let (body, body_name) = review::review_body(&contested, &departments);
    if !store::lock_active_department(tx, &body).await? {
        anyhow::bail!("review body {body} left while the review was given; retrying");
    }
    let now = now_millis();
    let decide_by = deadlines.decide_by(now);
    let record = AssignmentRecord {
        state: AssignmentState::Reviewing,
        handle_by: Some(decide_by),
        review_stage: stage,
        contested_department: contested.clone(),
        ..AssignmentRecord::pending(
            &case,
            body.clone(),
            pb::AssignmentCause::Review,
            review::reason(stage, &contested),
            contested.clone(),
            now,
            decide_by,
        )
    };
    store::insert_assignment(tx, &record).await?;
    store::mark_review(tx, &record.assignment_id, stage, &contested, decide_by).await?;
    let payload = Payload::CaseReviewStarted(pb::CaseReviewStarted {
        assignment_id: record.assignment_id.clone(),
        department: body.clone(),
        department_name: body_name,
        stage: stage as i32,
        contested_department: contested.clone(),
        decide_by: Some(timestamp(decide_by)),
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_REVIEW_STARTED, &body),
        case_id,
        payload,
    )
    .await?;
    tracing::info!(case_id = %case_id, assignment_id = %record.assignment_id, body = %body, contested = %contested, stage = stage.as_str_name(), "review given to its body");
    Ok(())
}

/// DecideReview: the review body (or the center) decides a REVIEWING assignment and
/// `case.reviewed.<body>` tells intake, which tells the petitioner; REHANDLE gives the case back
/// to the department that answered it, in the same transaction.
pub async fn decide_review(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    request: ReviewDecision,
) -> Result<pb::Assignment, Error> {
    let ReviewDecision {
        assignment_id: id,
        outcome,
        decision,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.state.apply(Transition::DecideReview)?;
    let now = now_millis();
    if !store::mark_reviewed(&mut tx, &id, outcome, &decision, now).await? {
        return Err(moved_on(&id));
    }
    let payload = Payload::CaseReviewed(pb::CaseReviewed {
        assignment_id: id.clone(),
        department: current.department.clone(),
        department_name: department_name(&mut tx, &current.department).await?,
        stage: current.review_stage as i32,
        outcome: outcome as i32,
        decision,
        contested_department: current.contested_department.clone(),
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_REVIEWED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    if outcome == ReviewOutcome::Rehandle {
        rehandle(&mut tx, &current, deadlines, now).await?;
    }
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, outcome = outcome.as_str_name(), "review decided");
    Ok(updated.to_proto())
}

/// 重新办理: the department that last replied to the case handles it again (while it is at the
/// center and did not return it; else the case is routed as a new one).
async fn rehandle(
    tx: &mut Tx,
    review: &AssignmentRecord,
    deadlines: &Deadlines,
    now: i64,
) -> Result<(), Error> {
    let case_id = &review.case.case_id;
    if let Some(open) = store::open_assignment_of_case(tx, case_id).await? {
        tracing::warn!(case_id = %case_id, assignment_id = %open.assignment_id, "the case is already being handled; not assigned twice");
        return Ok(());
    }
    let to = store::last_replier(tx, case_id)
        .await?
        .unwrap_or_else(|| review.contested_department.clone());
    let excluded: BTreeSet<String> = store::returned_by(tx, case_id).await?;
    let trigger = Trigger::Rehandled {
        by: &review.department,
        to: &to,
    };
    assign(tx, &review.case, &excluded, trigger, false, deadlines, now).await?;
    Ok(())
}
