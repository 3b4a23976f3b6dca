//! The platform's outbox relay and consumer loop, over a real store and a real bus: events
//! committed with a change are published in order and only then; rolled-back ones never are;
//! each event is applied once however often it arrives; a malformed message is dead-lettered
//! after the delivery limit while the loop keeps serving.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use tokio_util::sync::CancellationToken;
use yimen_platform::bus::{Bus, BusConfig, MemoryBus, Message, QueueSpec};
use yimen_platform::consumer::{EventHandler, run_consumer};
use yimen_platform::db::{Db, Migrations, Tx};
use yimen_platform::events::{encode, new_event};
use yimen_proto::v1::{DepartmentLeft, Event, event::Payload};
use yimen_testkit::stores::TestStore;

const MIGRATIONS: Migrations = Migrations::NONE;

async fn store() -> TestStore {
    let db = yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await;
    sqlx::query("CREATE TABLE effects (event_id TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    db
}

async fn rabbitmq() -> Option<Arc<dyn Bus>> {
    yimen_testkit::broker::TestBroker::with(|c| c.delivery_limit = 2)
        .connect()
        .await
}

fn memory() -> Arc<dyn Bus> {
    Arc::new(MemoryBus::new(BusConfig {
        delivery_limit: 2,
        ..BusConfig::default()
    }))
}

fn event(code: &str) -> Event {
    new_event(
        "department.left",
        "",
        "test",
        Payload::DepartmentLeft(DepartmentLeft {
            code: code.into(),
            reason: String::new(),
            handed_over: 0,
        }),
    )
}

/// Records every event it applies, in the consumer's transaction.
struct Recorder;

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
            .bind(&event.id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

async fn effects(db: &Db) -> Vec<String> {
    sqlx::query("SELECT event_id FROM effects ORDER BY event_id")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("event_id"))
        .collect()
}

async fn each_event_applied_once_and_malformed_dead_lettered(bus: Arc<dyn Bus>) {
    let db = store().await;
    let queue = QueueSpec::new("yimen.probe", &["department.#"]);
    bus.declare_queue(&queue).await.unwrap();
    let (a, b) = (event("a"), event("b"));
    let raw = |id: &str, body: Vec<u8>| Message {
        id: id.into(),
        routing_key: "department.left".into(),
        body,
        headers: Default::default(),
    };
    for message in [
        raw(&a.id, encode(&a)),
        raw("garbage", b"not an event".to_vec()),
        raw(&a.id, encode(&a)), // a duplicate delivery of `a`
        raw(&b.id, encode(&b)),
    ] {
        bus.publish(&message).await.unwrap();
    }
    let mut dead = bus.subscribe_dead_letters("yimen.probe").await.unwrap();
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(run_consumer(
        db.clone(),
        bus.clone(),
        queue,
        Arc::new(Recorder),
        yimen_platform::consumer::Lanes {
            count: 4,
            batch: 16,
        },
        stop.clone(),
    ));

    let dead_letter = tokio::time::timeout(Duration::from_secs(20), dead.next())
        .await
        .expect("the malformed message is dead-lettered in time")
        .expect("a dead letter");
    assert_eq!(dead_letter.message.id, "garbage");
    dead_letter.ack().await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while effects(&db).await.len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give a wrongly applied duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(effects(&db).await, expected, "a and b once each");
    stop.cancel();
    consumer.await.unwrap();
    bus.close().await;
}

async fn relay_publishes_committed_events_in_order_and_never_rolled_back_ones(bus: Arc<dyn Bus>) {
    let db = store().await;
    let queue = QueueSpec::new("yimen.probe", &["department.#"]);
    let mut subscription = bus.subscribe(&queue).await.unwrap();
    let committed = [event("1"), event("2"), event("3")];
    let mut tx = db.begin().await.unwrap();
    for e in &committed {
        yimen_platform::outbox::enqueue(&mut tx, e).await.unwrap();
    }
    db.commit(tx).await.unwrap();
    let mut rolled_back = db.begin().await.unwrap();
    yimen_platform::outbox::enqueue(&mut rolled_back, &event("never"))
        .await
        .unwrap();
    drop(rolled_back);

    let round = yimen_platform::outbox::relay_once(&db, bus.as_ref())
        .await
        .unwrap();
    assert_eq!(round.published, 3);
    assert!(
        yimen_platform::outbox::unsent_routing_keys(&db)
            .await
            .unwrap()
            .is_empty(),
        "every committed event is marked sent"
    );
    for e in &committed {
        let delivery = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("delivered in time")
            .expect("a delivery");
        assert_eq!(delivery.message.id, e.id, "in commit order");
        delivery.ack().await.unwrap();
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err(),
        "the rolled-back event is never published"
    );
    bus.close().await;
}

mod memory {
    #[tokio::test]
    async fn each_event_applied_once_and_malformed_dead_lettered() {
        super::each_event_applied_once_and_malformed_dead_lettered(super::memory()).await;
    }

    #[tokio::test]
    async fn relay_publishes_committed_events_in_order_and_never_rolled_back_ones() {
        super::relay_publishes_committed_events_in_order_and_never_rolled_back_ones(super::memory())
            .await;
    }
}

mod rabbitmq {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_event_applied_once_and_malformed_dead_lettered() {
        if let Some(bus) = super::rabbitmq().await {
            super::each_event_applied_once_and_malformed_dead_lettered(bus).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_publishes_committed_events_in_order_and_never_rolled_back_ones() {
        if let Some(bus) = super::rabbitmq().await {
            super::relay_publishes_committed_events_in_order_and_never_rolled_back_ones(bus).await;
        }
    }
}
