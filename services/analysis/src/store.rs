//! Analysis's store: the read models (cases, assignments, petitioner keys, department names)
//! and the alerts, in portable SQL over PostgreSQL and SQLite. Every function works on the
//! caller's connection or transaction, so a projection, its alerts and their events commit
//! together.
//!
//! Writes are order-tolerant: each creates the row it needs if no earlier event did, and sets
//! only what its event knows, so events about a case converge in any order.

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use yimen_platform::db::Flag;
use yimen_platform::error::Error;
use yimen_platform::paging::{Page, PageToken};
use yimen_platform::time::timestamp;
use yimen_proto::v1::{self as pb, AlertKind};

use crate::domain::{AlertFilter, AssignmentFacts, Holding, KeyMatch, Period, labels};

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Cases

/// A case as case.registered describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub case_id: String,
    pub case_number: String,
    pub category: i64,
    pub town: String,
    pub village: String,
    pub channel: i64,
    pub headcount: i64,
    pub amount_fen: i64,
    pub registered_at: i64,
    /// 当场答复 / 当场调处: settled at the desk as it was registered.
    pub settled_at_desk: bool,
}

/// Records a registration; the first registration's time stands if it is announced again,
/// and is answered.
pub async fn register_case(conn: &mut AnyConnection, case: &Registered) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "INSERT INTO cases (case_id, case_number, category, town, village, channel, headcount, \
         amount_fen, registered_at, settled_at_desk) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (case_id) DO UPDATE SET case_number = excluded.case_number, \
         settled_at_desk = excluded.settled_at_desk, \
         category = excluded.category, town = excluded.town, village = excluded.village, \
         channel = excluded.channel, headcount = excluded.headcount, \
         amount_fen = excluded.amount_fen, \
         registered_at = COALESCE(cases.registered_at, excluded.registered_at) \
         RETURNING registered_at",
    )
    .bind(&case.case_id)
    .bind(&case.case_number)
    .bind(case.category)
    .bind(&case.town)
    .bind(&case.village)
    .bind(case.channel)
    .bind(case.headcount)
    .bind(case.amount_fen)
    .bind(case.registered_at)
    .bind(i64::from(case.settled_at_desk))
    .fetch_one(&mut *conn)
    .await?)
}

/// Creates the case's row if no event made it yet, with what an event other than the
/// registration tells of it (number, category, place); these stand until the registration.
pub async fn describe_case(
    conn: &mut AnyConnection,
    case_id: &str,
    case_number: &str,
    category: i64,
    location: &pb::Location,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO cases (case_id, case_number, category, town, village) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (case_id) DO UPDATE SET \
         case_number = CASE WHEN excluded.case_number = '' THEN cases.case_number \
                            ELSE excluded.case_number END, \
         category = CASE WHEN excluded.category = 0 THEN cases.category \
                         ELSE excluded.category END, \
         town = CASE WHEN excluded.town = '' THEN cases.town ELSE excluded.town END, \
         village = CASE WHEN excluded.village = '' THEN cases.village ELSE excluded.village END \
         WHERE cases.registered_at IS NULL",
    )
    .bind(case_id)
    .bind(case_number)
    .bind(category)
    .bind(location.town.trim())
    .bind(location.village.trim())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates the case's row if no event made it yet.
pub async fn ensure_case(conn: &mut AnyConnection, case_id: &str) -> Result<(), Error> {
    sqlx::query("INSERT INTO cases (case_id) VALUES ($1) ON CONFLICT (case_id) DO NOTHING")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What analysis knows of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub case_id: String,
    pub case_number: String,
    pub category: i64,
    pub headcount: i64,
    pub registered_at: Option<i64>,
    pub department: String,
    pub accept_by: Option<i64>,
    pub handle_by: Option<i64>,
    pub returns: u64,
    pub reopened: u64,
    pub closed: bool,
    pub in_mediation: bool,
}

