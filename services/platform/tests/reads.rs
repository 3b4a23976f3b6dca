//! Reads outside a transaction (`Db::reads`): on SQLite they have connections of their own
//! beside the one writer, so a read neither waits for a write in progress nor sees it before
//! it commits, and a read connection cannot write.

use std::time::Duration;

use yimen_platform::db::Migrations;
use yimen_testkit::stores::sqlite_store;

/// Upper bound for what should happen at once; only a read stuck behind the write reaches it.
const WAIT: Duration = Duration::from_secs(60);

async fn inbox_rows(pool: &sqlx::AnyPool) -> i64 {
    tokio::time::timeout(
        WAIT,
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM inbox").fetch_one(pool),
    )
    .await
    .expect("a read must not wait for the write in progress")
    .expect("read the inbox")
}

async fn receive(conn: &mut sqlx::AnyConnection, event_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO inbox (event_id, routing_key, received_at) VALUES ($1, 'test', 0)")
        .bind(event_id)
        .execute(conn)
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_read_neither_waits_for_an_open_write_nor_sees_it_and_cannot_write() {
    let store = sqlite_store("reads", Migrations::NONE).await;
    let mut tx = store.begin().await.expect("begin");
    receive(&mut tx, "first").await.expect("write");
    store.commit(tx).await.expect("commit");

    // The one writer connection is held by a transaction with a write not committed yet.
    let mut tx = store.begin().await.expect("begin");
    receive(&mut tx, "second").await.expect("write");
    assert_eq!(
        inbox_rows(store.reads()).await,
        1,
        "only what has committed"
    );

    store.commit(tx).await.expect("commit");
    assert_eq!(
        inbox_rows(store.reads()).await,
        2,
        "and then what committed since"
    );

    // Nothing holds the writer now, so a refusal can only be the read connection's own.
    let mut reader = store.reads().acquire().await.expect("a read connection");
    let refused = receive(&mut reader, "third")
        .await
        .expect_err("a read connection must not write");
    assert!(
        refused.to_string().contains("readonly"),
        "refused as read-only, not for a lock: {refused}"
    );
    drop(reader);
    assert_eq!(
        inbox_rows(store.reads()).await,
        2,
        "the refused write left nothing"
    );
}
