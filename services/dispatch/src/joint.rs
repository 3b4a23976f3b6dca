//! The use cases of joint handling (主办 / 协办) and leaders' instructions (批示), one
//! transaction each, beside `app`'s: the lead (or the center) enlists co-handlers, each
//! co-handler replies its part to the lead, and the supervision office records a leader's
//! instruction with its deadline and follows it until the case is replied (反馈).

use std::collections::BTreeSet;

use yimen_platform::auth::Scope;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::Error;
use yimen_platform::paging::PageToken;
use yimen_platform::time::timestamp;
use yimen_proto::event_type;
use yimen_proto::v1::{self as pb, AssignmentCause, event::Payload};

use crate::app::{
    Deadlines, announce_assigned, commit, committed, department_name, enqueue, load_assignment,
    load_for, mark_replied_in, moved_on,
};
use crate::domain::joint::{self, CoHandlers, InstructionRequest, InstructionsQuery, Role};
use crate::store::{self, AssignmentRecord, InstructionRecord};

/// AddCoHandlers: each department named gets a PENDING co-handling assignment of the case
/// beside the lead's open one, with deadlines of its own, announced as `case.assigned.<dept>`
/// with cause CO_HANDLING (intake keeps the case with the lead).
pub async fn add_co_handlers(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    request: CoHandlers,
) -> Result<pb::AddCoHandlersResponse, Error> {
    let CoHandlers {
        assignment_id: id,
        departments,
        note,
    } = request;
    let mut tx = db.begin().await?;
    let lead = load_for(&mut tx, scope, &id).await?;
    if lead.role != Role::Lead {
        return Err(Error::precondition(
            "the assignment is CO_HANDLER (协办): only the lead department (主办) enlists co-handlers",
        ));
    }
    if !lead.state.is_open() {
        return Err(Error::precondition(format!(
            "the assignment is {}: only an open (PENDING or ACCEPTED) lead assignment takes co-handlers",
            lead.state.as_str()
        )));
    }
    let case = &lead.case;
    let on_case: BTreeSet<String> = store::parts_of(&mut tx, &case.case_id)
        .await?
        .into_iter()
        .filter(|p| p.is_missing() || p.state.0 == crate::domain::AssignmentState::Replied)
        .map(|p| p.department)
        .collect();
    let active: BTreeSet<String> = store::departments(&mut tx, false)
        .await?
        .iter()
        .map(|d| d.code().to_string())
        .collect();
    joint::may_enlist(&lead.department, &on_case, &active, &departments)?;
    // Holds the lead's row: its reply waits for this, then sees the new parts.
    if !store::touch_open(&mut tx, &id).await? {
        return Err(moved_on(&id));
    }
    let now = now_millis();
    let lead_name = department_name(&mut tx, &lead.department).await?;
    let reason = match note.as_str() {
        "" => format!("co-handling (协办) with {lead_name} leading (主办)"),
        note => format!("co-handling (协办) with {lead_name} leading (主办): {note}"),
    };
    let mut enlisted = Vec::with_capacity(departments.len());
    for department in departments {
        if !store::lock_active_department(&mut tx, &department).await? {
            return Err(Error::precondition(format!(
                "co-handlers (协办) not enlisted: {department} is not at the center"
            )));
        }
        let record = AssignmentRecord {
            role: Role::CoHandler,
            lead_assignment_id: id.clone(),
            ..AssignmentRecord::pending(
                case,
                department.clone(),
                AssignmentCause::CoHandling,
                reason.clone(),
                lead.department.clone(),
                now,
                deadlines.accept_by(now),
            )
        };
        store::insert_assignment(&mut tx, &record).await?;
        store::note_co_handler(&mut tx, &record.assignment_id, &case.case_id, &note).await?;
        let name = department_name(&mut tx, &department).await?;
        announce_assigned(&mut tx, &record, name).await?;
        enlisted.push(record.assignment_id);
    }
    let mut co_handlers = Vec::with_capacity(enlisted.len());
    for assignment_id in &enlisted {
        co_handlers.push(load_assignment(&mut tx, assignment_id).await?.to_proto());
    }
    let lead = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %lead.department, co_handlers = co_handlers.len(), "co-handlers enlisted");
    Ok(pb::AddCoHandlersResponse {
        lead: Some(lead.to_proto()),
        co_handlers,
    })
}

