//! The audit trail, written once for every service: each state-changing call (who, in which
//! role, which method, which objects, what came of it) and each applied event is an entry in
//! the service's own store, hash-chained so that an entry altered, inserted or deleted by hand
//! is found and named by [`verify`].
//!
//! - **Atomic with the change.** A call's entry is INSERTed by [`Db::commit`] inside the
//!   transaction it records ([`context`]: the server layer sets a task-local call context, the
//!   auth layer names the caller, `outbox::enqueue` notes the events written); an applied
//!   event's entry by the consumer loop in the inbox transaction. A call that changes nothing
//!   (refused, invalid, not found) is recorded by the layer, outside any transaction.
//! - **Chained without serialising writers.** Writers only INSERT. One chainer per store
//!   ([`run_chainer`], under the lock of the `audit_head` row, so replicas take turns) gives
//!   committed entries their position and `hash = H(previous hash || canonical entry)` in the
//!   order it finds them: an entry that commits late is chained later, never skipped.
//!   SHA-256, or SM3 (`audit.hash = "sm3"`); each hash names its algorithm (`sm3:…`).
//! - **Anchored.** The chainer publishes its head as `audit.anchored` every
//!   `audit.anchor_every_secs` when it moved; the service bound to it (analysis) keeps the
//!   anchors, so a chain cut back behind its last anchor is found too.
//!
//! Entries carry no personal data: subjects are token subjects (operators, systems), objects
//! are ids and routing keys, never request bodies.
//!
//! [`Db::commit`]: crate::db::Db::commit

pub mod api;
pub mod context;

use serde::{Deserialize, Serialize};
use sqlx::Any;
use sqlx::any::AnyArguments;
use tokio_util::sync::CancellationToken;
use yimen_proto::v1::{
    Anchor, AuditAnchored, AuditEntry, ChainProblem, ChainProblemKind, ChainReport, Event,
    event::Payload,
};

use crate::db::{Db, Tx, now_millis};

pub use context::{AuditLayer, is_state_changing, note_case, note_object};

/// `[audit]` settings section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The chain's hash: `sha256`, or `sm3` where 国密 algorithms are required.
    pub hash: HashAlgorithm,
    /// How often the chain head is published (`audit.anchored`) when it moved.
    pub anchor_every_secs: u64,
    /// How often the chainer looks for new entries.
    pub chain_every_millis: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            hash: HashAlgorithm::Sha256,
            anchor_every_secs: 60,
            chain_every_millis: 1000,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgorithm {
    Sha256,
    Sm3,
}

impl HashAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sm3 => "sm3",
        }
    }

    /// The algorithm a stored hash names (`sha256:…`, `sm3:…`).
    fn of(hash: &str) -> Option<HashAlgorithm> {
        match hash.split_once(':')?.0 {
            "sha256" => Some(HashAlgorithm::Sha256),
            "sm3" => Some(HashAlgorithm::Sm3),
            _ => None,
        }
    }

    /// `<name>:<hex of H(previous || entry)>`.
    fn chain(self, previous: &str, entry: &[u8]) -> String {
        let digest = match self {
            HashAlgorithm::Sha256 => {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                h.update(previous.as_bytes());
                h.update(entry);
                hex::encode(h.finalize())
            }
            HashAlgorithm::Sm3 => {
                use sm3::Digest;
                let mut h = sm3::Sm3::new();
                h.update(previous.as_bytes());
                h.update(entry);
                hex::encode(h.finalize())
            }
        };
        format!("{}:{digest}", self.name())
    }
}

/// What `kind` an entry is.
pub const CALL: &str = "call";
pub const EVENT: &str = "event";
/// The outcome of an applied event.
pub const APPLIED: &str = "applied";

/// An entry about to be written (unchained).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEntry {
    pub kind: &'static str,
    pub action: String,
    pub subject: String,
    pub role: String,
    pub binding: String,
    pub outcome: String,
    pub case_ids: Vec<String>,
    pub objects: Vec<String>,
}

