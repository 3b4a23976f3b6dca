//! The consumer loop's lanes and retries, on PostgreSQL and each bus: the events of one case
//! are applied in the order they arrived while different cases run in parallel; a failing
//! handler is retried after the retry delay, not at once, and succeeds; a poison event reaches
//! the dead letters at the delivery limit; however often an event arrives, even in two
//! lanes at once, its effect is written once; and what piles up in a lane is applied in one
//! transaction, in order, its deliveries one at a time when one of them fails.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use yimen_platform::bus::{Bus, BusConfig, MemoryBus, Message, QueueSpec};
use yimen_platform::consumer::{EventHandler, Lanes, RETRIES_IN_PLACE, run_consumer};
use yimen_platform::db::{Db, Migrations, Tx};
use yimen_platform::events::{encode, new_event};
use yimen_proto::v1::{DepartmentLeft, Event, event::Payload};
use yimen_testkit::broker::TestBroker;
use yimen_testkit::stores::{TestStore, postgres_store};

/// Upper bound for what should happen; only a hang reaches it.
const WAIT: Duration = Duration::from_secs(60);
const QUEUE: &str = "yimen.probe";
const LANES: u16 = 8;
const BATCH: u16 = 16;

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    RabbitMq,
}

impl Backend {
    async fn open(self, tweak: impl FnOnce(&mut BusConfig)) -> Option<Arc<dyn Bus>> {
        match self {
            Backend::Memory => {
                let mut config = BusConfig::default();
                tweak(&mut config);
                Some(Arc::new(MemoryBus::new(config)))
            }
            Backend::RabbitMq => TestBroker::with(tweak).connect().await,
        }
    }
}

/// A PostgreSQL store with an `effects` table, or None (skip).
async fn store() -> Option<TestStore> {
    let db = postgres_store("probe", Migrations::NONE).await?;
    // `n` numbers the effects as written and `txid` names the transaction that wrote each.
    sqlx::query(
        "CREATE TABLE effects (event_id TEXT NOT NULL, case_id TEXT NOT NULL, \
         n BIGSERIAL, txid BIGINT NOT NULL DEFAULT txid_current())",
    )
    .execute(db.pool())
    .await
    .expect("create the effects table");
    Some(db)
}

fn queue() -> QueueSpec {
    QueueSpec::new(QUEUE, &["department.#"])
}

/// The store, and a bus with `tweak`ed settings on which [`QUEUE`] is declared; or None when
/// PostgreSQL or RabbitMQ is unreachable (skip).
async fn setup(
    backend: Backend,
    tweak: impl FnOnce(&mut BusConfig),
) -> Option<(TestStore, Arc<dyn Bus>)> {
    let db = store().await?;
    let bus = backend.open(tweak).await?;
    timeout(WAIT, bus.declare_queue(&queue()))
        .await
        .expect("declare answers in time")
        .expect("declare");
    Some((db, bus))
}

/// An event of `case_id` carrying `label` (in the payload's code).
fn event(case_id: &str, label: &str) -> Event {
    new_event(
        "department.left",
        case_id,
        "test",
        Payload::DepartmentLeft(DepartmentLeft {
            code: label.into(),
            reason: String::new(),
            handed_over: 0,
        }),
    )
}

fn label(event: &Event) -> String {
    match &event.payload {
        Some(Payload::DepartmentLeft(left)) => left.code.clone(),
        _ => String::new(),
    }
}

async fn publish(bus: &Arc<dyn Bus>, event: &Event) {
    let message = Message {
        id: event.id.clone(),
        routing_key: event.r#type.clone(),
        body: encode(event),
        headers: Default::default(),
    };
    timeout(WAIT, bus.publish(&message))
        .await
        .expect("publish answers in time")
        .expect("publish succeeds");
}

/// Writes an effect row per event; before that it may wait, fail, or note what it sees.
#[derive(Default)]
struct Probe {
    /// Labels in the order the handler saw them, by case.
    seen: Mutex<BTreeMap<String, Vec<String>>>,
    /// Handler calls by label, with when they happened.
    calls: Mutex<HashMap<String, Vec<Instant>>>,
    /// Calls of each label that fail before one succeeds (`usize::MAX`: always).
    failures: HashMap<String, usize>,
    /// How long each call takes.
    work: Duration,
    /// Handler calls running now, and the most at once.
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

#[async_trait]
impl EventHandler for Probe {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        let label = label(event);
        let calls = {
            let mut calls = self.calls.lock().unwrap();
            let mine = calls.entry(label.clone()).or_default();
            mine.push(Instant::now());
            mine.len()
        };
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.work).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        // Written before the failure, so a failed call's effect must roll back.
        sqlx::query("INSERT INTO effects (event_id, case_id) VALUES ($1, $2)")
            .bind(&event.id)
            .bind(&event.case_id)
            .execute(&mut **tx)
            .await?;
        if calls <= self.failures.get(&label).copied().unwrap_or(0) {
            anyhow::bail!("{label} fails on call {calls}");
        }
        self.seen
            .lock()
            .unwrap()
            .entry(event.case_id.clone())
            .or_default()
            .push(label);
        Ok(())
    }
}

