//! The outbox relay in batches, over real stores and a real bus: two relays (two replicas)
//! over one outbox publish every event exactly once and each case's events in order; a
//! failed publish stays unsent with its case's later events, the rest of its batch is sent,
//! and once it goes through its case follows in order; a relay slow to publish keeps its
//! claim past the lease by renewing it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yimen_platform::bus::{
    Bus, BusConfig, BusError, MemoryBus, Message, Published, QueueSpec, Subscription,
};
use yimen_platform::db::{Db, Migrations};
use yimen_platform::events::new_event;
use yimen_platform::outbox::{self, Round, relay_once, run_relay};
use yimen_proto::v1::{DepartmentLeft, Event, event::Payload};
use yimen_testkit::broker::TestBroker;
use yimen_testkit::stores::TestStore;

/// Generous bounds for things that must happen; never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(60);

fn event(routing_key: &str, case: &str) -> Event {
    new_event(
        routing_key,
        case,
        "test",
        Payload::DepartmentLeft(DepartmentLeft {
            code: case.into(),
            reason: String::new(),
            handed_over: 0,
        }),
    )
}

async fn commit(db: &Db, events: &[Event]) {
    let mut tx = db.begin().await.unwrap();
    for e in events {
        outbox::enqueue(&mut tx, e).await.unwrap();
    }
    db.commit(tx).await.unwrap();
}

/// The message every test sends last, straight on the bus: a queue hands out in order, so
/// once it arrives everything published before it has arrived too.
const SENTINEL: &str = "sentinel";

async fn publish_sentinel(bus: &dyn Bus, routing_key: &str) {
    bus.publish(&Message {
        id: SENTINEL.into(),
        routing_key: routing_key.into(),
        body: Vec::new(),
        headers: BTreeMap::new(),
    })
    .await
    .unwrap();
}

/// The ids delivered on `subscription` (each delivery acked) up to the sentinel.
async fn delivered_until_sentinel(subscription: &mut Box<dyn Subscription>) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let delivery = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .expect("deliveries keep coming until the sentinel")
            .expect("a delivery");
        let id = delivery.message.id.clone();
        delivery.ack().await.unwrap();
        if id == SENTINEL {
            return ids;
        }
        ids.push(id);
    }
}

/// Relays running over the outbox, one per handle (as replicas would), until the outbox has
/// been drained.
struct Relays {
    stop: CancellationToken,
    running: Vec<tokio::task::JoinHandle<()>>,
}

impl Relays {
    fn start(handles: &[Db], bus: &Arc<dyn Bus>) -> Self {
        let stop = CancellationToken::new();
        let running = handles
            .iter()
            .map(|db| tokio::spawn(run_relay(db.clone(), bus.clone(), stop.clone())))
            .collect();
        Self { stop, running }
    }

    async fn stop_once_all_sent(self, db: &Db) {
        let drained = yimen_platform::backoff::poll(
            yimen_platform::backoff::Backoff::constant(Duration::from_millis(20)),
            PATIENCE,
            || async { Ok::<_, sqlx::Error>((outbox::pending(db).await? == 0).then_some(())) },
        )
        .await
        .unwrap();
        assert!(drained.is_some(), "the outbox drains");
        self.stop.cancel();
        for relay in self.running {
            relay.await.unwrap();
        }
    }
}

/// Each case's events in the order they were written, and the position of each id in the
/// delivered sequence.
fn assert_each_case_in_order(written: &[Event], delivered: &[String]) {
    let position: HashMap<&str, usize> = delivered
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut last: HashMap<&str, (usize, &str)> = HashMap::new();
    for e in written {
        let at = position[e.id.as_str()];
        if let Some((before, previous)) = last.insert(e.case_id.as_str(), (at, e.id.as_str())) {
            assert!(
                before < at,
                "case {}: {previous} was written before {} but delivered after it",
                e.case_id,
                e.id
            );
        }
    }
}

async fn two_relays_publish_every_event_exactly_once_in_case_order(
    store: TestStore,
    bus: Arc<dyn Bus>,
) {
    let replica = store.replica().await;
    let mut subscription = bus
        .subscribe(&QueueSpec::new("yimen.probe", &["probe.#"]))
        .await
        .unwrap();
    // Many cases, their events interleaved over more rows than one batch holds, several
    // events of a case in one transaction, some written while the relays run.
    let cases: Vec<String> = (0..40).map(|c| format!("case-{c}")).collect();
    let mut written = Vec::new();
    let mut write_round = |round: usize| {
        let mut events = Vec::new();
        for (c, case) in cases.iter().enumerate() {
            for n in 0..(1 + (c + round) % 3) {
                events.push(event(&format!("probe.{round}.{n}"), case));
            }
        }
        written.extend(events.iter().cloned());
        events
    };
    for round in 0..8 {
        commit(&store, &write_round(round)).await;
    }
    let relays = Relays::start(&[store.db(), replica.clone()], &bus);
    for round in 8..16 {
        // Half through each handle, as two replicas' callers would write them.
        let db = if round % 2 == 0 { &*store } else { &replica };
        commit(db, &write_round(round)).await;
    }
    assert!(written.len() > 1000, "{} events", written.len());
    relays.stop_once_all_sent(&store).await;
    publish_sentinel(bus.as_ref(), "probe.sentinel").await;
    let delivered = delivered_until_sentinel(&mut subscription).await;

    let mut deliveries: HashMap<&str, usize> = HashMap::new();
    for id in &delivered {
        *deliveries.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = deliveries.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "published more than once: {twice:?}");
    assert_eq!(delivered.len(), written.len(), "every event published");
    assert_each_case_in_order(&written, &delivered);
    replica.close().await;
    bus.close().await;
}

