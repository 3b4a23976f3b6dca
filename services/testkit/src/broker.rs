//! A name prefix of its own on the shared test broker for each test, and the removal of
//! everything under it when the test ends, pass or fail: the prefix's two exchanges, and
//! every queue (with its retry and dead-letter queues) that a bus it handed out declared or that the
//! test said other processes would declare.
//!
//! Plain AMQP has no way to list what lies under a prefix (the management API is not
//! required of the test broker), so the names are recorded as they are declared. Test queues
//! also expire when idle, as a backstop for a process killed before its guard ran.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use yimen_platform::bus::amqp::DEAD_LETTER_EXCHANGE;
use yimen_platform::bus::{
    Bus, BusConfig, BusError, EVENTS_EXCHANGE, Message, Published, QueueSpec, Subscription,
    dead_letter_queue, retry_queue,
};

use crate::unavailable;

/// The broker tests use; `YIMEN_TEST_AMQP` overrides.
pub fn amqp_url() -> String {
    std::env::var("YIMEN_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Idle test queues expire this soon. Each quorum queue holds broker file descriptors (the
/// broker's limit is about a thousand); queues left for minutes by a test run would exhaust
/// them and the broker would stop accepting connections.
pub const TEST_QUEUE_EXPIRY_SECS: u64 = 20;

/// What every test prefix starts with.
pub const TEST_PREFIX_START: &str = "t-";

/// A fresh prefix on the test broker; see the module doc. Cheap to clone: every clone, and
/// every bus it connected, shares one record, and the names are deleted when the last of
/// them is dropped.
#[derive(Clone)]
pub struct TestBroker {
    prefix: Arc<Prefix>,
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBroker {
    /// A new prefix with the test settings: prefetch 16, delivery limit 3, expiring queues.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// A new prefix with settings `tweak`ed (the prefix itself is kept).
    pub fn with(tweak: impl FnOnce(&mut BusConfig)) -> Self {
        let prefix = format!("{TEST_PREFIX_START}{}.", uuid::Uuid::new_v4().simple());
        let mut config = BusConfig {
            url: amqp_url(),
            prefix: prefix.clone(),
            prefetch: Some(16),
            delivery_limit: 3,
            queue_expires_secs: Some(TEST_QUEUE_EXPIRY_SECS),
            ..BusConfig::default()
        };
        tweak(&mut config);
        config.prefix = prefix;
        Self {
            prefix: Arc::new(Prefix {
                config,
                queues: Mutex::new(BTreeSet::new()),
            }),
        }
    }

    /// The settings to open a bus with (or to hand to a `yimen` process).
    pub fn config(&self) -> &BusConfig {
        &self.prefix.config
    }

    /// Also deletes these queues (names before the prefix) at the end: queues that processes
    /// other than this test declare under the prefix.
    pub fn expect_queues<S: Into<String>>(&self, names: impl IntoIterator<Item = S>) {
        self.prefix.record(names.into_iter().map(Into::into));
    }

    /// Wraps `bus` (opened with [`Self::config`], perhaps through a proxy) so the queues it
    /// declares are recorded, and the prefix lives at least as long as it.
    pub fn track(&self, bus: Arc<dyn Bus>) -> Arc<dyn Bus> {
        Arc::new(Tracked {
            bus,
            prefix: self.prefix.clone(),
        })
    }

    /// A recorded bus on the test broker, or None (skip; a failure under CI) when the broker
    /// is unreachable.
    pub async fn connect(&self) -> Option<Arc<dyn Bus>> {
        match yimen_platform::bus::connect(self.config()).await {
            Ok(bus) => Some(self.track(bus)),
            Err(e) => {
                unavailable("RabbitMQ", &e.to_string());
                None
            }
        }
    }

    /// Whether the broker answers: opens a bus and closes it again (declaring nothing but the
    /// prefix's exchanges, which the guard deletes).
    pub async fn reachable(&self) -> bool {
        match self.connect().await {
            Some(bus) => {
                bus.close().await;
                true
            }
            None => false,
        }
    }
}

struct Prefix {
    config: BusConfig,
    /// Queue names before the prefix.
    queues: Mutex<BTreeSet<String>>,
}

impl Prefix {
    fn record(&self, names: impl IntoIterator<Item = String>) {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(names);
    }

    /// Full names: the exchanges, and every recorded queue with its retry and dead-letter
    /// queues.
    fn names(&self) -> (Vec<String>, Vec<String>) {
        let prefix = &self.config.prefix;
        let exchanges = [EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE]
            .iter()
            .map(|e| format!("{prefix}{e}"))
            .collect();
        let queues = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|q| {
                [
                    format!("{prefix}{q}"),
                    format!("{prefix}{}", retry_queue(q)),
                    format!("{prefix}{}", dead_letter_queue(q)),
                ]
            })
            .collect();
        (exchanges, queues)
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        // An in-process bus leaves nothing on the broker.
        if !self.config.url.starts_with("amqp") {
            return;
        }
        // The broker itself, not the URL the buses used: that may lead through a test's proxy,
        // which may be cut by now.
        let url = amqp_url();
        let (exchanges, queues) = self.names();
        crate::clean_up(
            format!("the names under {}", self.config.prefix),
            delete(url, exchanges, queues),
        );
    }
}

/// Deletes the queues, then the exchanges. Deleting a name that does not exist succeeds.
async fn delete(url: String, exchanges: Vec<String>, queues: Vec<String>) -> anyhow::Result<()> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let connection =
        lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    for queue in queues {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    for exchange in exchanges {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    connection.close(200, "OK".into()).await?;
    Ok(())
}

/// A bus that records the queues declared through it; see [`TestBroker::track`].
struct Tracked {
    bus: Arc<dyn Bus>,
    prefix: Arc<Prefix>,
}

#[async_trait]
impl Bus for Tracked {
    fn prefix(&self) -> &str {
        self.bus.prefix()
    }

    async fn publish(&self, message: &Message) -> Result<Published, BusError> {
        self.bus.publish(message).await
    }

    async fn publish_batch(&self, messages: &[Message]) -> Vec<Result<Published, BusError>> {
        self.bus.publish_batch(messages).await
    }

    async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        self.prefix.record([spec.name.clone()]);
        self.bus.declare_queue(spec).await
    }

    async fn subscribe(&self, spec: &QueueSpec) -> Result<Box<dyn Subscription>, BusError> {
        self.prefix.record([spec.name.clone()]);
        self.bus.subscribe(spec).await
    }

    async fn subscribe_dead_letters(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.prefix.record([queue.to_string()]);
        self.bus.subscribe_dead_letters(queue).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.bus.ping().await
    }

    async fn close(&self) {
        self.bus.close().await
    }
}

/// Runs each bus suite `$name` (an `async fn(Backend)` of the calling file, whose `Backend`
/// has the variants `Memory` and `RabbitMq`) on both buses: generates `memory::$name` and
/// `rabbitmq::$name`, on a multi-threaded runtime as in production, so concurrent use really
/// runs in parallel.
#[macro_export]
macro_rules! on_both_buses {
    ([$($name:ident),* $(,)?]) => {
        mod memory {
            $(
                #[$crate::__tokio::test(
                    crate = "yimen_testkit::__tokio",
                    flavor = "multi_thread",
                    worker_threads = 2
                )]
                async fn $name() {
                    super::$name(super::Backend::Memory).await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[$crate::__tokio::test(
                    crate = "yimen_testkit::__tokio",
                    flavor = "multi_thread",
                    worker_threads = 2
                )]
                async fn $name() {
                    super::$name(super::Backend::RabbitMq).await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the broker knows the exchange and the queue (passive declares, which fail
    /// with NOT_FOUND and close the channel when the name does not exist).
    async fn exist(exchange: &str, queue: &str) -> (bool, bool) {
        use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let connection = lapin::Connection::connect(&amqp_url(), Default::default())
            .await
            .expect("the broker");
        let exchange = connection
            .create_channel()
            .await
            .expect("a channel")
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .is_ok();
        let queue = connection
            .create_channel()
            .await
            .expect("a channel")
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .is_ok();
        // A failed passive declare leaves its channel closing, which the close may report.
        let _ = connection.close(200, "OK".into()).await;
        (exchange, queue)
    }

    fn full_names(broker: &TestBroker, queue: &str) -> (String, String) {
        let prefix = &broker.config().prefix;
        (
            format!("{prefix}{EVENTS_EXCHANGE}"),
            format!("{prefix}{}", dead_letter_queue(queue)),
        )
    }

    #[tokio::test]
    async fn names_under_the_prefix_are_deleted_with_the_last_handle() {
        let broker = TestBroker::new();
        let Some(bus) = broker.connect().await else {
            return;
        };
        let spec = QueueSpec::new("yimen.probe", &["case.#"]);
        let subscription = bus.subscribe(&spec).await.expect("subscribe");
        let (exchange, dead) = full_names(&broker, &spec.name);
        assert_eq!(exist(&exchange, &dead).await, (true, true));
        drop(broker);
        assert_eq!(
            exist(&exchange, &dead).await,
            (true, true),
            "the bus still holds the prefix"
        );
        drop(subscription);
        bus.close().await;
        drop(bus);
        assert_eq!(exist(&exchange, &dead).await, (false, false));
    }

    #[tokio::test]
    async fn queues_declared_by_another_process_are_deleted_when_the_test_fails() {
        let broker = TestBroker::new();
        if !broker.reachable().await {
            return;
        }
        let spec = QueueSpec::new("yimen.elsewhere", &["case.#"]);
        let (exchange, dead) = full_names(&broker, &spec.name);
        let other = yimen_platform::bus::connect(broker.config())
            .await
            .expect("the broker");
        other.declare_queue(&spec).await.expect("declare");
        other.close().await;
        drop(other);
        let failing = std::thread::spawn(move || {
            broker.expect_queues([spec.name.clone()]);
            panic!("the test fails midway");
        });
        assert!(failing.join().is_err());
        assert_eq!(exist(&exchange, &dead).await, (false, false));
    }
}