impl Probe {
    fn calls(&self, label: &str) -> Vec<Instant> {
        self.calls
            .lock()
            .unwrap()
            .get(label)
            .cloned()
            .unwrap_or_default()
    }
}

/// The effect rows per event id.
async fn effects(db: &Db) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>("SELECT event_id, COUNT(*) FROM effects GROUP BY event_id")
        .fetch_all(db.pool())
        .await
        .expect("read the effects")
        .into_iter()
        .collect()
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    timeout(WAIT, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} in time"));
}

/// The consumer loop over `QUEUE`, stopped (and awaited) by [`Running::stop`].
struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(db: &Db, bus: &Arc<dyn Bus>, probe: Arc<Probe>) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_consumer(
            db.clone(),
            bus.clone(),
            queue(),
            probe,
            Lanes {
                count: LANES,
                batch: BATCH,
            },
            stop.clone(),
        ));
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        timeout(WAIT, self.task)
            .await
            .expect("the consumer stops in time")
            .expect("the consumer ends cleanly");
    }
}

async fn each_case_in_order_and_cases_in_parallel(backend: Backend) {
    let Some((db, bus)) = setup(backend, |_| {}).await else {
        return;
    };
    let cases: Vec<String> = (0..24).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let per_case = 8;
    let mut published = 0;
    // Interleaved: the first event of every case, then the second of every case, and so on;
    // and events of no case among them.
    for step in 0..per_case {
        for case in &cases {
            publish(&bus, &event(case, &format!("{case}/{step}"))).await;
            published += 1;
        }
        publish(&bus, &event("", &format!("caseless/{step}"))).await;
        published += 1;
    }
    let probe = Arc::new(Probe {
        work: Duration::from_millis(5),
        ..Probe::default()
    });
    let running = Running::start(&db, &bus, probe.clone());
    until("every event applied", async || {
        effects(&db).await.len() == published
    })
    .await;
    running.stop().await;

    let seen = probe.seen.lock().unwrap().clone();
    for case in &cases {
        let expected: Vec<String> = (0..per_case).map(|s| format!("{case}/{s}")).collect();
        assert_eq!(seen[case], expected, "case {case} applied in arrival order");
    }
    assert_eq!(seen[""].len(), per_case, "every caseless event applied");
    assert!(
        probe.most_at_once.load(Ordering::SeqCst) > 1,
        "different cases are applied at the same time"
    );
    assert!(effects(&db).await.values().all(|&n| n == 1), "each once");
    bus.close().await;
}

async fn failing_handler_is_retried_after_the_delay_and_succeeds(backend: Backend) {
    let delay = Duration::from_millis(800);
    let Some((db, bus)) = setup(backend, |c| c.retry_delay_ms = delay.as_millis() as u64).await
    else {
        return;
    };
    let case = uuid::Uuid::now_v7().to_string();
    let failing = event(&case, "failing");
    // It fails in every attempt in place, so it waits for its later retry, then succeeds.
    let in_place = RETRIES_IN_PLACE as usize + 1;
    let probe = Arc::new(Probe {
        failures: HashMap::from([("failing".to_string(), in_place)]),
        ..Probe::default()
    });
    publish(&bus, &failing).await;
    let running = Running::start(&db, &bus, probe.clone());
    until("the handler gave up in place", async || {
        probe.calls("failing").len() >= in_place
    })
    .await;
    // Published after the failing event gave up in place, applied while it waits.
    let other = event(&uuid::Uuid::now_v7().to_string(), "other");
    publish(&bus, &other).await;
    until("the failing event applied on its later retry", async || {
        effects(&db).await.contains_key(&failing.id)
    })
    .await;
    running.stop().await;

    let calls = probe.calls("failing");
    assert_eq!(
        calls.len(),
        in_place + 1,
        "retried once more, later, and then applied"
    );
    assert!(
        calls[in_place] - calls[in_place - 1] >= delay,
        "the later retry waited for the retry delay"
    );
    let other_applied = probe.calls("other")[0];
    assert!(
        other_applied < calls[in_place],
        "the queue kept serving while the failing event waited"
    );
    let effects = effects(&db).await;
    assert_eq!(
        effects.get(&failing.id),
        Some(&1),
        "applied once; failures rolled back"
    );
    assert_eq!(effects.get(&other.id), Some(&1));
    bus.close().await;
}

