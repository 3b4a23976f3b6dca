//! The dispatch process, one operation per transaction: register and route a case, accept,
//! reply, return, join and leave; refer to mediation, extend, escalate; and what mediation's
//! outcomes and a reopened case do. Each writes its state change and its events (through the
//! outbox) together, so a department never sees work that was not recorded, or the reverse.

use std::collections::BTreeSet;
use std::sync::Arc;

use sqlx::AnyConnection;
use yimen_platform::auth::Scope;
use yimen_platform::bus::{Bus, QueueSpec};
use yimen_platform::calendar::Holidays;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::Error;
use yimen_platform::outbox;
use yimen_platform::paging::PageToken;
use yimen_platform::time::timestamp;
use yimen_platform::watch;
use yimen_proto::event_type;
use yimen_proto::v1::{self as pb, EscalationLevel, event::Payload};

use crate::domain::decision::{self, Forwarding, Refusal, SupplementRequest};
use crate::domain::joint::Role;
use crate::domain::mediation::{Outcome, agreement_reply};
use crate::domain::requests::{
    Accept, AssignmentsQuery, Escalation, ExtensionDecision, ExtensionRequest, LeaderAssignment,
    Leave, Referral, Reply, Return, WatchQuery,
};
use crate::domain::{
    Action, AssignmentState, CITY_CENTER, CaseFacts, Department, DepartmentSpec, Extension, Route,
    RoutingRule, Transition, Trigger, access, escalation, extension, route,
};
use crate::store::{self, AssignmentRecord, CaseRecord};
use crate::{DispatchConfig, SERVICE};

mod review;
pub use review::{decide_review, review_requested};

/// Routing retries when the chosen department leaves in the same instant.
const ROUTING_ATTEMPTS: usize = 5;

/// The deadlines of an assignment (信访工作条例: accept within 15 days, handle within 60, one
/// extension of at most 30), each moved to the next working day when it falls on a rest day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlines {
    accept_days: u32,
    handle_days: u32,
    holidays: Holidays,
    review_days: u32,
}

impl Deadlines {
    pub fn new(config: &DispatchConfig) -> Self {
        Self {
            accept_days: config.accept_days,
            handle_days: config.handle_days,
            holidays: config.holidays.clone(),
            review_days: config.review_days,
        }
    }

    /// When a review (or re-review) started at `started_at` must be decided.
    pub fn decide_by(&self, started_at: i64) -> i64 {
        self.holidays.period_end(started_at, self.review_days)
    }

    /// When a case assigned at `assigned_at` must be accepted (or refused, or forwarded).
    pub fn accept_by(&self, assigned_at: i64) -> i64 {
        self.holidays.period_end(assigned_at, self.accept_days)
    }

    /// When a case accepted at `accepted_at` must be replied to.
    pub fn handle_by(&self, accepted_at: i64) -> i64 {
        self.holidays.period_end(accepted_at, self.handle_days)
    }

    /// A deadline moved by a pause of `paused` milliseconds.
    pub fn resumed(&self, deadline: i64, paused: i64) -> i64 {
        self.holidays.next_working(deadline + paused)
    }

    /// The end of a period of `days` from `from` (an instruction's deadline to report back).
    pub fn period_end(&self, from: i64, days: u32) -> i64 {
        self.holidays.period_end(from, days)
    }

    /// The handling deadline after an extension of `days`.
    pub fn extended(&self, handle_by: i64, days: u32) -> i64 {
        self.holidays
            .next_working(extension::extended(handle_by, days))
    }
}

pub(crate) async fn enqueue(
    tx: &mut Tx,
    event_type: String,
    case_id: &str,
    payload: Payload,
) -> Result<(), Error> {
    outbox::publish(tx, event_type, case_id, SERVICE, payload).await?;
    Ok(())
}

/// Routes `case` and gives it to its owner as a new PENDING assignment, announcing
/// `case.assigned.<code>`. `excluded` departments are never chosen; `in_mediation` carries
/// over a mediation the case is in.
pub(crate) async fn assign(
    tx: &mut Tx,
    case: &CaseRecord,
    excluded: &BTreeSet<String>,
    trigger: Trigger<'_>,
    in_mediation: bool,
    deadlines: &Deadlines,
    now: i64,
) -> Result<AssignmentRecord, Error> {
    let facts = CaseFacts {
        category: case.category,
        town: &case.town,
        village: &case.village,
        subject: &case.subject,
    };
    for _ in 0..ROUTING_ATTEMPTS {
        let view = store::routing_view(tx).await?;
        let chosen = route(&facts, &view.departments, &view.rules, excluded, trigger);
        if !store::lock_active_department(tx, &chosen.department).await? {
            // It left between reading and locking: route again among who is still here.
            continue;
        }
        let previous_department = match trigger {
            Trigger::Registered => String::new(),
            Trigger::Returned { from, .. }
            | Trigger::DepartmentLeft { from, .. }
            | Trigger::Reopened { from }
            | Trigger::Rehandled { by: from, .. }
            | Trigger::Swept { from, .. } => from.into(),
        };
        let record = give(
            tx,
            case,
            chosen,
            previous_department,
            in_mediation,
            deadlines,
            now,
        )
        .await?;
        return Ok(record);
    }
    Err(Error::Unavailable(
        "departments kept changing while the case was routed; try again".into(),
    ))
}