/// A message the bus refuses, whatever the backend: a routing key longer than AMQP allows.
fn refused_key() -> String {
    format!("probe.{}", "x".repeat(300))
}

async fn failed_publish_holds_back_its_case_and_the_rest_is_sent(
    store: TestStore,
    bus: Arc<dyn Bus>,
) {
    let mut subscription = bus
        .subscribe(&QueueSpec::new("yimen.probe", &["probe.#"]))
        .await
        .unwrap();
    let a1 = event("probe.a", "a");
    let a2 = event(&refused_key(), "a");
    let a3 = event("probe.a", "a");
    let b1 = event("probe.b", "b");
    let b2 = event("probe.b", "b");
    let c1 = event("nobody.listens", "c");
    let c2 = event("probe.c", "c");
    commit(&store, &[a1.clone(), b1.clone(), a2.clone()]).await;
    commit(&store, &[c1.clone(), a3.clone(), b2.clone(), c2.clone()]).await;

    let round = relay_once(&store, bus.as_ref()).await.unwrap();
    assert_eq!(
        round,
        Round {
            claimed: 7,
            published: 5,
            failed: 1,
            held_back: 1,
        },
        "a2 failed and a3 waits behind it; the unroutable c1 counts as published"
    );
    let unsent = || async {
        outbox::unsent_routing_keys(&store)
            .await
            .unwrap()
            .into_iter()
            .map(|key| key.chars().take(8).collect::<String>())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unsent().await,
        ["probe.xx", "probe.a"],
        "a2 and a3 stay unsent"
    );

    // Whether or not a2's retry is due yet, a3 is never claimed before it goes through.
    let again = relay_once(&store, bus.as_ref()).await.unwrap();
    assert_eq!(again.published, 0, "{again:?}");
    assert_eq!(unsent().await, ["probe.xx", "probe.a"]);

    publish_sentinel(bus.as_ref(), "probe.sentinel").await;
    assert_eq!(
        delivered_until_sentinel(&mut subscription).await,
        [&*a1.id, &*b1.id, &*b2.id, &*c2.id],
        "the rest of the batch is sent, in order"
    );

    // The cause goes away (here: the row is given a key the bus takes); the relay retries
    // a2 after its delay, then a3 follows.
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE event_id = $1")
        .bind(&a2.id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(attempts >= 1, "the failure is counted");
    sqlx::query("UPDATE outbox SET routing_key = 'probe.a' WHERE event_id = $1")
        .bind(&a2.id)
        .execute(store.pool())
        .await
        .unwrap();
    Relays::start(&[store.db()], &bus)
        .stop_once_all_sent(&store)
        .await;
    publish_sentinel(bus.as_ref(), "probe.sentinel").await;
    assert_eq!(
        delivered_until_sentinel(&mut subscription).await,
        [&*a2.id, &*a3.id],
        "a2 once it goes through, then a3"
    );
    bus.close().await;
}

/// A publish the broker itself refuses: a classic queue at its length limit that rejects
/// new messages (`x-overflow: reject-publish`) makes RabbitMQ nack the confirm.
async fn broker_nack_holds_back_its_case_and_the_rest_is_sent(
    store: TestStore,
    broker: TestBroker,
) {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::{AMQPValue, FieldTable};
    let Some(bus) = broker.connect().await else {
        return;
    };
    let mut subscription = bus
        .subscribe(&QueueSpec::new("yimen.probe", &["probe.ok.#"]))
        .await
        .unwrap();
    broker.expect_queues(["probe.full"]);
    let prefix = broker.config().prefix.clone();
    let full = format!("{prefix}probe.full");
    let connection = lapin::Connection::connect(
        &yimen_testkit::broker::amqp_url(),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    channel
        .queue_declare(
            full.as_str().into(),
            QueueDeclareOptions::default(),
            arguments,
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            full.as_str().into(),
            format!("{prefix}yimen.events").as_str().into(),
            "probe.full.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let a1 = event("probe.ok.a", "a");
    let a2 = event("probe.full.a", "a");
    let a3 = event("probe.ok.a", "a");
    let b1 = event("probe.ok.b", "b");
    commit(&store, &[a1.clone(), a2.clone(), b1.clone(), a3.clone()]).await;
    let round = relay_once(&store, bus.as_ref()).await.unwrap();
    assert_eq!(
        (round.published, round.failed, round.held_back),
        (2, 1, 1),
        "{round:?}"
    );
    assert_eq!(
        outbox::unsent_routing_keys(&store).await.unwrap(),
        ["probe.full.a", "probe.ok.a"]
    );

    // The full queue goes away: a2 is retried and now finds no queue (unroutable, kept as
    // the record and not retried again), and a3 follows it.
    channel
        .queue_delete(full.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    connection.close(200, "OK".into()).await.unwrap();
    Relays::start(&[store.db()], &bus)
        .stop_once_all_sent(&store)
        .await;
    publish_sentinel(bus.as_ref(), "probe.ok.sentinel").await;
    assert_eq!(
        delivered_until_sentinel(&mut subscription).await,
        [&*a1.id, &*b1.id, &*a3.id]
    );
    bus.close().await;
}

/// A bus whose publishes take `delay` each: a relay stuck on a slow broker.
struct SlowBus {
    inner: Arc<dyn Bus>,
    delay: Duration,
}

#[async_trait::async_trait]
impl Bus for SlowBus {
    async fn publish(&self, message: &Message) -> Result<Published, BusError> {
        tokio::time::sleep(self.delay).await;
        self.inner.publish(message).await
    }
    async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        self.inner.declare_queue(spec).await
    }
    async fn subscribe(&self, spec: &QueueSpec) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.subscribe(spec).await
    }
    async fn subscribe_dead_letters(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.subscribe_dead_letters(queue).await
    }
    async fn ping(&self) -> Result<(), BusError> {
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

/// The relay's lease is 10 s: a publish taking 12 s outlives it unless the claim is renewed.
async fn a_slow_relay_keeps_its_claim_by_renewing_it(store: TestStore, bus: Arc<dyn Bus>) {
    let mut subscription = bus
        .subscribe(&QueueSpec::new("yimen.probe", &["probe.#"]))
        .await
        .unwrap();
    let slow: Arc<dyn Bus> = Arc::new(SlowBus {
        inner: bus.clone(),
        delay: Duration::from_secs(12),
    });
    let only = event("probe.a", "a");
    commit(&store, std::slice::from_ref(&only)).await;
    let db = store.db();
    let slow_round = tokio::spawn({
        let slow = slow.clone();
        async move { relay_once(&db, slow.as_ref()).await.unwrap() }
    });
    // Past the lease, while the slow relay still waits on its publish.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(!slow_round.is_finished(), "the slow publish is still going");
    let other = relay_once(&store, bus.as_ref()).await.unwrap();
    assert_eq!(
        other.claimed, 0,
        "the renewed claim is still held: {other:?}"
    );
    let slow_round = slow_round.await.unwrap();
    assert_eq!(slow_round.published, 1);
    publish_sentinel(bus.as_ref(), "probe.sentinel").await;
    assert_eq!(
        delivered_until_sentinel(&mut subscription).await,
        [&*only.id],
        "published once"
    );
    bus.close().await;
}

const MIGRATIONS: Migrations = Migrations::NONE;

fn memory() -> Arc<dyn Bus> {
    Arc::new(MemoryBus::new(BusConfig::default()))
}

async fn sqlite() -> TestStore {
    yimen_testkit::stores::sqlite_store("probe", MIGRATIONS).await
}

async fn postgres() -> Option<TestStore> {
    yimen_testkit::stores::postgres_store("probe", MIGRATIONS).await
}

async fn rabbitmq() -> Option<Arc<dyn Bus>> {
    TestBroker::new().connect().await
}

mod sqlite_memory {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_relays_publish_every_event_exactly_once_in_case_order() {
        super::two_relays_publish_every_event_exactly_once_in_case_order(
            super::sqlite().await,
            super::memory(),
        )
        .await;
    }

    #[tokio::test]
    async fn failed_publish_holds_back_its_case_and_the_rest_is_sent() {
        super::failed_publish_holds_back_its_case_and_the_rest_is_sent(
            super::sqlite().await,
            super::memory(),
        )
        .await;
    }
}

mod postgres_rabbitmq {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_relay_keeps_its_claim_by_renewing_it() {
        if let (Some(store), Some(bus)) = (super::postgres().await, super::rabbitmq().await) {
            super::a_slow_relay_keeps_its_claim_by_renewing_it(store, bus).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_relays_publish_every_event_exactly_once_in_case_order() {
        if let (Some(store), Some(bus)) = (super::postgres().await, super::rabbitmq().await) {
            super::two_relays_publish_every_event_exactly_once_in_case_order(store, bus).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_publish_holds_back_its_case_and_the_rest_is_sent() {
        if let (Some(store), Some(bus)) = (super::postgres().await, super::rabbitmq().await) {
            super::failed_publish_holds_back_its_case_and_the_rest_is_sent(store, bus).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn broker_nack_holds_back_its_case_and_the_rest_is_sent() {
        if let Some(store) = super::postgres().await {
            super::broker_nack_holds_back_its_case_and_the_rest_is_sent(
                store,
                super::TestBroker::new(),
            )
            .await;
        }
    }
}
