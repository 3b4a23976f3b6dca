//! Dispatch's store: departments, the routing facts of cases and their assignments, in
//! portable SQL over PostgreSQL and SQLite. Every function works on the caller's connection
//! or transaction, so an operation and its outbox events commit together.

use std::collections::{BTreeMap, BTreeSet};
use yimen_platform::paging::PageToken;

use sqlx::AnyConnection;
use yimen_platform::db::Flag;
use yimen_platform::error::Error;
use yimen_platform::time::{duration, opt_timestamp, timestamp};
use yimen_proto::v1::{self as pb, AssignmentCause, Category, EscalationLevel, RefusalReason};

use crate::domain::decision::Clock;
use crate::domain::joint::{self, Role};
use crate::domain::{
    AssignmentState, Department, DepartmentCode, DepartmentSpec, Extension, Level, RoutingRule,
    RuleSet, category,
};

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
        "SELECT code, name, level, town, village, categories, active, joined_at FROM departments \
         WHERE ($1 = 1 OR active = 1) ORDER BY joined_at, code",
    )
    .bind(i64::from(include_inactive))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(Department::try_from).collect()
}

pub async fn department(conn: &mut AnyConnection, code: &str) -> Result<Option<Department>, Error> {
    let row = sqlx::query_as::<_, DepartmentRow>(
        "SELECT code, name, level, town, village, categories, active, joined_at FROM departments \
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
         routing_rules_version, role, lead_assignment_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
    // Inserted with position 0: stamped before the commit (`stamp_changes`).
    Ok(())
}

/// Marks an assignment as changed: [`stamp_changes`] gives it its feed position before the
/// transaction commits.
async fn stamp(conn: &mut AnyConnection, assignment_id: &str) -> Result<(), Error> {
    sqlx::query("UPDATE assignments SET position = 0 WHERE assignment_id = $1")
        .bind(assignment_id)
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

/// Gives every assignment this transaction changed (position 0: inserted, or marked by
/// [`stamp`]) the next position of its department's feed. Called last before the commit, in
/// department order: each feed's row stays locked until the commit, so positions grow in
/// commit order, and taking those locks last and in one order means they never wait in a
/// cycle with each other or with the departments' own locks.
pub async fn stamp_changes(conn: &mut AnyConnection) -> Result<(), Error> {
    let changed: Vec<(String, String)> = sqlx::query_as(
        "SELECT assignment_id, department FROM assignments WHERE position = 0 \
         ORDER BY department, assignment_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (assignment_id, department) in changed {
        let position: i64 = sqlx::query_scalar(
            "INSERT INTO department_feeds (department, position) VALUES ($1, 1) \
             ON CONFLICT (department) DO UPDATE SET position = department_feeds.position + 1 \
             RETURNING position",
        )
        .bind(&department)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("UPDATE assignments SET position = $2 WHERE assignment_id = $1")
            .bind(&assignment_id)
            .bind(position)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
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
    let slots = state_slots(states);
    let rows = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.department = $1 AND a.state IN ($2, $3, $4, $5, $6, $7, $8) AND a.position > $9 \
         ORDER BY a.position LIMIT $10"
    ))
    .bind(department)
    .bind(slots[0])
    .bind(slots[1])
    .bind(slots[2])
    .bind(slots[3])
    .bind(slots[4])
    .bind(slots[5])
    .bind(slots[6])
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    complete(conn, rows).await
}

/// `states` (all when empty) in seven fixed slots (one per state) instead of dynamic SQL:
/// unused slots repeat a wanted state.
fn state_slots(states: &[AssignmentState]) -> [&'static str; 7] {
    let wanted: &[AssignmentState] = if states.is_empty() {
        &AssignmentState::ALL
    } else {
        states
    };
    std::array::from_fn(|i| wanted.get(i).unwrap_or(&wanted[0]).as_str())
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
    let slots = state_slots(states);
    let (after_at, after_id) = after.map_or((i64::MIN, ""), |t| (t.millis, t.id.as_str()));
    let rows = sqlx::query_as::<_, AssignmentRow>(concat!(
        assignment_select!(),
        "WHERE a.department = $1 AND a.state IN ($2, $3, $4, $5, $6, $7, $8) \
         AND (a.assigned_at > $9 OR (a.assigned_at = $9 AND a.assignment_id > $10)) \
         ORDER BY a.assigned_at, a.assignment_id LIMIT $11"
    ))
    .bind(department)
    .bind(slots[0])
    .bind(slots[1])
    .bind(slots[2])
    .bind(slots[3])
    .bind(slots[4])
    .bind(slots[5])
    .bind(slots[6])
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
    u32::try_from(version).map_err(|_| corrupt(format!("rule set {version}")))
}

// ---------------------------------------------------------------------------------------------
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
