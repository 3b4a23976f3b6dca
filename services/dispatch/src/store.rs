//! Dispatch's store: departments, the routing facts of cases and their assignments, in
//! portable SQL over PostgreSQL and SQLite. Every function works on the caller's connection
//! or transaction, so an operation and its outbox events commit together.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use yimen_platform::paging::PageToken;

use sqlx::AnyConnection;
use yimen_platform::db::{Backend, Db, Flag, values_rows};
use yimen_platform::error::Error;
use yimen_platform::time::{duration, opt_timestamp, timestamp};
use yimen_proto::v1::{
    self as pb, AssignmentCause, Category, EscalationLevel, RefusalReason, ReviewOutcome,
    ReviewStage,
};

use crate::domain::decision::Clock;
use crate::domain::joint::{self, Role};
use crate::domain::{
    AssignmentState, Department, DepartmentCode, DepartmentSpec, Extension, Level, RoutingRule,
    RuleSet, category,
};

/// The assignment's state is one of [`state_list`]'s, bound at `$param`.
macro_rules! state_in {
    ($param:literal) => {
        concat!("(", $param, " LIKE ('%,' || a.state || ',%'))")
    };
}

/// What dispatch keeps of a registered case: only what routing and departments need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub case_id: String,
    pub case_number: String,
    pub category: Category,
    pub town: String,
    pub village: String,
    pub subject: String,
    pub registered_at: i64,
}

