//! The transactional outbox: an event is written in the same transaction as the state change
//! it announces, and a relay publishes it with publisher confirms and marks it sent — so an
//! event is never lost and never published for a change that rolled back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use yimen_proto::v1::{Event, event::Payload};

use crate::backoff::Backoff;
use crate::bus::{Bus, Message, Published};
use crate::db::{Backend, Db, Tx, now_millis};
use crate::telemetry::metrics;

/// Writes `event` to the outbox inside the caller's transaction, with the current trace
/// context, so the consumer's spans join the trace of the call that caused the event.
pub async fn enqueue(tx: &mut Tx, event: &Event) -> Result<(), sqlx::Error> {
    crate::audit::context::note_event(event);
    let mut headers = BTreeMap::new();
    crate::telemetry::inject_current(&mut headers);
    let headers = serde_json::to_string(&headers).unwrap_or_else(|_| "{}".into());
    sqlx::query(
        "INSERT INTO outbox (event_id, routing_key, case_id, payload, headers, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event.id)
    .bind(&event.r#type)
    .bind(&event.case_id)
    .bind(crate::events::encode(event))
    .bind(headers)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    tx.note_enqueued();
    Ok(())
}

/// Builds an event of `event_type` about `case_id` (empty when it is about no one case) from
/// `producer`, and writes it to the outbox inside the caller's transaction.
pub async fn publish(
    tx: &mut Tx,
    event_type: impl Into<String>,
    case_id: &str,
    producer: &str,
    payload: Payload,
) -> Result<(), sqlx::Error> {
    enqueue(
        tx,
        &crate::events::new_event(event_type, case_id, producer, payload),
    )
    .await
}

/// How many events wait to be published; for readiness detail and tests.
pub async fn pending(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(db.pool())
        .await
}

/// How many events wait to be published, counting no further than `limit`: its cost is
/// bounded however long the backlog grows (for the overload check, `platform::overload`).
pub async fn pending_up_to(db: &Db, limit: u64) -> Result<u64, sqlx::Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE sent_at IS NULL LIMIT $1) AS unsent",
    )
    .bind(limit)
    .fetch_one(db.pool())
    .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The backlog as `yimen.outbox.pending` and `yimen.outbox.oldest_age` report it: how many
/// events wait to be published, and how long the oldest has waited (zero when none). Both read
/// the unsent rows' index.
pub async fn backlog(db: &Db) -> Result<(u64, Duration), sqlx::Error> {
    let (pending, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1) \
         FROM outbox WHERE sent_at IS NULL",
    )
    .fetch_one(db.pool())
    .await?;
    let age = oldest.map_or(0, |created| now_millis().saturating_sub(created));
    Ok((
        u64::try_from(pending).unwrap_or(0),
        Duration::from_millis(u64::try_from(age).unwrap_or(0)),
    ))
}

/// How often the relay reads its backlog for the metrics.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Rows one relay claims and publishes at once.
const BATCH: usize = 200;
/// How long a claim holds its rows unless renewed: a relay publishing renews its claim every
/// [`RENEW_EVERY`] (a publish may wait up to 30 s for its confirm). Past it, a relay that died
/// holding them is taken for gone and another publishes them again (consumers absorb the
/// repeat), so a killed process delays its cases' events by this much at most.
const LEASE: Duration = Duration::from_secs(10);
/// How often a relay still publishing renews its claim.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// The relay also looks on its own this often, for rows a crashed instance left behind.
const POLL: Duration = Duration::from_secs(1);
/// How long a woken relay lets further commits gather before it looks: under load one round
/// then claims and publishes the events of many commits (each round costs a look, a claim
/// transaction and a mark, whatever it carries), at the price of this much latency.
const GATHER: Duration = Duration::from_millis(2);

/// The delays before a failed event is tried again: doubling per attempt, up to the cap.
fn retry_delays() -> Backoff {
    Backoff::default()
}

/// An unsent event as the outbox keeps it.
#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    event_id: String,
    routing_key: String,
    case_id: String,
    payload: Vec<u8>,
    /// The trace context, as a JSON object.
    headers: String,
    attempts: i64,
}