impl NewEntry {
    /// The entry of an applied event: the producer acted, on the event's case.
    pub fn event(event: &Event) -> NewEntry {
        NewEntry {
            kind: EVENT,
            action: event.r#type.clone(),
            subject: event.producer.clone(),
            role: String::new(),
            binding: String::new(),
            outcome: APPLIED.into(),
            case_ids: (!event.case_id.is_empty())
                .then(|| event.case_id.clone())
                .into_iter()
                .collect(),
            objects: vec![format!("event:{}", event.id)],
        }
    }

    /// Writes the entry, unchained, through `executor` (a transaction or the pool).
    pub async fn insert<'e>(
        &self,
        executor: impl sqlx::Executor<'e, Database = Any>,
    ) -> Result<(), sqlx::Error> {
        Self::insert_query(std::slice::from_ref(self))
            .execute(executor)
            .await?;
        Ok(())
    }

    /// Writes `entries`, unchained, in the caller's transaction: a statement per hundred.
    pub async fn insert_all(tx: &mut Tx, entries: &[NewEntry]) -> Result<(), sqlx::Error> {
        for chunk in entries.chunks(ENTRIES_PER_STATEMENT) {
            Self::insert_query(chunk).execute(&mut **tx).await?;
        }
        Ok(())
    }

    fn insert_query(entries: &[NewEntry]) -> sqlx::query::Query<'static, Any, AnyArguments> {
        let sql = format!(
            "INSERT INTO audit_log (entry_id, recorded_at, kind, action, subject, role, binding, \
             outcome, case_ids, objects) VALUES {}",
            crate::db::values_rows(entries.len(), 10)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let now = now_millis();
        for entry in entries {
            query = query
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(now)
                .bind(entry.kind)
                .bind(entry.action.clone())
                .bind(entry.subject.clone())
                .bind(entry.role.clone())
                .bind(entry.binding.clone())
                .bind(entry.outcome.clone())
                .bind(entry.case_ids.join(" "))
                .bind(entry.objects.join(" "));
        }
        query
    }
}

/// How many entries one statement of [`NewEntry::insert_all`] writes (ten parameters each).
const ENTRIES_PER_STATEMENT: usize = 100;

/// Records, in the consumer's transaction, that `event` was applied; an `audit.anchored`
/// event is kept as an anchor instead. Answers whether the event is the platform's alone (an
/// anchor), so the service's handler does not see it.
pub async fn record_event(tx: &mut Tx, event: &Event) -> Result<bool, sqlx::Error> {
    Ok(record_events(tx, &[event]).await?[0])
}

/// [`record_event`] for several events in one transaction, their entries in one statement;
/// answers for each whether it was an anchor.
pub async fn record_events(tx: &mut Tx, events: &[&Event]) -> Result<Vec<bool>, sqlx::Error> {
    let mut anchors = Vec::with_capacity(events.len());
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        if let Some(Payload::AuditAnchored(AuditAnchored {
            anchor: Some(anchor),
        })) = &event.payload
        {
            sqlx::query(
                "INSERT INTO audit_anchors (service, position, hash, anchored_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (service, position) DO NOTHING",
            )
            .bind(&anchor.service)
            .bind(anchor.position as i64)
            .bind(&anchor.hash)
            .bind(anchor.at.as_ref().map_or(0, crate::time::millis))
            .execute(&mut **tx)
            .await?;
            anchors.push(true);
        } else {
            entries.push(NewEntry::event(event));
            anchors.push(false);
        }
    }
    NewEntry::insert_all(tx, &entries).await?;
    Ok(anchors)
}

/// An entry as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    entry_id: String,
    recorded_at: i64,
    kind: String,
    action: String,
    subject: String,
    role: String,
    binding: String,
    outcome: String,
    case_ids: String,
    objects: String,
    position: Option<i64>,
    hash: Option<String>,
}

const COLUMNS: &str = "entry_id, recorded_at, kind, action, subject, role, binding, \
                       outcome, case_ids, objects, position, hash";

