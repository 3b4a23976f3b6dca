//! The overload answer: past a bound on the outbox backlog or on how long transactions wait
//! for a database connection, new work is refused with RESOURCE_EXHAUSTED and retry advice,
//! and admitted again once a look finds the pressure gone.

use std::time::Duration;

use tonic_types::StatusExt;
use yimen_platform::db::Migrations;
use yimen_platform::overload::{Limits, Overload};

#[tokio::test]
async fn a_transaction_that_waited_past_the_bound_for_a_connection_refuses_work_until_it_eases() {
    // SQLite: one connection, so a second transaction waits for the first.
    let db = yimen_testkit::stores::sqlite_store("overload", Migrations::NONE).await;
    let overload = Overload::new(Limits {
        max_outbox_backlog: 0,
        max_pool_wait: Duration::from_millis(50),
    });
    overload.look(&db).await.expect("look");
    overload.admit().expect("nothing waited yet");

    let held = db.begin().await.expect("the one connection");
    let waiting = tokio::spawn({
        let db = db.db();
        async move { db.begin().await.map(drop) }
    });
    // Held well past the bound before it is given back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    held.rollback().await.expect("give the connection back");
    waiting
        .await
        .unwrap()
        .expect("the second transaction began");

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
    let db = yimen_testkit::stores::sqlite_store("overload", Migrations::NONE).await;
    let overload = Overload::new(Limits {
        max_outbox_backlog: 0,
        max_pool_wait: Duration::ZERO,
    });
    let held = db.begin().await.expect("the one connection");
    let waiting = tokio::spawn({
        let db = db.db();
        async move { db.begin().await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    held.rollback().await.expect("give the connection back");
    waiting.await.unwrap().expect("began");
    overload.look(&db).await.expect("look");
    overload.admit().expect("no bound, no refusal");
}
