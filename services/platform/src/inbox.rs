//! The consumer inbox: a consumer records the event id in the same transaction as the event's
//! effect, so a redelivered or duplicated event changes nothing the second time.

use crate::db::{Tx, now_millis};

/// Claims `event_id` inside the caller's transaction. `true`: first time — apply the effect
/// and commit. `false`: already applied — commit (or drop) and ack without doing anything.
pub async fn claim(tx: &mut Tx, event_id: &str, routing_key: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO inbox (event_id, routing_key, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(routing_key)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