impl OutboxRow {
    fn message(&self) -> Message {
        Message {
            id: self.event_id.clone(),
            routing_key: self.routing_key.clone(),
            body: self.payload.clone(),
            headers: serde_json::from_str(&self.headers).unwrap_or_default(),
        }
    }
}

/// Claims the oldest unsent rows nobody holds, at most [`BATCH`], for `claimant` until
/// `until`; oldest first. A row is left out while an earlier row of its case is held (by
/// another relay's claim, or waiting to be retried), so a case's events are published in
/// order whichever relay holds them.
///
/// On PostgreSQL claims are taken one at a time (a transaction-scoped advisory lock per
/// schema): a claim must see the claims before it to hold back a case's later rows, which
/// row locks alone cannot give (`SKIP LOCKED` would pass over an earlier row another relay
/// is claiming and take the later one). A claim is one short statement; publishing, the
/// slow part, runs in parallel. `SKIP LOCKED` keeps a claim from waiting on rows whose
/// outcome another relay is writing. SQLite has one writer, so each claim is whole already.
async fn claim(db: &Db, claimant: &str, now: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
    macro_rules! claim_sql {
        ($lock:literal) => {
            concat!(
                "UPDATE outbox SET claimed_by = $1, claimed_until = $2 WHERE seq IN (",
                "SELECT o.seq FROM outbox o WHERE o.sent_at IS NULL ",
                "AND (o.claimed_until IS NULL OR o.claimed_until < $3) ",
                "AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.case_id = o.case_id ",
                "AND e.sent_at IS NULL AND e.seq < o.seq AND e.claimed_until >= $3) ",
                "ORDER BY o.seq LIMIT $4",
                $lock,
                ") RETURNING seq, event_id, routing_key, case_id, payload, headers, attempts"
            )
        };
    }
    let until = now.saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX));
    let claim = |sql| {
        sqlx::query_as::<_, OutboxRow>(sql)
            .bind(claimant)
            .bind(until)
            .bind(now)
            .bind(BATCH as i64)
    };
    let mut rows = match db.backend() {
        Backend::Postgres => {
            // A wake-up whose events another relay took, and the poll, find nothing to claim:
            // a plain read answers those, instead of a claim's transaction and lock.
            let claimable: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL \
                 AND (claimed_until IS NULL OR claimed_until < $1))",
            )
            .bind(now)
            .fetch_one(db.pool())
            .await?;
            if !claimable {
                return Ok(Vec::new());
            }
            let mut tx = db.begin().await?;
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext('yimen.outbox.' || current_schema()))",
            )
            .execute(&mut *tx)
            .await?;
            let rows = claim(claim_sql!(" FOR UPDATE SKIP LOCKED"))
                .fetch_all(&mut *tx)
                .await?;
            // Not `Db::commit`: a claim is no business change to audit or announce.
            tx.commit().await?;
            rows
        }
        // One statement is one transaction already.
        Backend::Sqlite => claim(claim_sql!("")).fetch_all(db.pool()).await?,
    };
    rows.sort_by_key(|row| row.seq);
    Ok(rows)
}

/// What one round of the relay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Rows claimed.
    pub claimed: usize,
    /// Events published (and marked sent), unroutable ones among them.
    pub published: usize,
    /// Events whose publish failed: each waits out its retry delay.
    pub failed: usize,
    /// Events not tried because an earlier event of their case failed.
    pub held_back: usize,
}

