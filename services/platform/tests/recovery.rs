//! Recovery from a database outage, through a proxy that refuses and cuts connections: the
//! health detail names the database while it is away (readiness follows it), and the outbox
//! relay publishes again soon after it returns.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yimen_platform::bus::{Bus, MemoryBus, QueueSpec, Subscription};
use yimen_platform::db::{DatabaseConfig, Db, Migrations};
use yimen_platform::events::new_event;
use yimen_platform::server::Readiness;
use yimen_proto::v1::{DepartmentLeft, event::Payload};
use yimen_testkit::proxy::Proxy;

/// Upper bound for what should happen; only a hang reaches it.
const WAIT: Duration = Duration::from_secs(60);

async fn connect(url: &str) -> Db {
    Db::connect(
        &DatabaseConfig {
            url: url.into(),
            max_connections: 2,
            acquire_timeout_secs: 1,
        },
        "recovery",
    )
    .await
    .expect("connect")
}

/// Writes an event to the outbox over `db`, as a use case does.
async fn enqueue(db: &Db, code: &str) -> String {
    let event = new_event(
        "department.left",
        "",
        "test",
        Payload::DepartmentLeft(DepartmentLeft {
            code: code.into(),
            reason: String::new(),
            handed_over: 0,
        }),
    );
    let mut tx = db.begin().await.expect("begin");
    yimen_platform::outbox::enqueue(&mut tx, &event)
        .await
        .expect("enqueue");
    db.commit(tx).await.expect("commit");
    event.id
}

/// The id of the next delivery, acked.
async fn next_id(subscription: &mut Box<dyn Subscription>) -> String {
    let delivery = tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("a delivery in time")
        .expect("the subscription is open");
    let id = delivery.message.id.clone();
    delivery.ack().await.expect("ack");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_again_soon_after_its_database_returns() {
    let Some(database) = yimen_testkit::stores::fresh_postgres_database().await else {
        return;
    };
    let proxy = Proxy::start(database.url()).await;
    let db = connect(proxy.url()).await;
    db.migrate(Migrations::NONE).await.expect("migrate");
    // Writes behind the proxy's back, while the relay cannot reach the database.
    let direct = connect(database.url()).await;
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(Default::default()));
    let queue = QueueSpec::new("yimen.test", &["department.#"]);
    let mut subscription = bus.subscribe(&queue).await.expect("subscribe");
    let readiness = Readiness {
        stores: vec![db.clone()],
        bus: bus.clone(),
    };
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(yimen_platform::outbox::run_relay(
        db.clone(),
        bus.clone(),
        shutdown.clone(),
    ));
    let before = enqueue(&db, "before").await;
    assert_eq!(next_id(&mut subscription).await, before);
    // Marked sent before the outage, so the relay has nothing left but what comes during it.
    let drained = yimen_platform::backoff::poll(
        yimen_platform::backoff::Backoff::constant(Duration::from_millis(20)),
        WAIT,
        || async {
            let pending = yimen_platform::outbox::pending(&db).await?;
            Ok::<_, sqlx::Error>((pending == 0).then_some(()))
        },
    )
    .await
    .expect("count the outbox");
    assert!(drained.is_some(), "the relay marks what it published");

    proxy.outage();
    let health = readiness.probe().await;
    assert!(health.database.is_err(), "the database is away: {health:?}");
    assert_eq!(health.broker, Ok(()));
    assert!(readiness.check().await.is_err(), "not ready without it");
    let during = enqueue(&direct, "during").await;
    // A few seconds away, with the relay trying all along.
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.set_open(true);
    let returned = tokio::time::Instant::now();
    assert_eq!(next_id(&mut subscription).await, during);
    eprintln!(
        "measured: the relay published again {} ms after the database returned",
        returned.elapsed().as_millis()
    );
    readiness.check().await.expect("ready again");

    shutdown.cancel();
    relay.await.expect("the relay stops");
    db.close().await;
    direct.close().await;
}