impl CaseRecord {
    pub fn location(&self) -> pb::Location {
        pb::Location {
            town: self.town.clone(),
            village: self.village.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRecord {
    pub assignment_id: String,
    pub case: CaseRecord,
    pub department: String,
    pub state: AssignmentState,
    pub cause: AssignmentCause,
    pub reason: String,
    pub previous_department: String,
    pub assigned_at: i64,
    pub accept_by: i64,
    pub accepted_at: Option<i64>,
    pub handle_by: Option<i64>,
    pub replied_at: Option<i64>,
    pub reply: String,
    pub return_reason: String,
    /// The case is with the mediation center.
    pub in_mediation: bool,
    /// The one extension of the handling deadline, and its days (asked for or granted).
    pub extension: Extension,
    pub extension_days: u32,
    /// The highest escalation so far, and the leader who took the case (包案).
    pub escalation: EscalationLevel,
    pub leader: String,
    /// The routing rule (and version of the set) that chose the department; empty and 0: none.
    pub routing_rule: String,
    pub routing_rules_version: u32,
    /// The position of the latest change in the department's feed (0 until stored).
    pub position: u64,
    /// When REFUSED: why, and where the petitioner should go instead.
    pub refusal_reason: RefusalReason,
    pub refusal_channel: String,
    /// When FORWARDED: the authority outside the system.
    pub forwarded_to: String,
    /// Why it was refused or forwarded.
    pub decision_note: String,
    /// The clock: stopped since when for a supplement, and every earlier pause.
    pub clock: Clock,
    /// What the department asked for last.
    pub supplement_requested: String,
    /// A review assignment: its stage (UNSPECIFIED otherwise), the department whose answer it
    /// reviews, and its outcome once decided (the decision is in `reply`).
    pub review_stage: ReviewStage,
    pub contested_department: String,
    pub review_outcome: ReviewOutcome,
    /// When the deadline watcher found its acceptance and its handling deadline passed.
    pub acceptance_overdue_at: Option<i64>,
    pub handling_overdue_at: Option<i64>,
    /// 主办 or 协办; a co-handler's lead assignment when it was enlisted.
    pub role: Role,
    pub lead_assignment_id: String,
    /// A lead's co-handlers' parts (read with the assignment when the case has any).
    pub parts: Vec<Part>,
    /// The case's latest leader's instruction (批示), when it has one.
    pub instruction: Option<InstructionRecord>,
}

impl AssignmentRecord {
    /// A new PENDING lead assignment of `case` to `department`, to be accepted by `accept_by`,
    /// nothing else decided yet.
    pub fn pending(
        case: &CaseRecord,
        department: String,
        cause: AssignmentCause,
        reason: String,
        previous_department: String,
        now: i64,
        accept_by: i64,
    ) -> Self {
        Self {
            assignment_id: uuid::Uuid::now_v7().to_string(),
            case: case.clone(),
            department,
            state: AssignmentState::Pending,
            cause,
            reason,
            previous_department,
            assigned_at: now,
            accept_by,
            accepted_at: None,
            handle_by: None,
            replied_at: None,
            reply: String::new(),
            return_reason: String::new(),
            in_mediation: false,
            extension: Extension::None,
            extension_days: 0,
            escalation: EscalationLevel::Unspecified,
            leader: String::new(),
            routing_rule: String::new(),
            routing_rules_version: 0,
            position: 0,
            refusal_reason: RefusalReason::Unspecified,
            refusal_channel: String::new(),
            forwarded_to: String::new(),
            decision_note: String::new(),
            clock: Clock {
                paused_since: None,
                paused_millis: 0,
            },
            supplement_requested: String::new(),
            review_stage: ReviewStage::Unspecified,
            contested_department: String::new(),
            review_outcome: ReviewOutcome::Unspecified,
            acceptance_overdue_at: None,
            handling_overdue_at: None,
            role: Role::Lead,
            lead_assignment_id: String::new(),
            parts: Vec::new(),
            instruction: None,
        }
    }

    pub fn to_proto(&self) -> pb::Assignment {
        pb::Assignment {
            assignment_id: self.assignment_id.clone(),
            case_id: self.case.case_id.clone(),
            case_number: self.case.case_number.clone(),
            department: self.department.clone(),
            state: self.state.to_proto() as i32,
            reason: self.reason.clone(),
            category: self.case.category as i32,
            location: Some(self.case.location()),
            subject: self.case.subject.clone(),
            assigned_at: Some(timestamp(self.assigned_at)),
            accept_by: Some(timestamp(self.accept_by)),
            accepted_at: opt_timestamp(self.accepted_at),
            handle_by: opt_timestamp(self.handle_by),
            replied_at: opt_timestamp(self.replied_at),
            reply: self.reply.clone(),
            return_reason: self.return_reason.clone(),
            escalation: self.escalation as i32,
            leader: self.leader.clone(),
            in_mediation: self.in_mediation,
            extension_days: self.extension_days,
            extension: self.extension.to_proto() as i32,
            routing_rule: self.routing_rule.clone(),
            routing_rules_version: self.routing_rules_version,
            position: self.position,
            refusal_reason: self.refusal_reason as i32,
            refusal_channel: self.refusal_channel.clone(),
            forwarded_to: self.forwarded_to.clone(),
            decision_note: self.decision_note.clone(),
            paused_since: opt_timestamp(self.clock.paused_since),
            supplement_requested: self.supplement_requested.clone(),
            paused: Some(duration(self.clock.paused_millis)),
            review_stage: self.review_stage as i32,
            contested_department: self.contested_department.clone(),
            review_outcome: self.review_outcome as i32,
            acceptance_overdue_at: opt_timestamp(self.acceptance_overdue_at),
            handling_overdue_at: opt_timestamp(self.handling_overdue_at),
            role: self.role.to_proto() as i32,
            lead_assignment_id: self.lead_assignment_id.clone(),
            parts: self.parts.iter().map(Part::to_proto).collect(),
            instruction: self
                .instruction
                .as_ref()
                .map(|i| i.to_proto(yimen_platform::db::now_millis())),
        }
    }
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("dispatch store holds {what}"))
}

// ---------------------------------------------------------------------------------------------
// Departments

/// A department as stored: its categories are one comma-separated text of their names.
#[derive(sqlx::FromRow)]
struct DepartmentRow {
    code: String,
    name: String,
    level: i64,
    town: String,
    village: String,
    categories: String,
    #[sqlx(try_from = "Flag")]
    active: bool,
    joined_at: i64,
    review_body: String,
}

impl TryFrom<DepartmentRow> for Department {
    type Error = Error;

    fn try_from(row: DepartmentRow) -> Result<Self, Error> {
        let categories = row
            .categories
            .split(',')
            .filter(|c| !c.is_empty())
            .map(|c| category::parse(c).ok_or_else(|| corrupt(format!("unknown category `{c}`"))))
            .collect::<Result<Vec<_>, _>>()?;
        let level = row.level;
        Ok(Department {
            spec: DepartmentSpec {
                code: DepartmentCode::parse(&row.code)
                    .map_err(|_| corrupt(format!("a bad department code `{}`", row.code)))?,
                name: row.name,
                level: i32::try_from(level)
                    .ok()
                    .and_then(Level::from_proto)
                    .ok_or_else(|| corrupt(format!("unknown level {level}")))?,
                town: row.town,
                village: row.village,
                categories,
                review_body: row.review_body,
            },
            active: row.active,
            joined_at: row.joined_at,
        })
    }
}

fn categories_text(spec: &DepartmentSpec) -> String {
    spec.categories
        .iter()
        .map(|c| category::name(*c))
        .collect::<Vec<_>>()
        .join(",")
}

/// Every department (or only the active ones), earliest joined first.
pub async fn departments(
    conn: &mut AnyConnection,
    include_inactive: bool,
) -> Result<Vec<Department>, Error> {
    let rows = sqlx::query_as::<_, DepartmentRow>(
        "SELECT code, name, level, town, village, categories, active, joined_at, review_body \
         FROM departments \
         WHERE ($1 = 1 OR active = 1) ORDER BY joined_at, code",
    )
    .bind(i64::from(include_inactive))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(Department::try_from).collect()
}

pub async fn department(conn: &mut AnyConnection, code: &str) -> Result<Option<Department>, Error> {
    let row = sqlx::query_as::<_, DepartmentRow>(
        "SELECT code, name, level, town, village, categories, active, joined_at, review_body \
         FROM departments \
         WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Department::try_from).transpose()
}

/// Registers a new code; false when the code is already taken.
pub async fn insert_department(
    conn: &mut AnyConnection,
    spec: &DepartmentSpec,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO departments (code, name, level, town, village, categories, active, joined_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (code) DO NOTHING",
    )
    .bind(spec.code.as_str())
    .bind(&spec.name)
    .bind(spec.level.to_proto() as i64)
    .bind(&spec.town)
    .bind(&spec.village)
    .bind(categories_text(spec))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        touch_routing(conn).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Brings a department that left back with a new definition; false unless it had left.
pub async fn rejoin_department(
    conn: &mut AnyConnection,
    spec: &DepartmentSpec,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE departments SET name = $2, level = $3, town = $4, village = $5, categories = $6, \
         active = 1, joined_at = $7, left_at = NULL, leave_reason = '' \
         WHERE code = $1 AND active = 0",
    )
    .bind(spec.code.as_str())
    .bind(&spec.name)
    .bind(spec.level.to_proto() as i64)
    .bind(&spec.town)
    .bind(&spec.village)
    .bind(categories_text(spec))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        touch_routing(conn).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Marks an active department as left; false unless it was active. On PostgreSQL the row stays
/// locked until commit, so a concurrent assignment to it waits and then sees it gone.
pub async fn deactivate_department(
    conn: &mut AnyConnection,
    code: &str,
    reason: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE departments SET active = 0, left_at = $2, leave_reason = $3 \
         WHERE code = $1 AND active = 1",
    )
    .bind(code)
    .bind(now)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        touch_routing(conn).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Holds the department's row while it is active; false when it has left. Taken before a
/// case is assigned to it, so a department that is leaving at the same moment either waits
/// for this assignment (and hands it over) or is seen gone here (and the case is re-routed).
/// On PostgreSQL the hold is shared (`FOR SHARE`): assignments to one department do not wait
/// for each other, only a leave waits for them. SQLite has one writer at a time anyway.
pub async fn lock_active_department(conn: &mut AnyConnection, code: &str) -> Result<bool, Error> {
    let sql = if conn.backend_name() == "PostgreSQL" {
        "SELECT code FROM departments WHERE code = $1 AND active = 1 FOR SHARE"
    } else {
        "SELECT code FROM departments WHERE code = $1 AND active = 1"
    };
    let held: Option<String> = sqlx::query_scalar(sql)
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(held.is_some())
}

/// Open (PENDING or ACCEPTED) assignments per department.
pub async fn open_counts(conn: &mut AnyConnection) -> Result<BTreeMap<String, u32>, Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT department, COUNT(*) AS open FROM assignments \
         WHERE state IN ('PENDING', 'ACCEPTED') GROUP BY department",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(department, open)| (department, u32::try_from(open).unwrap_or(u32::MAX)))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Cases

/// The routing facts of a registered case.
pub async fn case(conn: &mut AnyConnection, case_id: &str) -> Result<Option<CaseRecord>, Error> {
    let row = sqlx::query_as::<_, CaseRow>(
        "SELECT case_id, case_number, category, town, village, subject, registered_at \
         FROM cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(CaseRecord::from))
}

/// A case's routing facts in a row of `cases` (or of assignments joined with it).
#[derive(sqlx::FromRow)]
struct CaseRow {
    case_id: String,
    case_number: String,
    category: i64,
    town: String,
    village: String,
    subject: String,
    registered_at: i64,
}

impl From<CaseRow> for CaseRecord {
    fn from(row: CaseRow) -> Self {
        Self {
            case_id: row.case_id,
            case_number: row.case_number,
            category: i32::try_from(row.category)
                .ok()
                .and_then(|c| Category::try_from(c).ok())
                .unwrap_or(Category::Unspecified),
            town: row.town,
            village: row.village,
            subject: row.subject,
            registered_at: row.registered_at,
        }
    }
}

/// Records a case's routing facts; false when the case was registered before.
pub async fn insert_case(conn: &mut AnyConnection, case: &CaseRecord) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO cases (case_id, case_number, category, town, village, subject, registered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(&case.case_id)
    .bind(&case.case_number)
    .bind(case.category as i64)
    .bind(&case.town)
    .bind(&case.village)
    .bind(&case.subject)
    .bind(case.registered_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every department that ever returned this case: routing never sends it back to them.
pub async fn returned_by(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<BTreeSet<String>, Error> {
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT department FROM assignments WHERE case_id = $1 AND state = 'RETURNED'",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(codes.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// Assignments

macro_rules! assignment_select {
    () => {
        "SELECT a.assignment_id, a.case_id, c.case_number, c.category, c.town, c.village, \
         c.subject, c.registered_at, a.department, a.state, a.cause, a.reason, \
         a.previous_department, a.assigned_at, a.accept_by, a.accepted_at, a.handle_by, \
         a.replied_at, a.reply, a.return_reason, a.in_mediation, a.extension, a.extension_days, \
         a.escalation, a.leader, a.routing_rule, a.routing_rules_version, a.position, \
         a.refusal_reason, a.refusal_channel, a.forwarded_to, \
         a.decision_note, a.paused_since, a.supplement_requested, a.paused_millis, \
         a.review_stage, a.contested_department, a.review_outcome, \
         a.acceptance_overdue_at, a.handling_overdue_at, \
         a.role, a.lead_assignment_id, c.co_handlers AS case_co_handlers, \
         c.instructions AS case_instructions \
         FROM assignments a JOIN cases c ON c.case_id = a.case_id "
    };
}

/// An assignment joined with its case, as `assignment_select!` reads it.
#[derive(sqlx::FromRow)]
struct AssignmentRow {
    assignment_id: String,
    #[sqlx(flatten)]
    case: CaseRow,
    department: String,
    state: String,
    cause: i64,
    reason: String,
    previous_department: String,
    assigned_at: i64,
    accept_by: i64,
    accepted_at: Option<i64>,
    handle_by: Option<i64>,
    replied_at: Option<i64>,
    reply: String,
    return_reason: String,
    #[sqlx(try_from = "Flag")]
    in_mediation: bool,
    extension: String,
    extension_days: i64,
    escalation: i64,
    leader: String,
    routing_rule: String,
    routing_rules_version: i64,
    position: i64,
    refusal_reason: i64,
    refusal_channel: String,
    forwarded_to: String,
    decision_note: String,
    paused_since: Option<i64>,
    supplement_requested: String,
    paused_millis: i64,
    review_stage: i64,
    contested_department: String,
    review_outcome: i64,
    acceptance_overdue_at: Option<i64>,
    handling_overdue_at: Option<i64>,
    role: String,
    lead_assignment_id: String,
    case_co_handlers: i64,
    case_instructions: i64,
}

impl TryFrom<AssignmentRow> for AssignmentRecord {
    type Error = Error;

    fn try_from(row: AssignmentRow) -> Result<Self, Error> {
        let AssignmentRow {
            assignment_id,
            case,
            department,
            state,
            cause,
            reason,
            previous_department,
            assigned_at,
            accept_by,
            accepted_at,
            handle_by,
            replied_at,
            reply,
            return_reason,
            in_mediation,
            extension,
            extension_days,
            escalation,
            leader,
            routing_rule,
            routing_rules_version,
            position,
            refusal_reason,
            refusal_channel,
            forwarded_to,
            decision_note,
            paused_since,
            supplement_requested,
            paused_millis,
            review_stage,
            contested_department,
            review_outcome,
            acceptance_overdue_at,
            handling_overdue_at,
            role,
            lead_assignment_id,
            case_co_handlers: _,
            case_instructions: _,
        } = row;
        Ok(AssignmentRecord {
            assignment_id,
            case: case.into(),
            department,
            state: AssignmentState::parse(&state)
                .ok_or_else(|| corrupt(format!("unknown assignment state `{state}`")))?,
            cause: i32::try_from(cause)
                .ok()
                .and_then(|c| AssignmentCause::try_from(c).ok())
                .unwrap_or(AssignmentCause::Unspecified),
            reason,
            previous_department,
            assigned_at,
            accept_by,
            accepted_at,
            handle_by,
            replied_at,
            reply,
            return_reason,
            in_mediation,
            extension: Extension::parse(&extension)
                .ok_or_else(|| corrupt(format!("unknown extension state `{extension}`")))?,
            extension_days: u32::try_from(extension_days)
                .map_err(|_| corrupt(format!("{extension_days} extension days")))?,
            escalation: i32::try_from(escalation)
                .ok()
                .and_then(|e| EscalationLevel::try_from(e).ok())
                .ok_or_else(|| corrupt(format!("unknown escalation level {escalation}")))?,
            leader,
            routing_rule,
            routing_rules_version: u32::try_from(routing_rules_version)
                .map_err(|_| corrupt(format!("rule set version {routing_rules_version}")))?,
            position: u64::try_from(position)
                .map_err(|_| corrupt(format!("feed position {position}")))?,
            refusal_reason: i32::try_from(refusal_reason)
                .ok()
                .and_then(|r| RefusalReason::try_from(r).ok())
                .ok_or_else(|| corrupt(format!("unknown refusal reason {refusal_reason}")))?,
            refusal_channel,
            forwarded_to,
            decision_note,
            clock: Clock {
                paused_since,
                paused_millis,
            },
            supplement_requested,
            review_stage: i32::try_from(review_stage)
                .ok()
                .and_then(|s| ReviewStage::try_from(s).ok())
                .ok_or_else(|| corrupt(format!("unknown review stage {review_stage}")))?,
            contested_department,
            review_outcome: i32::try_from(review_outcome)
                .ok()
                .and_then(|o| ReviewOutcome::try_from(o).ok())
                .ok_or_else(|| corrupt(format!("unknown review outcome {review_outcome}")))?,
            acceptance_overdue_at,
            handling_overdue_at,
            role: Role::parse(&role).ok_or_else(|| corrupt(format!("unknown role `{role}`")))?,
            lead_assignment_id,
            parts: Vec::new(),
            instruction: None,
        })
    }
}

pub async fn insert_assignment(
    conn: &mut AnyConnection,
    a: &AssignmentRecord,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, state, cause, reason, \
         previous_department, assigned_at, accept_by, in_mediation, routing_rule, \
         routing_rules_version, changed_at, role, lead_assignment_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $8, $13, $14)",
    )
    .bind(&a.assignment_id)
    .bind(&a.case.case_id)
    .bind(&a.department)
    .bind(a.state.as_str())
    .bind(a.cause as i64)
    .bind(&a.reason)
    .bind(&a.previous_department)
    .bind(a.assigned_at)
    .bind(a.accept_by)
    .bind(i64::from(a.in_mediation))
    .bind(&a.routing_rule)
    .bind(i64::from(a.routing_rules_version))
    .bind(a.role.as_str())
    .bind(&a.lead_assignment_id)
    .execute(&mut *conn)
    .await?;
    // Inserted with position 0: the feed's next reader stamps it (`stamp_pending`).
    Ok(())
}

/// Marks an assignment as changed: the feed's next reader gives it its position
/// ([`stamp_pending`]) once the transaction has committed.
async fn stamp(conn: &mut AnyConnection, assignment_id: &str) -> Result<(), Error> {
    sqlx::query("UPDATE assignments SET position = 0, changed_at = $2 WHERE assignment_id = $1")
        .bind(assignment_id)
        .bind(yimen_platform::db::now_millis())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// [`stamp`]s the assignment when `changed`; answers `changed`.
async fn stamped(
    conn: &mut AnyConnection,
    assignment_id: &str,
    changed: bool,
) -> Result<bool, Error> {
    if changed {
        stamp(conn, assignment_id).await?;
    }
    Ok(changed)
}

/// How many changes one stamping transaction takes at most.
const STAMP_BATCH: i64 = 1000;

/// Gives every committed change not yet in the feed (position 0: inserted, or marked by
/// [`stamp`]) the next positions of the feed, and answers how many it stamped. A reader of the
/// feed calls it before it reads, so a change reaches the feed when someone follows it, and
/// no change's transaction waits on a counter another holds. Changes are stamped in the order
/// they were made (`changed_at`, then id). One stamper at a time (an advisory
/// lock on PostgreSQL; SQLite has one writer): a stamp's positions are all above the ones
/// committed before it, so a reader resuming after a position misses nothing. A change whose
/// row another transaction is changing again is left to the next stamp (`SKIP LOCKED`).
pub async fn stamp_pending(db: &Db) -> Result<usize, Error> {
    let postgres = db.backend() == Backend::Postgres;
    // Nothing to stamp is the common answer: one read of the partial index, no transaction.
    let pending: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM assignments WHERE position = 0 LIMIT 1")
            .fetch_optional(db.pool())
            .await?;
    if pending.is_none() {
        return Ok(0);
    }
    let mut stamped = 0;
    loop {
        let mut tx = db.begin().await?;
        if postgres {
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext('yimen.feed.' || current_schema()))",
            )
            .execute(&mut *tx)
            .await?;
        }
        let ids: Vec<String> = sqlx::query_scalar(if postgres {
            "SELECT assignment_id FROM assignments WHERE position = 0 \
             ORDER BY changed_at, assignment_id LIMIT $1 FOR UPDATE SKIP LOCKED"
        } else {
            "SELECT assignment_id FROM assignments WHERE position = 0 \
             ORDER BY changed_at, assignment_id LIMIT $1"
        })
        .bind(STAMP_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            return Ok(stamped);
        }
        let last: i64 = sqlx::query_scalar("SELECT position FROM feed_counter WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        // `column1..2` name the VALUES columns in both dialects.
        let mut update = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE assignments SET position = v.column2 FROM (VALUES {}) AS v \
             WHERE assignments.assignment_id = v.column1",
            values_rows(ids.len(), 2)
        )));
        for (n, id) in (1..).zip(&ids) {
            update = update.bind(id).bind(last + n);
        }
        update.execute(&mut *tx).await?;
        let count = ids.len();
        sqlx::query("UPDATE feed_counter SET position = $1 WHERE id = 1")
            .bind(last + i64::try_from(count).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        // Not `Db::commit`: a stamp is no business change to audit or announce.
        tx.commit().await?;
        stamped += count;
        if count < usize::try_from(STAMP_BATCH).unwrap_or(usize::MAX) {
            return Ok(stamped);
        }
    }
}

/// The department's assignments changed after `after` in its feed and now in `states` (all
/// when empty), in position order, at most `limit`.
pub async fn feed(
    conn: &mut AnyConnection,
    department: &str,
    states: &[AssignmentState],
    after: u64,
    limit: i64,
) -> Result<Vec<AssignmentRecord>, Error> {
    let rows = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.department = $1 AND ",
        state_in!("$2"),
        " AND a.position > $3 ORDER BY a.position LIMIT $4"
    ))
    .bind(department)
    .bind(state_list(states))
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    complete(conn, rows).await
}

/// `states` (all when empty) as one parameter, `,PENDING,ACCEPTED,`, which [`state_in!`]
/// matches: portable SQL that needs no slot per state however many states there are.
fn state_list(states: &[AssignmentState]) -> String {
    let wanted: &[AssignmentState] = if states.is_empty() {
        &AssignmentState::ALL
    } else {
        states
    };
    let names: Vec<&str> = wanted.iter().map(|s| s.as_str()).collect();
    format!(",{},", names.join(","))
}

pub async fn assignment(
    conn: &mut AnyConnection,
    assignment_id: &str,
) -> Result<Option<AssignmentRecord>, Error> {
    let row = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.assignment_id = $1"
    ))
    .bind(assignment_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(complete(conn, row.into_iter().collect()).await?.pop())
}

/// The case's open lead assignment (PENDING or ACCEPTED): a case has at most one (its
/// co-handlers' assignments hold parts beside it).
pub async fn open_assignment_of_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<AssignmentRecord>, Error> {
    let row = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.case_id = $1 AND a.state IN ('PENDING', 'ACCEPTED') AND a.role = 'LEAD'"
    ))
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(complete(conn, row.into_iter().collect()).await?.pop())
}