async fn poison_reaches_the_dead_letters_at_the_delivery_limit(backend: Backend) {
    let limit = 2;
    let Some((db, bus)) = setup(backend, |c| {
        c.delivery_limit = limit;
        c.retry_delay_ms = 100;
    })
    .await
    else {
        return;
    };
    let mut dead_letters = bus
        .subscribe_dead_letters(QUEUE)
        .await
        .expect("subscribe to dead letters");
    let poison = event(&uuid::Uuid::now_v7().to_string(), "poison");
    let probe = Arc::new(Probe {
        failures: HashMap::from([("poison".to_string(), usize::MAX)]),
        ..Probe::default()
    });
    publish(&bus, &poison).await;
    let running = Running::start(&db, &bus, probe.clone());
    let dead = timeout(WAIT, dead_letters.next())
        .await
        .expect("the poison is dead-lettered in time")
        .expect("a dead letter");
    assert_eq!(dead.message.id, poison.id);
    assert_eq!(
        dead.message
            .headers
            .get("x-first-death-reason")
            .map(String::as_str),
        Some("delivery_limit")
    );
    dead.ack().await.expect("ack the dead letter");

    // The loop keeps serving.
    let good = event(&uuid::Uuid::now_v7().to_string(), "good");
    publish(&bus, &good).await;
    until("the next event applied", async || {
        effects(&db).await.contains_key(&good.id)
    })
    .await;
    running.stop().await;
    assert_eq!(
        probe.calls("poison").len(),
        (limit as usize + 1) * (RETRIES_IN_PLACE as usize + 1),
        "each delivery tried in place, and delivered once more than the limit"
    );
    assert!(
        !effects(&db).await.contains_key(&poison.id),
        "no effect of the poison"
    );
    bus.close().await;
}

async fn each_effect_once_however_often_an_event_arrives(backend: Backend) {
    let Some((db, bus)) = setup(backend, |c| c.retry_delay_ms = 100).await else {
        return;
    };
    // An event of no case arrives five times; its copies take different lanes and race
    // for the inbox claim. An event of a case arrives three times and fails once after
    // writing its effect, so its first try rolls back.
    let caseless = event("", "caseless");
    let flaky = event(&uuid::Uuid::now_v7().to_string(), "flaky");
    for _ in 0..5 {
        publish(&bus, &caseless).await;
    }
    for _ in 0..3 {
        publish(&bus, &flaky).await;
    }
    let probe = Arc::new(Probe {
        failures: HashMap::from([("flaky".to_string(), 1)]),
        work: Duration::from_millis(20),
        ..Probe::default()
    });
    let running = Running::start(&db, &bus, probe.clone());
    until("both applied", async || effects(&db).await.len() == 2).await;
    until("every copy handled", async || {
        probe.calls("flaky").len() >= 2
    })
    .await;
    running.stop().await;
    let effects = effects(&db).await;
    assert_eq!(effects.get(&caseless.id), Some(&1));
    assert_eq!(effects.get(&flaky.id), Some(&1));
    bus.close().await;
}

async fn stopping_finishes_and_acks_the_deliveries_in_hand(backend: Backend) {
    let Some((db, bus)) = setup(backend, |_| {}).await else {
        return;
    };
    let events: Vec<Event> = (0..3)
        .map(|i| event(&uuid::Uuid::now_v7().to_string(), &format!("slow/{i}")))
        .collect();
    for e in &events {
        publish(&bus, e).await;
    }
    let probe = Arc::new(Probe {
        work: Duration::from_millis(300),
        ..Probe::default()
    });
    let running = Running::start(&db, &bus, probe.clone());
    until("the handler busy", async || {
        probe.running.load(Ordering::SeqCst) > 0
    })
    .await;
    running.stop().await;

    // What was applied was acked: none of it comes back; what was not comes back once.
    let applied = effects(&db).await;
    assert!(!applied.is_empty(), "the deliveries in hand were finished");
    let mut subscription = bus.subscribe(&queue()).await.expect("subscribe");
    let mut returned = Vec::new();
    while let Ok(Some(delivery)) = timeout(Duration::from_millis(500), subscription.next()).await {
        returned.push(delivery.message.id.clone());
        delivery.ack().await.expect("ack");
    }
    for id in &returned {
        assert!(
            !applied.contains_key(id),
            "{id} was applied and acked, yet came back"
        );
    }
    assert_eq!(applied.len() + returned.len(), events.len(), "none lost");
    bus.close().await;
}

