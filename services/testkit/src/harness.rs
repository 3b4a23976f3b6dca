//! What every service's tests do around its store: hand the handler an event as the consumer
//! loop would, read back what the service published, and name the fields a refusal names.

use sqlx::Row;
use yimen_proto::v1::Event;

use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Db;

/// Applies `event` with `handler` as the consumer loop does: in a transaction that commits only
/// when the handler succeeds (on an error nothing it did is kept, and the loop would retry).
pub async fn deliver(db: &Db, handler: &dyn EventHandler, event: &Event) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    handler.handle(&mut tx, event).await?;
    db.commit(tx).await?;
    Ok(())
}

/// Every event the service has put in its outbox, oldest first, sent or not.
pub async fn published(db: &Db) -> Vec<Event> {
    sqlx::query("SELECT payload FROM outbox ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .expect("read the outbox")
        .iter()
        .map(|row| {
            let body: Vec<u8> = row.try_get("payload").expect("an outbox payload");
            yimen_platform::events::decode(&body).expect("an outbox event")
        })
        .collect()
}

/// The fields an INVALID_ARGUMENT names in its `google.rpc.BadRequest`, in order.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The next item of a live stream (WatchCase, WatchAssignments), `None` once it ended; fails
/// the test instead of hanging when nothing comes within a minute, or an item is an error.
pub async fn next_item<T>(
    stream: &mut (impl futures::Stream<Item = Result<T, tonic::Status>> + Unpin),
) -> Option<T> {
    use futures::StreamExt;
    tokio::time::timeout(std::time::Duration::from_secs(60), stream.next())
        .await
        .expect("the stream sends within a minute")
        .map(|item| item.expect("a healthy stream"))
}