/// The department that led the case last, if it was ever assigned.
pub async fn last_department(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT department FROM assignments WHERE case_id = $1 AND role = 'LEAD' \
         ORDER BY assigned_at DESC, assignment_id DESC LIMIT 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The department's open assignments, oldest first.
pub async fn open_assignments_of(
    conn: &mut AnyConnection,
    department: &str,
) -> Result<Vec<AssignmentRecord>, Error> {
    let rows = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.department = $1 AND a.state IN ('PENDING', 'ACCEPTED') \
         ORDER BY a.assigned_at, a.assignment_id"
    ))
    .bind(department)
    .fetch_all(&mut *conn)
    .await?;
    complete(conn, rows).await
}

/// One page of a department's assignments in `states` (all when empty), oldest first, after
/// the keyset position `after` (assigned_at, assignment_id).
pub async fn list_assignments(
    conn: &mut AnyConnection,
    department: &str,
    states: &[AssignmentState],
    after: Option<&PageToken>,
    limit: i64,
) -> Result<Vec<AssignmentRecord>, Error> {
    let (after_at, after_id) = after.map_or((i64::MIN, ""), |t| (t.millis, t.id.as_str()));
    let rows = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.department = $1 AND ",
        state_in!("$2"),
        " AND (a.assigned_at > $3 OR (a.assigned_at = $3 AND a.assignment_id > $4)) \
         ORDER BY a.assigned_at, a.assignment_id LIMIT $5"
    ))
    .bind(department)
    .bind(state_list(states))
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    complete(conn, rows).await
}