/// Claims a batch of unsent events, publishes it and marks what was published sent in one
/// statement. The events of one case go out one after another (each once the one before it
/// is confirmed), different cases' together. A failed publish stays unsent and is retried
/// after a delay that grows with its attempts; the later events of its case are released
/// unpublished and wait behind it.
pub async fn relay_once(db: &Db, bus: &dyn Bus) -> anyhow::Result<Round> {
    let claimant = uuid::Uuid::now_v7().to_string();
    let rows = claim(db, &claimant, now_millis()).await?;
    let mut round = Round {
        claimed: rows.len(),
        ..Round::default()
    };
    if rows.is_empty() {
        return Ok(round);
    }
    // Each case's rows, oldest first; the cases in the order of their first row.
    let mut cases: Vec<Vec<usize>> = Vec::new();
    let mut case_of: HashMap<&str, usize> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        let case = *case_of.entry(row.case_id.as_str()).or_insert_with(|| {
            cases.push(Vec::new());
            cases.len() - 1
        });
        cases[case].push(index);
    }
    // (case, row) of each failed publish; a case fails at most once a round.
    let mut failed: Vec<(usize, usize)> = Vec::new();
    let mut stopped = vec![false; cases.len()];
    let publishing = async {
        // Wave n publishes the n-th row of every case still going.
        for wave in 0.. {
            let batch: Vec<(usize, usize)> = cases
                .iter()
                .enumerate()
                .filter(|(case, _)| !stopped[*case])
                .filter_map(|(case, indices)| indices.get(wave).map(|&index| (case, index)))
                .collect();
            if batch.is_empty() {
                break;
            }
            let messages: Vec<Message> = batch.iter().map(|&(_, i)| rows[i].message()).collect();
            let exchange = format!("{}{}", bus.prefix(), crate::bus::EVENTS_EXCHANGE);
            let spans: Vec<tracing::Span> = messages
                .iter()
                .map(|message| publish_span(message, &exchange))
                .collect();
            let started = std::time::Instant::now();
            let outcomes = bus.publish_batch(&messages).await;
            // The batch's messages are in flight together: each took as long as the batch.
            let elapsed = started.elapsed();
            for ((&(case, index), outcome), span) in batch.iter().zip(outcomes).zip(spans) {
                let _entered = span.enter();
                metrics::record_publish(
                    db.service(),
                    &exchange,
                    &rows[index].routing_key,
                    outcome.is_ok(),
                    elapsed,
                );
                match outcome {
                    Ok(Published::Routed) => round.published += 1,
                    Ok(Published::Unroutable) => {
                        // Nobody subscribes to this key (yet): the event stays in the outbox
                        // table as the record, and is not retried forever.
                        tracing::warn!(routing_key = %rows[index].routing_key, event_id = %rows[index].event_id, "event unroutable: no queue bound");
                        round.published += 1;
                    }
                    Err(e) => {
                        tracing::warn!(routing_key = %rows[index].routing_key, event_id = %rows[index].event_id, error = %e, "publish failed; the event and its case's later ones wait for a retry");
                        stopped[case] = true;
                        failed.push((case, index));
                    }
                }
            }
        }
    };
    tokio::select! {
        () = publishing => {}
        never = renew_claim(db, &claimant) => match never {},
    }
    // The rows of a stopped case after the one that failed: never tried.
    let held: Vec<usize> = failed
        .iter()
        .flat_map(|&(case, failed_row)| {
            cases[case]
                .iter()
                .copied()
                .filter(move |&index| index > failed_row)
        })
        .collect();
    round.failed = failed.len();
    round.held_back = held.len();
    if !failed.is_empty() {
        release_failures(db, &claimant, &rows, &failed, &held).await?;
    }
    if round.published > 0 {
        // What is still claimed by this round is exactly what was published; the range of
        // the batch's rows keeps the statement on the primary key.
        let first = rows.first().map_or(0, |row| row.seq);
        let last = rows.last().map_or(0, |row| row.seq);
        sqlx::query(
            "UPDATE outbox SET sent_at = $1, claimed_by = NULL, claimed_until = NULL \
             WHERE seq BETWEEN $2 AND $3 AND claimed_by = $4",
        )
        .bind(now_millis())
        .bind(first)
        .bind(last)
        .bind(&claimant)
        .execute(db.pool())
        .await?;
    }
    Ok(round)
}

/// Extends `claimant`'s lease every [`RENEW_EVERY`] for as long as it is polled (while its
/// batch is being published); never ends.
async fn renew_claim(db: &Db, claimant: &str) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let until = now_millis().saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(0));
        let renewed = sqlx::query(
            "UPDATE outbox SET claimed_until = $1 WHERE claimed_by = $2 AND sent_at IS NULL",
        )
        .bind(until)
        .bind(claimant)
        .execute(db.pool())
        .await;
        if let Err(e) = renewed {
            tracing::warn!(service = db.service(), error = %e, "could not renew the relay's claim");
        }
    }
}

