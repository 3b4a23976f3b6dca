//! Intake's store: cases, their petitioners, timelines and evaluations, who may read each
//! case, and the case-number counters, in portable SQL over PostgreSQL and SQLite. Every function works on the caller's
//! connection or transaction, so a state change and its outbox event commit together.

use sqlx::AnyConnection;
use yimen_platform::error::Error;
use yimen_platform::seal::{Keyring, SealedColumn, SealedTable};
use yimen_platform::time::{millis, timestamp};
use yimen_proto::v1 as pb;

use crate::domain::progress::{self, Holding, Progress, TimelineLine};
use crate::domain::submission::is_collective;
use crate::domain::{CaseFilter, CaseRef, Evaluation, NewCase, Petitioner, Visibility};
use yimen_platform::paging::PageToken;

/// The condition that a row of `cases` is visible to a caller, written once for every query
/// that reads cases (a macro, so each query stays one static string); `$kind` and `$who` name
/// its two parameters, bound by [`visibility_params`].
macro_rules! visible_to {
    ($kind:literal, $who:literal) => {
        concat!(
            "(",
            $kind,
            " = 0 OR (",
            $kind,
            " = 1 AND EXISTS (SELECT 1 FROM case_holders h ",
            "WHERE h.case_id = cases.case_id AND h.department = ",
            $who,
            ")) OR (",
            $kind,
            " = 2 AND cases.submitted_by = ",
            $who,
            "))"
        )
    };
}

/// The petitioners' name, identity number and phone, sealed at rest.
const NAME: SealedColumn = SealedColumn::new("name", "intake.petitioners.name");
const ID_NUMBER: SealedColumn = SealedColumn::new("id_number", "intake.petitioners.id_number");
const PHONE: SealedColumn = SealedColumn::new("phone", "intake.petitioners.phone");

/// Intake's sealed columns (`Definition::SEALED`).
pub const SEALED: &[SealedTable] = &[SealedTable {
    table: "petitioners",
    keys: &["case_id", "ordinal"],
    columns: &[NAME, ID_NUMBER, PHONE],
}];