/// PENDING → ACCEPTED; false when the assignment was no longer pending.
pub async fn mark_accepted(
    conn: &mut AnyConnection,
    assignment_id: &str,
    handler: &str,
    now: i64,
    handle_by: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = 'ACCEPTED', accepted_at = $2, handle_by = $3, handler = $4 \
         WHERE assignment_id = $1 AND state = 'PENDING'",
    )
    .bind(assignment_id)
    .bind(now)
    .bind(handle_by)
    .bind(handler)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// ACCEPTED → REPLIED; false when the assignment was no longer accepted.
pub async fn mark_replied(
    conn: &mut AnyConnection,
    assignment_id: &str,
    reply: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = 'REPLIED', replied_at = $2, reply = $3, closed_at = $2 \
         WHERE assignment_id = $1 AND state = 'ACCEPTED'",
    )
    .bind(assignment_id)
    .bind(now)
    .bind(reply)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// Open → RETURNED or HANDED_OVER; false when the assignment was no longer open.
pub async fn mark_closed(
    conn: &mut AnyConnection,
    assignment_id: &str,
    state: AssignmentState,
    return_reason: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = $2, return_reason = $3, closed_at = $4 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED')",
    )
    .bind(assignment_id)
    .bind(state.as_str())
    .bind(return_reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// Marks an open assignment as with the mediation center, or back from it; false when it was
/// not open or already so.
pub async fn set_in_mediation(
    conn: &mut AnyConnection,
    assignment_id: &str,
    in_mediation: bool,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET in_mediation = $2 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED') AND in_mediation <> $2",
    )
    .bind(assignment_id)
    .bind(i64::from(in_mediation))
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// Records the one extension request of an accepted assignment; false when it is no longer
/// accepted or an extension was requested before.
pub async fn request_extension(
    conn: &mut AnyConnection,
    assignment_id: &str,
    days: u32,
    reason: &str,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET extension = $2, extension_days = $3, extension_reason = $4 \
         WHERE assignment_id = $1 AND state = 'ACCEPTED' AND extension = $5",
    )
    .bind(assignment_id)
    .bind(Extension::Requested.as_str())
    .bind(i64::from(days))
    .bind(reason)
    .bind(Extension::None.as_str())
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// Decides a requested extension (`decision` GRANTED or REFUSED), setting the handling
/// deadline to `handle_by`; false when it is no longer accepted or no longer requested.
pub async fn decide_extension(
    conn: &mut AnyConnection,
    assignment_id: &str,
    decision: Extension,
    handle_by: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET extension = $2, handle_by = $3 \
         WHERE assignment_id = $1 AND state = 'ACCEPTED' AND extension = $4",
    )
    .bind(assignment_id)
    .bind(decision.as_str())
    .bind(handle_by)
    .bind(Extension::Requested.as_str())
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// Moves an open assignment's escalation from `from` to `to`; false when it is no longer open
/// or its level changed meanwhile.
pub async fn set_escalation(
    conn: &mut AnyConnection,
    assignment_id: &str,
    from: EscalationLevel,
    to: EscalationLevel,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET escalation = $3 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED') AND escalation = $2",
    )
    .bind(assignment_id)
    .bind(from as i64)
    .bind(to as i64)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// A leader takes an open assignment (包案): the leader is recorded and the escalation is at
/// its top; false when it is no longer open.
pub async fn set_leader(
    conn: &mut AnyConnection,
    assignment_id: &str,
    leader: &str,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET leader = $2, escalation = $3 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED')",
    )
    .bind(assignment_id)
    .bind(leader)
    .bind(EscalationLevel::Leader as i64)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// PENDING → REFUSED (不予受理) with its reason, channel and explanation; false when the
/// assignment was no longer pending.
pub async fn mark_refused(
    conn: &mut AnyConnection,
    assignment_id: &str,
    reason: RefusalReason,
    channel: &str,
    explanation: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = 'REFUSED', refusal_reason = $2, refusal_channel = $3, \
         decision_note = $4, closed_at = $5 WHERE assignment_id = $1 AND state = 'PENDING'",
    )
    .bind(assignment_id)
    .bind(reason as i64)
    .bind(channel)
    .bind(explanation)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// PENDING → FORWARDED (转送) to `authority`; false when the assignment was no longer pending.
pub async fn mark_forwarded(
    conn: &mut AnyConnection,
    assignment_id: &str,
    authority: &str,
    reason: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = 'FORWARDED', forwarded_to = $2, decision_note = $3, \
         closed_at = $4 WHERE assignment_id = $1 AND state = 'PENDING'",
    )
    .bind(assignment_id)
    .bind(authority)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stops an open assignment's clock at `now` for the supplement `requested`; false when it is
/// no longer open or already stopped.
pub async fn pause(
    conn: &mut AnyConnection,
    assignment_id: &str,
    requested: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET paused_since = $2, supplement_requested = $3 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED') AND paused_since IS NULL",
    )
    .bind(assignment_id)
    .bind(now)
    .bind(requested)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Starts the clock stopped at `since` again: the pause of `paused` milliseconds is added up
/// and the deadlines are the ones moved by it; false when it no longer waits since `since`.
pub async fn resume(
    conn: &mut AnyConnection,
    assignment_id: &str,
    since: i64,
    paused: i64,
    accept_by: i64,
    handle_by: Option<i64>,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET paused_since = NULL, paused_millis = paused_millis + $3, \
         accept_by = $4, handle_by = $5 WHERE assignment_id = $1 AND paused_since = $2",
    )
    .bind(assignment_id)
    .bind(since)
    .bind(paused)
    .bind(accept_by)
    .bind(handle_by)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------------------------------------
// Workload, for the metrics

/// One department's open work at a moment: its open assignments, those past their running
/// deadline (acceptance while pending, handling once accepted; a stopped clock is not
/// overdue) and those escalated.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Workload {
    pub department: String,
    pub open: i64,
    pub overdue: i64,
    pub escalated: i64,
}

