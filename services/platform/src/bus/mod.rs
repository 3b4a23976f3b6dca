//! The event bus: one trait, two implementations — AMQP (RabbitMQ, through lapin) for
//! distributed deployments and in-process for standalone — with the same at-least-once
//! semantics: a publish returns only once the broker has confirmed it, deliveries are acked
//! by hand (each by itself, in any order), an unacked delivery comes back, a delivery can be
//! given back for a later retry (after `retry_delay_ms`, through the queue's retry queue), and
//! a message that fails more than the delivery limit is moved to the queue's dead-letter queue
//! so the consumer keeps serving.

pub mod amqp;
mod journal;
pub mod memory;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

pub use amqp::AmqpBus;
pub use memory::MemoryBus;

/// The name of the topic exchange every event is published to (before the prefix).
pub const EVENTS_EXCHANGE: &str = "yimen.events";

/// The dead-letter queue of `queue` (both before the prefix): where its rejected messages and
/// those past the delivery limit go.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// The retry queue of `queue` (both before the prefix): where a delivery given back for a later
/// retry waits out `bus.retry_delay_ms` before it returns to the end of `queue`.
pub fn retry_queue(queue: &str) -> String {
    format!("{queue}.retry")
}

/// The header counting a message's earlier deliveries that failed and were retried later. The
/// broker's own delivery count starts again with each republish, so the count travels with the
/// message.
pub const ATTEMPTS_HEADER: &str = "x-yimen-attempts";
/// The header keeping the routing key a message was published with (its event type) while it
/// travels through retry and dead-letter queues, which route it by queue name.
pub const ROUTING_KEY_HEADER: &str = "x-yimen-routing-key";

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("broker unreachable: {0}")]
    Unavailable(String),
    #[error("the broker refused the message: {0}")]
    Nacked(String),
    #[error("bus error: {0}")]
    Other(String),
}

/// One message on the bus. `id` becomes the AMQP `message_id`; `headers` carry the W3C trace
/// context (`traceparent`, `tracestate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// What became of a confirmed publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// At least one queue took it.
    Routed,
    /// No queue is bound to the routing key; the broker returned it (`mandatory`).
    Unroutable,
}

/// A durable queue of one consumer (a service, or a department's own system), bound to the
/// routing-key patterns it needs (`*` one word, `#` zero or more words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// The queue name before the prefix, e.g. `yimen.intake` or `yimen.dept.civil-affairs`.
    pub name: String,
    pub bindings: Vec<String>,
}

impl QueueSpec {
    pub fn new(name: impl Into<String>, bindings: &[&str]) -> Self {
        Self {
            name: name.into(),
            bindings: bindings.iter().map(|b| b.to_string()).collect(),
        }
    }

    /// The queue a department's own system consumes its work from: every case event that
    /// ends in the department's code (`case.assigned.<code>`, `case.accepted.<code>`, ...).
    pub fn department(code: &str) -> Self {
        Self {
            name: format!("yimen.dept.{code}"),
            bindings: vec![format!("case.*.{code}")],
        }
    }
}

/// Settles one delivery. Implemented by each backend.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    /// `requeue = true` gives the message back (counting a delivery attempt); past the
    /// delivery limit the broker dead-letters it. `requeue = false` dead-letters at once.
    async fn nack(&self, requeue: bool) -> Result<(), BusError>;
    /// Gives the message back for a later retry: it comes back after the queue's retry delay,
    /// at the end of the queue, counting an attempt; once the attempts exceed the delivery limit
    /// it is dead-lettered instead. Backends without a delay (test doubles) give it back at once.
    /// `message` and `attempts` are the delivery's own.
    async fn retry_later(&self, message: &Message, attempts: u32) -> Result<Retry, BusError> {
        let _ = (message, attempts);
        self.nack(true).await.map(|()| Retry::Scheduled)
    }
}

/// What became of a delivery given back for a later retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// It comes back after the retry delay.
    Scheduled,
    /// Past the delivery limit: moved to the dead-letter queue.
    DeadLettered,
}

/// A message handed to a consumer, to be acked or nacked exactly once.
pub struct Delivery {
    pub message: Message,
    /// True when this message was delivered before and not acked.
    pub redelivered: bool,
    /// Earlier deliveries of this message that failed and were retried later.
    pub attempts: u32,
    acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.message.id)
            .field("routing_key", &self.message.routing_key)
            .field("redelivered", &self.redelivered)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl Delivery {
    pub fn new(message: Message, redelivered: bool, acker: Box<dyn Acker>) -> Self {
        Self {
            message,
            redelivered,
            attempts: 0,
            acker,
        }
    }

    /// The same delivery, with `attempts` earlier failed attempts.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    pub async fn nack(self, requeue: bool) -> Result<(), BusError> {
        self.acker.nack(requeue).await
    }

    /// See [`Acker::retry_later`].
    pub async fn retry_later(self) -> Result<Retry, BusError> {
        self.acker.retry_later(&self.message, self.attempts).await
    }
}