impl Row {
    /// The bytes the hash covers: every field, each length-prefixed, with the position.
    fn canonical(&self, position: i64) -> Vec<u8> {
        let position = position.to_string();
        let recorded_at = self.recorded_at.to_string();
        let fields: [&str; 11] = [
            &position,
            &self.entry_id,
            &recorded_at,
            &self.kind,
            &self.action,
            &self.subject,
            &self.role,
            &self.binding,
            &self.outcome,
            &self.case_ids,
            &self.objects,
        ];
        let mut out = Vec::new();
        for field in fields {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// Whether its stored hash is what its content chained onto `previous` gives.
    fn verifies(&self, previous: &str) -> bool {
        let (Some(position), Some(hash)) = (self.position, self.hash.as_deref()) else {
            return false;
        };
        HashAlgorithm::of(hash)
            .is_some_and(|alg| alg.chain(previous, &self.canonical(position)) == hash)
    }

    fn into_entry(self, service: &str) -> AuditEntry {
        let split = |s: &str| s.split_whitespace().map(str::to_string).collect();
        AuditEntry {
            position: self.position.unwrap_or(0).max(0) as u64,
            at: Some(crate::time::timestamp(self.recorded_at)),
            service: service.into(),
            case_ids: split(&self.case_ids),
            objects: split(&self.objects),
            kind: self.kind,
            action: self.action,
            subject: self.subject,
            role: self.role,
            binding: self.binding,
            outcome: self.outcome,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Head {
    position: i64,
    hash: String,
    anchored_position: i64,
    anchored_at: i64,
}

async fn head<'e>(executor: impl sqlx::Executor<'e, Database = Any>) -> Result<Head, sqlx::Error> {
    sqlx::query_as(
        "SELECT position, hash, anchored_position, anchored_at FROM audit_head WHERE id = 1",
    )
    .fetch_one(executor)
    .await
}

/// How many entries one chaining transaction takes.
const CHAIN_BATCH: i64 = 500;

/// Chains what is committed and unchained, oldest first, and anchors the head when due;
/// answers how many entries it chained. One chainer at a time per store: the first statement
/// takes the head row's lock (PostgreSQL) or the database's write lock (SQLite).
pub async fn chain_once(db: &Db, config: &AuditConfig) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE audit_head SET position = position WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let mut head = head(&mut *tx).await?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE position IS NULL \
         ORDER BY recorded_at, entry_id LIMIT $1"
    )))
    .bind(CHAIN_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let chained = rows.len();
    let mut links = Vec::with_capacity(chained);
    for row in rows {
        let position = head.position + 1;
        let hash = config.hash.chain(&head.hash, &row.canonical(position));
        links.push((position, hash.clone(), row.entry_id));
        head.position = position;
        head.hash = hash;
    }
    for chunk in links.chunks(LINKS_PER_STATEMENT) {
        set_links(&mut tx, chunk).await?;
    }
    let now = now_millis();
    let due = now - head.anchored_at >= (config.anchor_every_secs as i64).saturating_mul(1000);
    let anchor = due && head.position > head.anchored_position;
    if anchor {
        crate::outbox::publish(
            &mut tx,
            yimen_proto::event_type::AUDIT_ANCHORED,
            "",
            db.service(),
            Payload::AuditAnchored(AuditAnchored {
                anchor: Some(Anchor {
                    service: db.service().into(),
                    position: head.position as u64,
                    hash: head.hash.clone(),
                    at: Some(crate::time::timestamp(now)),
                }),
            }),
        )
        .await?;
        head.anchored_position = head.position;
        head.anchored_at = now;
    }
    if chained > 0 || anchor {
        sqlx::query(
            "UPDATE audit_head SET position = $1, hash = $2, anchored_position = $3, \
             anchored_at = $4 WHERE id = 1",
        )
        .bind(head.position)
        .bind(&head.hash)
        .bind(head.anchored_position)
        .bind(head.anchored_at)
        .execute(&mut *tx)
        .await?;
        db.commit(tx).await?;
    }
    Ok(chained)
}

/// How many entries one statement of [`set_links`] writes (three parameters each).
const LINKS_PER_STATEMENT: usize = 100;

/// Writes the position and hash of each `(position, hash, entry_id)` in one statement, not a
/// statement an entry: chaining costs the store a round trip per hundred entries.
async fn set_links(tx: &mut Tx, links: &[(i64, String, String)]) -> Result<(), sqlx::Error> {
    // `column1..3` name the VALUES columns in both dialects.
    let sql = format!(
        "UPDATE audit_log SET position = v.column1, hash = v.column2 FROM (VALUES {}) AS v \
         WHERE audit_log.entry_id = v.column3",
        crate::db::values_rows(links.len(), 3)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (position, hash, entry_id) in links {
        query = query.bind(*position).bind(hash).bind(entry_id);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Chains and anchors until `shutdown`, then once more for what in-flight work committed.
pub async fn run_chainer(db: Db, config: AuditConfig, shutdown: CancellationToken) {
    let every = std::time::Duration::from_millis(config.chain_every_millis.max(10));
    loop {
        match chain_once(&db, &config).await {
            Ok(n) if n as i64 == CHAIN_BATCH => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(
                    service = db.service(),
                    error = format!("{e:#}"),
                    "audit chainer failed; retrying"
                )
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// What [`verify`] checks beyond the store itself: the latest anchor of this service that
/// another service kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAnchor {
    pub position: i64,
    pub hash: String,
}

/// How many positions one verification query reads.
const VERIFY_BATCH: i64 = 1000;

/// Walks the chain from position 1 and reports the first entry that is altered (its hash is
/// not what its content and the previous hash give), inserted (a second row at a position, or
/// one past the recorded head) or deleted (a gap), a chain shorter than its head, and an
/// anchored position the chain no longer holds with the anchored hash.
pub async fn verify(db: &Db, anchor: Option<&KnownAnchor>) -> anyhow::Result<ChainReport> {
    let head = head(db.pool()).await?;
    let unchained: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE position IS NULL")
            .fetch_one(db.pool())
            .await?;
    let mut report = ChainReport {
        service: db.service().into(),
        head_position: head.position.max(0) as u64,
        head_hash: head.hash.clone(),
        unchained: unchained.max(0) as u64,
        anchor_checked: anchor.is_some(),
        anchored_position: anchor.map_or(0, |a| a.position.max(0) as u64),
        ..ChainReport::default()
    };
    let problem = |position: i64, kind: ChainProblemKind, detail: String| ChainProblem {
        position: position.max(0) as u64,
        kind: kind as i32,
        detail,
    };
    let mut expected = 1i64;
    let mut previous = String::new();
    let mut anchored_hash_seen = None;
    // Rows before position 1 were never written by the chainer.
    let stray: Option<i64> =
        sqlx::query_scalar("SELECT MIN(position) FROM audit_log WHERE position < 1")
            .fetch_one(db.pool())
            .await?;
    if let Some(p) = stray {
        report.problem = Some(problem(
            p,
            ChainProblemKind::Inserted,
            format!("an entry at position {p}, before the chain's first"),
        ));
        return Ok(report);
    }
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM audit_log")
        .fetch_one(db.pool())
        .await?;
    let mut from = 0i64;
    while from < last {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log WHERE position > $1 AND position <= $2 \
             ORDER BY position, entry_id"
        )))
        .bind(from)
        .bind(from + VERIFY_BATCH)
        .fetch_all(db.pool())
        .await?;
        from += VERIFY_BATCH;
        let mut i = 0;
        while i < rows.len() {
            let position = rows[i].position.unwrap_or(0);
            let group: Vec<&Row> = rows[i..]
                .iter()
                .take_while(|r| r.position == Some(position))
                .collect();
            i += group.len();
            if position > head.position {
                report.problem = Some(problem(
                    position,
                    ChainProblemKind::Inserted,
                    format!(
                        "an entry at position {position}, past the chain's head at {}",
                        head.position
                    ),
                ));
                return Ok(report);
            }
            if position > expected {
                let missing = if position - 1 == expected {
                    format!("the entry at position {expected} is missing")
                } else {
                    format!(
                        "the entries at positions {expected}..{} are missing",
                        position - 1
                    )
                };
                report.problem = Some(problem(expected, ChainProblemKind::Deleted, missing));
                return Ok(report);
            }
            let genuine: Vec<&&Row> = group.iter().filter(|r| r.verifies(&previous)).collect();
            if group.len() > 1 {
                let forged = group
                    .iter()
                    .find(|r| !r.verifies(&previous))
                    .unwrap_or(&group[group.len() - 1]);
                report.problem = Some(problem(
                    position,
                    ChainProblemKind::Inserted,
                    format!(
                        "{} entries at position {position}; entry {} is not the chained one",
                        group.len(),
                        forged.entry_id
                    ),
                ));
                return Ok(report);
            }
            let Some(row) = genuine.first() else {
                report.problem = Some(problem(
                    position,
                    ChainProblemKind::Altered,
                    format!(
                        "entry {} ({}) does not match its hash",
                        group[0].entry_id, group[0].action
                    ),
                ));
                return Ok(report);
            };
            previous = row.hash.clone().unwrap_or_default();
            if anchor.is_some_and(|a| a.position == position) {
                anchored_hash_seen = Some(previous.clone());
            }
            report.entries_checked += 1;
            expected += 1;
        }
    }
    let end = expected - 1;
    if end < head.position {
        report.problem = Some(problem(
            expected,
            ChainProblemKind::MissingTail,
            format!(
                "the chain ends at position {end} but its head is at {}",
                head.position
            ),
        ));
        return Ok(report);
    }
    if end > 0 && previous != head.hash {
        report.problem = Some(problem(
            end,
            ChainProblemKind::Altered,
            format!("the head's hash does not match the entry at position {end}"),
        ));
        return Ok(report);
    }
    if let Some(anchor) = anchor {
        match anchored_hash_seen {
            None => {
                report.problem = Some(problem(
                    end + 1,
                    ChainProblemKind::MissingTail,
                    format!(
                        "position {} was anchored but the chain ends at {end}",
                        anchor.position
                    ),
                ));
            }
            Some(hash) if hash != anchor.hash => {
                report.problem = Some(problem(
                    anchor.position,
                    ChainProblemKind::Altered,
                    format!(
                        "the entry at anchored position {} is not the one anchored",
                        anchor.position
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(report)
}

/// The entries naming `case_id`, oldest first, a page at a time.
pub async fn list_for_case(
    db: &Db,
    case_id: &str,
    page: &crate::paging::Page,
) -> anyhow::Result<(Vec<AuditEntry>, String)> {
    let (after_millis, after_id) = page
        .after
        .as_ref()
        .map_or((i64::MIN, String::new()), |t| (t.millis, t.id.clone()));
    // case_id is a checked UUID: no LIKE wildcard in it.
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_log WHERE case_ids LIKE $1 \
         AND (recorded_at > $2 OR (recorded_at = $2 AND entry_id > $3)) \
         ORDER BY recorded_at, entry_id LIMIT $4"
    )))
    .bind(format!("%{case_id}%"))
    .bind(after_millis)
    .bind(after_id)
    .bind(page.fetch())
    .fetch_all(db.pool())
    .await?;
    let mut rows = rows;
    let next = page.finish(&mut rows, |r| crate::paging::PageToken {
        millis: r.recorded_at,
        id: r.entry_id.clone(),
    });
    Ok((
        rows.into_iter()
            .map(|r| r.into_entry(db.service()))
            .collect(),
        next,
    ))
}

/// The latest anchor of `service` this store keeps.
pub async fn latest_anchor(db: &Db, service: &str) -> Result<Option<Anchor>, sqlx::Error> {
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT position, hash, anchored_at FROM audit_anchors WHERE service = $1 \
         ORDER BY position DESC LIMIT 1",
    )
    .bind(service)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(position, hash, at)| Anchor {
        service: service.into(),
        position: position.max(0) as u64,
        hash,
        at: Some(crate::time::timestamp(at)),
    }))
}