pub async fn case(conn: &mut AnyConnection, case_id: &str) -> Result<Option<CaseRow>, Error> {
    let row = sqlx::query_as::<_, StoredCase>(
        "SELECT case_id, case_number, category, headcount, registered_at, department, accept_by, \
         handle_by, returns, reopened, state, in_mediation FROM cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(CaseRow::from))
}

/// A row of `cases` as stored: counts are BIGINT, the state is `'open'` or `'closed'`.
#[derive(sqlx::FromRow)]
struct StoredCase {
    case_id: String,
    case_number: String,
    category: i64,
    headcount: i64,
    registered_at: Option<i64>,
    department: String,
    accept_by: Option<i64>,
    handle_by: Option<i64>,
    returns: i64,
    reopened: i64,
    state: String,
    #[sqlx(try_from = "Flag")]
    in_mediation: bool,
}

impl From<StoredCase> for CaseRow {
    fn from(row: StoredCase) -> Self {
        Self {
            case_id: row.case_id,
            case_number: row.case_number,
            category: row.category,
            headcount: row.headcount,
            registered_at: row.registered_at,
            department: row.department,
            accept_by: row.accept_by,
            handle_by: row.handle_by,
            returns: count(row.returns),
            reopened: count(row.reopened),
            closed: row.state == "closed",
            in_mediation: row.in_mediation,
        }
    }
}

/// Writes the case's holder and running deadline, derived from its assignments.
pub async fn set_holding(
    conn: &mut AnyConnection,
    case_id: &str,
    holding: &Holding,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE cases SET department = $2, accept_by = $3, handle_by = $4, replied = $5, \
         returns = $6 WHERE case_id = $1",
    )
    .bind(case_id)
    .bind(&holding.department)
    .bind(holding.accept_by)
    .bind(holding.handle_by)
    .bind(i64::from(holding.replied))
    .bind(i64::try_from(holding.returns).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Closes (case.closed) or reopens (case.reopened) the case as of `at`, unless a later close
/// or reopening was already applied; at the same instant the close stands.
pub async fn set_state(
    conn: &mut AnyConnection,
    case_id: &str,
    closed: bool,
    at: i64,
) -> Result<(), Error> {
    let state = if closed { "closed" } else { "open" };
    sqlx::query(
        "UPDATE cases SET state = $2, state_at = $3, \
         closed_at = CASE WHEN $2 = 'closed' THEN $3 ELSE closed_at END \
         WHERE case_id = $1 AND (state_at < $3 OR (state_at = $3 AND $2 = 'closed'))",
    )
    .bind(case_id)
    .bind(state)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn count_reopening(conn: &mut AnyConnection, case_id: &str) -> Result<(), Error> {
    sqlx::query("UPDATE cases SET reopened = reopened + 1 WHERE case_id = $1")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks the case in mediation (mediation.opened) or out of it (mediation.concluded) as of
/// `at`, unless a later mediation event was already applied; at the same instant the
/// conclusion stands.
pub async fn set_mediation(
    conn: &mut AnyConnection,
    case_id: &str,
    open: bool,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE cases SET in_mediation = $2, mediation_at = $3 \
         WHERE case_id = $1 AND (mediation_at < $3 OR (mediation_at = $3 AND $2 = 0))",
    )
    .bind(case_id)
    .bind(i64::from(open))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn set_satisfaction(
    conn: &mut AnyConnection,
    case_id: &str,
    satisfaction: i64,
) -> Result<(), Error> {
    sqlx::query("UPDATE cases SET satisfaction = $2 WHERE case_id = $1")
        .bind(case_id)
        .bind(satisfaction)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Assignments

/// What one event tells of an assignment; `None` and empty fields are left as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentUpdate {
    pub assignment_id: String,
    pub case_id: String,
    pub department: String,
    pub cause: i64,
    /// The event's time.
    pub at: i64,
    pub assigned: bool,
    pub accept_by: Option<i64>,
    pub accepted: bool,
    pub handle_by: Option<i64>,
    pub extended_handle_by: Option<i64>,
    pub replied: bool,
    pub within_deadline: Option<bool>,
    pub returned: bool,
    /// `case.supplement_requested`: the clock stopped at `at`.
    pub paused: bool,
    /// `case.resumed`: the clock runs again from `at`.
    pub resumed: bool,
}

/// Merges one event into its assignment's row (created by whichever event comes first).
pub async fn update_assignment(
    conn: &mut AnyConnection,
    u: &AssignmentUpdate,
) -> Result<(), Error> {
    let at_if = |flag: bool| flag.then_some(u.at);
    sqlx::query(
        "INSERT INTO assignments (assignment_id, case_id, department, cause, assigned_at, \
         known_at, accept_by, accepted_at, handle_by, extended_handle_by, replied_at, \
         within_deadline, returned_at, paused_at, resumed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (assignment_id) DO UPDATE SET \
         department = CASE WHEN excluded.department = '' THEN assignments.department \
                           ELSE excluded.department END, \
         cause = CASE WHEN excluded.cause = 0 THEN assignments.cause ELSE excluded.cause END, \
         assigned_at = COALESCE(excluded.assigned_at, assignments.assigned_at), \
         known_at = CASE WHEN excluded.known_at < assignments.known_at THEN excluded.known_at \
                         ELSE assignments.known_at END, \
         accept_by = CASE \
             WHEN assignments.accept_by IS NULL OR excluded.accept_by > assignments.accept_by \
             THEN COALESCE(excluded.accept_by, assignments.accept_by) \
             ELSE assignments.accept_by END, \
         accepted_at = COALESCE(excluded.accepted_at, assignments.accepted_at), \
         handle_by = COALESCE(excluded.handle_by, assignments.handle_by), \
         extended_handle_by = CASE \
             WHEN assignments.extended_handle_by IS NULL \
               OR excluded.extended_handle_by > assignments.extended_handle_by \
             THEN COALESCE(excluded.extended_handle_by, assignments.extended_handle_by) \
             ELSE assignments.extended_handle_by END, \
         replied_at = COALESCE(excluded.replied_at, assignments.replied_at), \
         within_deadline = COALESCE(excluded.within_deadline, assignments.within_deadline), \
         returned_at = COALESCE(excluded.returned_at, assignments.returned_at), \
         paused_at = CASE WHEN assignments.paused_at IS NULL \
             OR excluded.paused_at > assignments.paused_at \
             THEN COALESCE(excluded.paused_at, assignments.paused_at) \
             ELSE assignments.paused_at END, \
         resumed_at = CASE WHEN assignments.resumed_at IS NULL \
             OR excluded.resumed_at > assignments.resumed_at \
             THEN COALESCE(excluded.resumed_at, assignments.resumed_at) \
             ELSE assignments.resumed_at END",
    )
    .bind(&u.assignment_id)
    .bind(&u.case_id)
    .bind(&u.department)
    .bind(u.cause)
    .bind(at_if(u.assigned))
    .bind(u.at)
    .bind(u.accept_by)
    .bind(at_if(u.accepted))
    .bind(u.handle_by)
    .bind(u.extended_handle_by)
    .bind(at_if(u.replied))
    .bind(u.within_deadline.map(i64::from))
    .bind(at_if(u.returned))
    .bind(at_if(u.paused))
    .bind(at_if(u.resumed))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Everything known of the case's assignments.
pub async fn assignments_of(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<AssignmentFacts>, Error> {
    let rows = sqlx::query_as::<_, AssignmentRow>(
        "SELECT assignment_id, department, known_at, accept_by, accepted_at, handle_by, \
         extended_handle_by, replied_at, returned_at, paused_at, resumed_at \
         FROM assignments WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(AssignmentFacts::from).collect())
}

#[derive(sqlx::FromRow)]
struct AssignmentRow {
    assignment_id: String,
    department: String,
    known_at: i64,
    accept_by: Option<i64>,
    accepted_at: Option<i64>,
    handle_by: Option<i64>,
    extended_handle_by: Option<i64>,
    replied_at: Option<i64>,
    returned_at: Option<i64>,
    paused_at: Option<i64>,
    resumed_at: Option<i64>,
}

impl From<AssignmentRow> for AssignmentFacts {
    fn from(row: AssignmentRow) -> Self {
        Self {
            assignment_id: row.assignment_id,
            department: row.department,
            known_at: row.known_at,
            accept_by: row.accept_by,
            accepted: row.accepted_at.is_some(),
            handle_by: row.extended_handle_by.or(row.handle_by),
            replied: row.replied_at.is_some(),
            returned: row.returned_at.is_some(),
            // Stopped when the latest request came after the latest resumption.
            paused: match (row.paused_at, row.resumed_at) {
                (Some(paused), Some(resumed)) => paused > resumed,
                (paused, _) => paused.is_some(),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Petitioner keys

pub async fn add_petitioner_keys(
    conn: &mut AnyConnection,
    case: &Registered,
    keys: &[String],
) -> Result<(), Error> {
    for key in keys {
        sqlx::query(
            "INSERT INTO petitioner_keys (petitioner_key, case_id, category, registered_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(key)
        .bind(&case.case_id)
        .bind(case.category)
        .bind(case.registered_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The other cases sharing a petitioner key and the category with `case_id`, one row per
/// shared key.
pub async fn key_matches(conn: &mut AnyConnection, case_id: &str) -> Result<Vec<KeyMatch>, Error> {
    let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT o.petitioner_key, o.case_id, o.registered_at, c.case_number \
         FROM petitioner_keys m \
         JOIN petitioner_keys o ON o.petitioner_key = m.petitioner_key \
              AND o.category = m.category AND o.case_id <> m.case_id \
         JOIN cases c ON c.case_id = o.case_id \
         WHERE m.case_id = $1",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, case_id, registered_at, case_number)| KeyMatch {
            key,
            case_id,
            case_number,
            registered_at,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Departments

/// Records a department's name (and whether it is active) as an event tells it. Read first:
/// most events tell what is known already, and an upsert would lock the row, making every
/// event about one department wait for the one before it to commit.
pub async fn name_department(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
    active: Option<bool>,
) -> Result<(), Error> {
    let known: Option<(String, Flag)> =
        sqlx::query_as("SELECT name, active FROM departments WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((known_name, Flag(known_active))) = known
        && (name.is_empty() || name == known_name)
        && active.is_none_or(|active| active == known_active)
    {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO departments (code, name, active) VALUES ($1, $2, COALESCE($3, 1)) \
         ON CONFLICT (code) DO UPDATE SET \
         name = CASE WHEN excluded.name = '' THEN departments.name ELSE excluded.name END, \
         active = COALESCE($3, departments.active)",
    )
    .bind(code)
    .bind(name)
    .bind(active.map(i64::from))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The department the latest case of `category` went to, by name when known, else by code.
pub async fn latest_handler(
    conn: &mut AnyConnection,
    category: i64,
) -> Result<Option<String>, Error> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT a.department, d.name FROM assignments a \
         JOIN cases c ON c.case_id = a.case_id \
         LEFT JOIN departments d ON d.code = a.department \
         WHERE c.category = $1 AND a.assigned_at IS NOT NULL AND a.department <> '' \
         ORDER BY a.assigned_at DESC, a.assignment_id DESC LIMIT 1",
    )
    .bind(category)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(code, name)| name.filter(|n| !n.is_empty()).unwrap_or(code)))
}

// ---------------------------------------------------------------------------------------------
// Alerts

/// Stores an alert unless the case already has one of its kind; true when stored.
pub async fn insert_alert(conn: &mut AnyConnection, alert: &pb::Alert) -> Result<bool, Error> {
    // One fact a line: a line break inside a fact becomes a space.
    let facts = alert
        .facts
        .iter()
        .map(|f| f.replace(['\r', '\n'], " "))
        .collect::<Vec<_>>()
        .join("\n");
    let raised_at = alert
        .raised_at
        .as_ref()
        .map(yimen_platform::time::millis)
        .unwrap_or_default();
    let done = sqlx::query(
        "INSERT INTO alerts (alert_id, kind, case_id, case_number, category, facts, raised_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&alert.alert_id)
    .bind(i64::from(alert.kind))
    .bind(&alert.case_id)
    .bind(&alert.case_number)
    .bind(i64::from(alert.category))
    .bind(facts)
    .bind(raised_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

const ALERT_COLUMNS: &str =
    "alert_id, kind, case_id, case_number, category, facts, raised_at, acknowledged";

/// An alert as stored under [`ALERT_COLUMNS`]: its facts one a line.
#[derive(sqlx::FromRow)]
struct AlertRow {
    alert_id: String,
    kind: i64,
    case_id: String,
    case_number: String,
    category: i64,
    facts: String,
    raised_at: i64,
    #[sqlx(try_from = "Flag")]
    acknowledged: bool,
}

impl From<AlertRow> for pb::Alert {
    fn from(row: AlertRow) -> Self {
        Self {
            alert_id: row.alert_id,
            kind: i32::try_from(row.kind).unwrap_or_default(),
            case_id: row.case_id,
            facts: row.facts.lines().map(str::to_string).collect(),
            raised_at: Some(timestamp(row.raised_at)),
            acknowledged: row.acknowledged,
            case_number: row.case_number,
            category: labels::category_of(row.category) as i32,
        }
    }
}

pub async fn alert(conn: &mut AnyConnection, alert_id: &str) -> Result<Option<pb::Alert>, Error> {
    let row = sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = $1"
    )))
    .bind(alert_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(pb::Alert::from))
}

/// Marks the alert acknowledged (the first time only); false when there is no such alert.
pub async fn acknowledge_alert(
    conn: &mut AnyConnection,
    alert_id: &str,
    now: i64,
) -> Result<bool, Error> {
    sqlx::query(
        "UPDATE alerts SET acknowledged = 1, acknowledged_at = $2 \
         WHERE alert_id = $1 AND acknowledged = 0",
    )
    .bind(alert_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE alert_id = $1")
        .bind(alert_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(exists == 1)
}

/// One page of alerts matching `filter`, newest first, and the next page's token (empty at
/// the end).
pub async fn list_alerts(
    conn: &mut AnyConnection,
    filter: &AlertFilter,
    page: &Page,
) -> Result<(Vec<pb::Alert>, String), Error> {
    let (after_at, after_id) = page
        .after
        .as_ref()
        .map_or((0, ""), |t| (t.millis, t.id.as_str()));
    let rows = sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM alerts \
         WHERE ($1 = 1 OR acknowledged = 0) AND ($2 = 0 OR kind = $2) \
         AND ($3 = '' OR case_id = $3) \
         AND ($4 = 0 OR raised_at < $5 OR (raised_at = $5 AND alert_id < $6)) \
         ORDER BY raised_at DESC, alert_id DESC LIMIT $7"
    )))
    .bind(i64::from(filter.include_acknowledged))
    .bind(i64::from(filter.kind))
    .bind(&filter.case_id)
    .bind(i64::from(page.after.is_some()))
    .bind(after_at)
    .bind(after_id)
    .bind(page.fetch())
    .fetch_all(&mut *conn)
    .await?;
    let mut alerts: Vec<pb::Alert> = rows.into_iter().map(Into::into).collect();
    let next = page.finish(&mut alerts, |last| PageToken {
        millis: last
            .raised_at
            .as_ref()
            .map_or(0, yimen_platform::time::millis),
        id: last.alert_id.clone(),
    });
    Ok((alerts, next))
}

/// Alerts matching `filter` raised at or after `since`, oldest first.
pub async fn alerts_since(
    conn: &mut AnyConnection,
    filter: &AlertFilter,
    since: i64,
) -> Result<Vec<pb::Alert>, Error> {
    let rows = sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM alerts \
         WHERE ($1 = 1 OR acknowledged = 0) AND ($2 = 0 OR kind = $2) \
         AND ($3 = '' OR case_id = $3) AND raised_at >= $4 \
         ORDER BY raised_at, alert_id"
    )))
    .bind(i64::from(filter.include_acknowledged))
    .bind(i64::from(filter.kind))
    .bind(&filter.case_id)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(pb::Alert::from).collect())
}

/// The kinds of alert raised on a case.
pub async fn alert_kinds_of(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Vec<AlertKind>, Error> {
    let kinds: Vec<i64> = sqlx::query_scalar("SELECT kind FROM alerts WHERE case_id = $1")
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(kinds
        .into_iter()
        .filter_map(|k| i32::try_from(k).ok())
        .filter_map(|k| AlertKind::try_from(k).ok())
        .collect())
}

/// How many alerts of each kind were ever raised (as stored numbers): one grouped read.
pub async fn alerts_by_kind(conn: &mut AnyConnection) -> Result<Vec<(i64, u64)>, Error> {
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT kind, COUNT(*) FROM alerts GROUP BY kind ORDER BY kind")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(kind, n)| (kind, count(n))).collect())
}

// ---------------------------------------------------------------------------------------------
// Figures

/// What cases registered in a period are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Category,
    Channel,
}

/// Cases registered in `period` per category or channel (as stored numbers).
pub async fn registered_by(
    conn: &mut AnyConnection,
    by: By,
    period: &Period,
) -> Result<BTreeMap<i64, u64>, Error> {
    let sql = match by {
        By::Category => {
            "SELECT category AS k, COUNT(*) AS n FROM cases \
             WHERE registered_at >= $1 AND registered_at < $2 GROUP BY category"
        }
        By::Channel => {
            "SELECT channel AS k, COUNT(*) AS n FROM cases \
             WHERE registered_at >= $1 AND registered_at < $2 GROUP BY channel"
        }
    };
    grouped(conn, sql, period).await
}

/// Cases registered in `period` per town.
pub async fn registered_by_town(
    conn: &mut AnyConnection,
    period: &Period,
) -> Result<BTreeMap<String, u64>, Error> {
    grouped(
        conn,
        "SELECT town AS k, COUNT(*) AS n FROM cases \
         WHERE registered_at >= $1 AND registered_at < $2 GROUP BY town",
        period,
    )
    .await
}

/// Cases assigned to each department in `period`.
pub async fn assigned_by_department(
    conn: &mut AnyConnection,
    period: &Period,
) -> Result<BTreeMap<String, u64>, Error> {
    grouped(
        conn,
        "SELECT department AS k, COUNT(*) AS n FROM assignments \
         WHERE assigned_at >= $1 AND assigned_at < $2 GROUP BY department",
        period,
    )
    .await
}

async fn grouped<K>(
    conn: &mut AnyConnection,
    sql: &'static str,
    period: &Period,
) -> Result<BTreeMap<K, u64>, Error>
where
    K: Ord + Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    // Each query selects the group's key `k`, then its count `n`.
    let rows: Vec<(K, i64)> = sqlx::query_as(sql)
        .bind(period.from)
        .bind(period.to)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(|(k, n)| (k, count(n))).collect())
}

/// One count of the situation over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Cases registered in the period.
    Registered,
    /// Collective cases (headcount ≥ threshold) registered in the period.
    Collective { threshold: u32 },
    /// Cases closed in the period (and not reopened since).
    Closed,
    /// Alerts raised in the period.
    Alerts,
    /// Cases registered in the period that were settled at the desk.
    SettledAtDesk,
}

pub async fn count_in(
    conn: &mut AnyConnection,
    what: Count,
    period: &Period,
) -> Result<u64, Error> {
    let (sql, threshold) = match what {
        Count::Registered => (
            "SELECT COUNT(*) FROM cases WHERE registered_at >= $1 AND registered_at < $2",
            None,
        ),
        Count::Collective { threshold } => (
            "SELECT COUNT(*) FROM cases WHERE registered_at >= $1 AND registered_at < $2 \
             AND headcount >= $3",
            Some(i64::from(threshold)),
        ),
        Count::Closed => (
            "SELECT COUNT(*) FROM cases WHERE state = 'closed' AND closed_at >= $1 \
             AND closed_at < $2",
            None,
        ),
        Count::Alerts => (
            "SELECT COUNT(*) FROM alerts WHERE raised_at >= $1 AND raised_at < $2",
            None,
        ),
        Count::SettledAtDesk => (
            "SELECT COUNT(*) FROM cases WHERE registered_at >= $1 AND registered_at < $2 \
             AND settled_at_desk = 1",
            None,
        ),
    };
    let mut query = sqlx::query_scalar::<_, i64>(sql)
        .bind(period.from)
        .bind(period.to);
    if let Some(threshold) = threshold {
        query = query.bind(threshold);
    }
    Ok(count(query.fetch_one(&mut *conn).await?))
}

/// Cases not closed, now.
pub async fn open_cases(conn: &mut AnyConnection) -> Result<u64, Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE state = 'open'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(count(n))
}

/// The overdue rule over `cases` rows, `$1` being now: open, and a running deadline has passed
/// (`domain::passed_deadline` over the columns). Written once for the count and the sweep.
const OVERDUE: &str = "state = 'open' \
     AND ((accept_by IS NOT NULL AND accept_by < $1) \
          OR (handle_by IS NOT NULL AND handle_by < $1))";

/// Open cases whose running deadline has passed at `now`.
pub async fn overdue_cases(conn: &mut AnyConnection, now: i64) -> Result<u64, Error> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM cases WHERE {OVERDUE}"
    )))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count(n))
}

