//! Mediation's store: committees, mediators, mediation files with their sessions and
//! agreements, and the performance credits, in portable SQL over PostgreSQL and SQLite. Every
//! function works on the caller's connection or transaction, so an operation and its outbox
//! events commit together.

use sqlx::AnyConnection;
use yimen_platform::error::Error;
use yimen_platform::paging::PageToken;
use yimen_platform::seal::{Keyring, SealedColumn, SealedTable};
use yimen_platform::time::{opt_timestamp, timestamp};
use yimen_proto::v1::{self as pb, Category, Linkage};

use crate::domain::committee::parse_categories;
use crate::domain::{
    Agreement, Installment, MediationFilter, MediationState, NewSession, Standing,
};

/// The parties of an agreement, who may be petitioners by name: sealed at rest.
const PAYER: SealedColumn =
    SealedColumn::new("agreement_payer", "mediation.mediations.agreement_payer");
const PAYEE: SealedColumn =
    SealedColumn::new("agreement_payee", "mediation.mediations.agreement_payee");

/// Mediation's sealed columns (`Definition::SEALED`).
pub const SEALED: &[SealedTable] = &[SealedTable {
    table: "mediations",
    keys: &["mediation_id"],
    columns: &[PAYER, PAYEE],
}];

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Internal(anyhow::anyhow!("mediation store holds {what}"))
}

// ---------------------------------------------------------------------------------------------
// Committees

