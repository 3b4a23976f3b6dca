//! The bus contract: each behaviour the outbox relay, the consumer loop and operators rely on,
//! run against the in-process bus (`memory::*`) and RabbitMQ (`rabbitmq::*`) alike. Each
//! RabbitMQ test uses a name prefix of its own and queues that expire, so tests share one
//! broker; when it is unreachable they fail under CI and skip elsewhere.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use yimen_platform::bus::{
    AmqpBus, Bus, BusConfig, BusError, Delivery, MemoryBus, Message, Published, QueueSpec,
    Subscription, redact_url,
};
use yimen_platform::testing::stores::{amqp_url, unavailable};

/// Upper bound for anything that should happen; only a hang reaches it.
const WAIT: Duration = Duration::from_secs(15);
/// How long "nothing more arrives" is watched. A slow machine can only make such a check
/// pass, never fail.
const QUIET: Duration = Duration::from_millis(500);

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    RabbitMq,
}

impl Backend {
    /// A bus with a fresh prefix and `tweak`ed settings, or None when RabbitMQ is
    /// unreachable outside CI (the skip is printed).
    async fn open(self, tweak: impl FnOnce(&mut BusConfig)) -> Option<Arc<dyn Bus>> {
        let mut config = BusConfig {
            url: "memory".into(),
            prefix: format!("t-{}.", uuid::Uuid::new_v4().simple()),
            prefetch: 16,
            delivery_limit: 3,
            queue_expires_secs: Some(60),
        };
        tweak(&mut config);
        match self {
            Backend::Memory => Some(Arc::new(MemoryBus::new(config))),
            Backend::RabbitMq => {
                config.url = amqp_url();
                connect_rabbitmq(config, Default::default())
                    .await
                    .map(|bus| Arc::new(bus) as Arc<dyn Bus>)
            }
        }
    }
}

async fn connect_rabbitmq(
    config: BusConfig,
    options: yimen_platform::bus::amqp::AmqpOptions,
) -> Option<AmqpBus> {
    let url = redact_url(&config.url);
    match AmqpBus::connect_with(config, options).await {
        Ok(bus) => Some(bus),
        Err(BusError::Unavailable(why)) => {
            unavailable("RabbitMQ", &format!("at {url}: {why}"));
            None
        }
        Err(e) => panic!("connecting to RabbitMQ at {url} failed: {e}"),
    }
}