/// A stream of deliveries from one queue. Dropping it gives every unacked delivery back.
#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; `None` once the subscription has ended (connection lost for good,
    /// or the bus closed), after which the caller subscribes again.
    async fn next(&mut self) -> Option<Delivery>;
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes to the events exchange and waits for the broker's confirm.
    async fn publish(&self, message: &Message) -> Result<Published, BusError>;

    /// Publishes several messages and waits for every confirm; answers each one's outcome,
    /// in the order given. A backend may have them all in flight at once, so nothing is
    /// promised about their order on the broker: a caller that needs one message after
    /// another waits for the first one's outcome (the outbox relay does, per case). By
    /// default, one `publish` after another.
    async fn publish_batch(&self, messages: &[Message]) -> Vec<Result<Published, BusError>> {
        let mut outcomes = Vec::with_capacity(messages.len());
        for message in messages {
            outcomes.push(self.publish(message).await);
        }
        outcomes
    }

    /// Declares the queue, its dead-letter queue and its bindings (idempotent).
    async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BusError>;

    /// Declares the queue and starts consuming it with the configured prefetch.
    async fn subscribe(&self, spec: &QueueSpec) -> Result<Box<dyn Subscription>, BusError>;

    /// Consumes the dead-letter queue of `queue` (the name before the prefix).
    async fn subscribe_dead_letters(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Ok when the broker is reachable; used by the readiness check.
    async fn ping(&self) -> Result<(), BusError>;

    /// Stops the bus: no more publishes; subscriptions end.
    async fn close(&self);

    /// The `bus.prefix` before every exchange and queue name, so traces and logs name the
    /// real destination (`h11.yimen.events`).
    fn prefix(&self) -> &str {
        ""
    }
}

/// Settings shared by both backends.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// `amqp://user:pass@host:5672/%2f` for RabbitMQ; `memory` for the in-process bus; or
    /// `file://PATH` for the in-process bus journaled to PATH, so its queues survive a restart
    /// (standalone uses `file://<data_dir>/bus.journal`).
    pub url: String,
    /// Prepended to every exchange and queue name, so several installations (or tests) share
    /// one broker without colliding.
    pub prefix: String,
    /// Unacked deliveries a consumer holds at once; by default two batches per lane.
    #[serde(default)]
    pub prefetch: Option<u16>,
    /// Deliveries a consumer applies at once: deliveries of one case always in the same lane,
    /// one after another in arrival order; different cases in parallel.
    pub lanes: u16,
    /// The most deliveries of one lane applied in one transaction: those that arrived while
    /// the lane was busy. 1: one transaction per delivery.
    pub batch: u16,
    /// Failed deliveries of one message (each after its retries in place) before it is
    /// dead-lettered.
    pub delivery_limit: u32,
    /// How long a delivery given back for a later retry waits in the queue's retry queue.
    pub retry_delay_ms: u64,
    /// Optional idle expiry of queues (seconds); tests set it so their queues clean up.
    pub queue_expires_secs: Option<u64>,
    /// For an `amqps://` URL: the CA to trust and the client certificate to present.
    #[serde(default)]
    pub tls: BusTls,
}

/// `[bus.tls]`, for an `amqps://` URL (rustls): `ca_file`, a PEM bundle of CAs trusted besides
/// the system's roots (a private CA); `cert_file` and `key_file` (PEM, PKCS#8 key), the client
/// certificate for a broker that verifies its peers. The broker's name is checked against
/// its certificate, as PostgreSQL's `sslmode=verify-full` does.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusTls {
    pub ca_file: Option<std::path::PathBuf>,
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: "memory".into(),
            prefix: String::new(),
            prefetch: None,
            lanes: 4,
            batch: 16,
            delivery_limit: 5,
            retry_delay_ms: 5_000,
            queue_expires_secs: None,
            tls: BusTls::default(),
        }
    }
}

impl BusConfig {
    /// The prefetch in effect: the setting, or two batches per lane (one being applied, the
    /// next at hand).
    pub fn prefetch(&self) -> u16 {
        self.prefetch
            .unwrap_or_else(|| self.lanes().saturating_mul(self.batch()).saturating_mul(2))
    }

    /// The batch in effect (at least one).
    pub fn batch(&self) -> u16 {
        self.batch.max(1)
    }

    /// The lanes in effect (at least one).
    pub fn lanes(&self) -> u16 {
        self.lanes.max(1)
    }

    pub fn retry_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_delay_ms)
    }
}

/// Opens the bus the URL names.
pub async fn connect(config: &BusConfig) -> Result<Arc<dyn Bus>, BusError> {
    if config.url == "memory" {
        Ok(Arc::new(MemoryBus::new(config.clone())))
    } else if let Some(path) = config.url.strip_prefix("file://") {
        Ok(Arc::new(MemoryBus::durable(
            config.clone(),
            std::path::Path::new(path),
        )?))
    } else if config.url.starts_with("amqp://") || config.url.starts_with("amqps://") {
        Ok(Arc::new(AmqpBus::connect(config.clone()).await?))
    } else {
        Err(BusError::Other(format!(
            "bus.url must be `memory`, `file://PATH` or an amqp:// URL, not `{}`",
            redact_url(&config.url)
        )))
    }
}

/// A URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Topic-exchange matching: `*` matches exactly one word, `#` zero or more.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = routing_key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_exactly_one_word() {
        assert!(topic_matches(
            "case.*.civil-affairs",
            "case.assigned.civil-affairs"
        ));
        assert!(!topic_matches("case.*", "case.assigned.civil-affairs"));
        assert!(!topic_matches("case.*.x", "case.x"));
    }

    #[test]
    fn hash_matches_zero_or_more_words() {
        assert!(topic_matches("case.#", "case"));
        assert!(topic_matches("case.#", "case.assigned.x"));
        assert!(topic_matches("#", "department.joined"));
        assert!(!topic_matches("case.#", "department.joined"));
    }

    #[test]
    fn redact_url_hides_the_password() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("memory"), "memory");
    }
}