/// Gives `case` to the department `chosen` names as a new PENDING assignment with a fresh
/// acceptance deadline, announcing `case.assigned.<code>`; the department is locked active by
/// the caller. `in_mediation` carries over a mediation the case is in.
pub(crate) async fn give(
    tx: &mut Tx,
    case: &CaseRecord,
    chosen: Route,
    previous_department: String,
    in_mediation: bool,
    deadlines: &Deadlines,
    now: i64,
) -> Result<AssignmentRecord, Error> {
    let record = AssignmentRecord {
        in_mediation,
        routing_rule: chosen.rule,
        routing_rules_version: chosen.rules_version,
        ..AssignmentRecord::pending(
            case,
            chosen.department,
            chosen.cause,
            chosen.reason,
            previous_department,
            now,
            deadlines.accept_by(now),
        )
    };
    store::insert_assignment(tx, &record).await?;
    announce_assigned(tx, &record, chosen.department_name).await?;
    tracing::info!(
        case_id = %case.case_id,
        assignment_id = %record.assignment_id,
        department = %record.department,
        cause = record.cause.as_str_name(),
        routing_rule = %record.routing_rule,
        "case assigned"
    );
    Ok(record)
}

/// Announces `record`, just inserted, as `case.assigned.<dept>`.
pub(crate) async fn announce_assigned(
    tx: &mut Tx,
    record: &AssignmentRecord,
    department_name: String,
) -> Result<(), Error> {
    let case = &record.case;
    let payload = Payload::CaseAssigned(pb::CaseAssigned {
        assignment_id: record.assignment_id.clone(),
        case_number: case.case_number.clone(),
        department: record.department.clone(),
        department_name,
        cause: record.cause as i32,
        reason: record.reason.clone(),
        previous_department: record.previous_department.clone(),
        accept_by: Some(timestamp(record.accept_by)),
        category: case.category as i32,
        location: Some(case.location()),
        subject: case.subject.clone(),
        routing_rule: record.routing_rule.clone(),
        routing_rules_version: record.routing_rules_version,
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_ASSIGNED, &record.department),
        &case.case_id,
        payload,
    )
    .await
}

/// `case.registered`: records the case's routing facts and assigns it, once per case.
pub async fn register_case(
    tx: &mut Tx,
    event: &pb::Event,
    deadlines: &Deadlines,
) -> anyhow::Result<()> {
    let registered = yimen_platform::payload!(event, CaseRegistered)?;
    anyhow::ensure!(
        !event.case_id.is_empty(),
        "case.registered event {} without case_id",
        event.id
    );
    let location = registered.location.clone().unwrap_or_default();
    let now = now_millis();
    let case = CaseRecord {
        case_id: event.case_id.clone(),
        case_number: registered.case_number.clone(),
        category: pb::Category::try_from(registered.category).unwrap_or(pb::Category::Unspecified),
        town: location.town.trim().to_string(),
        village: location.village.trim().to_string(),
        subject: registered.subject.clone(),
        registered_at: event
            .occurred_at
            .as_ref()
            .map(yimen_platform::time::millis)
            .unwrap_or(now),
    };
    if !store::insert_case(tx, &case).await? {
        // The same case announced again under another event id: it already has its owner.
        tracing::info!(case_id = %case.case_id, event_id = %event.id, "case already registered; not assigned twice");
        return Ok(());
    }
    if registered.settled_at_desk {
        // 当场答复 / 当场调处: the desk replied; an unsatisfied petitioner's case.reopened
        // routes it like a new one.
        tracing::info!(case_id = %case.case_id, "case settled at the desk; not assigned");
        return Ok(());
    }
    assign(
        tx,
        &case,
        &BTreeSet::new(),
        Trigger::Registered,
        false,
        deadlines,
        now,
    )
    .await?;
    Ok(())
}

