//! A case leaving its department other than by the department's own decision: the petitioner
//! withdraws it (撤回, `case.withdrawn`), or the center moves it between levels — the city
//! takes over a town or village case (提级) or hands a city case down (交办).

use yimen_platform::auth::Scope;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::Error;
use yimen_proto::event_type;
use yimen_proto::v1::{self as pb, event::Payload};

use crate::app::{self, Deadlines};
use crate::domain::transfer::{self, Transfer};
use crate::domain::{AssignmentState, Route, Transition};
use crate::store;

/// `case.withdrawn`: the case's open assignment ends WITHDRAWN, out of its department's work
/// and deadlines; a case nobody holds (settled at the desk, or already closed) has none.
pub async fn case_withdrawn(tx: &mut Tx, event: &pb::Event) -> anyhow::Result<()> {
    let withdrawn = yimen_platform::payload!(event, CaseWithdrawn)?;
    let Some(open) = store::open_assignment_of_case(tx, &event.case_id).await? else {
        tracing::info!(case_id = %event.case_id, "withdrawn case held by no department; nothing to end");
        return Ok(());
    };
    let ended = open.state.apply(Transition::Withdraw)?;
    let at = event
        .occurred_at
        .as_ref()
        .map_or_else(now_millis, yimen_platform::time::millis);
    if !store::mark_ended(tx, &open.assignment_id, ended, &withdrawn.reason, at).await? {
        anyhow::bail!(
            "assignment {} moved while the withdrawal was applied; retrying",
            open.assignment_id
        );
    }
    tracing::info!(case_id = %event.case_id, assignment_id = %open.assignment_id, department = %open.department, "assignment ended: the petitioner withdrew the case");
    Ok(())
}

/// 提级 / 交办: the center gives an open case to a department at another level, with a reason.
/// The assignment ends TRANSFERRED (`case.transferred.<from>`), and the target gets a new
/// PENDING one with a fresh acceptance deadline (`case.assigned.<to>`, cause TAKEN_OVER or
/// HANDED_DOWN).
pub async fn transfer(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    request: Transfer,
) -> Result<pb::TransferAssignmentResponse, Error> {
    transfer::may_transfer(scope)?;
    let Transfer {
        assignment_id: id,
        to_department: to,
        reason,
    } = request;
    let mut tx = db.begin().await?;
    let current = app::load_for(&mut tx, scope, &id).await?;
    let ended = current.state.apply(Transition::Transfer)?;
    let holder = store::department(&mut tx, &current.department)
        .await?
        .ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "assignment {id} is held by unknown department {}",
                current.department
            ))
        })?;
    let target = store::department(&mut tx, &to)
        .await?
        .ok_or_else(|| Error::precondition(format!("department {to} is not at the center")))?;
    let cause = transfer::cause(holder.spec.level, &target)?;
    if !store::lock_active_department(&mut tx, &to).await? {
        return Err(Error::precondition(format!(
            "department {to} has left the center"
        )));
    }
    let now = now_millis();
    if !store::mark_ended(&mut tx, &id, ended, &reason, now).await? {
        return Err(app::moved_on(&id));
    }
    let from = current.department.clone();
    let payload = Payload::CaseTransferred(pb::CaseTransferred {
        assignment_id: id.clone(),
        department: from.clone(),
        to_department: to.clone(),
        cause: cause as i32,
        reason: reason.clone(),
    });
    app::enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_TRANSFERRED, &from),
        &current.case.case_id,
        payload,
    )
    .await?;
    let chosen = Route {
        department: to.clone(),
        department_name: target.spec.name.clone(),
        cause,
        reason: transfer::reason(cause, &from, &reason),
        rule: String::new(),
        rules_version: 0,
    };
    let assigned = app::give(
        &mut tx,
        &current.case,
        chosen,
        from.clone(),
        current.in_mediation,
        deadlines,
        now,
    )
    .await?;
    let assigned = app::load_assignment(&mut tx, &assigned.assignment_id).await?;
    let transferred = app::committed(db, tx, &id).await?;
    debug_assert_eq!(transferred.state, AssignmentState::Transferred);
    tracing::info!(assignment_id = %id, from = %from, to = %to, cause = cause.as_str_name(), "case moved between levels");
    Ok(pb::TransferAssignmentResponse {
        transferred: Some(transferred.to_proto()),
        assigned: Some(assigned.to_proto()),
    })
}