/// Advances `year`'s case sequence (1, 2, ...) by `count` and answers the last number taken:
/// the caller owns `last - count + 1 ..= last`. In a transaction the counter row stays locked
/// until commit, so numbers are never shared and a rollback gives them back.
pub async fn advance_case_seq(
    conn: &mut AnyConnection,
    year: i32,
    count: i64,
) -> Result<i64, Error> {
    let name = format!("case_number:{year}");
    sqlx::query("INSERT INTO counters (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(&name)
        .execute(&mut *conn)
        .await?;
    let last = sqlx::query_scalar(
        "UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value",
    )
    .bind(&name)
    .bind(count)
    .fetch_one(&mut *conn)
    .await?;
    Ok(last)
}

/// The id and number of the case registered under `request_id`, if any.
pub async fn case_by_request_id(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Option<(String, String)>, Error> {
    Ok(
        sqlx::query_as("SELECT case_id, case_number FROM cases WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The timeline position of a case's registration line, taken by [`insert_case`] itself.
pub const REGISTRATION_POSITION: i64 = 1;

/// Writes a new case in status REGISTERED, submitted by `submitted_by` when an outside system
/// registers it, with the hash of its query code (never the code), its timeline position
/// already taken by its registration line ([`REGISTRATION_POSITION`], for [`insert_line`]).
/// `false` when its request id is already taken (a concurrent retry won): the caller rolls back
/// and answers that case instead.
pub async fn insert_case(
    conn: &mut AnyConnection,
    case_id: &str,
    case_number: &str,
    case: &NewCase,
    registered_at: i64,
    submitted_by: Option<&str>,
    query_code_hash: &str,
) -> Result<bool, Error> {
    let inserted = sqlx::query(
        "INSERT INTO cases (case_id, case_number, request_id, status, status_at, channel, \
         category, headcount, subject, description, town, village, amount_claimed_fen, \
         registered_at, submitted_by, complained_about, confidential, query_code_hash, \
         timeline_position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $5, $14, $15, $16, \
         $17, $18) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(case_number)
    .bind(case.request_id.clone())
    .bind(pb::CaseStatus::Registered as i32 as i64)
    .bind(registered_at)
    .bind(case.channel as i32 as i64)
    .bind(case.category as i32 as i64)
    .bind(i64::from(case.headcount))
    .bind(&case.subject)
    .bind(&case.description)
    .bind(&case.town)
    .bind(&case.village)
    .bind(case.amount_claimed_fen)
    .bind(submitted_by.map(str::to_string))
    .bind(case.complained_about.as_deref().unwrap_or(""))
    .bind(i64::from(case.confidential))
    .bind(query_code_hash)
    .bind(REGISTRATION_POSITION)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Writes the people named on a new case, their personal data sealed with `keyring`.
pub async fn insert_petitioners(
    conn: &mut AnyConnection,
    case_id: &str,
    petitioners: &[Petitioner],
    keyring: &Keyring,
) -> Result<(), Error> {
    for (ordinal, p) in petitioners.iter().enumerate() {
        insert_petitioner(conn, case_id, ordinal as i64, p, keyring).await?;
    }
    Ok(())
}

async fn insert_petitioner(
    conn: &mut AnyConnection,
    case_id: &str,
    ordinal: i64,
    p: &Petitioner,
    keyring: &Keyring,
) -> Result<(), Error> {
    let id_number = p.id_number.as_ref().map_or("", |id| id.as_str());
    let phone = p.phone.as_ref().map_or("", |phone| phone.as_str());
    sqlx::query(
        "INSERT INTO petitioners (case_id, ordinal, name, id_number, phone) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(ordinal)
    .bind(keyring.seal(NAME.purpose, &p.name)?)
    .bind(keyring.seal(ID_NUMBER.purpose, id_number)?)
    .bind(keyring.seal(PHONE.purpose, phone)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds the timeline line of event `event_id`; `false` when that event already has its line.
pub async fn add_timeline(
    conn: &mut AnyConnection,
    case_id: &str,
    event_id: &str,
    occurred_at: i64,
    line: &TimelineLine,
) -> Result<bool, Error> {
    let position = take_position(conn, case_id).await?;
    insert_line(conn, case_id, event_id, occurred_at, line, position).await
}

/// The case's next timeline position. The case's row stays locked until the caller commits,
/// so positions grow in commit order.
async fn take_position(conn: &mut AnyConnection, case_id: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "UPDATE cases SET timeline_position = timeline_position + 1 WHERE case_id = $1 \
         RETURNING timeline_position",
    )
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// Inserts event `event_id`'s line at `position`, which the caller took in this transaction;
/// `false` when that event already has its line, and then the position is given back (the
/// case's row is still locked, so nobody took a later one), leaving no gap.
pub async fn insert_line(
    conn: &mut AnyConnection,
    case_id: &str,
    event_id: &str,
    occurred_at: i64,
    line: &TimelineLine,
    position: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO timeline (case_id, event_id, occurred_at, kind, summary, department, \
         position) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(event_id)
    .bind(occurred_at)
    .bind(&line.kind)
    .bind(&line.summary)
    .bind(&line.department)
    .bind(position)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    sqlx::query(
        "UPDATE cases SET timeline_position = timeline_position - 1 \
         WHERE case_id = $1 AND timeline_position = $2",
    )
    .bind(case_id)
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(false)
}

/// Moves a case to `holding` as of `at` and takes its next timeline position (as
/// [`take_position`]), provided its status is still the one set at `expected_status_at` (read
/// earlier in the same transaction); `None` when a concurrent event moved it first, and the
/// caller retries. A holding without a department keeps the case's department.
async fn set_status(
    conn: &mut AnyConnection,
    case_id: &str,
    holding: &Holding,
    at: i64,
    expected_status_at: i64,
) -> Result<Option<i64>, Error> {
    Ok(sqlx::query_scalar(
        "UPDATE cases SET status = $2, department = COALESCE($3, department), status_at = $4, \
         timeline_position = timeline_position + 1 \
         WHERE case_id = $1 AND status_at = $5 RETURNING timeline_position",
    )
    .bind(case_id)
    .bind(holding.status as i32 as i64)
    .bind(holding.department.clone())
    .bind(at)
    .bind(expected_status_at)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Records what event `event_id`, which happened at `at`, does to a case whose status was set
/// at `status_at` (read earlier in the same transaction): its timeline line, its status
/// unless a newer one stands, and the department it gives the case to even then (a late
/// assignment still made that department a holder). `false` when a concurrent event moved the
/// case since `status_at` was read: the caller gives up the transaction and nothing is
/// recorded.
pub async fn record(
    conn: &mut AnyConnection,
    case_id: &str,
    event_id: &str,
    at: i64,
    progress: &Progress,
    status_at: i64,
) -> Result<bool, Error> {
    if let Some(department) = progress.holder() {
        add_holder(conn, case_id, department).await?;
    }
    let position = match &progress.holding {
        Some(holding) if progress::supersedes(at, status_at) => {
            match set_status(conn, case_id, holding, at, status_at).await? {
                Some(position) => position,
                None => return Ok(false),
            }
        }
        _ => take_position(conn, case_id).await?,
    };
    insert_line(conn, case_id, event_id, at, &progress.line, position).await?;
    Ok(true)
}

/// Notes that `department` holds or held the case; a second time changes nothing.
async fn add_holder(
    conn: &mut AnyConnection,
    case_id: &str,
    department: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO case_holders (case_id, department) VALUES ($1, $2) \
         ON CONFLICT (case_id, department) DO NOTHING",
    )
    .bind(case_id)
    .bind(department)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The values of [`visible_to!`]'s parameters; `Nothing` matches no case.
fn visibility_params(visibility: &Visibility) -> (i64, &str) {
    match visibility {
        Visibility::Every => (0, ""),
        Visibility::HeldBy(department) => (1, department),
        Visibility::SubmittedBy(subject) => (2, subject),
        Visibility::Nothing => (3, ""),
    }
}

/// The id of the case `case_ref` names, if the caller sees it.
pub async fn visible_case_id(
    conn: &mut AnyConnection,
    case_ref: &CaseRef,
    visibility: &Visibility,
) -> Result<Option<String>, Error> {
    let (kind, who) = visibility_params(visibility);
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        concat!(
            "SELECT case_id FROM cases WHERE {} = $1 AND ",
            visible_to!("$2", "$3")
        ),
        case_ref.column()
    )))
    .bind(case_ref.key())
    .bind(kind)
    .bind(who)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The case's timeline lines recorded after position `after`, in position order, at most
/// `limit`.
pub async fn timeline_after(
    conn: &mut AnyConnection,
    case_id: &str,
    after: u64,
    limit: i64,
) -> Result<Vec<pb::TimelineEntry>, Error> {
    let rows = sqlx::query_as::<_, TimelineRow>(
        "SELECT event_id, occurred_at, kind, summary, department, position FROM timeline \
         WHERE case_id = $1 AND position > $2 ORDER BY position LIMIT $3",
    )
    .bind(case_id)
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(pb::TimelineEntry::from).collect())
}

/// Whether the caller sees case `case_id`.
pub async fn is_visible(
    conn: &mut AnyConnection,
    case_id: &str,
    visibility: &Visibility,
) -> Result<bool, Error> {
    let (kind, who) = visibility_params(visibility);
    let found: i64 = sqlx::query_scalar(concat!(
        "SELECT COUNT(*) FROM cases WHERE case_id = $1 AND ",
        visible_to!("$2", "$3")
    ))
    .bind(case_id)
    .bind(kind)
    .bind(who)
    .fetch_one(&mut *conn)
    .await?;
    Ok(found > 0)
}

/// Where a case stands: what an evaluation needs to know before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseState {
    pub case_id: String,
    pub case_number: String,
    #[sqlx(try_from = "i32")]
    pub status: pb::CaseStatus,
    /// When the status was set (millis).
    pub status_at: i64,
    /// The department holding the case; empty before the first assignment.
    pub department: String,
}

/// Where the case named by `case_ref` stands; `None` when there is no such case.
pub async fn case_state(
    conn: &mut AnyConnection,
    case_ref: &CaseRef,
) -> Result<Option<CaseState>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT case_id, case_number, status, status_at, department FROM cases WHERE {} = $1",
        case_ref.column()
    )))
    .bind(case_ref.key())
    .fetch_optional(&mut *conn)
    .await?)
}

/// Keeps a petitioner's evaluation of `department`'s reply, under the id of the
/// `case.evaluated` event that announces it. The comment stays here: it is never published.
pub async fn insert_evaluation(
    conn: &mut AnyConnection,
    event_id: &str,
    case_id: &str,
    evaluation: &Evaluation,
    department: &str,
    evaluated_at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO evaluations (event_id, case_id, satisfaction, comment, department, \
         evaluated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event_id)
    .bind(case_id)
    .bind(evaluation.satisfaction as i32 as i64)
    .bind(&evaluation.comment)
    .bind(department)
    .bind(evaluated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keeps the material added for `department` under the id of the `case.supplemented` event
/// that announces it. The text stays here: it is never published.
pub async fn insert_supplement(
    conn: &mut AnyConnection,
    event_id: &str,
    case_id: &str,
    text: &str,
    department: &str,
    added_at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO supplements (event_id, case_id, text, department, added_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event_id)
    .bind(case_id)
    .bind(text)
    .bind(department)
    .bind(added_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A notice waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueNotice {
    pub notice_id: String,
    pub case_id: String,
    pub case_number: String,
    pub kind: String,
    pub text: String,
    pub created_at: i64,
}

/// Writes the notice an event calls for, once however often the event comes.
pub async fn insert_notice(
    conn: &mut AnyConnection,
    notice_id: &str,
    case_id: &str,
    kind: &str,
    text: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO notices (notice_id, case_id, kind, text, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notice_id) DO NOTHING",
    )
    .bind(notice_id)
    .bind(case_id)
    .bind(kind)
    .bind(text)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Unsent notices nobody owns at `now`, oldest first.
pub async fn due_notices(
    conn: &mut AnyConnection,
    now: i64,
    limit: i64,
) -> Result<Vec<DueNotice>, Error> {
    Ok(sqlx::query_as(
        "SELECT n.notice_id, n.case_id, c.case_number, n.kind, n.text, n.created_at \
         FROM notices n JOIN cases c ON c.case_id = n.case_id \
         WHERE n.sent_at IS NULL AND (n.claimed_until IS NULL OR n.claimed_until < $1) \
         ORDER BY n.created_at, n.notice_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Owns an unsent notice until `until` if nobody owns it at `now`; false otherwise.
pub async fn claim_notice(
    conn: &mut AnyConnection,
    notice_id: &str,
    now: i64,
    until: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE notices SET claimed_until = $3 WHERE notice_id = $1 AND sent_at IS NULL \
         AND (claimed_until IS NULL OR claimed_until < $2)",
    )
    .bind(notice_id)
    .bind(now)
    .bind(until)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn mark_notice_sent(
    conn: &mut AnyConnection,
    notice_id: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query("UPDATE notices SET sent_at = $2, attempts = attempts + 1 WHERE notice_id = $1")
        .bind(notice_id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts a failed attempt; answers the attempts so far.
pub async fn notice_failed(conn: &mut AnyConnection, notice_id: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "UPDATE notices SET attempts = attempts + 1 WHERE notice_id = $1 RETURNING attempts",
    )
    .bind(notice_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// The full case named by `case_ref`: personal data, status and timeline; `None` when there
/// is no such case or the caller does not see it.
pub async fn find_case(
    conn: &mut AnyConnection,
    case_ref: &CaseRef,
    visibility: &Visibility,
    keyring: &Keyring,
) -> Result<Option<pb::Case>, Error> {
    let (kind, who) = visibility_params(visibility);
    let row = sqlx::query_as::<_, CaseRow>(sqlx::AssertSqlSafe(format!(
        concat!(
            "SELECT case_id, case_number, status, department, channel, category, headcount, \
             subject, description, town, village, amount_claimed_fen, registered_at, \
             complained_about, confidential, \
             (SELECT COUNT(*) FROM closed_matters m WHERE m.case_id = cases.case_id) AS closed, \
             COALESCE((SELECT MAX(r.stage) FROM review_requests r \
             WHERE r.case_id = cases.case_id), 0) AS review_stage \
             FROM cases WHERE {} = $1 AND ",
            visible_to!("$2", "$3")
        ),
        case_ref.column()
    )))
    .bind(case_ref.key())
    .bind(kind)
    .bind(who)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let summary = pb::CaseSummary::from(row.summary);
    let (petitioners, timeline) = petitioners_and_timeline(conn, &summary.case_id, keyring).await?;
    Ok(Some(pb::Case {
        finally_closed: row.closed > 0,
        review_stage: i32::try_from(row.review_stage).unwrap_or(0),
        channel: row.channel,
        petitioners,
        description: row.description,
        amount_claimed: row.amount_claimed_fen.map(|fen| pb::Money { fen }),
        collective: is_collective(summary.headcount),
        timeline,
        case_id: summary.case_id,
        case_number: summary.case_number,
        status: summary.status,
        headcount: summary.headcount,
        subject: summary.subject,
        category: summary.category,
        location: summary.location,
        registered_at: summary.registered_at,
        department: summary.department,
        complained_about: row.complained_about,
        confidential: row.confidential != 0,
    }))
}

/// A petitioner (`part` 0, in `n` order) or a timeline line (`part` 1, with its `position` as
/// `n`) of one case, read together by [`petitioners_and_timeline`].
#[derive(sqlx::FromRow)]
struct PartRow {
    part: i64,
    n: i64,
    at: i64,
    a: String,
    b: String,
    c: String,
    d: String,
}

/// The case's petitioners, in order, and its timeline in the order things happened (events of
/// the same instant in arrival order), in one statement.
async fn petitioners_and_timeline(
    conn: &mut AnyConnection,
    case_id: &str,
    keyring: &Keyring,
) -> Result<(Vec<pb::Person>, Vec<pb::TimelineEntry>), Error> {
    let rows = sqlx::query_as::<_, PartRow>(
        "SELECT CAST(0 AS BIGINT) AS part, ordinal AS n, CAST(0 AS BIGINT) AS at, \
         CAST(0 AS BIGINT) AS seq, name AS a, id_number AS b, phone AS c, '' AS d \
         FROM petitioners WHERE case_id = $1 \
         UNION ALL \
         SELECT 1, position, occurred_at, seq, event_id, kind, summary, department \
         FROM timeline WHERE case_id = $1 \
         ORDER BY part, at, seq, n",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut petitioners = Vec::new();
    let mut timeline = Vec::with_capacity(rows.len());
    for row in rows {
        if row.part == 0 {
            petitioners.push(pb::Person {
                name: keyring.open(NAME.purpose, &row.a)?,
                id_number: keyring.open(ID_NUMBER.purpose, &row.b)?,
                phone: keyring.open(PHONE.purpose, &row.c)?,
            });
        } else {
            timeline.push(pb::TimelineEntry::from(TimelineRow {
                event_id: row.a,
                occurred_at: row.at,
                kind: row.b,
                summary: row.c,
                department: row.d,
                position: row.n,
            }));
        }
    }
    Ok((petitioners, timeline))
}

#[derive(sqlx::FromRow)]
struct TimelineRow {
    event_id: String,
    occurred_at: i64,
    kind: String,
    summary: String,
    department: String,
    position: i64,
}

impl From<TimelineRow> for pb::TimelineEntry {
    fn from(row: TimelineRow) -> Self {
        Self {
            at: Some(timestamp(row.occurred_at)),
            kind: row.kind,
            summary: row.summary,
            department: row.department,
            event_id: row.event_id,
            position: u64::try_from(row.position).unwrap_or(0),
        }
    }
}

/// One page of the cases the caller sees that match `filter`, newest first, and the token of
/// the next page when there is one.
pub async fn list_cases(
    conn: &mut AnyConnection,
    filter: &CaseFilter,
    visibility: &Visibility,
) -> Result<(Vec<pb::CaseSummary>, String), Error> {
    let (kind, who) = visibility_params(visibility);
    let (after_at, after_id) = filter
        .page
        .after
        .as_ref()
        .map_or((0, ""), |t| (t.millis, t.id.as_str()));
    let rows = sqlx::query_as::<_, SummaryRow>(concat!(
        "SELECT case_id, case_number, status, department, category, headcount, subject, \
         town, village, registered_at FROM cases \
         WHERE ($1 = 0 OR status = $1) AND ($2 = 0 OR category = $2) AND ($3 = '' OR town = $3) \
         AND registered_at >= $4 AND registered_at < $5 \
         AND ($6 = 0 OR registered_at < $7 OR (registered_at = $7 AND case_id < $8)) AND ",
        visible_to!("$10", "$11"),
        " ORDER BY registered_at DESC, case_id DESC LIMIT $9"
    ))
    .bind(i64::from(filter.status))
    .bind(i64::from(filter.category))
    .bind(&filter.town)
    .bind(filter.registered_from)
    .bind(filter.registered_to)
    .bind(i64::from(filter.page.after.is_some()))
    .bind(after_at)
    .bind(after_id)
    .bind(filter.page.fetch())
    .bind(kind)
    .bind(who)
    .fetch_all(&mut *conn)
    .await?;
    let mut cases: Vec<pb::CaseSummary> = rows.into_iter().map(Into::into).collect();
    let next = filter.page.finish(&mut cases, |last| PageToken {
        millis: last.registered_at.as_ref().map_or(0, millis),
        id: last.case_id.clone(),
    });
    Ok((cases, next))
}

/// What anyone may see of a case: no personal data.
#[derive(sqlx::FromRow)]
struct SummaryRow {
    case_id: String,
    case_number: String,
    status: i32,
    category: i32,
    town: String,
    village: String,
    subject: String,
    department: String,
    registered_at: i64,
    #[sqlx(try_from = "i64")]
    headcount: u32,
}

impl From<SummaryRow> for pb::CaseSummary {
    fn from(row: SummaryRow) -> Self {
        Self {
            case_id: row.case_id,
            case_number: row.case_number,
            status: row.status,
            category: row.category,
            location: Some(pb::Location {
                town: row.town,
                village: row.village,
            }),
            subject: row.subject,
            department: row.department,
            registered_at: Some(timestamp(row.registered_at)),
            headcount: row.headcount,
        }
    }
}

/// The full case: its summary and what only the case's own view shows.
#[derive(sqlx::FromRow)]
struct CaseRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    channel: i32,
    description: String,
    amount_claimed_fen: Option<i64>,
    complained_about: String,
    confidential: i64,
    /// Whether the matter is closed for good (a count of its mark, 0 or 1), as
    /// [`review_marks`] reads it.
    closed: i64,
    /// The latest review stage asked for; 0 for none.
    review_stage: i64,
}

/// The petitioner's own view of case `case_number`, provided `query_code_hash` is its query
/// code's: status, timeline kinds, times and summaries, the latest reply. Nothing about people
/// is read. `None` alike for an unknown number, a wrong code and a case without a code.
pub async fn status_view(
    conn: &mut AnyConnection,
    case_number: &str,
    query_code_hash: &str,
) -> Result<Option<pb::CaseStatusView>, Error> {
    if query_code_hash.is_empty() {
        return Ok(None);
    }
    let row: Option<(String, i32, i64)> = sqlx::query_as(
        "SELECT case_id, status, registered_at FROM cases \
         WHERE case_number = $1 AND query_code_hash = $2",
    )
    .bind(case_number)
    .bind(query_code_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((case_id, status, registered_at)) = row else {
        return Ok(None);
    };
    let lines: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT occurred_at, kind, summary FROM timeline WHERE case_id = $1 \
         ORDER BY occurred_at, seq",
    )
    .bind(&case_id)
    .fetch_all(&mut *conn)
    .await?;
    let timeline: Vec<pb::CaseStatusLine> = lines
        .into_iter()
        .map(|(at, kind, summary)| pb::CaseStatusLine {
            at: Some(timestamp(at)),
            summary: progress::for_petitioner(&kind, &summary),
            kind,
        })
        .collect();
    let reply = timeline
        .iter()
        .rev()
        .find(|line| line.kind == yimen_proto::event_type::CASE_REPLIED);
    Ok(Some(pb::CaseStatusView {
        case_number: case_number.to_string(),
        status,
        registered_at: Some(timestamp(registered_at)),
        reply: reply.map(|l| l.summary.clone()).unwrap_or_default(),
        replied_at: reply.and_then(|l| l.at),
        timeline,
    }))
}

// ---------------------------------------------------------------------------------------------
// Review and re-review (复查 / 复核), matters closed for good (不再受理)

/// Keeps a review asked for under the id of the `case.review_requested` event that announces
/// it. The reason stays here: it is never published.
pub async fn insert_review_request(
    conn: &mut AnyConnection,
    event_id: &str,
    case_id: &str,
    stage: pb::ReviewStage,
    department: &str,
    reason: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO review_requests (event_id, case_id, stage, department, reason, \
         requested_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event_id)
    .bind(case_id)
    .bind(stage as i32 as i64)
    .bind(department)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Where `case` stands for a review: closed for good or not, the reviews asked for so far, and
/// when its latest answer (reply or review decision) was given.
pub async fn review_standing(
    conn: &mut AnyConnection,
    case: &CaseState,
) -> Result<crate::domain::review::ReviewStanding, Error> {
    let (finally_closed, _) = review_marks(conn, &case.case_id).await?;
    let stages_so_far: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM review_requests WHERE case_id = $1")
            .bind(&case.case_id)
            .fetch_one(&mut *conn)
            .await?;
    let answered_at: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(occurred_at) FROM timeline WHERE case_id = $1 AND kind IN ($2, $3)",
    )
    .bind(&case.case_id)
    .bind(yimen_proto::event_type::CASE_REPLIED)
    .bind(yimen_proto::event_type::CASE_REVIEWED)
    .fetch_one(&mut *conn)
    .await?;
    Ok(crate::domain::review::ReviewStanding {
        case_number: case.case_number.clone(),
        status: case.status,
        finally_closed,
        stages_so_far: u32::try_from(stages_so_far).unwrap_or(u32::MAX),
        answered_at,
    })
}

/// Whether the case is closed for good, and the latest review stage asked for (0: none).
pub async fn review_marks(conn: &mut AnyConnection, case_id: &str) -> Result<(bool, i32), Error> {
    let closed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM closed_matters WHERE case_id = $1")
        .bind(case_id)
        .fetch_one(&mut *conn)
        .await?;
    let stage: Option<i64> =
        sqlx::query_scalar("SELECT MAX(stage) FROM review_requests WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok((
        closed > 0,
        stage.and_then(|s| i32::try_from(s).ok()).unwrap_or(0),
    ))
}

/// Records that the case is closed for good (a re-review was decided); once however often.
pub async fn close_for_good(conn: &mut AnyConnection, case_id: &str, at: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO closed_matters (case_id, closed_at) VALUES ($1, $2) \
         ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keeps the petitioners' keyed fingerprints of a new case.
pub async fn insert_petitioner_keys(
    conn: &mut AnyConnection,
    case_id: &str,
    keys: &[String],
) -> Result<(), Error> {
    for key in keys {
        sqlx::query(
            "INSERT INTO case_petitioner_keys (case_id, petitioner_key) VALUES ($1, $2) \
             ON CONFLICT (case_id, petitioner_key) DO NOTHING",
        )
        .bind(case_id)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The matters closed for good that name a petitioner with one of `keys`, each once.
pub async fn closed_matters_of(
    conn: &mut AnyConnection,
    keys: &[String],
) -> Result<Vec<crate::domain::same_matter::ClosedMatter>, Error> {
    let mut found: Vec<crate::domain::same_matter::ClosedMatter> = Vec::new();
    for key in keys {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT c.case_number, c.category, c.subject FROM closed_matters m \
             JOIN cases c ON c.case_id = m.case_id \
             JOIN case_petitioner_keys k ON k.case_id = m.case_id \
             WHERE k.petitioner_key = $1 ORDER BY c.case_number",
        )
        .bind(key)
        .fetch_all(&mut *conn)
        .await?;
        for (case_number, category, subject) in rows {
            if found.iter().all(|m| m.case_number != case_number) {
                found.push(crate::domain::same_matter::ClosedMatter {
                    case_number,
                    category: i32::try_from(category).unwrap_or(0),
                    subject,
                });
            }
        }
    }
    Ok(found)
}

/// Keeps the new facts stated to submit a matter closed for good again as `case_id`.
pub async fn insert_new_facts(
    conn: &mut AnyConnection,
    case_id: &str,
    earlier_case_number: &str,
    text: &str,
) -> Result<(), Error> {
    sqlx::query("INSERT INTO new_facts (case_id, earlier_case_number, text) VALUES ($1, $2, $3)")
        .bind(case_id)
        .bind(earlier_case_number)
        .bind(text)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