/// Every active department's [`Workload`] at `now` (zeros included), by code: one grouped
/// read of the open assignments.
pub async fn workload(conn: &mut AnyConnection, now: i64) -> Result<Vec<Workload>, Error> {
    Ok(sqlx::query_as(
        "SELECT d.code AS department, \
         CAST(COUNT(a.assignment_id) AS BIGINT) AS open, \
         CAST(COALESCE(SUM(CASE WHEN a.paused_since IS NULL AND ((a.state = 'PENDING' AND a.accept_by < $1) \
              OR (a.state = 'ACCEPTED' AND a.handle_by < $1)) THEN 1 ELSE 0 END), 0) AS BIGINT) AS overdue, \
         CAST(COALESCE(SUM(CASE WHEN a.escalation > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS escalated \
         FROM departments d LEFT JOIN assignments a \
         ON a.department = d.code AND a.state IN ('PENDING', 'ACCEPTED') \
         WHERE d.active = 1 GROUP BY d.code ORDER BY d.code",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

// ---------------------------------------------------------------------------------------------
// Routing rules

#[derive(sqlx::FromRow)]
struct RuleRow {
    rule_id: String,
    department: String,
    category: i64,
    level: i64,
    keyword: String,
    town: String,
    village: String,
}

impl TryFrom<RuleRow> for RoutingRule {
    type Error = Error;

    fn try_from(row: RuleRow) -> Result<Self, Error> {
        let category = match row.category {
            0 => None,
            c => Some(
                i32::try_from(c)
                    .ok()
                    .and_then(|c| Category::try_from(c).ok())
                    .ok_or_else(|| corrupt(format!("unknown category {c} in a rule")))?,
            ),
        };
        let level = match row.level {
            0 => None,
            l => Some(
                i32::try_from(l)
                    .ok()
                    .and_then(Level::from_proto)
                    .ok_or_else(|| corrupt(format!("unknown level {l} in a rule")))?,
            ),
        };
        Ok(RoutingRule {
            rule_id: row.rule_id,
            department: row.department,
            category,
            level,
            keyword: row.keyword,
            town: row.town,
            village: row.village,
        })
    }
}

/// The rule set in force: the highest version (version 0 and no rules before any was set).
pub async fn routing_rules(conn: &mut AnyConnection) -> Result<RuleSet, Error> {
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM routing_rule_sets")
        .fetch_one(&mut *conn)
        .await?;
    let Some(version) = version else {
        return Ok(RuleSet::default());
    };
    let rows = sqlx::query_as::<_, RuleRow>(
        "SELECT rule_id, department, category, level, keyword, town, village \
         FROM routing_rules WHERE version = $1 ORDER BY place",
    )
    .bind(version)
    .fetch_all(&mut *conn)
    .await?;
    Ok(RuleSet {
        version: u32::try_from(version).map_err(|_| corrupt(format!("rule set {version}")))?,
        rules: rows
            .into_iter()
            .map(RoutingRule::try_from)
            .collect::<Result<_, _>>()?,
    })
}

/// Stores `rules` as the next version of the set, in force from now; answers its version.
pub async fn insert_rule_set(
    conn: &mut AnyConnection,
    rules: &[RoutingRule],
    now: i64,
) -> Result<u32, Error> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO routing_rule_sets (version, set_at) \
         SELECT COALESCE(MAX(version), 0) + 1, $1 FROM routing_rule_sets RETURNING version",
    )
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    for (place, rule) in rules.iter().enumerate() {
        sqlx::query(
            "INSERT INTO routing_rules (version, place, rule_id, department, category, level, \
             keyword, town, village) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(version)
        .bind(i64::try_from(place).unwrap_or(i64::MAX))
        .bind(&rule.rule_id)
        .bind(&rule.department)
        .bind(rule.category.map_or(0, |c| c as i64))
        .bind(rule.level.map_or(0, |l| l.to_proto() as i64))
        .bind(&rule.keyword)
        .bind(&rule.town)
        .bind(&rule.village)
        .execute(&mut *conn)
        .await?;
    }
    touch_routing(conn).await?;
    u32::try_from(version).map_err(|_| corrupt(format!("rule set {version}")))
}

// ---------------------------------------------------------------------------------------------
// What routing reads, kept in memory under the stamp of its last change

/// The active departments (earliest joined first) and the rule set in force, as they stood
/// under one stamp of `routing_stamp`.
#[derive(Debug)]
pub struct RoutingView {
    pub departments: Vec<Department>,
    pub rules: RuleSet,
}

/// How many views a process keeps: one per database it routes in (tests run many in one
/// process); the least recently used goes first.
const VIEWS_KEPT: usize = 8;

/// The views read lately, each under its stamp, most recently used last.
static VIEWS: Mutex<Vec<(String, Arc<RoutingView>)>> = Mutex::new(Vec::new());

/// What routing reads, as it stands: one read of the stamp, and the departments and rules
/// only when the stamp is new to this process. A view read after its stamp moved on holds the
/// newer state, never an older one, and is never found again (nobody reads that stamp again).
pub async fn routing_view(conn: &mut AnyConnection) -> Result<Arc<RoutingView>, Error> {
    let stamp: String = sqlx::query_scalar("SELECT stamp FROM routing_stamp WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    {
        let mut views = VIEWS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = views.iter().position(|(kept, _)| *kept == stamp) {
            let found = views.remove(at);
            let view = found.1.clone();
            views.push(found);
            return Ok(view);
        }
    }
    let view = Arc::new(RoutingView {
        departments: departments(&mut *conn, false).await?,
        rules: routing_rules(&mut *conn).await?,
    });
    let mut views = VIEWS.lock().unwrap_or_else(PoisonError::into_inner);
    if !views.iter().any(|(kept, _)| *kept == stamp) {
        if views.len() == VIEWS_KEPT {
            views.remove(0);
        }
        views.push((stamp, view.clone()));
    }
    Ok(view)
}

/// Marks a change of what routing reads (a department joined, left or changed, a rule set
/// stored), in the changing transaction: every process reads the departments and rules again.
async fn touch_routing(conn: &mut AnyConnection) -> Result<(), Error> {
    sqlx::query("UPDATE routing_stamp SET stamp = $1 WHERE id = 1")
        .bind(uuid::Uuid::now_v7().to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Review and re-review (复查 / 复核)

/// Sets the review body of a department (empty: the city center).
pub async fn set_review_body(
    conn: &mut AnyConnection,
    code: &str,
    review_body: &str,
) -> Result<(), Error> {
    sqlx::query("UPDATE departments SET review_body = $2 WHERE code = $1")
        .bind(code)
        .bind(review_body)
        .execute(&mut *conn)
        .await?;
    touch_routing(conn).await
}

/// Makes a new assignment a review of `stage` of `contested`'s answer, to be decided by
/// `decide_by` (its handling deadline).
pub async fn mark_review(
    conn: &mut AnyConnection,
    assignment_id: &str,
    stage: ReviewStage,
    contested: &str,
    decide_by: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE assignments SET review_stage = $2, contested_department = $3, handle_by = $4 \
         WHERE assignment_id = $1",
    )
    .bind(assignment_id)
    .bind(stage as i32 as i64)
    .bind(contested)
    .bind(decide_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// REVIEWING → REVIEWED with the outcome and the decision's text; false when the assignment was
/// no longer under review.
pub async fn mark_reviewed(
    conn: &mut AnyConnection,
    assignment_id: &str,
    outcome: ReviewOutcome,
    decision: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = 'REVIEWED', review_outcome = $2, reply = $3, \
         replied_at = $4, closed_at = $4 WHERE assignment_id = $1 AND state = 'REVIEWING'",
    )
    .bind(assignment_id)
    .bind(outcome as i32 as i64)
    .bind(decision)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

// Withdrawal (撤回) and transfers between levels (提级 / 交办)

/// Open → `state` (WITHDRAWN or TRANSFERRED), with why in `decision_note`; false when the
/// assignment was no longer open. It leaves the department's open work and deadlines.
pub async fn mark_ended(
    conn: &mut AnyConnection,
    assignment_id: &str,
    state: AssignmentState,
    note: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET state = $2, decision_note = $3, closed_at = $4 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED')",
    )
    .bind(assignment_id)
    .bind(state.as_str())
    .bind(note)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    stamped(conn, assignment_id, done.rows_affected() == 1).await
}

/// The case's latest review assignment (REVIEWING or REVIEWED), if it had one.
pub async fn last_review(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<AssignmentRecord>, Error> {
    let row = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.case_id = $1 AND a.review_stage > 0 \
         ORDER BY a.assigned_at DESC, a.assignment_id DESC LIMIT 1"
    ))
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(AssignmentRecord::try_from).transpose()
}

/// The department that replied to the case last (not a review body's decision), if any.
pub async fn last_replier(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT department FROM assignments WHERE case_id = $1 AND state = 'REPLIED' \
         ORDER BY replied_at DESC, assignment_id DESC LIMIT 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?)
}
// Supervision without anyone asking: problem cases, the deadline watcher, similar-case sweeps

/// The departments that returned the case, in the order they did (one per return).
pub async fn returns_of(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT department FROM assignments WHERE case_id = $1 AND state = 'RETURNED' \
         ORDER BY closed_at, assignment_id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Claims up to `limit` open assignments whose `stage` deadline passed before `now` and was
/// not found passed yet (a stopped clock is never overdue), marking them found at `now`;
/// answers their ids. The mark is taken in an UPDATE that re-checks it, so of two replicas
/// claiming at once each assignment goes to one (on PostgreSQL the second waits for the
/// first's row lock and then sees it marked; SQLite has one writer).
pub async fn claim_overdue(
    conn: &mut AnyConnection,
    stage: pb::OverdueStage,
    now: i64,
    limit: i64,
) -> Result<Vec<String>, Error> {
    let sql = match stage {
        pb::OverdueStage::Handling => {
            "UPDATE assignments SET handling_overdue_at = $1 WHERE assignment_id IN ( \
             SELECT assignment_id FROM assignments WHERE state = 'ACCEPTED' \
             AND handling_overdue_at IS NULL AND paused_since IS NULL AND handle_by < $1 \
             ORDER BY handle_by LIMIT $2) \
             AND state = 'ACCEPTED' AND handling_overdue_at IS NULL AND paused_since IS NULL \
             RETURNING assignment_id"
        }
        _ => {
            "UPDATE assignments SET acceptance_overdue_at = $1 WHERE assignment_id IN ( \
             SELECT assignment_id FROM assignments WHERE state = 'PENDING' \
             AND acceptance_overdue_at IS NULL AND paused_since IS NULL AND accept_by < $1 \
             ORDER BY accept_by LIMIT $2) \
             AND state = 'PENDING' AND acceptance_overdue_at IS NULL AND paused_since IS NULL \
             RETURNING assignment_id"
        }
    };
    let mut ids: Vec<String> = sqlx::query_scalar(sql)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    ids.sort();
    for id in &ids {
        // The assignment shows when it was found overdue: a change of the department's work.
        stamp(conn, id).await?;
    }
    Ok(ids)
}

/// A case a similar-case sweep matched: its routing facts and its latest (replied) assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub case: CaseRecord,
    pub assignment_id: String,
    pub department: String,
}

#[derive(sqlx::FromRow)]
struct AnsweredRow {
    #[sqlx(flatten)]
    case: CaseRow,
    assignment_id: String,
    department: String,
}

/// Up to `limit` answered cases (their latest assignment REPLIED, so none is open), earliest
/// registered first, of `category` (any when 0), `town` and `department` (any when empty),
/// whose lowercased subject is LIKE every one of `patterns` (`\` escapes).
pub async fn answered_cases(
    conn: &mut AnyConnection,
    category: i64,
    town: &str,
    department: &str,
    patterns: &[String],
    limit: i64,
) -> Result<Vec<Answered>, Error> {
    // One placeholder per pattern (a sweep takes at most a few), after the four fixed ones.
    let words: String = (0..patterns.len())
        .map(|i| format!(" AND LOWER(c.subject) LIKE ${} ESCAPE '\\'", i + 5))
        .collect();
    let sql = format!(
        "SELECT c.case_id, c.case_number, c.category, c.town, c.village, c.subject, \
         c.registered_at, a.assignment_id, a.department \
         FROM cases c JOIN assignments a ON a.case_id = c.case_id \
         WHERE a.assignment_id = (SELECT b.assignment_id FROM assignments b \
              WHERE b.case_id = c.case_id ORDER BY b.assigned_at DESC, b.assignment_id DESC LIMIT 1) \
         AND a.state = 'REPLIED' \
         AND ($1 = 0 OR c.category = $1) AND ($2 = '' OR c.town = $2) \
         AND ($3 = '' OR a.department = $3){words} \
         ORDER BY c.registered_at, c.case_id LIMIT $4"
    );
    // Safe: only placeholder numbers are written into the text; every value is bound.
    let mut query = sqlx::query_as::<_, AnsweredRow>(sqlx::AssertSqlSafe(sql))
        .bind(category)
        .bind(town)
        .bind(department)
        .bind(limit);
    for pattern in patterns {
        query = query.bind(pattern);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| Answered {
            case: row.case.into(),
            assignment_id: row.assignment_id,
            department: row.department,
        })
        .collect())
}

// Joint handling (主办 / 协办) and leaders' instructions (批示)

/// Records from rows, each lead read with its co-handlers' parts and each assignment with its
/// case's latest instruction, when the case has any (the case row counts them, so work lists
/// of cases without either cost no further read).
async fn complete(
    conn: &mut AnyConnection,
    rows: Vec<AssignmentRow>,
) -> Result<Vec<AssignmentRecord>, Error> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let (co_handlers, instructions) = (row.case_co_handlers, row.case_instructions);
        let mut record = AssignmentRecord::try_from(row)?;
        if co_handlers > 0 && record.role == Role::Lead {
            record.parts = parts_of(conn, &record.case.case_id).await?;
        }
        if instructions > 0 {
            record.instruction = latest_instruction(conn, &record.case.case_id).await?;
        }
        records.push(record);
    }
    Ok(records)
}

