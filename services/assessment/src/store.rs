//! Assessment's store: departments, cases, assignments, evaluations, the negative list and
//! attendance, in portable SQL over PostgreSQL and SQLite. Every write is an upsert keyed by
//! what the event names (the assignment, the case, the event itself), so events applied in
//! any order, or an assignment's event applied twice, leave one row with the facts merged.
//! Every function works on the caller's connection or transaction.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::AnyConnection;
use yimen_platform::db::Flag;
use yimen_platform::error::Error;
use yimen_proto::v1::{EscalationLevel, MediationState, SubsidyGrade};

use crate::domain::negative::{self, Entry};
use crate::domain::subsidy::Concluded;
use crate::domain::{Figures, Period};

// ---------------------------------------------------------------------------------------------
// Departments

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DepartmentRow {
    pub code: String,
    /// Empty while no event has named it.
    pub name: String,
    #[sqlx(try_from = "Flag")]
    pub active: bool,
}

/// Makes a department named by a case event known (active, as it just received work) and
/// fills in its name when it had none. Read first: most events name a department known by
/// name already, and an upsert would lock its row, making every event about one department
/// wait for the one before it to commit.
pub async fn know_department(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
) -> Result<(), Error> {
    let known: Option<String> = sqlx::query_scalar("SELECT name FROM departments WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    if known.is_some_and(|known| !known.is_empty() || name.is_empty()) {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO departments (code, name, active, changed_at) VALUES ($1, $2, 1, 0) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name \
         WHERE departments.name = '' AND excluded.name <> ''",
    )
    .bind(code)
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `department.joined` at `at`, unless a later join or leave was applied already.
pub async fn department_joined(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO departments (code, name, active, changed_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, active = 1, \
         changed_at = excluded.changed_at WHERE departments.changed_at <= excluded.changed_at",
    )
    .bind(code)
    .bind(name)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `department.left` at `at`, unless a later join or leave was applied already.
pub async fn department_left(conn: &mut AnyConnection, code: &str, at: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO departments (code, name, active, changed_at) VALUES ($1, '', 0, $2) \
         ON CONFLICT (code) DO UPDATE SET active = 0, changed_at = excluded.changed_at \
         WHERE departments.changed_at <= excluded.changed_at",
    )
    .bind(code)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn department(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<DepartmentRow>, Error> {
    Ok(
        sqlx::query_as("SELECT code, name, active FROM departments WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Every department ever known, by code.
pub async fn departments(conn: &mut AnyConnection) -> Result<Vec<DepartmentRow>, Error> {
    Ok(
        sqlx::query_as("SELECT code, name, active FROM departments ORDER BY code")
            .fetch_all(&mut *conn)
            .await?,
    )
}

// ---------------------------------------------------------------------------------------------
// Cases and assignments

/// What assessment knows of a case: who brought it, who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    /// 0 while the registration is unknown.
    pub headcount: u32,
    /// Empty while no assignment is known.
    pub department: String,
    pub first_assigned_at: Option<i64>,
}

pub async fn case(conn: &mut AnyConnection, case_id: &str) -> Result<Option<CaseRow>, Error> {
    let row: Option<(i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT headcount, department, first_assigned_at FROM cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(CaseRow::from_row))
}

/// The columns of a [`CaseRow`], as an upsert of `cases` returns them.
macro_rules! case_row {
    () => {
        "headcount, department, first_assigned_at"
    };
}

impl CaseRow {
    fn from_row((headcount, department, first_assigned_at): (i64, String, Option<i64>)) -> Self {
        Self {
            headcount: u32::try_from(headcount).unwrap_or(0),
            department,
            first_assigned_at,
        }
    }
}

/// `case.registered`: the case's headcount and number; answers the case as it now stands.
pub async fn record_registration(
    conn: &mut AnyConnection,
    case_id: &str,
    headcount: u32,
    case_number: &str,
) -> Result<CaseRow, Error> {
    let row = sqlx::query_as(concat!(
        "INSERT INTO cases (case_id, headcount, case_number) VALUES ($1, $2, $3) \
         ON CONFLICT (case_id) DO UPDATE SET headcount = excluded.headcount, \
         case_number = excluded.case_number RETURNING ",
        case_row!()
    ))
    .bind(case_id)
    .bind(i64::from(headcount))
    .bind(case_number)
    .fetch_one(&mut *conn)
    .await?;
    Ok(CaseRow::from_row(row))
}

/// The facts of one `case.assigned`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment<'a> {
    pub assignment_id: &'a str,
    pub case_id: &'a str,
    pub department: &'a str,
    pub assigned_at: i64,
    pub accept_by: Option<i64>,
}

/// Whether the assignment an upsert of `cases` brings (`excluded`) is the case's latest (by
/// time, then id: UUIDv7 ids grow with time).
macro_rules! latest {
    () => {
        "(cases.assigned_at IS NULL OR cases.assigned_at < excluded.assigned_at \
         OR (cases.assigned_at = excluded.assigned_at \
         AND cases.assignment_id <= excluded.assignment_id))"
    };
}

/// `case.assigned`: the assignment (merged with any acceptance seen before it), and the case's
/// responsible department when this is its latest assignment; answers the case as it now
/// stands.
pub async fn record_assignment(
    conn: &mut AnyConnection,
    a: &NewAssignment<'_>,
) -> Result<CaseRow, Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, assigned_at, accept_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (assignment_id) DO UPDATE SET case_id = excluded.case_id, \
         department = excluded.department, assigned_at = excluded.assigned_at, \
         accept_by = CASE WHEN assignments.accept_by > excluded.accept_by \
         THEN assignments.accept_by ELSE excluded.accept_by END, \
         accepted_in_time = CASE WHEN assignments.accepted_at IS NULL OR excluded.accept_by IS NULL \
         THEN NULL WHEN assignments.accepted_at <= excluded.accept_by \
         OR assignments.accepted_at <= assignments.accept_by THEN 1 ELSE 0 END",
    )
    .bind(a.assignment_id)
    .bind(a.case_id)
    .bind(a.department)
    .bind(a.assigned_at)
    .bind(a.accept_by)
    .execute(&mut *conn)
    .await?;
    // The case, known yet or not, in one upsert: its responsible department when this is its
    // latest assignment, and its first assignment's time.
    let row = sqlx::query_as(concat!(
        "INSERT INTO cases (case_id, department, assignment_id, assigned_at, first_assigned_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (case_id) DO UPDATE SET \
         department = CASE WHEN ",
        latest!(),
        " THEN excluded.department ELSE cases.department END, \
         assignment_id = CASE WHEN ",
        latest!(),
        " THEN excluded.assignment_id \
         ELSE cases.assignment_id END, \
         assigned_at = CASE WHEN ",
        latest!(),
        " THEN excluded.assigned_at \
         ELSE cases.assigned_at END, \
         first_assigned_at = CASE WHEN cases.first_assigned_at IS NULL \
         OR cases.first_assigned_at > excluded.first_assigned_at \
         THEN excluded.first_assigned_at ELSE cases.first_assigned_at END \
         RETURNING ",
        case_row!()
    ))
    .bind(a.case_id)
    .bind(a.department)
    .bind(a.assignment_id)
    .bind(a.assigned_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(CaseRow::from_row(row))
}

/// The facts every later step of an assignment carries, enough to keep it when it arrives
/// before its `case.assigned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    pub assignment_id: &'a str,
    pub case_id: &'a str,
    pub department: &'a str,
    pub at: i64,
}

/// `case.resumed` of a pending assignment: its acceptance deadline moved later by the pause
/// (a resumption that arrives before `case.assigned` keeps the later deadline when it comes).
pub async fn move_acceptance_deadline(
    conn: &mut AnyConnection,
    step: Step<'_>,
    accept_by: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, accept_by) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (assignment_id) DO UPDATE SET \
         accept_by = CASE WHEN assignments.accept_by > excluded.accept_by \
         THEN assignments.accept_by ELSE excluded.accept_by END, \
         accepted_in_time = CASE WHEN assignments.accepted_at IS NULL THEN NULL \
         WHEN assignments.accepted_at <= excluded.accept_by \
         OR assignments.accepted_at <= assignments.accept_by THEN 1 ELSE 0 END",
    )
    .bind(step.assignment_id)
    .bind(step.case_id)
    .bind(step.department)
    .bind(accept_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `case.accepted`: in time when by the acceptance deadline (judged once both are known).
pub async fn record_acceptance(conn: &mut AnyConnection, step: Step<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, accepted_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (assignment_id) DO UPDATE SET accepted_at = excluded.accepted_at, \
         accepted_in_time = CASE WHEN assignments.accept_by IS NULL THEN NULL \
         WHEN excluded.accepted_at <= assignments.accept_by THEN 1 ELSE 0 END",
    )
    .bind(step.assignment_id)
    .bind(step.case_id)
    .bind(step.department)
    .bind(step.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `case.returned`: counted for the returning department.
pub async fn record_return(conn: &mut AnyConnection, step: Step<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, returned_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (assignment_id) DO UPDATE SET returned_at = excluded.returned_at",
    )
    .bind(step.assignment_id)
    .bind(step.case_id)
    .bind(step.department)
    .bind(step.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `case.overdue`: the assignment let a deadline pass; the first time counts (a later stage
/// of the same assignment, or a redelivery, changes nothing).
pub async fn record_overdue(conn: &mut AnyConnection, step: Step<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, overdue_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (assignment_id) DO UPDATE SET overdue_at = \
         COALESCE(assignments.overdue_at, excluded.overdue_at)",
    )
    .bind(step.assignment_id)
    .bind(step.case_id)
    .bind(step.department)
    .bind(step.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// `case.replied`: in time as dispatch judged it.
pub async fn record_reply(
    conn: &mut AnyConnection,
    step: Step<'_>,
    within_deadline: bool,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, replied_at, replied_in_time) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (assignment_id) DO UPDATE SET replied_at = excluded.replied_at, \
         replied_in_time = excluded.replied_in_time",
    )
    .bind(step.assignment_id)
    .bind(step.case_id)
    .bind(step.department)
    .bind(step.at)
    .bind(i64::from(within_deadline))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Evaluations

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation<'a> {
    /// The `case.evaluated` event's id: one row per event.
    pub evaluation_id: &'a str,
    pub case_id: &'a str,
    pub department: &'a str,
    /// yimen.v1.Satisfaction
    pub satisfaction: i32,
    pub satisfied: bool,
    pub at: i64,
}

pub async fn record_evaluation(conn: &mut AnyConnection, e: &Evaluation<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO evaluations (evaluation_id, case_id, department, satisfaction, satisfied, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (evaluation_id) DO NOTHING",
    )
    .bind(e.evaluation_id)
    .bind(e.case_id)
    .bind(e.department)
    .bind(i64::from(e.satisfaction))
    .bind(i64::from(e.satisfied))
    .bind(e.at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The negative list

/// Writes the entry, or moves the existing one of the same id onto this department, time and
/// reason (a collective case that changed hands).
pub async fn put_entry(conn: &mut AnyConnection, entry: &Entry) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO negative_entries (entry_id, department, case_id, kind, level, at, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (entry_id) DO UPDATE SET department = excluded.department, \
         at = excluded.at, reason = excluded.reason",
    )
    .bind(&entry.entry_id)
    .bind(&entry.department)
    .bind(&entry.case_id)
    .bind(negative::kind_code(entry.kind))
    .bind(i64::from(entry.level as i32))
    .bind(entry.at)
    .bind(&entry.reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes an escalation entry once; a later escalation to a higher `level` only updates its
/// reason (the entry keeps the time it first counted).
pub async fn put_escalation(conn: &mut AnyConnection, entry: &Entry) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO negative_entries (entry_id, department, case_id, kind, level, at, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (entry_id) DO UPDATE SET level = excluded.level, reason = excluded.reason \
         WHERE negative_entries.level < excluded.level",
    )
    .bind(&entry.entry_id)
    .bind(&entry.department)
    .bind(&entry.case_id)
    .bind(negative::kind_code(entry.kind))
    .bind(i64::from(entry.level as i32))
    .bind(entry.at)
    .bind(&entry.reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Entries whose time falls in `period` (of `department`, or all when empty), newest first,
/// each with its case's number (empty while the registration has not arrived).
pub async fn negative_entries(
    conn: &mut AnyConnection,
    period: Period,
    department: &str,
) -> Result<Vec<(Entry, String)>, Error> {
    let rows = sqlx::query_as::<_, EntryRow>(
        "SELECT n.entry_id, n.department, n.case_id, n.kind, n.level, n.at, n.reason, \
         COALESCE(c.case_number, '') AS case_number \
         FROM negative_entries n LEFT JOIN cases c ON c.case_id = n.case_id \
         WHERE n.at >= $1 AND n.at < $2 AND ($3 = '' OR n.department = $3) \
         ORDER BY n.at DESC, n.entry_id DESC",
    )
    .bind(period.from)
    .bind(period.to)
    .bind(department)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(EntryRow::into_entry).collect())
}

/// A negative-list entry joined with its case's number.
#[derive(sqlx::FromRow)]
struct EntryRow {
    entry_id: String,
    department: String,
    case_id: String,
    kind: i64,
    level: i64,
    at: i64,
    reason: String,
    case_number: String,
}

impl EntryRow {
    fn into_entry(self) -> (Entry, String) {
        let entry = Entry {
            entry_id: self.entry_id,
            department: self.department,
            case_id: self.case_id,
            kind: negative::kind_from_code(self.kind),
            level: i32::try_from(self.level)
                .ok()
                .and_then(|l| EscalationLevel::try_from(l).ok())
                .unwrap_or(EscalationLevel::Unspecified),
            at: self.at,
            reason: self.reason,
        };
        (entry, self.case_number)
    }
}

// ---------------------------------------------------------------------------------------------
// Attendance

pub async fn record_check_in(
    conn: &mut AnyConnection,
    check_in_id: &str,
    staff_id: &str,
    department: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO attendance (check_in_id, staff_id, department, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(check_in_id)
    .bind(staff_id)
    .bind(department)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Check-ins in `period`.
pub async fn check_ins(conn: &mut AnyConnection, period: Period) -> Result<u64, Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attendance WHERE at >= $1 AND at < $2")
        .bind(period.from)
        .bind(period.to)
        .fetch_one(&mut *conn)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Writes one count query's two columns into the figures: `n` all the events, `k` the good
/// ones (in time, satisfied); unused by single figures.
type Setter = fn(&mut Figures, u64, u64);

/// Per figure, a query counting per department the events whose own time falls in
/// `[$1, $2)`, of department `$3` (all when empty).
const FIGURE_QUERIES: [(&str, Setter); 7] = [
    (
        "SELECT department, COUNT(*) AS n, COUNT(*) AS k FROM assignments \
         WHERE assigned_at >= $1 AND assigned_at < $2 AND ($3 = '' OR department = $3) \
         GROUP BY department",
        |f, n, _| f.assigned = n,
    ),
    (
        "SELECT department, COUNT(*) AS n, COUNT(CASE WHEN accepted_in_time = 1 THEN 1 END) AS k \
         FROM assignments \
         WHERE accepted_at >= $1 AND accepted_at < $2 AND ($3 = '' OR department = $3) \
         GROUP BY department",
        |f, n, k| (f.accepted, f.accepted_in_time) = (n, k),
    ),
    (
        "SELECT department, COUNT(*) AS n, COUNT(CASE WHEN replied_in_time = 1 THEN 1 END) AS k \
         FROM assignments \
         WHERE replied_at >= $1 AND replied_at < $2 AND ($3 = '' OR department = $3) \
         GROUP BY department",
        |f, n, k| (f.replied, f.replied_in_time) = (n, k),
    ),
    (
        "SELECT department, COUNT(*) AS n, COUNT(*) AS k FROM assignments \
         WHERE returned_at >= $1 AND returned_at < $2 AND ($3 = '' OR department = $3) \
         GROUP BY department",
        |f, n, _| f.returned = n,
    ),
    (
        "SELECT department, COUNT(*) AS n, COUNT(CASE WHEN satisfied = 1 THEN 1 END) AS k \
         FROM evaluations WHERE at >= $1 AND at < $2 AND ($3 = '' OR department = $3) \
         GROUP BY department",
        |f, n, k| (f.evaluated, f.satisfied) = (n, k),
    ),
    (
        "SELECT department, COUNT(*) AS n, COUNT(*) AS k FROM negative_entries \
         WHERE at >= $1 AND at < $2 AND ($3 = '' OR department = $3) GROUP BY department",
        |f, n, _| f.negative_entries = n,
    ),
    (
        "SELECT department, COUNT(*) AS n, COUNT(*) AS k FROM assignments \
         WHERE overdue_at >= $1 AND overdue_at < $2 AND ($3 = '' OR department = $3) \
         GROUP BY department",
        |f, n, _| f.overdue = n,
    ),
];

/// The figures of every department with any in `period` (only `department`'s when not empty).
pub async fn figures(
    conn: &mut AnyConnection,
    period: Period,
    department: &str,
) -> Result<BTreeMap<String, Figures>, Error> {
    let mut figures: BTreeMap<String, Figures> = BTreeMap::new();
    for (sql, set) in FIGURE_QUERIES {
        // Each query selects the department, then `n`, then `k`.
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(sql)
            .bind(period.from)
            .bind(period.to)
            .bind(department)
            .fetch_all(&mut *conn)
            .await?;
        for (code, n, k) in rows {
            set(
                figures.entry(code).or_default(),
                u64::try_from(n).unwrap_or(0),
                u64::try_from(k).unwrap_or(0),
            );
        }
    }
    Ok(figures)
}

// ---------------------------------------------------------------------------------------------
// Mediator subsidies (以案定补)

/// A concluded mediation as `mediation.concluded` announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediation<'a> {
    pub mediation_id: &'a str,
    pub committee: &'a str,
    pub outcome: MediationState,
    pub difficulty: u32,
    pub mediators: &'a [String],
    pub concluded_at: i64,
}

/// Records a concluded mediation once (a mediation concludes once; a redelivery changes
/// nothing).
pub async fn record_mediation(conn: &mut AnyConnection, m: &NewMediation<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO mediations (mediation_id, committee, outcome, difficulty, mediators, \
         concluded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mediation_id) DO NOTHING",
    )
    .bind(m.mediation_id)
    .bind(m.committee)
    .bind(m.outcome as i64)
    .bind(i64::from(m.difficulty))
    .bind(m.mediators.join(","))
    .bind(m.concluded_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MediationRow {
    mediation_id: String,
    committee: String,
    outcome: i64,
    mediators: String,
    concluded_at: i64,
    grade: i64,
}

/// A concluded mediation as stored: its outcome and when it concluded, for the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMediation {
    pub concluded: Concluded,
    pub outcome: MediationState,
    pub concluded_at: i64,
}

impl From<MediationRow> for StoredMediation {
    fn from(row: MediationRow) -> Self {
        let outcome = i32::try_from(row.outcome)
            .ok()
            .and_then(|o| MediationState::try_from(o).ok())
            .unwrap_or(MediationState::Unspecified);
        let grade = i32::try_from(row.grade)
            .ok()
            .and_then(|g| SubsidyGrade::try_from(g).ok())
            .filter(|g| *g != SubsidyGrade::Unspecified);
        Self {
            concluded: Concluded {
                mediation_id: row.mediation_id,
                committee: row.committee,
                agreed: outcome == MediationState::Agreed,
                mediators: row
                    .mediators
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
                grade,
            },
            outcome,
            concluded_at: row.concluded_at,
        }
    }
}

macro_rules! mediation_select {
    () => {
        "SELECT mediation_id, committee, outcome, mediators, concluded_at, grade FROM mediations "
    };
}

/// The mediations concluded in `period`, by id.
pub async fn mediations_concluded(
    conn: &mut AnyConnection,
    period: Period,
) -> Result<Vec<StoredMediation>, Error> {
    let rows = sqlx::query_as::<_, MediationRow>(concat!(
        mediation_select!(),
        "WHERE concluded_at >= $1 AND concluded_at < $2 ORDER BY mediation_id"
    ))
    .bind(period.from)
    .bind(period.to)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(StoredMediation::from).collect())
}

pub async fn mediation(
    conn: &mut AnyConnection,
    mediation_id: &str,
) -> Result<Option<StoredMediation>, Error> {
    let row =
        sqlx::query_as::<_, MediationRow>(concat!(mediation_select!(), "WHERE mediation_id = $1"))
            .bind(mediation_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(StoredMediation::from))
}

/// Sets the review's grade of a mediation (a later grade replaces an earlier one).
pub async fn set_grade(
    conn: &mut AnyConnection,
    mediation_id: &str,
    grade: SubsidyGrade,
    now: i64,
) -> Result<(), Error> {
    sqlx::query("UPDATE mediations SET grade = $2, graded_at = $3 WHERE mediation_id = $1")
        .bind(mediation_id)
        .bind(grade as i64)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Replaces the full-time mediators of a quarter.
pub async fn set_full_time(
    conn: &mut AnyConnection,
    year: i32,
    quarter: u32,
    mediators: &BTreeSet<String>,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM full_time_mediators WHERE year = $1 AND quarter = $2")
        .bind(i64::from(year))
        .bind(i64::from(quarter))
        .execute(&mut *conn)
        .await?;
    for mediator in mediators {
        sqlx::query(
            "INSERT INTO full_time_mediators (year, quarter, mediator_id) VALUES ($1, $2, $3)",
        )
        .bind(i64::from(year))
        .bind(i64::from(quarter))
        .bind(mediator)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The full-time mediators of a quarter.
pub async fn full_time(
    conn: &mut AnyConnection,
    year: i32,
    quarter: u32,
) -> Result<BTreeSet<String>, Error> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT mediator_id FROM full_time_mediators WHERE year = $1 AND quarter = $2",
    )
    .bind(i64::from(year))
    .bind(i64::from(quarter))
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().collect())
}
