//! The bus contract: each behaviour the outbox relay, the consumer loop and operators rely on,
//! run against the in-process bus (`memory::*`) and RabbitMQ (`rabbitmq::*`) alike. Each
//! RabbitMQ test uses a name prefix of its own and queues that expire, so tests share one
//! broker; when it is unreachable they fail under CI and skip elsewhere.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use yimen_platform::bus::{
    AmqpBus, Bus, BusConfig, BusError, Delivery, MemoryBus, Message, Published, QueueSpec, Retry,
    Subscription, redact_url,
};
use yimen_testkit::broker::{TestBroker, amqp_url};
use yimen_testkit::unavailable;

/// Upper bound for anything that should happen; only a hang reaches it. Generous because the
/// shared broker stalls for a few seconds now and then (it deletes expired test queues in
/// batches), and a stall must not fail a test.
const WAIT: Duration = Duration::from_secs(60);
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
        match self {
            Backend::Memory => {
                let broker = TestBroker::with(|c| {
                    tweak(c);
                    c.url = "memory".into();
                });
                Some(Arc::new(MemoryBus::new(broker.config().clone())))
            }
            Backend::RabbitMq => {
                let broker = TestBroker::with(tweak);
                let bus = connect_rabbitmq(broker.config().clone(), Default::default()).await?;
                Some(broker.track(Arc::new(bus)))
            }
        }
    }
}

/// Connects to the test broker. Nobody listening: skip (fail under CI). Listening but not
/// answering the handshake (a stall): try again, and fail only when it lasts.
async fn connect_rabbitmq(
    config: BusConfig,
    options: yimen_platform::bus::amqp::AmqpOptions,
) -> Option<AmqpBus> {
    let url = redact_url(&config.url);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match AmqpBus::connect_with(config.clone(), options.clone()).await {
            Ok(bus) => return Some(bus),
            Err(BusError::Unavailable(why)) => {
                if let Err(refused) = listening(&config.url).await {
                    unavailable("RabbitMQ", &format!("at {url}: {refused}"));
                    return None;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "RabbitMQ at {url} accepts connections but does not answer: {why}"
                );
            }
            Err(e) => panic!("connecting to RabbitMQ at {url} failed: {e}"),
        }
    }
}

