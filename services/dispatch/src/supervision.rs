//! Supervision without anyone asking (跟踪督办), as use cases: the return that makes a case a
//! problem case (问题件) puts its next holder under supervision (督办); the deadline watcher
//! reminds a department past its acceptance deadline (催办) and puts one past its handling
//! deadline under supervision, each once per assignment and stage (`case.overdue.<dept>`, and
//! `case.escalated.<dept>` for supervision); and a supervisor's similar-case sweep (全面排查类似
//! 问题) sends the matching answered cases for handling again in one step.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yimen_platform::auth::Scope;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::Error;
use yimen_platform::time::timestamp;
use yimen_proto::event_type;
use yimen_proto::v1::{self as pb, EscalationCause, EscalationLevel, OverdueStage, event::Payload};

use crate::DispatchConfig;
use crate::app::{self, Deadlines};
use crate::domain::Trigger;
use crate::domain::supervision::{self, Sweep};
use crate::store::{self, AssignmentRecord};

/// The most assignments the watcher claims in one transaction.
const WATCH_BATCH: i64 = 100;

/// After a return re-routed a case to `reassigned` (in the same transaction): when the case is
/// now a problem case (returned `threshold` times or more), the new holder is put under
/// supervision, announced as `case.escalated.<dept>` with cause PROBLEM_CASE.
pub(crate) async fn after_return(
    tx: &mut Tx,
    reassigned: &AssignmentRecord,
    threshold: u32,
) -> Result<(), Error> {
    let returned_by = store::returns_of(tx, &reassigned.case.case_id).await?;
    let returns = returned_by.len() as u64;
    if !supervision::is_problem_case(returns, threshold) {
        return Ok(());
    }
    let id = &reassigned.assignment_id;
    let level =
        crate::domain::escalation::raise(reassigned.escalation, EscalationLevel::Supervision);
    if !store::set_escalation(tx, id, reassigned.escalation, level).await? {
        return Err(app::moved_on(id));
    }
    let reason = supervision::problem_case_reason(returns, &returned_by);
    tracing::info!(case_id = %reassigned.case.case_id, assignment_id = %id, returns, "problem case under supervision");
    app::announce_escalation_for(
        tx,
        reassigned,
        EscalationLevel::Supervision,
        reason,
        String::new(),
        EscalationCause::ProblemCase,
    )
    .await
}

/// Finds every open assignment whose running deadline passed before `now` and was not found
/// passed yet, and for each: `case.overdue.<dept>`, the escalation (催办 or 督办) and, for
/// supervision, `case.escalated.<dept>`, committed with the claim. Safe with several
/// replicas: each assignment and stage is claimed once (`store::claim_overdue`). Answers how
/// many were found.
pub async fn check_deadlines(db: &Db, now: i64) -> Result<usize, Error> {
    let mut found = 0;
    for stage in [OverdueStage::Acceptance, OverdueStage::Handling] {
        loop {
            let mut tx = db.begin().await?;
            let claimed = store::claim_overdue(&mut tx, stage, now, WATCH_BATCH).await?;
            for id in &claimed {
                overdue_in(&mut tx, id, stage).await?;
            }
            db.commit(tx).await?;
            found += claimed.len();
            if claimed.len() < WATCH_BATCH as usize {
                break;
            }
        }
    }
    Ok(found)
}