/// The open assignment of the case an event is about; `None` (logged) when the event names no
/// case or nobody holds the case now.
async fn open_assignment_for(
    tx: &mut Tx,
    event: &pb::Event,
) -> Result<Option<AssignmentRecord>, Error> {
    if event.case_id.is_empty() {
        tracing::debug!(event_type = %event.r#type, event_id = %event.id, "event names no case; ignored");
        return Ok(None);
    }
    let open = store::open_assignment_of_case(tx, &event.case_id).await?;
    if open.is_none() {
        tracing::debug!(event_type = %event.r#type, case_id = %event.case_id, "no open assignment of the case; ignored");
    }
    Ok(open)
}

/// `mediation.opened`: the case's open assignment is with the mediation center.
pub async fn mediation_opened(tx: &mut Tx, event: &pb::Event) -> anyhow::Result<()> {
    let _ = yimen_platform::payload!(event, MediationOpened)?;
    if let Some(open) = open_assignment_for(tx, event).await?
        && store::set_in_mediation(tx, &open.assignment_id, true).await?
    {
        tracing::info!(case_id = %event.case_id, assignment_id = %open.assignment_id, "case in mediation");
    }
    Ok(())
}

/// `mediation.concluded`: an agreement replies the case's open assignment with its terms
/// (accepting it first when still pending), exactly as the department would; a failed or
/// withdrawn mediation leaves the department handling the case.
pub async fn mediation_concluded(
    tx: &mut Tx,
    event: &pb::Event,
    deadlines: &Deadlines,
) -> anyhow::Result<()> {
    let concluded = yimen_platform::payload!(event, MediationConcluded)?;
    let Some(outcome) = Outcome::of(concluded.outcome) else {
        tracing::warn!(event_id = %event.id, outcome = concluded.outcome, "mediation.concluded without a concluding outcome; ignored");
        return Ok(());
    };
    let Some(mut open) = open_assignment_for(tx, event).await? else {
        return Ok(());
    };
    let id = open.assignment_id.clone();
    store::set_in_mediation(tx, &id, false).await?;
    if outcome == Outcome::Ended {
        tracing::info!(case_id = %event.case_id, assignment_id = %id, "mediation ended without agreement; the department goes on");
        return Ok(());
    }
    let now = now_millis();
    if open.clock.paused_since.is_some() {
        // The agreement settles the matter: the supplement waited for is no longer needed.
        resume_in(tx, &open, deadlines, now).await?;
        open = load_assignment(tx, &id).await?;
    }
    if open.state == AssignmentState::Pending {
        accept_in(tx, &open, "", deadlines, now).await?;
        open = load_assignment(tx, &id).await?;
    }
    let text = agreement_reply(
        &concluded.committee,
        &concluded.agreement.clone().unwrap_or_default(),
    );
    let within_deadline = reply_in(tx, &open, text, now).await?;
    tracing::info!(case_id = %event.case_id, assignment_id = %id, department = %open.department, within_deadline, "mediation agreement replied the case");
    Ok(())
}

/// `case.reopened`: the petitioner was unsatisfied with the reply, so the case is assigned
/// again, to the department that replied while it is still at the center, else to the owner a
/// new case would get. A case somebody still holds is not assigned twice.
pub async fn reopen_case(
    tx: &mut Tx,
    event: &pb::Event,
    deadlines: &Deadlines,
) -> anyhow::Result<()> {
    let reopened = yimen_platform::payload!(event, CaseReopened)?;
    let case_id = &event.case_id;
    let Some(case) = store::case(tx, case_id).await? else {
        // Retried: its registration may not have arrived yet.
        anyhow::bail!(
            "case.reopened event {} for unknown case {case_id:?}",
            event.id
        );
    };
    if let Some(open) = store::open_assignment_of_case(tx, case_id).await? {
        tracing::warn!(case_id = %case_id, assignment_id = %open.assignment_id, department = %open.department, "reopened case is still held; not assigned twice");
        return Ok(());
    }
    let from = match reopened.department.trim() {
        "" => store::last_department(tx, case_id)
            .await?
            .unwrap_or_default(),
        named => named.to_string(),
    };
    let excluded = store::returned_by(tx, case_id).await?;
    let trigger = Trigger::Reopened { from: &from };
    assign(
        tx,
        &case,
        &excluded,
        trigger,
        false,
        deadlines,
        now_millis(),
    )
    .await?;
    Ok(())
}

pub(crate) async fn load_assignment(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<AssignmentRecord, Error> {
    store::assignment(conn, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("assignment {id} not found")))
}

/// Loads the assignment a caller acts on, in the transaction that will change it, and refuses
/// the caller before anything changes when the assignment is not within its scope.
pub(crate) async fn load_for(
    tx: &mut Tx,
    scope: &Scope,
    id: &str,
) -> Result<AssignmentRecord, Error> {
    let current = load_assignment(tx, id).await?;
    // The audit trail names the assignment and its case even when the caller is refused.
    yimen_platform::audit::note_object("assignment", id);
    yimen_platform::audit::note_case(&current.case.case_id);
    access::may_act_on(scope, &current.department)?;
    Ok(current)
}

/// The name of the department `code` (its code should it be unknown), for what the petitioner
/// is told.
pub(crate) async fn department_name(tx: &mut Tx, code: &str) -> Result<String, Error> {
    Ok(store::department(tx, code)
        .await?
        .map_or_else(|| code.to_string(), |d| d.spec.name))
}

/// A concurrent call moved the assignment first.
pub(crate) fn moved_on(id: &str) -> Error {
    Error::precondition(format!("assignment {id} changed meanwhile; read it again"))
}

/// Commits an operation. The assignments it changed reach their departments' feeds when a
/// reader next follows them (`store::stamp_pending`).
pub(crate) async fn commit(db: &Db, tx: Tx) -> Result<(), Error> {
    db.commit(tx).await?;
    Ok(())
}

/// Reads the assignment again and commits: what the caller is answered is what was stored.
pub(crate) async fn committed(db: &Db, mut tx: Tx, id: &str) -> Result<AssignmentRecord, Error> {
    let updated = load_assignment(&mut tx, id).await?;
    commit(db, tx).await?;
    Ok(updated)
}

/// Accepts `current` in `tx` (PENDING → ACCEPTED, the handling deadline starts) and announces
/// `case.accepted.<dept>`.
async fn accept_in(
    tx: &mut Tx,
    current: &AssignmentRecord,
    handler: &str,
    deadlines: &Deadlines,
    now: i64,
) -> Result<(), Error> {
    let id = &current.assignment_id;
    current.state.apply(Transition::Accept)?;
    current.clock.running()?;
    let handle_by = deadlines.handle_by(now);
    if !store::mark_accepted(tx, id, handler, now, handle_by).await? {
        return Err(moved_on(id));
    }
    let payload = Payload::CaseAccepted(pb::CaseAccepted {
        assignment_id: id.clone(),
        department: current.department.clone(),
        handle_by: Some(timestamp(handle_by)),
        department_name: department_name(tx, &current.department).await?,
        co_handling: current.role == Role::CoHandler,
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_ACCEPTED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await
}

/// Marks `current` replied in `tx` (ACCEPTED → REPLIED) with `text`; answers whether the reply
/// came by the stored handling deadline (the extended one when an extension was granted).
pub(crate) async fn mark_replied_in(
    tx: &mut Tx,
    current: &AssignmentRecord,
    text: &str,
    now: i64,
) -> Result<bool, Error> {
    let id = &current.assignment_id;
    current.state.apply(Transition::Reply)?;
    current.clock.running()?;
    if !store::mark_replied(tx, id, text, now).await? {
        return Err(moved_on(id));
    }
    Ok(current.handle_by.is_some_and(|by| now <= by))
}

/// Replies `current` in `tx` (ACCEPTED → REPLIED) with `text` and announces
/// `case.replied.<dept>`; answers whether the reply came by its handling deadline.
async fn reply_in(
    tx: &mut Tx,
    current: &AssignmentRecord,
    text: String,
    now: i64,
) -> Result<bool, Error> {
    let id = &current.assignment_id;
    let within_deadline = mark_replied_in(tx, current, &text, now).await?;
    let payload = Payload::CaseReplied(pb::CaseReplied {
        assignment_id: id.clone(),
        department: current.department.clone(),
        reply: text,
        within_deadline,
        department_name: department_name(tx, &current.department).await?,
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_REPLIED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    // 反馈: the reply reports every leader's instruction on the case back.
    store::report_instructions(tx, &current.case.case_id, now).await?;
    Ok(within_deadline)
}

/// 受理: the department takes the case on; the handling deadline starts.
pub async fn accept(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    request: Accept,
) -> Result<pb::Assignment, Error> {
    let Accept {
        assignment_id: id,
        handler,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    accept_in(&mut tx, &current, &handler, deadlines, now_millis()).await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, "assignment accepted");
    Ok(updated.to_proto())
}

/// 答复: the department answers the petitioner; on time when by the handling deadline.
pub async fn reply(db: &Db, scope: &Scope, request: Reply) -> Result<pb::Assignment, Error> {
    let Reply {
        assignment_id: id,
        text,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    let now = now_millis();
    let within_deadline = match current.role {
        Role::CoHandler => crate::joint::reply_part_in(&mut tx, &current, text, now).await?,
        Role::Lead => {
            let within_deadline = reply_in(&mut tx, &current, text, now).await?;
            // Read after the reply holds the lead's row, so a co-handler enlisted meanwhile
            // is seen.
            crate::joint::parts_complete(&mut tx, &current.case.case_id).await?;
            within_deadline
        }
    };
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, within_deadline, "assignment replied");
    Ok(updated.to_proto())
}

/// 退回: the wrong department gives the case back; it is routed again, never to a department
/// that returned it before. The `problem_case_returns`th return makes it a problem case.
pub async fn return_assignment(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    problem_case_returns: u32,
    request: Return,
) -> Result<pb::ReturnAssignmentResponse, Error> {
    let Return {
        assignment_id: id,
        reason,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    if current.department == CITY_CENTER {
        return Err(Error::precondition(
            "the city center is the terminus (终点站): it owns the matter to the end and cannot return it",
        ));
    }
    current.role.allows(Transition::Return)?;
    let closed = current.state.apply(Transition::Return)?;
    let now = now_millis();
    if !store::mark_closed(&mut tx, &id, closed, &reason, now).await? {
        return Err(moved_on(&id));
    }
    let payload = Payload::CaseReturned(pb::CaseReturned {
        assignment_id: id.clone(),
        department: current.department.clone(),
        reason: reason.clone(),
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_RETURNED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    let mut excluded = store::returned_by(&mut tx, &current.case.case_id).await?;
    excluded.insert(current.department.clone());
    let trigger = Trigger::Returned {
        from: &current.department,
        reason: &reason,
    };
    let reassigned = assign(
        &mut tx,
        &current.case,
        &excluded,
        trigger,
        current.in_mediation,
        deadlines,
        now,
    )
    .await?;
    // 问题件: the return that makes it a problem case puts the next holder under supervision.
    crate::supervision::after_return(&mut tx, &reassigned, problem_case_returns).await?;
    let reassigned = load_assignment(&mut tx, &reassigned.assignment_id).await?;
    let returned = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, from = %returned.department, to = %reassigned.department, "assignment returned and re-routed");
    Ok(pb::ReturnAssignmentResponse {
        returned: Some(returned.to_proto()),
        reassigned: Some(reassigned.to_proto()),
    })
}

/// 访调: the department refers the dispute it accepted to the mediation center; the case stays
/// with it until an agreement replies it or the mediation ends.
pub async fn refer_to_mediation(
    db: &Db,
    scope: &Scope,
    request: Referral,
) -> Result<pb::Assignment, Error> {
    let Referral {
        assignment_id: id,
        linkage,
        summary,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.role.allows_action(Action::Refer)?;
    current.state.allows(Action::Refer)?;
    if current.in_mediation {
        return Err(Error::precondition(format!(
            "assignment {id} is already in mediation"
        )));
    }
    if !store::set_in_mediation(&mut tx, &id, true).await? {
        return Err(moved_on(&id));
    }
    let case = &current.case;
    let payload = Payload::CaseReferred(pb::CaseReferred {
        assignment_id: id.clone(),
        case_number: case.case_number.clone(),
        department: current.department.clone(),
        category: case.category as i32,
        linkage: linkage as i32,
        summary,
        location: Some(case.location()),
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_REFERRED, &current.department),
        &case.case_id,
        payload,
    )
    .await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, linkage = linkage.as_str_name(), "case referred to mediation");
    Ok(updated.to_proto())
}

/// The department asks for the one extension of its handling deadline (at most 30 days).
pub async fn request_extension(
    db: &Db,
    scope: &Scope,
    request: ExtensionRequest,
) -> Result<pb::Assignment, Error> {
    let ExtensionRequest {
        assignment_id: id,
        days,
        reason,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.state.allows(Action::Extend)?;
    current.extension.request()?;
    if !store::request_extension(&mut tx, &id, days, &reason).await? {
        return Err(moved_on(&id));
    }
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, days, "extension requested");
    Ok(updated.to_proto())
}

/// The center decides the requested extension: granted, the handling deadline moves by the
/// days asked for and `case.extended.<dept>` says so; refused, nothing else changes.
pub async fn decide_extension(
    db: &Db,
    scope: &Scope,
    deadlines: &Deadlines,
    request: ExtensionDecision,
) -> Result<pb::Assignment, Error> {
    let ExtensionDecision {
        assignment_id: id,
        approved,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.state.allows(Action::Extend)?;
    let decision = current.extension.decide(approved)?;
    let handle_by = current.handle_by.ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "accepted assignment {id} has no handling deadline"
        ))
    })?;
    let handle_by = if decision == Extension::Granted {
        deadlines.extended(handle_by, current.extension_days)
    } else {
        handle_by
    };
    if !store::decide_extension(&mut tx, &id, decision, handle_by).await? {
        return Err(moved_on(&id));
    }
    if decision == Extension::Granted {
        let payload = Payload::CaseExtended(pb::CaseExtended {
            assignment_id: id.clone(),
            department: current.department.clone(),
            days: current.extension_days,
            handle_by: Some(timestamp(handle_by)),
        });
        enqueue(
            &mut tx,
            event_type::for_department(event_type::CASE_EXTENDED, &current.department),
            &current.case.case_id,
            payload,
        )
        .await?;
    }
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, decision = decision.as_str(), "extension decided");
    Ok(updated.to_proto())
}

/// 不予受理: the department decides not to accept a pending case, with the reason code and, for
/// a matter of the courts, arbitration or administrative reconsideration, the body to turn to
/// (诉访分离); `case.refused.<dept>` tells intake, which tells the petitioner.
pub async fn refuse(db: &Db, scope: &Scope, request: Refusal) -> Result<pb::Assignment, Error> {
    let Refusal {
        assignment_id: id,
        reason,
        channel,
        explanation,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.role.allows(Transition::Refuse)?;
    current.state.apply(Transition::Refuse)?;
    let now = now_millis();
    if !store::mark_refused(&mut tx, &id, reason, &channel, &explanation, now).await? {
        return Err(moved_on(&id));
    }
    let payload = Payload::CaseRefused(pb::CaseRefused {
        assignment_id: id.clone(),
        department: current.department.clone(),
        reason: reason as i32,
        channel,
        explanation,
        department_name: department_name(&mut tx, &current.department).await?,
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_REFUSED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, reason = reason.as_str_name(), "case not accepted");
    Ok(updated.to_proto())
}

/// 转送: a pending case goes to an authority outside the system; `case.forwarded.<dept>`.
pub async fn forward(db: &Db, scope: &Scope, request: Forwarding) -> Result<pb::Assignment, Error> {
    let Forwarding {
        assignment_id: id,
        authority,
        reason,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.role.allows(Transition::Forward)?;
    current.state.apply(Transition::Forward)?;
    if !store::mark_forwarded(&mut tx, &id, &authority, &reason, now_millis()).await? {
        return Err(moved_on(&id));
    }
    let payload = Payload::CaseForwarded(pb::CaseForwarded {
        assignment_id: id.clone(),
        department: current.department.clone(),
        authority,
        reason,
        department_name: department_name(&mut tx, &current.department).await?,
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_FORWARDED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, "case forwarded out of the system");
    Ok(updated.to_proto())
}

/// The department asks for material on an open case: its clock stops until the supplement is
/// added (`case.supplement_requested.<dept>`).
pub async fn request_supplement(
    db: &Db,
    scope: &Scope,
    request: SupplementRequest,
) -> Result<pb::Assignment, Error> {
    let SupplementRequest {
        assignment_id: id,
        requested,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.role.allows_action(Action::RequestSupplement)?;
    current.state.allows(Action::RequestSupplement)?;
    let now = now_millis();
    current.clock.pause(now)?;
    if !store::pause(&mut tx, &id, &requested, now).await? {
        return Err(moved_on(&id));
    }
    let payload = Payload::CaseSupplementRequested(pb::CaseSupplementRequested {
        assignment_id: id.clone(),
        department: current.department.clone(),
        requested,
    });
    enqueue(
        &mut tx,
        event_type::for_department(event_type::CASE_SUPPLEMENT_REQUESTED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, "supplement requested; clock stopped");
    Ok(updated.to_proto())
}

/// Starts `current`'s stopped clock again at `now`: the running deadline (acceptance while
/// pending, handling once accepted) moves by the pause, to a working day; `case.resumed.<dept>`
/// says so.
async fn resume_in(
    tx: &mut Tx,
    current: &AssignmentRecord,
    deadlines: &Deadlines,
    now: i64,
) -> Result<(), Error> {
    let id = &current.assignment_id;
    let (Some(since), Some(paused)) = (current.clock.paused_since, current.clock.pause_ending(now))
    else {
        return Ok(());
    };
    let (accept_by, handle_by) = match (current.state, current.handle_by) {
        (AssignmentState::Accepted, Some(handle_by)) => (
            current.accept_by,
            Some(deadlines.resumed(handle_by, paused)),
        ),
        _ => (
            deadlines.resumed(current.accept_by, paused),
            current.handle_by,
        ),
    };
    if !store::resume(tx, id, since, paused, accept_by, handle_by).await? {
        return Err(moved_on(id));
    }
    let payload = Payload::CaseResumed(pb::CaseResumed {
        assignment_id: id.clone(),
        department: current.department.clone(),
        paused: Some(yimen_platform::time::duration(paused)),
        accept_by: Some(timestamp(accept_by)),
        handle_by: handle_by.map(timestamp),
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_RESUMED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await?;
    tracing::info!(assignment_id = %id, department = %current.department, paused_days = decision::days(paused), "clock running again");
    Ok(())
}

/// `case.supplemented`: the material came, so the case's open assignment runs again; an
/// assignment not waiting (a supplement added twice, or after the case moved on) is left as it
/// is.
pub async fn supplemented(
    tx: &mut Tx,
    event: &pb::Event,
    deadlines: &Deadlines,
) -> anyhow::Result<()> {
    let _ = yimen_platform::payload!(event, CaseSupplemented)?;
    let Some(open) = open_assignment_for(tx, event).await? else {
        return Ok(());
    };
    if open.clock.paused_since.is_none() {
        tracing::info!(case_id = %event.case_id, assignment_id = %open.assignment_id, "supplement for an assignment not waiting for one; nothing to resume");
        return Ok(());
    }
    let at = event
        .occurred_at
        .as_ref()
        .map_or_else(now_millis, yimen_platform::time::millis);
    resume_in(tx, &open, deadlines, at).await?;
    Ok(())
}

/// Announces an escalation of `current` by a person as `case.escalated.<dept>`.
async fn announce_escalation(
    tx: &mut Tx,
    current: &AssignmentRecord,
    level: EscalationLevel,
    reason: String,
    leader: String,
) -> Result<(), Error> {
    announce_escalation_for(
        tx,
        current,
        level,
        reason,
        leader,
        pb::EscalationCause::Unspecified,
    )
    .await
}

/// Announces an escalation of `current` as `case.escalated.<dept>`, saying what caused it.
pub(crate) async fn announce_escalation_for(
    tx: &mut Tx,
    current: &AssignmentRecord,
    level: EscalationLevel,
    reason: String,
    leader: String,
    cause: pb::EscalationCause,
) -> Result<(), Error> {
    let payload = Payload::CaseEscalated(pb::CaseEscalated {
        assignment_id: current.assignment_id.clone(),
        department: current.department.clone(),
        level: level as i32,
        reason,
        leader,
        cause: cause as i32,
    });
    enqueue(
        tx,
        event_type::for_department(event_type::CASE_ESCALATED, &current.department),
        &current.case.case_id,
        payload,
    )
    .await
}

/// 催办 / 督办 / 包案: presses the department on an open case; the assignment keeps the highest
/// level it reached.
pub async fn escalate(
    db: &Db,
    scope: &Scope,
    request: Escalation,
) -> Result<pb::Assignment, Error> {
    let Escalation {
        assignment_id: id,
        level,
        reason,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.state.allows(Action::Escalate)?;
    let raised = escalation::raise(current.escalation, level);
    if !store::set_escalation(&mut tx, &id, current.escalation, raised).await? {
        return Err(moved_on(&id));
    }
    announce_escalation(&mut tx, &current, level, reason, String::new()).await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, level = level.as_str_name(), "assignment escalated");
    Ok(updated.to_proto())
}

/// 包案: a leader takes an open case personally; the escalation is at its top.
pub async fn assign_leader(
    db: &Db,
    scope: &Scope,
    request: LeaderAssignment,
) -> Result<pb::Assignment, Error> {
    let LeaderAssignment {
        assignment_id: id,
        leader,
    } = request;
    let mut tx = db.begin().await?;
    let current = load_for(&mut tx, scope, &id).await?;
    current.state.allows(Action::Escalate)?;
    if !store::set_leader(&mut tx, &id, &leader).await? {
        return Err(moved_on(&id));
    }
    announce_escalation(
        &mut tx,
        &current,
        EscalationLevel::Leader,
        String::new(),
        leader,
    )
    .await?;
    let updated = committed(db, tx, &id).await?;
    tracing::info!(assignment_id = %id, department = %updated.department, "a leader took the case");
    Ok(updated.to_proto())
}

/// Registers a department, or brings back one that left with its new definition; then,
/// after commit, declares its own queue when department queues are on.
pub async fn join_department(
    db: &Db,
    bus: &Arc<dyn Bus>,
    config: &DispatchConfig,
    spec: DepartmentSpec,
) -> Result<pb::Department, Error> {
    let code = spec.code.to_string();
    let now = now_millis();
    let mut tx = db.begin().await?;
    let joined = match store::department(&mut tx, &code).await? {
        Some(existing) if existing.active => false,
        Some(_) => store::rejoin_department(&mut tx, &spec, now).await?,
        None => store::insert_department(&mut tx, &spec, now).await?,
    };
    if !joined {
        return Err(Error::AlreadyExists(format!(
            "department {code} is already registered"
        )));
    }
    store::set_review_body(&mut tx, &code, &spec.review_body).await?;
    let department = Department {
        spec,
        active: true,
        joined_at: now,
    }
    .to_proto(0);
    let payload = Payload::DepartmentJoined(pb::DepartmentJoined {
        department: Some(department.clone()),
    });
    enqueue(&mut tx, event_type::DEPARTMENT_JOINED.into(), "", payload).await?;
    commit(db, tx).await?;
    tracing::info!(department = %code, "department joined");

    if config.department_queues
        && let Err(e) = bus.declare_queue(&QueueSpec::department(&code)).await
    {
        // The department is registered; its queue is declared again on the next start.
        tracing::warn!(department = %code, error = %e, "department queue not declared yet");
    }
    Ok(department)
}

/// A department leaves; in the same transaction every open case it held goes to the new owner
/// of its category, so no case is lost or stalled.
pub async fn leave_department(
    db: &Db,
    deadlines: &Deadlines,
    request: Leave,
) -> Result<pb::LeaveDepartmentResponse, Error> {
    let code = request.code.to_string();
    let reason = request.reason;
    if code == CITY_CENTER {
        return Err(Error::precondition(
            "the city center is the terminus (终点站) and cannot leave",
        ));
    }

    let now = now_millis();
    let mut tx = db.begin().await?;
    let Some(department) = store::department(&mut tx, &code).await? else {
        return Err(Error::not_found(format!("department {code} not found")));
    };
    if !department.active || !store::deactivate_department(&mut tx, &code, &reason, now).await? {
        return Err(Error::precondition(format!(
            "department {code} has already left"
        )));
    }
    let mut handovers = Vec::new();
    for open in store::open_assignments_of(&mut tx, &code).await? {
        let closed = open.state.apply(Transition::HandOver)?;
        if !store::mark_closed(&mut tx, &open.assignment_id, closed, "", now).await?
            || open.role == Role::CoHandler
        {
            // A co-handler's part is no longer awaited: the lead may enlist another.
            continue;
        }
        let mut excluded = store::returned_by(&mut tx, &open.case.case_id).await?;
        excluded.insert(code.clone());
        let trigger = Trigger::DepartmentLeft {
            from: &code,
            reason: &reason,
        };
        let next = assign(
            &mut tx,
            &open.case,
            &excluded,
            trigger,
            open.in_mediation,
            deadlines,
            now,
        )
        .await?;
        handovers.push(pb::Handover {
            case_id: open.case.case_id.clone(),
            from_department: code.clone(),
            to_department: next.department,
            assignment_id: next.assignment_id,
        });
    }
    let payload = Payload::DepartmentLeft(pb::DepartmentLeft {
        code: code.clone(),
        reason: reason.clone(),
        handed_over: u32::try_from(handovers.len()).unwrap_or(u32::MAX),
    });
    enqueue(&mut tx, event_type::DEPARTMENT_LEFT.into(), "", payload).await?;
    let left = store::department(&mut tx, &code)
        .await?
        .ok_or_else(|| Error::not_found(format!("department {code} not found")))?;
    commit(db, tx).await?;
    tracing::info!(department = %code, handed_over = handovers.len(), "department left");
    Ok(pb::LeaveDepartmentResponse {
        department: Some(left.to_proto(0)),
        handovers,
    })
}

/// Departments (active only unless `include_inactive`), with their open assignments counted.
pub async fn list_departments(
    db: &Db,
    request: &pb::ListDepartmentsRequest,
) -> Result<pb::ListDepartmentsResponse, Error> {
    let mut conn = db.pool().acquire().await?;
    let departments = store::departments(&mut conn, request.include_inactive).await?;
    let open = store::open_counts(&mut conn).await?;
    Ok(pb::ListDepartmentsResponse {
        departments: departments
            .iter()
            .map(|d| d.to_proto(open.get(d.code()).copied().unwrap_or(0)))
            .collect(),
    })
}

/// A department's work list, oldest first, page by page.
pub async fn list_assignments(
    db: &Db,
    scope: &Scope,
    request: AssignmentsQuery,
) -> Result<pb::ListAssignmentsResponse, Error> {
    let AssignmentsQuery {
        department,
        states,
        page,
    } = request;
    let department = access::work_list_of(scope, &department)?;
    let mut conn = db.pool().acquire().await?;
    if store::department(&mut conn, department).await?.is_none() {
        return Err(Error::not_found(format!(
            "department {department} not found"
        )));
    }
    let mut rows = store::list_assignments(
        &mut conn,
        department,
        &states,
        page.after.as_ref(),
        page.fetch(),
    )
    .await?;
    // Oldest first: the token names the last assignment's time and id.
    let next_page_token = page.finish(&mut rows, |last| PageToken {
        millis: last.assigned_at,
        id: last.assignment_id.clone(),
    });
    Ok(pb::ListAssignmentsResponse {
        assignments: rows.iter().map(AssignmentRecord::to_proto).collect(),
        next_page_token,
    })
}

/// SetRoutingRules: the rules become the next version of the set, in force for every case
/// routed from now on. Each rule's department must be at the center (and at the rule's level
/// when it names one); otherwise FAILED_PRECONDITION names the rule and nothing changes.
pub async fn set_routing_rules(
    db: &Db,
    rules: Vec<RoutingRule>,
) -> Result<pb::SetRoutingRulesResponse, Error> {
    let mut tx = db.begin().await?;
    let departments = store::departments(&mut tx, false).await?;
    for rule in &rules {
        let Some(department) = departments.iter().find(|d| d.code() == rule.department) else {
            return Err(Error::FailedPrecondition(format!(
                "routing rule {}: department {} is not at the center",
                rule.rule_id, rule.department
            )));
        };
        if let Some(level) = rule.level
            && level != department.spec.level
        {
            return Err(Error::FailedPrecondition(format!(
                "routing rule {}: department {} is at {} level, not {}",
                rule.rule_id,
                rule.department,
                department.spec.level.name(),
                level.name()
            )));
        }
    }
    let now = now_millis();
    let version = store::insert_rule_set(&mut tx, &rules, now).await?;
    commit(db, tx).await?;
    tracing::info!(version, rules = rules.len(), "routing rules set");
    Ok(pb::SetRoutingRulesResponse {
        rules: rules.iter().map(RoutingRule::to_proto).collect(),
        version,
        set_at: Some(timestamp(now)),
    })
}

/// How many changes one read of a department's feed takes.
const FEED_PAGE: i64 = 100;

/// WatchAssignments: the department's work changed after the request's position, then each
/// change as it commits; ends on `shutdown`. A department watches only its own work.
pub async fn watch_assignments(
    db: &Db,
    scope: &Scope,
    shutdown: tokio_util::sync::CancellationToken,
    request: WatchQuery,
) -> Result<futures::stream::BoxStream<'static, Result<pb::Assignment, tonic::Status>>, Error> {
    let WatchQuery {
        department,
        states,
        after_position,
    } = request;
    let department = access::work_list_of(scope, &department)?.to_string();
    {
        let mut conn = db.pool().acquire().await?;
        if store::department(&mut conn, &department).await?.is_none() {
            return Err(Error::not_found(format!(
                "department {department} not found"
            )));
        }
    }
    let reader = db.clone();
    let read: watch::Read<pb::Assignment> = Box::new(move |after| {
        let (db, department, states) = (reader.clone(), department.clone(), states.clone());
        Box::pin(async move {
            // What committed since the last read takes its positions first.
            store::stamp_pending(&db).await?;
            let mut conn = db.pool().acquire().await?;
            let records = store::feed(&mut conn, &department, &states, after, FEED_PAGE).await?;
            Ok(records.iter().map(|r| (r.position, r.to_proto())).collect())
        })
    });
    Ok(watch::follow(db, shutdown, after_position, read))
}

/// Joins every seed department whose code is not registered at all; one that left stays gone.
pub async fn seed_departments(
    db: &Db,
    bus: &Arc<dyn Bus>,
    config: &DispatchConfig,
    seed: &[pb::JoinDepartmentRequest],
) -> anyhow::Result<usize> {
    let mut joined = 0;
    for request in seed {
        let known = {
            let mut conn = db.pool().acquire().await?;
            store::department(&mut conn, request.code.trim())
                .await?
                .is_some()
        };
        if known {
            continue;
        }
        let spec = DepartmentSpec::parse(request)
            .map_err(|e| anyhow::anyhow!("seed department {}: {e}", request.code))?;
        match join_department(db, bus, config, spec).await {
            Ok(_) => joined += 1,
            // Joined by another instance starting at the same time.
            Err(Error::AlreadyExists(_)) => {}
            Err(e) => return Err(anyhow::anyhow!("seed department {}: {e}", request.code)),
        }
    }
    Ok(joined)
}

/// Declares `yimen.dept.<code>` for every active department.
pub async fn declare_department_queues(db: &Db, bus: &Arc<dyn Bus>) -> anyhow::Result<()> {
    let departments = {
        let mut conn = db.pool().acquire().await?;
        store::departments(&mut conn, false).await?
    };
    for department in &departments {
        bus.declare_queue(&QueueSpec::department(department.code()))
            .await
            .map_err(|e| anyhow::anyhow!("declaring the queue of {}: {e}", department.code()))?;
    }
    Ok(())
}