/// The eight committees as the migration inserted them, in the center's order.
pub async fn committees(conn: &mut AnyConnection) -> Result<Vec<pb::Committee>, Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT code, name, categories FROM committees ORDER BY position")
            .fetch_all(&mut *conn)
            .await?;
    rows.into_iter()
        .map(|(code, name, categories)| {
            let categories = parse_categories(&categories)
                .ok_or_else(|| corrupt(format!("unknown categories of committee {code}")))?;
            Ok(pb::Committee {
                code,
                name,
                categories: categories.into_iter().map(|c| c as i32).collect(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Mediators

#[derive(sqlx::FromRow)]
struct MediatorRow {
    mediator_id: String,
    name: String,
    committee: String,
    difficulty_points: i64,
}

impl From<MediatorRow> for pb::Mediator {
    fn from(row: MediatorRow) -> Self {
        Self {
            mediator_id: row.mediator_id,
            name: row.name,
            committee: row.committee,
            // A lifetime of 10-point agreements stays far below u32::MAX.
            difficulty_points: u32::try_from(row.difficulty_points).unwrap_or(u32::MAX),
        }
    }
}

pub async fn insert_mediator(
    conn: &mut AnyConnection,
    mediator: &pb::Mediator,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO mediators (mediator_id, name, committee, difficulty_points, registered_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&mediator.mediator_id)
    .bind(&mediator.name)
    .bind(&mediator.committee)
    .bind(i64::from(mediator.difficulty_points))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn mediator(
    conn: &mut AnyConnection,
    mediator_id: &str,
) -> Result<Option<pb::Mediator>, Error> {
    let row = sqlx::query_as::<_, MediatorRow>(
        "SELECT mediator_id, name, committee, difficulty_points FROM mediators \
         WHERE mediator_id = $1",
    )
    .bind(mediator_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(pb::Mediator::from))
}

/// The mediators of `committee` (every committee when empty), earliest registered first.
pub async fn mediators(
    conn: &mut AnyConnection,
    committee: &str,
) -> Result<Vec<pb::Mediator>, Error> {
    let rows = sqlx::query_as::<_, MediatorRow>(
        "SELECT mediator_id, name, committee, difficulty_points FROM mediators \
         WHERE ($1 = '' OR committee = $1) ORDER BY registered_at, mediator_id",
    )
    .bind(committee)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(pb::Mediator::from).collect())
}

/// Records the credit of a mediator for one file and adds its points to the mediator's sum;
/// false (and nothing added) when this mediator was already credited for this file.
pub async fn credit(
    conn: &mut AnyConnection,
    mediator_id: &str,
    mediation_id: &str,
    difficulty_points: u32,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO performance (mediator_id, mediation_id, difficulty_points, recorded_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (mediator_id, mediation_id) DO NOTHING",
    )
    .bind(mediator_id)
    .bind(mediation_id)
    .bind(i64::from(difficulty_points))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE mediators SET difficulty_points = difficulty_points + $2 WHERE mediator_id = $1",
    )
    .bind(mediator_id)
    .bind(i64::from(difficulty_points))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Mediation files

/// One scheduled session of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_id: String,
    /// Unix millis.
    pub at: i64,
    pub room: String,
    /// Mediator ids, in the order they were named.
    pub mediators: Vec<String>,
}

/// A mediation file as stored, with its sessions (by time) and its agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub mediation_id: String,
    pub case_id: String,
    pub case_number: String,
    pub committee: String,
    pub linkage: Linkage,
    pub standing: Standing,
    pub category: Category,
    pub summary: String,
    pub referred_by: String,
    pub opened_at: i64,
    pub concluded_at: Option<i64>,
    pub agreement: Option<Agreement>,
    pub sessions: Vec<SessionRecord>,
}

impl FileRecord {
    /// Every mediator who sat in one of its sessions, once each, in order of first sitting.
    pub fn mediators(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for id in self.sessions.iter().flat_map(|s| &s.mediators) {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }

    pub fn page_token(&self) -> PageToken {
        PageToken {
            millis: self.opened_at,
            id: self.mediation_id.clone(),
        }
    }

    pub fn to_proto(&self) -> pb::MediationFile {
        pb::MediationFile {
            mediation_id: self.mediation_id.clone(),
            case_id: self.case_id.clone(),
            committee: self.committee.clone(),
            linkage: self.linkage as i32,
            state: self.standing.state.to_proto() as i32,
            mediators: self.mediators(),
            agreement: self.agreement.as_ref().map(Agreement::to_proto),
            opened_at: Some(timestamp(self.opened_at)),
            concluded_at: opt_timestamp(self.concluded_at),
            category: self.category as i32,
            summary: self.summary.clone(),
            referred_by: self.referred_by.clone(),
            sessions: self
                .sessions
                .iter()
                .map(|s| pb::Session {
                    at: Some(timestamp(s.at)),
                    mediators: s.mediators.clone(),
                    room: s.room.clone(),
                })
                .collect(),
            case_number: self.case_number.clone(),
        }
    }
}

macro_rules! file_select {
    () => {
        "SELECT mediation_id, case_id, case_number, committee, linkage, state, \
         court_requested_at, category, summary, referred_by, opened_at, concluded_at, \
         agreement_fen, agreement_payer, agreement_payee, agreement_terms FROM mediations "
    };
}

/// A file's own row; its sessions and installments are read by [`load_details`].
#[derive(sqlx::FromRow)]
struct FileRow {
    mediation_id: String,
    case_id: String,
    case_number: String,
    committee: String,
    #[sqlx(try_from = "i32")]
    linkage: Linkage,
    state: String,
    court_requested_at: Option<i64>,
    #[sqlx(try_from = "i32")]
    category: Category,
    summary: String,
    referred_by: String,
    opened_at: i64,
    concluded_at: Option<i64>,
    /// NULL while there is no agreement; the other agreement columns are then empty.
    agreement_fen: Option<i64>,
    agreement_payer: String,
    agreement_payee: String,
    agreement_terms: String,
}

impl FileRow {
    /// The file it records, the agreement's parties opened with `keyring`.
    fn open(self, keyring: &Keyring) -> Result<FileRecord, Error> {
        let row = self;
        let state = MediationState::parse(&row.state)
            .ok_or_else(|| corrupt(format!("unknown mediation state `{}`", row.state)))?;
        Ok(FileRecord {
            mediation_id: row.mediation_id,
            case_id: row.case_id,
            case_number: row.case_number,
            committee: row.committee,
            linkage: row.linkage,
            standing: Standing {
                state,
                court_requested: row.court_requested_at.is_some(),
            },
            category: row.category,
            summary: row.summary,
            referred_by: row.referred_by,
            opened_at: row.opened_at,
            concluded_at: row.concluded_at,
            agreement: match row.agreement_fen {
                Some(amount_fen) => Some(Agreement {
                    amount_fen,
                    payer: keyring.open(PAYER.purpose, &row.agreement_payer)?,
                    payee: keyring.open(PAYEE.purpose, &row.agreement_payee)?,
                    terms: row.agreement_terms,
                    installments: Vec::new(),
                }),
                None => None,
            },
            sessions: Vec::new(),
        })
    }
}

/// Reads a file's sessions (by time) and its agreement's installments (by due date).
async fn load_details(conn: &mut AnyConnection, file: &mut FileRecord) -> Result<(), Error> {
    let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT s.session_id, s.at, s.room, sm.mediator_id FROM sessions s \
         JOIN session_mediators sm ON sm.session_id = s.session_id \
         WHERE s.mediation_id = $1 ORDER BY s.at, s.session_id, sm.position",
    )
    .bind(&file.mediation_id)
    .fetch_all(&mut *conn)
    .await?;
    file.sessions.clear();
    for (session_id, at, room, mediator_id) in rows {
        match file.sessions.last_mut() {
            Some(last) if last.session_id == session_id => last.mediators.push(mediator_id),
            _ => file.sessions.push(SessionRecord {
                session_id,
                at,
                room,
                mediators: vec![mediator_id],
            }),
        }
    }
    if let Some(agreement) = file.agreement.as_mut() {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT due_at, fen FROM installments WHERE mediation_id = $1 ORDER BY position",
        )
        .bind(&file.mediation_id)
        .fetch_all(&mut *conn)
        .await?;
        agreement.installments = rows
            .into_iter()
            .map(|(due, amount_fen)| Installment { due, amount_fen })
            .collect();
    }
    Ok(())
}

fn files_from_rows(rows: Vec<FileRow>, keyring: &Keyring) -> Result<Vec<FileRecord>, Error> {
    rows.into_iter().map(|row| row.open(keyring)).collect()
}

/// Reads the sessions and installments of each file.
async fn with_details(
    conn: &mut AnyConnection,
    mut files: Vec<FileRecord>,
) -> Result<Vec<FileRecord>, Error> {
    for file in &mut files {
        load_details(conn, file).await?;
    }
    Ok(files)
}

/// A new OPEN file; false (nothing written) when the case already has an OPEN file.
pub async fn insert_file(conn: &mut AnyConnection, file: &FileRecord) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO mediations (mediation_id, case_id, case_number, committee, linkage, state, \
         category, summary, referred_by, opened_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(&file.mediation_id)
    .bind(&file.case_id)
    .bind(&file.case_number)
    .bind(&file.committee)
    .bind(file.linkage as i64)
    .bind(file.standing.state.as_str())
    .bind(file.category as i64)
    .bind(&file.summary)
    .bind(&file.referred_by)
    .bind(file.opened_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn file(
    conn: &mut AnyConnection,
    mediation_id: &str,
    keyring: &Keyring,
) -> Result<Option<FileRecord>, Error> {
    let rows = sqlx::query_as::<_, FileRow>(concat!(file_select!(), "WHERE mediation_id = $1"))
        .bind(mediation_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(with_details(conn, files_from_rows(rows, keyring)?)
        .await?
        .pop())
}

/// The case's OPEN file, if it has one.
pub async fn open_file_of_case(
    conn: &mut AnyConnection,
    case_id: &str,
    keyring: &Keyring,
) -> Result<Option<FileRecord>, Error> {
    let rows = sqlx::query_as::<_, FileRow>(concat!(
        file_select!(),
        "WHERE case_id = $1 AND state = 'OPEN'"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(with_details(conn, files_from_rows(rows, keyring)?)
        .await?
        .pop())
}

/// Takes the file's row lock until the transaction ends (PostgreSQL; SQLite has one writer),
/// so a change read-checked against its state is not raced by another; false when unknown.
pub async fn lock_file(conn: &mut AnyConnection, mediation_id: &str) -> Result<bool, Error> {
    let done =
        sqlx::query("UPDATE mediations SET mediation_id = mediation_id WHERE mediation_id = $1")
            .bind(mediation_id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// OPEN → the outcome's state, with the agreement and its installments when AGREED.
pub async fn conclude(
    conn: &mut AnyConnection,
    mediation_id: &str,
    state: MediationState,
    agreement: Option<&Agreement>,
    now: i64,
    keyring: &Keyring,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE mediations SET state = $2, concluded_at = $3, agreement_fen = $4, \
         agreement_payer = $5, agreement_payee = $6, agreement_terms = $7 \
         WHERE mediation_id = $1",
    )
    .bind(mediation_id)
    .bind(state.as_str())
    .bind(now)
    .bind(agreement.map(|a| a.amount_fen))
    .bind(keyring.seal(PAYER.purpose, agreement.map_or("", |a| &a.payer))?)
    .bind(keyring.seal(PAYEE.purpose, agreement.map_or("", |a| &a.payee))?)
    .bind(agreement.map_or("", |a| &a.terms))
    .execute(&mut *conn)
    .await?;
    let installments = agreement.map_or(&[][..], |a| &a.installments[..]);
    for (position, installment) in installments.iter().enumerate() {
        sqlx::query(
            "INSERT INTO installments (mediation_id, position, due_at, fen) VALUES ($1, $2, $3, $4)",
        )
        .bind(mediation_id)
        .bind(position as i64)
        .bind(installment.due)
        .bind(installment.amount_fen)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records where the court process leaves the file: the request (at `now`), or the decision.
pub async fn set_standing(
    conn: &mut AnyConnection,
    mediation_id: &str,
    standing: Standing,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE mediations SET state = $2, court_requested_at = $3 WHERE mediation_id = $1",
    )
    .bind(mediation_id)
    .bind(standing.state.as_str())
    .bind(standing.court_requested.then_some(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn insert_session(
    conn: &mut AnyConnection,
    session: &NewSession,
    now: i64,
) -> Result<(), Error> {
    let session_id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO sessions (session_id, mediation_id, at, room, scheduled_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&session_id)
    .bind(&session.mediation_id)
    .bind(session.at)
    .bind(&session.room)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for (position, mediator_id) in session.mediators.iter().enumerate() {
        sqlx::query(
            "INSERT INTO session_mediators (session_id, mediator_id, position) VALUES ($1, $2, $3)",
        )
        .bind(&session_id)
        .bind(mediator_id)
        .bind(position as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One page of files matching `filter`, oldest opened first.
pub async fn list_files(
    conn: &mut AnyConnection,
    filter: &MediationFilter,
    keyring: &Keyring,
) -> Result<(Vec<FileRecord>, String), Error> {
    let (after_at, after_id) = filter
        .page
        .after
        .as_ref()
        .map_or((0, ""), |t| (t.millis, t.id.as_str()));
    let rows = sqlx::query_as::<_, FileRow>(concat!(
        file_select!(),
        "WHERE ($1 = '' OR case_id = $1) AND ($2 = '' OR committee = $2) \
         AND ($3 = '' OR state = $3) \
         AND ($4 = 0 OR opened_at > $5 OR (opened_at = $5 AND mediation_id > $6)) \
         ORDER BY opened_at, mediation_id LIMIT $7"
    ))
    .bind(&filter.case_id)
    .bind(&filter.committee)
    .bind(filter.state.map_or("", MediationState::as_str))
    .bind(i64::from(filter.page.after.is_some()))
    .bind(after_at)
    .bind(after_id)
    .bind(filter.page.fetch())
    .fetch_all(&mut *conn)
    .await?;
    // Cut to the page first, so only the files answered have their details read.
    let mut files = files_from_rows(rows, keyring)?;
    let next = filter.page.finish(&mut files, FileRecord::page_token);
    Ok((with_details(conn, files).await?, next))
}

/// Remembers a registered case's number, and fills it into the case's files that lack it.
pub async fn remember_case_number(
    conn: &mut AnyConnection,
    case_id: &str,
    case_number: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO case_numbers (case_id, case_number) VALUES ($1, $2) \
         ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(case_id)
    .bind(case_number)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE mediations SET case_number = $2 WHERE case_id = $1 AND case_number = ''")
        .bind(case_id)
        .bind(case_number)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The number of a registered case, when mediation has heard of it.
pub async fn case_number(conn: &mut AnyConnection, case_id: &str) -> Result<Option<String>, Error> {
    Ok(
        sqlx::query_scalar("SELECT case_number FROM case_numbers WHERE case_id = $1")
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}