/// What passing its `stage` deadline does to the assignment `id`, in `tx`.
async fn overdue_in(tx: &mut Tx, id: &str, stage: OverdueStage) -> Result<(), Error> {
    let current = app::load_assignment(tx, id).await?;
    let deadline = match stage {
        OverdueStage::Handling => current.handle_by.unwrap_or(current.accept_by),
        _ => current.accept_by,
    };
    let (level, announce) = supervision::overdue_escalation(current.escalation, stage);
    if level != current.escalation
        && !store::set_escalation(tx, id, current.escalation, level).await?
    {
        return Err(app::moved_on(id));
    }
    let payload = Payload::CaseOverdue(pb::CaseOverdue {
        assignment_id: id.to_string(),
        department: current.department.clone(),
        stage: stage as i32,
        deadline: Some(timestamp(deadline)),
        escalation: level as i32,
    });
    app::enqueue(
        tx,
        event_type::for_department(event_type::CASE_OVERDUE, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    if announce {
        app::announce_escalation_for(
            tx,
            &current,
            level,
            supervision::overdue_reason(stage, deadline),
            String::new(),
            EscalationCause::Overdue,
        )
        .await?;
    }
    tracing::info!(case_id = %current.case.case_id, assignment_id = %id, department = %current.department, stage = stage.as_str_name(), "deadline passed");
    Ok(())
}

/// Checks the deadlines every `overdue_check_secs` (the first time right away) until
/// `shutdown`; a failed check is logged and the next one runs as planned. Returns at once when
/// the interval is 0 (the watcher is off).
pub async fn watch_deadlines(db: Db, config: DispatchConfig, shutdown: CancellationToken) {
    if config.overdue_check_secs == 0 {
        tracing::info!("deadline watcher off");
        return;
    }
    let every = Duration::from_secs(config.overdue_check_secs);
    while !shutdown.is_cancelled() {
        match check_deadlines(&db, now_millis()).await {
            Ok(0) => {}
            Ok(found) => tracing::info!(found, "passed deadlines found"),
            Err(e) => tracing::warn!(error = %e, "deadline check failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// 全面排查: the answered cases matching `sweep` (at most `max`), each sent for handling again
/// in the one transaction unless it is a dry run. Only the center (a supervisor or an
/// administrator) sweeps: a department sees only its own work.
pub async fn sweep_similar_cases(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    max: u32,
    sweep: Sweep,
) -> Result<pb::SweepSimilarCasesResponse, Error> {
    supervision::may_sweep(scope)?;
    let mut tx = db.begin().await?;
    let mut found = store::answered_cases(
        &mut tx,
        sweep.category.map_or(0, |c| c as i64),
        &sweep.town,
        &sweep.department,
        &sweep.like_patterns(),
        // One more than taken tells more matched; one more again for the prompting case.
        i64::from(max) + 2,
    )
    .await?;
    found.retain(|a| a.case.case_id != sweep.prompted_by);
    let truncated = found.len() > max as usize;
    found.truncate(max as usize);
    let reason = sweep.assignment_reason();
    let now = now_millis();
    let mut reassigned = Vec::with_capacity(found.len());
    for answered in &found {
        if sweep.dry_run {
            reassigned.push(None);
            continue;
        }
        let excluded = store::returned_by(&mut tx, &answered.case.case_id).await?;
        let trigger = Trigger::Swept {
            from: &answered.department,
            reason: &reason,
        };
        let record = app::assign(
            &mut tx,
            &answered.case,
            &excluded,
            trigger,
            false,
            deadlines,
            now,
        )
        .await?;
        reassigned.push(Some(record.assignment_id));
    }
    let mut cases = Vec::with_capacity(found.len());
    for (answered, new_id) in found.iter().zip(reassigned) {
        let reassigned = match new_id {
            Some(id) => Some(app::load_assignment(&mut tx, &id).await?.to_proto()),
            None => None,
        };
        let case = &answered.case;
        cases.push(pb::SimilarCase {
            case_id: case.case_id.clone(),
            case_number: case.case_number.clone(),
            category: case.category as i32,
            location: Some(case.location()),
            subject: case.subject.clone(),
            department: answered.department.clone(),
            replied_assignment_id: answered.assignment_id.clone(),
            reassigned,
        });
    }
    if sweep.dry_run {
        // Nothing was written: the transaction only read.
        drop(tx);
    } else {
        db.commit(tx).await?;
    }
    tracing::info!(
        matched = cases.len(),
        truncated,
        dry_run = sweep.dry_run,
        "similar cases swept"
    );
    Ok(pb::SweepSimilarCasesResponse {
        cases,
        truncated,
        dry_run: sweep.dry_run,
    })
}