/// The events of `case_id` in the order their effects were committed.
async fn committed_order(db: &Db, case_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT event_id FROM effects WHERE case_id = $1 ORDER BY n")
        .bind(case_id)
        .fetch_all(db.pool())
        .await
        .expect("read the effects in order")
}

/// How many effects each transaction wrote.
async fn effects_per_transaction(db: &Db) -> Vec<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM effects GROUP BY txid")
        .fetch_all(db.pool())
        .await
        .expect("count effects per transaction")
}

async fn what_piled_up_in_a_lane_is_applied_together_in_order(backend: Backend) {
    let Some((db, bus)) = setup(backend, |_| {}).await else {
        return;
    };
    // Waiting before the consumer starts: each lane finds a pile.
    let cases: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mut published = BTreeMap::<String, Vec<String>>::new();
    for step in 0..20 {
        for case in &cases {
            let e = event(case, &format!("{case}/{step}"));
            publish(&bus, &e).await;
            published.entry(case.clone()).or_default().push(e.id);
        }
    }
    let probe = Arc::new(Probe::default());
    let running = Running::start(&db, &bus, probe.clone());
    until("every event applied", async || {
        effects(&db).await.len() == 60
    })
    .await;
    running.stop().await;

    for case in &cases {
        assert_eq!(
            committed_order(&db, case).await,
            published[case],
            "case {case} applied in arrival order"
        );
    }
    let per_transaction = effects_per_transaction(&db).await;
    assert!(
        per_transaction.iter().any(|&n| n > 1),
        "piled-up deliveries share a transaction: {per_transaction:?}"
    );
    assert!(
        per_transaction.iter().all(|&n| n <= i64::from(BATCH)),
        "no transaction past the batch: {per_transaction:?}"
    );
    assert!(effects(&db).await.values().all(|&n| n == 1), "each once");
    bus.close().await;
}

async fn a_failing_delivery_leaves_its_batch_mates_applied_once_in_order(backend: Backend) {
    let Some((db, bus)) = setup(backend, |_| {}).await else {
        return;
    };
    // One case, so one lane; its five events wait in the queue, so while the lane applies the
    // first that arrives the others pile up behind it. The last fails once after writing its
    // effect, rolling back the batch it is in.
    let case = uuid::Uuid::now_v7().to_string();
    let events: Vec<Event> = (0..5).map(|i| event(&case, &format!("e{i}"))).collect();
    for e in &events {
        publish(&bus, e).await;
    }
    let probe = Arc::new(Probe {
        failures: HashMap::from([("e4".to_string(), 1)]),
        work: Duration::from_millis(50),
        ..Probe::default()
    });
    let running = Running::start(&db, &bus, probe.clone());
    until("every event applied", async || {
        effects(&db).await.len() == 5
    })
    .await;
    running.stop().await;

    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(committed_order(&db, &case).await, ids, "in arrival order");
    assert!(effects(&db).await.values().all(|&n| n == 1), "each once");
    assert_eq!(probe.calls("e4").len(), 2, "the failing one tried again");
    // Whether a batch-mate shared e4's failed transaction depends on how the deliveries
    // arrived; either way none runs more than twice (once in the batch, once on its own).
    for i in 0..4 {
        let calls = probe.calls(&format!("e{i}")).len();
        assert!((1..=2).contains(&calls), "e{i} ran {calls} times");
    }
    bus.close().await;
}

yimen_testkit::on_both_buses!([
    what_piled_up_in_a_lane_is_applied_together_in_order,
    a_failing_delivery_leaves_its_batch_mates_applied_once_in_order,
    each_case_in_order_and_cases_in_parallel,
    failing_handler_is_retried_after_the_delay_and_succeeds,
    poison_reaches_the_dead_letters_at_the_delivery_limit,
    each_effect_once_however_often_an_event_arrives,
    stopping_finishes_and_acks_the_deliveries_in_hand,
]);