fn message(id: &str, routing_key: &str, body: &[u8]) -> Message {
    Message {
        id: id.into(),
        routing_key: routing_key.into(),
        body: body.to_vec(),
        headers: BTreeMap::from([
            (
                "traceparent".to_string(),
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string(),
            ),
            ("tracestate".to_string(), "yimen=1".to_string()),
        ]),
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn publish(bus: &Arc<dyn Bus>, message: &Message) -> Published {
    timeout(WAIT, bus.publish(message))
        .await
        .expect("publish answers in time")
        .expect("publish succeeds")
}

async fn subscribe(bus: &Arc<dyn Bus>, spec: &QueueSpec) -> Box<dyn Subscription> {
    timeout(WAIT, bus.subscribe(spec))
        .await
        .expect("subscribe answers in time")
        .expect("subscribe succeeds")
}

async fn next(subscription: &mut Box<dyn Subscription>) -> Delivery {
    timeout(WAIT, subscription.next())
        .await
        .expect("a delivery arrives in time")
        .expect("the subscription is still open")
}

async fn nothing_more(subscription: &mut Box<dyn Subscription>) {
    if let Ok(Some(delivery)) = timeout(QUIET, subscription.next()).await {
        panic!("unexpected delivery {delivery:?}");
    }
}

async fn ack(delivery: Delivery) {
    timeout(WAIT, delivery.ack())
        .await
        .expect("ack answers in time")
        .expect("ack succeeds");
}

async fn close(bus: Arc<dyn Bus>) {
    timeout(WAIT, bus.close())
        .await
        .expect("close answers in time");
}

async fn publish_is_confirmed_and_delivered(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.intake", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let sent = message(&new_id(), "case.registered", b"\x0a\x03abc");

    assert_eq!(publish(&bus, &sent).await, Published::Routed);

    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.message, sent);
    assert!(!delivery.redelivered);
    ack(delivery).await;
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn unroutable_publish_is_reported(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    assert_eq!(
        publish(&bus, &message(&new_id(), "case.registered", b"x")).await,
        Published::Unroutable,
        "no queue at all"
    );
    timeout(
        WAIT,
        bus.declare_queue(&QueueSpec::new("yimen.mediation", &["case.referred"])),
    )
    .await
    .expect("declare answers in time")
    .expect("declare succeeds");
    assert_eq!(
        publish(&bus, &message(&new_id(), "case.registered", b"x")).await,
        Published::Unroutable,
        "a queue bound to other keys"
    );
    assert_eq!(
        publish(&bus, &message(&new_id(), "case.referred", b"x")).await,
        Published::Routed
    );
    close(bus).await;
}

async fn redelivered_after_consumer_dies_before_acking(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.dispatch", &["case.registered"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let sent = message(&new_id(), "case.registered", b"payload");
    publish(&bus, &sent).await;
    let first = next(&mut subscription).await;
    assert_eq!(first.message.id, sent.id);
    assert!(!first.redelivered);

    // The consumer dies with the delivery in hand: its subscription (AMQP: channel) goes.
    drop(subscription);

    let mut again = subscribe(&bus, &spec).await;
    let second = next(&mut again).await;
    assert_eq!(second.message, sent);
    assert!(
        second.redelivered,
        "a delivery given back is marked redelivered"
    );
    ack(second).await;
    // The dead consumer's stale delivery cannot bring the message back.
    drop(first);
    nothing_more(&mut again).await;
    close(bus).await;
}

async fn duplicate_delivery_is_visible_by_message_id(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.analysis", &["case.*"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let id = new_id();
    // The relay may publish an event again after a lost confirm: same id, twice.
    let sent = message(&id, "case.accepted", b"once");
    publish(&bus, &sent).await;
    publish(&bus, &sent).await;

    let one = next(&mut subscription).await;
    let two = next(&mut subscription).await;
    assert_eq!(one.message.id, id);
    assert_eq!(two.message.id, id);
    assert_eq!(one.message.body, two.message.body);
    ack(one).await;
    ack(two).await;
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn malformed_message_dead_lettered_after_delivery_limit_while_consumer_keeps_serving(
    backend: Backend,
) {
    let limit = 2;
    let Some(bus) = backend.open(|c| c.delivery_limit = limit).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.assessment", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let mut dead_letters = timeout(WAIT, bus.subscribe_dead_letters(&spec.name))
        .await
        .expect("subscribe answers in time")
        .expect("subscribe to dead letters succeeds");
    let poison = message(&new_id(), "case.closed", b"\xff\xff not protobuf");
    publish(&bus, &poison).await;

    // The consumer gives the poison back each time, as the consumer loop does with a
    // message it cannot decode, until the broker moves it aside.
    let mut attempts = 0;
    let dead = timeout(WAIT, async {
        loop {
            tokio::select! {
                dead = dead_letters.next() => break dead.expect("dead letters still open"),
                delivery = subscription.next() => {
                    let delivery = delivery.expect("subscription still open");
                    assert_eq!(delivery.message.id, poison.id);
                    assert_eq!(delivery.redelivered, attempts > 0);
                    attempts += 1;
                    delivery.nack(true).await.expect("nack succeeds");
                }
            }
        }
    })
    .await
    .expect("the poison reaches the dead letters in time");

    assert_eq!(
        attempts,
        limit + 1,
        "dead-lettered once returned more than the limit"
    );
    assert_eq!(dead.message.id, poison.id);
    assert_eq!(dead.message.body, poison.body);
    assert_eq!(dead.message.routing_key, poison.routing_key);
    assert_eq!(
        dead.message.headers.get("traceparent"),
        poison.headers.get("traceparent")
    );
    assert_eq!(
        dead.message
            .headers
            .get("x-first-death-reason")
            .map(String::as_str),
        Some("delivery_limit")
    );
    ack(dead).await;

    // The same subscription keeps serving.
    let good = message(&new_id(), "case.closed", b"good");
    publish(&bus, &good).await;
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.message, good);
    ack(delivery).await;
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn rejected_message_is_dead_lettered_at_once(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.intake", &["mediation.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let mut dead_letters = timeout(WAIT, bus.subscribe_dead_letters(&spec.name))
        .await
        .expect("subscribe answers in time")
        .expect("subscribe to dead letters succeeds");
    let sent = message(&new_id(), "mediation.opened", b"x");
    publish(&bus, &sent).await;

    next(&mut subscription)
        .await
        .nack(false)
        .await
        .expect("nack succeeds");

    let dead = next(&mut dead_letters).await;
    assert_eq!(dead.message.id, sent.id);
    assert_eq!(dead.message.routing_key, sent.routing_key);
    assert_eq!(
        dead.message
            .headers
            .get("x-first-death-reason")
            .map(String::as_str),
        Some("rejected")
    );
    ack(dead).await;
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn topic_bindings_route_only_matching_keys(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    let spec = QueueSpec {
        name: "yimen.dept.civil-affairs".into(),
        bindings: vec!["case.*.civil-affairs".into(), "alert.#".into()],
    };
    let mut subscription = subscribe(&bus, &spec).await;
    let cases = [
        ("case.assigned.civil-affairs", Published::Routed),
        ("case.assigned.police", Published::Unroutable),
        ("case.civil-affairs", Published::Unroutable),
        ("case.assigned.x.civil-affairs", Published::Unroutable),
        ("alert", Published::Routed),
        ("alert.raised.hotspot", Published::Routed),
        ("department.joined", Published::Unroutable),
    ];
    let mut expected = Vec::new();
    for (routing_key, outcome) in cases {
        let sent = message(&new_id(), routing_key, routing_key.as_bytes());
        assert_eq!(publish(&bus, &sent).await, outcome, "{routing_key}");
        if outcome == Published::Routed {
            expected.push(sent);
        }
    }

    for sent in expected {
        let delivery = next(&mut subscription).await;
        assert_eq!(delivery.message, sent, "in publish order");
        ack(delivery).await;
    }
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn prefetch_bounds_unacked_deliveries(backend: Backend) {
    let Some(bus) = backend.open(|c| c.prefetch = 2).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.analysis", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let sent: Vec<Message> = (0..4)
        .map(|i| message(&new_id(), "case.registered", format!("{i}").as_bytes()))
        .collect();
    for m in &sent {
        publish(&bus, m).await;
    }

    let first = next(&mut subscription).await;
    let second = next(&mut subscription).await;
    assert_eq!(first.message, sent[0]);
    assert_eq!(second.message, sent[1]);
    // Two in hand: the third waits until one is settled.
    nothing_more(&mut subscription).await;

    ack(first).await;
    let third = next(&mut subscription).await;
    assert_eq!(third.message, sent[2]);
    nothing_more(&mut subscription).await;

    ack(second).await;
    ack(third).await;
    let fourth = next(&mut subscription).await;
    assert_eq!(fourth.message, sent[3]);
    ack(fourth).await;
    close(bus).await;
}

async fn closed_bus_refuses_publish_and_ends_subscriptions(backend: Backend) {
    let Some(bus) = backend.open(|_| {}).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.intake", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    bus.ping().await.expect("an open bus answers ping");

    close(bus.clone()).await;

    assert!(bus.ping().await.is_err(), "a closed bus is not ready");
    assert!(
        bus.publish(&message(&new_id(), "case.registered", b"x"))
            .await
            .is_err(),
        "a closed bus refuses publishes"
    );
    assert!(
        timeout(WAIT, subscription.next())
            .await
            .expect("the subscription ends in time")
            .is_none()
    );
    assert!(bus.subscribe(&spec).await.is_err());
}

/// Generates `memory::$name` and `rabbitmq::$name` for each behaviour.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Memory).await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::RabbitMq).await;
                }
            )*
        }
    };
}