/// A co-handler replies its part (ACCEPTED → REPLIED) to the lead, announced as
/// `case.part_replied.<lead dept>`; answers whether it came by its handling deadline.
pub async fn reply_part_in(
    tx: &mut Tx,
    current: &AssignmentRecord,
    text: String,
    now: i64,
) -> Result<bool, Error> {
    let id = &current.assignment_id;
    let within_deadline = mark_replied_in(tx, current, &text, now).await?;
    // The lead now, which a return or a leave may have changed since the co-handler was
    // enlisted; its work list shows the part.
    let lead = match store::open_assignment_of_case(tx, &current.case.case_id).await? {
        Some(open) => {
            store::touch_open(tx, &open.assignment_id).await?;
            open
        }
        None => load_assignment(tx, &current.lead_assignment_id).await?,
    };
    let payload = Payload::CasePartReplied(pb::CasePartReplied {
        assignment_id: id.clone(),
        department: current.department.clone(),
        lead_assignment_id: lead.assignment_id.clone(),
        lead_department: lead.department.clone(),
        reply: text,
        within_deadline,
        department_name: department_name(tx, &current.department).await?,
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_PART_REPLIED, &lead.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    Ok(within_deadline)
}

/// FAILED_PRECONDITION naming the co-handlers whose parts of the case are still missing.
pub async fn parts_complete(tx: &mut Tx, case_id: &str) -> Result<(), Error> {
    let missing: Vec<String> = store::parts_of(tx, case_id)
        .await?
        .into_iter()
        .filter(store::Part::is_missing)
        .map(|p| p.department)
        .collect();
    joint::parts_complete(&missing)
}

/// 批示: records a leader's instruction on the case of the assignment named, for the
/// department leading it now, due `due_days` from now (on a working day); announced as
/// `case.instructed.<dept>`. A case nobody holds (replied, closed, refused) takes none.
pub async fn record_instruction(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    request: InstructionRequest,
) -> Result<pb::Instruction, Error> {
    let InstructionRequest {
        assignment_id: id,
        leader,
        text,
        due_days,
    } = request;
    let mut tx = db.begin().await?;
    let named = load_for(&mut tx, scope, &id).await?;
    let Some(lead) = store::open_assignment_of_case(&mut tx, &named.case.case_id).await? else {
        return Err(Error::precondition(format!(
            "the assignment is {} and no department holds the case now: an instruction (批示) goes to the department handling it",
            named.state.as_str()
        )));
    };
    let now = now_millis();
    let record = InstructionRecord {
        instruction_id: uuid::Uuid::now_v7().to_string(),
        case_id: lead.case.case_id.clone(),
        case_number: lead.case.case_number.clone(),
        assignment_id: lead.assignment_id.clone(),
        department: lead.department.clone(),
        leader,
        text,
        recorded_at: now,
        due_at: deadlines.period_end(now, due_days),
        reported_at: None,
    };
    store::insert_instruction(&mut tx, &record).await?;
    if !store::touch_open(&mut tx, &lead.assignment_id).await? {
        return Err(moved_on(&lead.assignment_id));
    }
    let payload = Payload::CaseInstructed(pb::CaseInstructed {
        instruction_id: record.instruction_id.clone(),
        assignment_id: lead.assignment_id.clone(),
        department: lead.department.clone(),
        leader: record.leader.clone(),
        instruction: record.text.clone(),
        due_at: Some(timestamp(record.due_at)),
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_INSTRUCTED, &lead.department),
        &lead.case.case_id,
        payload,
    )
    .await?;
    commit(db, tx).await?;
    tracing::info!(case_id = %record.case_id, department = %record.department, due_days, "leader's instruction recorded");
    Ok(record.to_proto(now))
}

/// ListInstructions: the instructions the supervision office follows, oldest first, page by
/// page; only the overdue ones when asked.
pub async fn list_instructions(
    db: &Db,
    request: InstructionsQuery,
) -> Result<pb::ListInstructionsResponse, Error> {
    let InstructionsQuery { overdue_only, page } = request;
    let now = now_millis();
    let mut conn = db.pool().acquire().await?;
    let mut rows = store::instructions(
        &mut conn,
        overdue_only,
        now,
        page.after.as_ref(),
        page.fetch(),
    )
    .await?;
    let next_page_token = page.finish(&mut rows, |last| PageToken {
        millis: last.recorded_at,
        id: last.instruction_id.clone(),
    });
    Ok(pb::ListInstructionsResponse {
        instructions: rows.iter().map(|i| i.to_proto(now)).collect(),
        next_page_token,
    })
}