/// Up to `limit` cases overdue at `now` that have no overdue alert yet, the earliest running
/// deadline first. (A case runs one deadline at a time, so the one that is set is it.)
pub async fn overdue_without_alert(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT case_id FROM cases WHERE {OVERDUE} \
         AND NOT EXISTS (SELECT 1 FROM alerts \
                         WHERE alerts.case_id = cases.case_id AND alerts.kind = $2) \
         ORDER BY COALESCE(accept_by, handle_by), case_id LIMIT $3"
    )))
    .bind(now)
    .bind(AlertKind::Overdue as i64)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Open collective cases (headcount ≥ threshold), now.
pub async fn open_collective(conn: &mut AnyConnection, threshold: u32) -> Result<u64, Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases WHERE state = 'open' AND registered_at IS NOT NULL \
         AND headcount >= $1",
    )
    .bind(i64::from(threshold))
    .fetch_one(&mut *conn)
    .await?;
    Ok(count(n))
}

/// When each case registered in `period` (of `category`, or any when 0) was registered.
pub async fn registration_times(
    conn: &mut AnyConnection,
    period: &Period,
    category: i64,
) -> Result<Vec<i64>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT registered_at FROM cases WHERE registered_at >= $1 AND registered_at < $2 \
         AND ($3 = 0 OR category = $3)",
    )
    .bind(period.from)
    .bind(period.to)
    .bind(category)
    .fetch_all(&mut *conn)
    .await?)
}