contract![
    publish_is_confirmed_and_delivered,
    unroutable_publish_is_reported,
    redelivered_after_consumer_dies_before_acking,
    duplicate_delivery_is_visible_by_message_id,
    malformed_message_dead_lettered_after_delivery_limit_while_consumer_keeps_serving,
    rejected_message_is_dead_lettered_at_once,
    topic_bindings_route_only_matching_keys,
    prefetch_bounds_unacked_deliveries,
    closed_bus_refuses_publish_and_ends_subscriptions,
];

/// Connection loss, which only the broker has: the broker drops our connection
/// (`rabbitmqctl close_connection`, as on a node restart) and the bus comes back on its own.
mod rabbitmq_recovery {
    use super::*;
    use yimen_platform::bus::amqp::AmqpOptions;

    /// Closes, from the broker's side, every connection whose client properties name
    /// `prefix`; false when rabbitmqctl is not available here (the test skips).
    async fn broker_drops_connections_of(prefix: &str) -> bool {
        // The tab-separated listing gives pids in the form close_connection takes.
        let listed = tokio::process::Command::new("rabbitmqctl")
            .args(["list_connections", "pid", "client_properties", "-q"])
            .output()
            .await;
        let listed = match listed {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            Ok(out) => {
                eprintln!(
                    "skipped: rabbitmqctl list_connections failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return false;
            }
            Err(e) => {
                eprintln!("skipped: rabbitmqctl not available ({e})");
                return false;
            }
        };
        let ours: Vec<String> = listed
            .lines()
            .filter(|line| line.contains(prefix))
            .filter_map(|line| line.split('\t').next().map(str::to_string))
            .collect();
        assert!(!ours.is_empty(), "our connection is listed");
        for pid in ours {
            let closed = tokio::process::Command::new("rabbitmqctl")
                .args(["close_connection", &pid, "test: connection dropped"])
                .output()
                .await
                .expect("run rabbitmqctl close_connection");
            assert!(
                closed.status.success(),
                "rabbitmqctl close_connection {pid}: {}",
                String::from_utf8_lossy(&closed.stderr)
            );
        }
        true
    }

    /// Publishes until the bus takes it again (it refuses while reconnecting).
    async fn publish_when_back(bus: &Arc<dyn Bus>, message: &Message) -> Published {
        timeout(Duration::from_secs(60), async {
            loop {
                match bus.publish(message).await {
                    Ok(outcome) => return outcome,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .await
        .expect("publishing works again after the connection is back")
    }

    /// Takes the next delivery, subscribing again whenever the subscription ends (as the
    /// consumer loop does).
    async fn next_resubscribing(
        bus: &Arc<dyn Bus>,
        spec: &QueueSpec,
        subscription: &mut Box<dyn Subscription>,
    ) -> Delivery {
        timeout(Duration::from_secs(60), async {
            loop {
                if let Some(delivery) = subscription.next().await {
                    return delivery;
                }
                loop {
                    match bus.subscribe(spec).await {
                        Ok(s) => {
                            *subscription = s;
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }
        })
        .await
        .expect("a delivery arrives after the connection is back")
    }

    async fn survives_broker_dropping_the_connection(options: AmqpOptions) {
        let config = BusConfig {
            url: amqp_url(),
            prefix: format!("t-{}.", uuid::Uuid::new_v4().simple()),
            prefetch: 16,
            delivery_limit: 3,
            queue_expires_secs: Some(60),
        };
        let prefix = config.prefix.clone();
        let Some(bus) = connect_rabbitmq(config, options).await else {
            return;
        };
        let bus: Arc<dyn Bus> = Arc::new(bus);
        let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        let before = message(&new_id(), "case.registered", b"before");
        publish(&bus, &before).await;
        ack(next(&mut subscription).await).await;

        if !broker_drops_connections_of(&prefix).await {
            return;
        }

        let after = message(&new_id(), "case.registered", b"after");
        assert_eq!(publish_when_back(&bus, &after).await, Published::Routed);
        let delivery = next_resubscribing(&bus, &spec, &mut subscription).await;
        assert_eq!(delivery.message, after);
        ack(delivery).await;
        timeout(WAIT, bus.ping())
            .await
            .expect("ping answers in time")
            .expect("connected again");
        close(bus).await;
    }

    #[tokio::test]
    async fn lapin_recovery_brings_publishing_and_subscriptions_back() {
        survives_broker_dropping_the_connection(AmqpOptions::default()).await;
    }

    #[tokio::test]
    async fn supervisor_reconnects_when_the_connection_is_lost_for_good() {
        survives_broker_dropping_the_connection(AmqpOptions {
            library_recovery: false,
            ..AmqpOptions::default()
        })
        .await;
    }
}
