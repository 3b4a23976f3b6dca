//! The overload answer: past a bound on the outbox backlog or on how long transactions wait
//! for a database connection, new work is refused with RESOURCE_EXHAUSTED and retry advice,
//! and admitted again once a look finds the pressure gone.

use std::time::Duration;

use tonic_types::StatusExt;
use yimen_platform::db::Migrations;
use yimen_platform::overload::{Limits, Overload};
use yimen_testkit::stores::TestStore;

/// A SQLite store: one connection, so a second transaction waits for the first.
async fn store() -> TestStore {
    yimen_testkit::stores::sqlite_store("overload", Migrations::NONE).await
}

/// Holds the store's one connection for `hold` while a second transaction waits for it.
async fn make_a_transaction_wait(db: &TestStore, hold: Duration) {
    let held = db.begin().await.expect("the one connection");
    let waiting = tokio::spawn({
        let db = db.db();
        async move { db.begin().await.map(drop) }
    });
    tokio::time::sleep(hold).await;
    held.rollback().await.expect("give the connection back");
    waiting
        .await
        .unwrap()
        .expect("the second transaction began");
}

#[tokio::test]
async fn a_transaction_that_waited_past_the_bound_for_a_connection_refuses_work_until_it_eases() {
    let db = store().await;
    let overload = Overload::new(Limits {
        max_outbox_backlog: 0,
        max_pool_wait: Duration::from_millis(50),
    });
    overload.look(&db).await.expect("look");
    overload.admit().expect("nothing waited yet");

    // Held well past the bound before it is given back.
    make_a_transaction_wait(&db, Duration::from_millis(200)).await;
    overload.look(&db).await.expect("look");
    let refused = overload
        .admit()
        .expect_err("a transaction waited past the bound");
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.get_details_retry_info().is_some(), "{refused:?}");
    assert!(
        refused.message().contains("database connection"),
        "{refused:?}"
    );

    // Nothing waited since: the next look admits again.
    overload.look(&db).await.expect("look");
    overload.admit().expect("the wait eased");
}

#[tokio::test]
async fn zero_bounds_admit_everything() {
    let db = store().await;
    let overload = Overload::new(Limits {
        max_outbox_backlog: 0,
        max_pool_wait: Duration::ZERO,
    });
    make_a_transaction_wait(&db, Duration::from_millis(50)).await;
    overload.look(&db).await.expect("look");
    overload.admit().expect("no bound, no refusal");
}