/// One co-handler's part of a case.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Part {
    pub assignment_id: String,
    pub department: String,
    #[sqlx(try_from = "String")]
    pub state: PartState,
    pub replied_at: Option<i64>,
    pub reply: String,
}

/// A part's assignment state, read from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartState(pub AssignmentState);

impl TryFrom<String> for PartState {
    type Error = Error;

    fn try_from(name: String) -> Result<Self, Error> {
        AssignmentState::parse(&name)
            .map(Self)
            .ok_or_else(|| corrupt(format!("unknown assignment state `{name}`")))
    }
}

impl Part {
    pub fn to_proto(&self) -> pb::CoHandlerPart {
        pb::CoHandlerPart {
            assignment_id: self.assignment_id.clone(),
            department: self.department.clone(),
            state: self.state.0.to_proto() as i32,
            replied_at: opt_timestamp(self.replied_at),
            reply: self.reply.clone(),
        }
    }

    /// Still awaited: the co-handler has not replied it (nor left).
    pub fn is_missing(&self) -> bool {
        self.state.0.is_open()
    }
}

/// Marks an open assignment changed (its parts or instruction did), so its department's feed
/// shows it again and a concurrent change of its state waits for this one; false when it is
/// no longer open.
pub async fn touch_open(conn: &mut AnyConnection, assignment_id: &str) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE assignments SET position = 0 \
         WHERE assignment_id = $1 AND state IN ('PENDING', 'ACCEPTED')",
    )
    .bind(assignment_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every co-handler's part of the case, earliest enlisted first.
pub async fn parts_of(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<Part>, Error> {
    Ok(sqlx::query_as::<_, Part>(
        "SELECT assignment_id, department, state, replied_at, reply FROM assignments \
         WHERE case_id = $1 AND role = 'CO_HANDLER' ORDER BY assigned_at, assignment_id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Notes what a just inserted co-handler was asked to do, and counts it on its case.
pub async fn note_co_handler(
    conn: &mut AnyConnection,
    assignment_id: &str,
    case_id: &str,
    note: &str,
) -> Result<(), Error> {
    sqlx::query("UPDATE assignments SET co_handling_note = $2 WHERE assignment_id = $1")
        .bind(assignment_id)
        .bind(note)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE cases SET co_handlers = co_handlers + 1 WHERE case_id = $1")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// 批示 as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstructionRecord {
    pub instruction_id: String,
    pub case_id: String,
    pub case_number: String,
    pub assignment_id: String,
    pub department: String,
    pub leader: String,
    pub text: String,
    pub recorded_at: i64,
    pub due_at: i64,
    pub reported_at: Option<i64>,
}

impl InstructionRecord {
    /// As the supervision office sees it at `now`.
    pub fn to_proto(&self, now: i64) -> pb::Instruction {
        pb::Instruction {
            instruction_id: self.instruction_id.clone(),
            case_id: self.case_id.clone(),
            case_number: self.case_number.clone(),
            assignment_id: self.assignment_id.clone(),
            department: self.department.clone(),
            leader: self.leader.clone(),
            text: self.text.clone(),
            recorded_at: Some(timestamp(self.recorded_at)),
            due_at: Some(timestamp(self.due_at)),
            reported_at: opt_timestamp(self.reported_at),
            overdue: joint::overdue(self.due_at, self.reported_at, now),
        }
    }
}

macro_rules! instruction_select {
    () => {
        "SELECT i.instruction_id, i.case_id, c.case_number, i.assignment_id, i.department, \
         i.leader, i.text, i.recorded_at, i.due_at, i.reported_at \
         FROM instructions i JOIN cases c ON c.case_id = i.case_id "
    };
}

/// Records an instruction and counts it on its case.
pub async fn insert_instruction(
    conn: &mut AnyConnection,
    i: &InstructionRecord,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO instructions (instruction_id, case_id, assignment_id, department, leader, \
         text, recorded_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&i.instruction_id)
    .bind(&i.case_id)
    .bind(&i.assignment_id)
    .bind(&i.department)
    .bind(&i.leader)
    .bind(&i.text)
    .bind(i.recorded_at)
    .bind(i.due_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE cases SET instructions = instructions + 1 WHERE case_id = $1")
        .bind(&i.case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The case's latest instruction.
pub async fn latest_instruction(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<InstructionRecord>, Error> {
    Ok(sqlx::query_as::<_, InstructionRecord>(concat!(
        instruction_select!(),
        "WHERE i.case_id = $1 ORDER BY i.recorded_at DESC, i.instruction_id DESC LIMIT 1"
    ))
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// 反馈: the case was replied at `now`, so every instruction on it not reported back yet is.
pub async fn report_instructions(
    conn: &mut AnyConnection,
    case_id: &str,
    now: i64,
) -> Result<u64, Error> {
    let done = sqlx::query(
        "UPDATE instructions SET reported_at = $2 WHERE case_id = $1 AND reported_at IS NULL",
    )
    .bind(case_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// One page of instructions, oldest first after the keyset position `after` (recorded_at,
/// instruction_id); only those overdue at `now` (see [`joint::overdue`]) when `overdue_only`.
pub async fn instructions(
    conn: &mut AnyConnection,
    overdue_only: bool,
    now: i64,
    after: Option<&PageToken>,
    limit: i64,
) -> Result<Vec<InstructionRecord>, Error> {
    let (after_at, after_id) = after.map_or((i64::MIN, ""), |t| (t.millis, t.id.as_str()));
    Ok(sqlx::query_as::<_, InstructionRecord>(concat!(
        instruction_select!(),
        "WHERE ($1 = 0 OR COALESCE(i.reported_at, $2) > i.due_at) \
         AND (i.recorded_at > $3 OR (i.recorded_at = $3 AND i.instruction_id > $4)) \
         ORDER BY i.recorded_at, i.instruction_id LIMIT $5"
    ))
    .bind(i64::from(overdue_only))
    .bind(now)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
