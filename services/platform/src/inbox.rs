//! The consumer inbox: a consumer records the event id in the same transaction as the event's
//! effect, so a redelivered or duplicated event changes nothing the second time.

use std::collections::HashSet;

use yimen_proto::v1::Event;

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

/// How many events one statement of [`claim_all`] claims (three parameters each).
const CLAIMS_PER_STATEMENT: usize = 500;

/// [`claim`] for several events at once, a statement per five hundred; answers for each
/// whether it is new: applied neither before nor earlier in `events`.
pub async fn claim_all(tx: &mut Tx, events: &[&Event]) -> Result<Vec<bool>, sqlx::Error> {
    let now = now_millis();
    let mut claimed: HashSet<String> = HashSet::with_capacity(events.len());
    for chunk in events.chunks(CLAIMS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO inbox (event_id, routing_key, received_at) VALUES {} \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            crate::db::values_rows(chunk.len(), 3)
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            query = query
                .bind(event.id.clone())
                .bind(event.r#type.clone())
                .bind(now);
        }
        claimed.extend(query.fetch_all(&mut **tx).await?);
    }
    // A repeat within `events` was claimed by its first copy only.
    Ok(events.iter().map(|e| claimed.remove(&e.id)).collect())
}