/// Gives the failed rows their retry time (a lease of nobody's, which also holds back their
/// cases' later rows) and releases the rows held back behind them.
async fn release_failures(
    db: &Db,
    claimant: &str,
    rows: &[OutboxRow],
    failed: &[(usize, usize)],
    held: &[usize],
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    for &(_, index) in failed {
        let row = &rows[index];
        let attempts = row.attempts.saturating_add(1);
        let delay = retry_delays().after(u32::try_from(attempts).unwrap_or(u32::MAX));
        let retry_at = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        sqlx::query(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = $1, attempts = $2 \
             WHERE seq = $3 AND claimed_by = $4",
        )
        .bind(retry_at)
        .bind(attempts)
        .bind(row.seq)
        .bind(claimant)
        .execute(db.pool())
        .await?;
    }
    for &index in held {
        sqlx::query(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL \
             WHERE seq = $1 AND claimed_by = $2",
        )
        .bind(rows[index].seq)
        .bind(claimant)
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

/// The producer span of one event's publish, in the trace of the call that wrote it; it
/// lasts until the event's confirm (or failure) is in.
fn publish_span(message: &Message, exchange: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "publish",
        otel.name = format!("{} publish", message.routing_key),
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "publish",
        messaging.destination.name = exchange,
        messaging.rabbitmq.destination.routing_key = %message.routing_key,
        messaging.message.id = %message.id,
    );
    crate::telemetry::set_parent_from_headers(&span, &message.headers);
    span
}

/// Runs the relay until `shutdown`: woken by every commit (`Db::commit`), it lets the commits
/// of the next [`GATHER`] join, then claims and publishes batches while there is work, and
/// also looks on its own now and then for rows another instance left or whose retry is due.
/// At shutdown it drains what is already committed (bounded by the caller's shutdown grace).
/// While metrics are collected it reads the backlog every few seconds ([`backlog`]), and its
/// store's pool is watched.
pub async fn run_relay(db: Db, bus: Arc<dyn Bus>, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    metrics::watch_pool(db.service(), db.pool());
    let mut looked: Option<Instant> = None;
    loop {
        if metrics::enabled() && looked.is_none_or(|at| at.elapsed() >= LOOK_EVERY) {
            looked = Some(Instant::now());
            match backlog(&db).await {
                Ok((pending, oldest)) => metrics::record_outbox(db.service(), pending, oldest),
                Err(e) => {
                    tracing::debug!(service = db.service(), error = %e, "outbox backlog not read")
                }
            }
        }
        let mut wait = POLL;
        match relay_once(&db, bus.as_ref()).await {
            Ok(round) if round.failed == 0 && round.claimed == BATCH => {
                backoff.reset();
                continue;
            }
            Ok(round) if round.failed > 0 && round.published == 0 => {
                // Nothing went through (the broker is away, most likely): wait before
                // claiming more, rather than run through the whole backlog failing.
                if backoff.wait(&shutdown).await {
                    continue;
                }
            }
            Ok(round) => {
                backoff.reset();
                if round.failed > 0 {
                    // Retry as soon as the first failed event is due.
                    wait = retry_delays().after(1).min(POLL);
                }
            }
            Err(e) => {
                tracing::warn!(service = db.service(), error = %e, "outbox relay failed; retrying");
                if backoff.wait(&shutdown).await {
                    continue;
                }
            }
        }
        if shutdown.is_cancelled() {
            // One last pass for events committed by in-flight work.
            if let Err(e) = relay_once(&db, bus.as_ref()).await {
                tracing::warn!(service = db.service(), error = %e, "outbox not drained at shutdown; it will be published on the next start");
            }
            return;
        }
        tokio::select! {
            _ = db.outbox_ready().notified() => {
                tokio::select! {
                    _ = tokio::time::sleep(GATHER) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Rows still waiting (with their routing keys), oldest first: used by tests and operators.
pub async fn unsent_routing_keys(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT routing_key FROM outbox WHERE sent_at IS NULL ORDER BY seq")
        .fetch_all(db.pool())
        .await
}