/// Whether anything accepts TCP connections where the URL points.
async fn listening(url: &str) -> Result<(), String> {
    let uri: lapin::uri::AMQPUri = url.parse()?;
    let address = (uri.authority.host.as_str(), uri.authority.port);
    match timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(address),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("TCP connect timed out".into()),
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

/// Publishes `count` messages with the bodies "0", "1", ... and answers them in order.
async fn publish_numbered(bus: &Arc<dyn Bus>, count: usize) -> Vec<Message> {
    let mut sent = Vec::new();
    for i in 0..count {
        let m = message(&new_id(), "case.registered", format!("{i}").as_bytes());
        publish(bus, &m).await;
        sent.push(m);
    }
    sent
}

async fn subscribe(bus: &Arc<dyn Bus>, spec: &QueueSpec) -> Box<dyn Subscription> {
    timeout(WAIT, bus.subscribe(spec))
        .await
        .expect("subscribe answers in time")
        .expect("subscribe succeeds")
}

async fn subscribe_dead_letters(bus: &Arc<dyn Bus>, spec: &QueueSpec) -> Box<dyn Subscription> {
    timeout(WAIT, bus.subscribe_dead_letters(&spec.name))
        .await
        .expect("subscribe answers in time")
        .expect("subscribe to dead letters succeeds")
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

/// `dead` is `sent` as a dead letter: the same id, body, event type and trace context, with
/// the reason RabbitMQ gives in `x-first-death-reason`.
fn is_dead_letter_of(dead: &Delivery, sent: &Message, reason: &str) {
    assert_eq!(dead.message.id, sent.id);
    assert_eq!(dead.message.body, sent.body);
    assert_eq!(dead.message.routing_key, sent.routing_key);
    assert_eq!(
        dead.message.headers.get("traceparent"),
        sent.headers.get("traceparent")
    );
    assert_eq!(
        dead.message
            .headers
            .get("x-first-death-reason")
            .map(String::as_str),
        Some(reason)
    );
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
    let mut dead_letters = subscribe_dead_letters(&bus, &spec).await;
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
    is_dead_letter_of(&dead, &poison, "delivery_limit");
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
    let mut dead_letters = subscribe_dead_letters(&bus, &spec).await;
    let sent = message(&new_id(), "mediation.opened", b"x");
    publish(&bus, &sent).await;

    next(&mut subscription)
        .await
        .nack(false)
        .await
        .expect("nack succeeds");

    let dead = next(&mut dead_letters).await;
    is_dead_letter_of(&dead, &sent, "rejected");
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
    let Some(bus) = backend.open(|c| c.prefetch = Some(2)).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.analysis", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let sent = publish_numbered(&bus, 4).await;

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

async fn acks_settle_each_delivery_in_any_order(backend: Backend) {
    let Some(bus) = backend.open(|c| c.prefetch = Some(8)).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.analysis", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let sent = publish_numbered(&bus, 4).await;
    let mut deliveries = Vec::new();
    for m in &sent {
        let delivery = next(&mut subscription).await;
        assert_eq!(delivery.message, *m);
        deliveries.push(delivery);
    }
    // Lanes finish in any order: the last first, then the first, then the rest.
    let last = deliveries.pop().expect("four deliveries");
    ack(last).await;
    let first = deliveries.remove(0);
    ack(first).await;
    for delivery in deliveries {
        ack(delivery).await;
    }
    nothing_more(&mut subscription).await;
    // Every ack reached its own delivery: ending the subscription gives nothing back.
    drop(subscription);
    let mut again = subscribe(&bus, &spec).await;
    nothing_more(&mut again).await;
    close(bus).await;
}

async fn retried_message_comes_back_after_the_delay_at_the_end_of_the_queue(backend: Backend) {
    let delay = Duration::from_millis(700);
    let Some(bus) = backend
        .open(|c| c.retry_delay_ms = delay.as_millis() as u64)
        .await
    else {
        return;
    };
    let spec = QueueSpec::new("yimen.intake", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let failing = message(&new_id(), "case.assigned.police", b"fails once");
    publish(&bus, &failing).await;
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.attempts, 0);
    let given_back = tokio::time::Instant::now();
    assert_eq!(
        timeout(WAIT, delivery.retry_later())
            .await
            .expect("retry later answers in time")
            .expect("retry later succeeds"),
        Retry::Scheduled
    );

    // Not hot-requeued: a message published after it comes first.
    let later = message(&new_id(), "case.registered", b"later");
    publish(&bus, &later).await;
    let delivery = next(&mut subscription).await;
    assert_eq!(delivery.message, later);
    ack(delivery).await;

    let again = next(&mut subscription).await;
    assert!(
        given_back.elapsed() >= delay,
        "back after the retry delay, not before"
    );
    assert_eq!(again.message.id, failing.id);
    assert_eq!(again.message.body, failing.body);
    assert_eq!(again.message.routing_key, failing.routing_key);
    assert_eq!(
        again.message.headers.get("traceparent"),
        failing.headers.get("traceparent")
    );
    assert_eq!(again.attempts, 1, "the attempt is counted");
    ack(again).await;
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn retried_message_is_dead_lettered_past_the_delivery_limit(backend: Backend) {
    let limit = 2;
    let Some(bus) = backend
        .open(|c| {
            c.delivery_limit = limit;
            c.retry_delay_ms = 50;
        })
        .await
    else {
        return;
    };
    let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
    let mut subscription = subscribe(&bus, &spec).await;
    let mut dead_letters = subscribe_dead_letters(&bus, &spec).await;
    let poison = message(&new_id(), "case.registered", b"always fails");
    publish(&bus, &poison).await;
    for attempt in 0..=limit {
        let delivery = next(&mut subscription).await;
        assert_eq!(delivery.message.id, poison.id);
        assert_eq!(delivery.attempts, attempt);
        let expected = if attempt < limit {
            Retry::Scheduled
        } else {
            Retry::DeadLettered
        };
        assert_eq!(
            timeout(WAIT, delivery.retry_later())
                .await
                .expect("retry later answers in time")
                .expect("retry later succeeds"),
            expected
        );
    }
    let dead = next(&mut dead_letters).await;
    is_dead_letter_of(&dead, &poison, "delivery_limit");
    ack(dead).await;
    nothing_more(&mut subscription).await;
    close(bus).await;
}

async fn competing_consumers_get_every_message_exactly_once(backend: Backend) {
    let Some(bus) = backend.open(|c| c.prefetch = Some(8)).await else {
        return;
    };
    let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
    let (seen, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let mut subscription = subscribe(&bus, &spec).await;
        let seen = seen.clone();
        consumers.push(tokio::spawn(async move {
            while let Some(delivery) = subscription.next().await {
                let _ = seen.send(delivery.message.id.clone());
                delivery.ack().await.expect("ack succeeds");
            }
        }));
    }
    let mut publishers = Vec::new();
    for p in 0..4 {
        let bus = bus.clone();
        publishers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let sent = message(&new_id(), "case.registered", format!("{p}/{i}").as_bytes());
                assert_eq!(publish(&bus, &sent).await, Published::Routed);
                ids.push(sent.id);
            }
            ids
        }));
    }
    let mut published = std::collections::BTreeSet::new();
    for publisher in publishers {
        published.extend(publisher.await.expect("publisher finishes"));
    }

    let mut delivered = std::collections::BTreeSet::new();
    while delivered.len() < published.len() {
        let id = timeout(WAIT, received.recv())
            .await
            .expect("deliveries keep coming")
            .expect("consumers still running");
        assert!(delivered.insert(id.clone()), "{id} delivered twice");
    }
    assert_eq!(delivered, published);
    for consumer in consumers {
        consumer.abort();
    }
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

yimen_testkit::on_both_buses!([
    publish_is_confirmed_and_delivered,
    unroutable_publish_is_reported,
    redelivered_after_consumer_dies_before_acking,
    duplicate_delivery_is_visible_by_message_id,
    malformed_message_dead_lettered_after_delivery_limit_while_consumer_keeps_serving,
    rejected_message_is_dead_lettered_at_once,
    topic_bindings_route_only_matching_keys,
    prefetch_bounds_unacked_deliveries,
    acks_settle_each_delivery_in_any_order,
    retried_message_comes_back_after_the_delay_at_the_end_of_the_queue,
    retried_message_is_dead_lettered_past_the_delivery_limit,
    competing_consumers_get_every_message_exactly_once,
    closed_bus_refuses_publish_and_ends_subscriptions,
]);

/// Connection loss, which only RabbitMQ has. The bus reaches the broker through a TCP proxy
/// the test controls, so a network failure and an outage are real for the client while the
/// shared broker only sees clients come and go.
mod rabbitmq_recovery {
    use super::*;
    use yimen_platform::bus::amqp::AmqpOptions;
    use yimen_testkit::proxy::Proxy;

    /// A proxy and a bus through it, or None when the broker is unreachable (skip).
    async fn bus_through_proxy(options: AmqpOptions) -> Option<(Proxy, Arc<dyn Bus>)> {
        let upstream = amqp_url();
        if let Err(refused) = listening(&upstream).await {
            unavailable(
                "RabbitMQ",
                &format!("at {}: {refused}", redact_url(&upstream)),
            );
            return None;
        }
        let proxy = Proxy::start(&upstream).await;
        // A short heartbeat, so the broker soon notices a connection the test has frozen.
        let url = if proxy.url().contains('?') {
            proxy.url().to_string()
        } else {
            format!("{}?heartbeat=3", proxy.url())
        };
        let broker = TestBroker::with(|c| {
            c.url = url;
            c.queue_expires_secs = Some(60);
        });
        let bus = connect_rabbitmq(broker.config().clone(), options).await?;
        Some((proxy, broker.track(Arc::new(bus))))
    }

    /// Publishes until the bus takes it again (it refuses while reconnecting).
    async fn publish_when_back(bus: &Arc<dyn Bus>, message: &Message) -> Published {
        timeout(2 * WAIT, async {
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

    /// Subscribes once the bus is connected again (as the consumer loop does).
    async fn subscribe_when_back(bus: &Arc<dyn Bus>, spec: &QueueSpec) -> Box<dyn Subscription> {
        timeout(2 * WAIT, async {
            loop {
                match bus.subscribe(spec).await {
                    Ok(subscription) => return subscription,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .await
        .expect("subscribing works again after the connection is back")
    }

    async fn ends(subscription: &mut Box<dyn Subscription>) {
        assert!(
            timeout(WAIT, subscription.next())
                .await
                .expect("the subscription ends in time")
                .is_none(),
            "no delivery while the broker is away"
        );
    }

    /// Publishes one message and takes it, so the connection is known to work.
    async fn round_trip(bus: &Arc<dyn Bus>, subscription: &mut Box<dyn Subscription>) {
        let sent = message(&new_id(), "case.registered", b"round trip");
        assert_eq!(publish(bus, &sent).await, Published::Routed);
        let delivery = next_of(subscription, &sent).await;
        ack(delivery).await;
    }

    /// The delivery of `sent`. An ack the connection took down with it never reached the
    /// broker, so an earlier message may come again first: at-least-once, marked redelivered.
    async fn next_of(subscription: &mut Box<dyn Subscription>, sent: &Message) -> Delivery {
        loop {
            let delivery = next(subscription).await;
            if delivery.message == *sent {
                return delivery;
            }
            assert!(
                delivery.redelivered,
                "only a redelivery may come before {}: {delivery:?}",
                sent.id
            );
            ack(delivery).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lapin_recovery_carries_publishing_and_subscriptions_over_a_network_drop() {
        let options = AmqpOptions {
            library_recovery: true,
            ..AmqpOptions::default()
        };
        let Some((proxy, bus)) = bus_through_proxy(options).await else {
            return;
        };
        let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        round_trip(&bus, &mut subscription).await;

        proxy.cut();
        // Lets lapin see the drop before the next publish opens a channel: a channel opened
        // at the very moment of the drop deadlocks lapin 4.12.3's recovery (the case
        // `supervisor_replaces_a_connection_that_stops_answering` covers).
        tokio::time::sleep(Duration::from_secs(1)).await;

        let after = message(&new_id(), "case.registered", b"after");
        assert_eq!(publish_when_back(&bus, &after).await, Published::Routed);
        // Usually lapin replays the channel and its consumer and the same subscription carries
        // on. Under load its recovery can stall; then the supervisor replaces the connection,
        // the subscription ends, and a new one — as the consumer loop makes — gets the message.
        // Either way the message published after the drop is delivered.
        let still_open = timeout(WAIT, subscription.next())
            .await
            .expect("the subscription delivers or ends in time");
        let delivery = match still_open {
            Some(first) if first.message == after => first,
            Some(first) => {
                assert!(
                    first.redelivered,
                    "only a redelivery may come first: {first:?}"
                );
                ack(first).await;
                next_of(&mut subscription, &after).await
            }
            None => {
                let mut again = subscribe_when_back(&bus, &spec).await;
                next_of(&mut again, &after).await
            }
        };
        ack(delivery).await;
        bus.ping().await.expect("connected again");
        close(bus).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn supervisor_reconnects_after_an_outage_without_lapin_recovery() {
        let options = AmqpOptions {
            library_recovery: false,
            ..AmqpOptions::default()
        };
        let Some((proxy, bus)) = bus_through_proxy(options).await else {
            return;
        };
        let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        round_trip(&bus, &mut subscription).await;

        proxy.set_open(false);
        proxy.cut();
        ends(&mut subscription).await;
        assert!(
            bus.ping().await.is_err(),
            "not ready while the broker is away"
        );
        assert!(
            bus.publish(&message(&new_id(), "case.registered", b"x"))
                .await
                .is_err()
        );
        proxy.set_open(true);

        let after = message(&new_id(), "case.registered", b"after");
        assert_eq!(publish_when_back(&bus, &after).await, Published::Routed);
        let mut again = subscribe_when_back(&bus, &spec).await;
        let delivery = next_of(&mut again, &after).await;
        ack(delivery).await;
        round_trip(&bus, &mut again).await;
        close(bus).await;
    }

    /// The outage a restarted broker makes: after a few seconds away, publishing and a
    /// subscription (made again as the consumer loop makes it) work again soon after the
    /// broker returns. The time each took is printed (`--no-capture`), never asserted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publishing_and_a_subscription_resume_soon_after_a_broker_outage() {
        let Some((proxy, bus)) = bus_through_proxy(AmqpOptions::default()).await else {
            return;
        };
        let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        round_trip(&bus, &mut subscription).await;

        proxy.outage();
        ends(&mut subscription).await;
        // A few seconds away, with the supervisor trying to reconnect all along.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(bus.ping().await.is_err(), "no broker during the outage");
        proxy.set_open(true);
        let returned = tokio::time::Instant::now();

        let after = message(&new_id(), "case.registered", b"after");
        assert_eq!(publish_when_back(&bus, &after).await, Published::Routed);
        let published = returned.elapsed();
        let mut again = subscribe_when_back(&bus, &spec).await;
        let delivery = next_of(&mut again, &after).await;
        let delivered = returned.elapsed();
        ack(delivery).await;
        eprintln!(
            "measured: after the broker returned, publishing resumed in {} ms and the \
             subscription delivered in {} ms",
            published.as_millis(),
            delivered.as_millis()
        );
        round_trip(&bus, &mut again).await;
        close(bus).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn supervisor_takes_over_when_lapin_recovery_takes_too_long() {
        let options = AmqpOptions {
            library_recovery: true,
            recovery_grace: Duration::from_secs(1),
            ..AmqpOptions::default()
        };
        let Some((proxy, bus)) = bus_through_proxy(options).await else {
            return;
        };
        let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        round_trip(&bus, &mut subscription).await;

        proxy.set_open(false);
        proxy.cut();
        // lapin keeps trying; past the grace the supervisor gives its connection up, and
        // the subscriptions on it end.
        ends(&mut subscription).await;
        proxy.set_open(true);

        let after = message(&new_id(), "case.registered", b"after");
        assert_eq!(publish_when_back(&bus, &after).await, Published::Routed);
        let mut again = subscribe_when_back(&bus, &spec).await;
        let delivery = next_of(&mut again, &after).await;
        ack(delivery).await;
        round_trip(&bus, &mut again).await;
        close(bus).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn supervisor_replaces_a_connection_that_stops_answering() {
        let options = AmqpOptions {
            liveness_interval: Duration::from_secs(1),
            liveness_timeout: Duration::from_secs(1),
            ..AmqpOptions::default()
        };
        let Some((proxy, bus)) = bus_through_proxy(options).await else {
            return;
        };
        let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        round_trip(&bus, &mut subscription).await;

        // lapin still reports the connection up, but nothing comes back.
        proxy.freeze();
        ends(&mut subscription).await;

        let after = message(&new_id(), "case.registered", b"after");
        assert_eq!(publish_when_back(&bus, &after).await, Published::Routed);
        let mut again = subscribe_when_back(&bus, &spec).await;
        let delivery = next_of(&mut again, &after).await;
        ack(delivery).await;
        round_trip(&bus, &mut again).await;
        close(bus).await;
    }
}

/// `amqps://` (rustls): the broker reached through a TLS front holding a test CA's
/// certificate, so the client really verifies a certificate and its name, and presents its
/// own when the front asks for one (mTLS).
mod rabbitmq_tls {
    use super::*;
    use yimen_testkit::tls::{Before, TestPki, TlsFront};

    async fn front(pki: &TestPki, client_certificates: bool) -> TlsFront {
        let uri: lapin::uri::AMQPUri = amqp_url().parse().expect("a valid test broker URL");
        let upstream = format!("{}:{}", uri.authority.host, uri.authority.port);
        TlsFront::start(pki, &upstream, Before::Nothing, client_certificates).await
    }

    /// The test broker's URL, as `amqps://` to `localhost` (a name the certificate holds) at
    /// the front's port.
    fn amqps(front: &TlsFront) -> String {
        let uri: lapin::uri::AMQPUri = amqp_url().parse().expect("a valid test broker URL");
        format!(
            "amqps://{}:{}@localhost:{}/%2f",
            uri.authority.userinfo.username,
            uri.authority.userinfo.password,
            front.port()
        )
    }

    async fn round_trip(bus: Arc<dyn Bus>) {
        let spec = QueueSpec::new("yimen.intake", &["case.#"]);
        let mut subscription = subscribe(&bus, &spec).await;
        let sent = message(&new_id(), "case.registered", b"\x0a\x03abc");
        assert_eq!(publish(&bus, &sent).await, Published::Routed);
        let delivery = next(&mut subscription).await;
        assert_eq!(delivery.message, sent);
        ack(delivery).await;
        close(bus).await;
    }

    #[tokio::test]
    async fn amqps_with_the_ca_publishes_and_consumes_over_tls() {
        if !TestBroker::new().reachable().await {
            return;
        }
        let pki = TestPki::generate();
        let front = front(&pki, false).await;
        let broker = TestBroker::with(|c| {
            c.url = amqps(&front);
            c.tls.ca_file = Some(pki.ca_file.clone());
        });
        let bus = AmqpBus::connect(broker.config().clone())
            .await
            .expect("amqps connects with the CA trusted");
        round_trip(broker.track(Arc::new(bus))).await;
        assert!(front.handshakes() >= 1, "the bus spoke TLS to the front");
    }

    #[tokio::test]
    async fn amqps_refuses_a_broker_whose_certificate_it_cannot_verify() {
        if !TestBroker::new().reachable().await {
            return;
        }
        let (pki, stranger) = (TestPki::generate(), TestPki::generate());
        let front = front(&pki, false).await;
        let broker = TestBroker::with(|c| {
            c.url = amqps(&front);
            c.tls.ca_file = Some(stranger.ca_file.clone());
        });
        let err = AmqpBus::connect(broker.config().clone())
            .await
            .expect_err("a certificate from an untrusted CA is refused");
        assert!(
            matches!(err, BusError::Unavailable(_)),
            "refused as unreachable: {err}"
        );
        assert_eq!(front.handshakes(), 0, "no session was established");
    }

    #[tokio::test]
    async fn amqps_presents_the_client_certificate_a_broker_asks_for() {
        if !TestBroker::new().reachable().await {
            return;
        }
        let pki = TestPki::generate();
        let front = front(&pki, true).await;
        let without = TestBroker::with(|c| {
            c.url = amqps(&front);
            c.tls.ca_file = Some(pki.ca_file.clone());
        });
        assert!(
            AmqpBus::connect(without.config().clone()).await.is_err(),
            "without a client certificate the broker's TLS refuses the bus"
        );
        let with = TestBroker::with(|c| {
            c.url = amqps(&front);
            c.tls = yimen_platform::bus::BusTls {
                ca_file: Some(pki.ca_file.clone()),
                cert_file: Some(pki.client_cert_file.clone()),
                key_file: Some(pki.client_key_file.clone()),
            };
        });
        let bus = AmqpBus::connect(with.config().clone())
            .await
            .expect("amqps connects with the client certificate");
        round_trip(with.track(Arc::new(bus))).await;
    }

    #[tokio::test]
    async fn bus_tls_settings_are_checked_at_connect() {
        let pki = TestPki::generate();
        let plain = BusConfig {
            url: "amqp://guest:guest@127.0.0.1:1/%2f".into(),
            tls: yimen_platform::bus::BusTls {
                ca_file: Some(pki.ca_file.clone()),
                ..Default::default()
            },
            ..BusConfig::default()
        };
        let err = AmqpBus::connect(plain).await.unwrap_err().to_string();
        assert!(err.contains("not an amqps:// URL"), "{err}");

        let missing = pki.dir().join("nowhere.pem");
        let config = BusConfig {
            url: "amqps://guest:guest@127.0.0.1:1/%2f".into(),
            tls: yimen_platform::bus::BusTls {
                ca_file: Some(missing.clone()),
                ..Default::default()
            },
            ..BusConfig::default()
        };
        let err = AmqpBus::connect(config).await.unwrap_err().to_string();
        assert!(err.contains("bus.tls.ca_file"), "{err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");

        let half = BusConfig {
            url: "amqps://guest:guest@127.0.0.1:1/%2f".into(),
            tls: yimen_platform::bus::BusTls {
                cert_file: Some(pki.client_cert_file.clone()),
                ..Default::default()
            },
            ..BusConfig::default()
        };
        let err = AmqpBus::connect(half).await.unwrap_err().to_string();
        assert!(err.contains("go together"), "{err}");
    }
}
