//! The transactional outbox: an event is written in the same transaction as the state change
//! it announces, and a relay publishes it with publisher confirms and marks it sent — so an
//! event is never lost and never published for a change that rolled back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use yimen_proto::v1::{Event, event::Payload};

use crate::backoff::Backoff;
use crate::bus::{Bus, Message, Published};
use crate::db::{Db, Tx, now_millis};

/// Writes `event` to the outbox inside the caller's transaction, with the current trace
/// context, so the consumer's spans join the trace of the call that caused the event.
pub async fn enqueue(tx: &mut Tx, event: &Event) -> Result<(), sqlx::Error> {
    crate::audit::context::note_event(event);
    let mut headers = BTreeMap::new();
    crate::telemetry::inject_current(&mut headers);
    let headers = serde_json::to_string(&headers).unwrap_or_else(|_| "{}".into());
    sqlx::query(
        "INSERT INTO outbox (event_id, routing_key, payload, headers, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&event.id)
    .bind(&event.r#type)
    .bind(crate::events::encode(event))
    .bind(headers)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
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

const BATCH: i64 = 100;
/// The relay also looks on its own this often, for rows a crashed instance left behind.
const POLL: Duration = Duration::from_secs(1);

/// An unsent event as the outbox keeps it.
#[derive(sqlx::FromRow)]
struct OutboxRow {
    seq: i64,
    event_id: String,
    routing_key: String,
    payload: Vec<u8>,
    /// The trace context, as a JSON object.
    headers: String,
}

impl From<OutboxRow> for Message {
    fn from(row: OutboxRow) -> Self {
        Self {
            id: row.event_id,
            routing_key: row.routing_key,
            body: row.payload,
            headers: serde_json::from_str(&row.headers).unwrap_or_default(),
        }
    }
}

/// Publishes one batch of unsent events, oldest first; answers how many were published.
/// Stops at the first failure so order is kept; the rest wait for the next round.
pub async fn relay_once(db: &Db, bus: &dyn Bus) -> anyhow::Result<usize> {
    let rows = sqlx::query_as::<_, OutboxRow>(
        "SELECT seq, event_id, routing_key, payload, headers FROM outbox \
         WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(db.pool())
    .await?;
    let mut published = 0;
    for row in rows {
        let seq = row.seq;
        let message = Message::from(row);
        let span = tracing::info_span!(
            "publish",
            otel.name = format!("{} publish", message.routing_key),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.operation.type = "publish",
            messaging.destination.name = crate::bus::EVENTS_EXCHANGE,
            messaging.rabbitmq.destination.routing_key = %message.routing_key,
            messaging.message.id = %message.id,
        );
        crate::telemetry::set_parent_from_headers(&span, &message.headers);
        let outcome = bus.publish(&message).instrument(span).await?;
        if outcome == Published::Unroutable {
            // Nobody subscribes to this key (yet): the event stays in the outbox table as the
            // record, and is not retried forever.
            tracing::warn!(routing_key = %message.routing_key, event_id = %message.id, "event unroutable: no queue bound");
        }
        sqlx::query("UPDATE outbox SET sent_at = $1 WHERE seq = $2")
            .bind(now_millis())
            .bind(seq)
            .execute(db.pool())
            .await?;
        published += 1;
    }
    Ok(published)
}

/// Runs the relay until `shutdown`, then drains what is already committed (bounded by the
/// caller's shutdown grace).
pub async fn run_relay(db: Db, bus: Arc<dyn Bus>, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    loop {
        match relay_once(&db, bus.as_ref()).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => backoff.reset(),
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
            _ = db.outbox_ready().notified() => {}
            _ = tokio::time::sleep(POLL) => {}
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
