//! The RabbitMQ bus (through lapin): a durable topic exchange, quorum queues with a delivery
//! limit, a retry queue and a dead-letter queue each, publisher confirms with mandatory
//! routing, manual acks with prefetch, and connection recovery by a supervisor: when the
//! connection drops (or stops answering), it opens a fresh one with a short capped backoff and
//! redeclares the topology; subscriptions on the old connection end, so their callers (the
//! consumer loop) subscribe again, and publishes go out on the new connection — within about a
//! second of the broker answering again. lapin's own recovery (it replays channels and
//! consumers itself) can be turned on instead ([`AmqpOptions::library_recovery`]); it is off by
//! default, as it waits up to [`AmqpOptions::recovery_grace`] and can stall.
//!
//! Acks go by delivery tag, one delivery each (`multiple: false`), so a consumer may settle its
//! deliveries in any order. lapin poisons the ackers of a channel's deliveries when the channel
//! closes or is being recovered, so an ack of a delivery from before a recovery answers "will
//! be redelivered" instead of acking whichever message carries its tag on the new channel.
//!
//! A delivery retried later is republished, with publisher confirms, to `<queue>.retry` (a
//! quorum queue whose `x-message-ttl` is `bus.retry_delay_ms` and whose expired messages are
//! dead-lettered, at least once, back to the end of `<queue>`), then acked; its attempts so far
//! travel in the `x-yimen-attempts` header, since the republish starts the broker's delivery
//! count again. Past `bus.delivery_limit` attempts it is republished to `<queue>.dead` instead.
//!
//! Nothing here logs a message body or header value: events carry personal data. lapin
//! itself does, though: it logs a returned (unroutable) message with its body at WARN under
//! the target `lapin::returned_messages`, and every frame at TRACE. The log filter must hold
//! `lapin::returned_messages` at ERROR and lapin as a whole at INFO or above.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery as LapinDelivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{
    Acker as LapinAcker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties,
    Consumer, ExchangeKind,
};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

use super::{
    ATTEMPTS_HEADER, Acker, Bus, BusConfig, BusError, BusTls, Delivery, EVENTS_EXCHANGE, Message,
    Published, QueueSpec, ROUTING_KEY_HEADER, Retry, Subscription, dead_letter_queue, redact_url,
    retry_queue,
};
use crate::backoff::Backoff;

/// The dead-letter exchange every queue's rejected or exhausted messages go to (before the
/// prefix); each queue's dead letters are routed by the queue's own full name.
pub const DEAD_LETTER_EXCHANGE: &str = "yimen.dlx";

const CONTENT_TYPE: &str = "application/x-protobuf";
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// Publishing channels; a publish (or a batch) holds one until its confirms arrive, so a
/// returned message is always matched within the publishes it belongs to, while a few
/// publishes still run at once.
const PUBLISHER_CHANNELS: usize = 4;

/// lapin's TCP connect retries (each connect, and each round of its own recovery) and the
/// number of recovery rounds before it gives up: 100ms, 200ms, 400ms, 800ms.
const LIBRARY_RETRY_MIN: Duration = Duration::from_millis(100);
const LIBRARY_RETRY_MAX: Duration = Duration::from_secs(2);
const LIBRARY_RETRIES: usize = 4;

/// Heartbeat interval asked of the broker (seconds); it counts a client dead after about two
/// missed heartbeats and requeues what it held.
const HEARTBEAT_SECS: u16 = 10;
/// The largest frame asked of the broker (bytes). lapin keeps a send and a receive buffer of
/// 32 frames each, zero-filled: at RabbitMQ's own 128 KiB that is 8 MiB resident for nothing,
/// as an event is a few KiB (a larger message still goes, in several frames).
const FRAME_MAX: u32 = 16 * 1024;
const TCP_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// How long the handshake of a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one broker operation (open a channel, declare, bind, ack) may take. lapin can
/// hang instead of failing (see `AmqpOptions::liveness_interval`), and a caller must never
/// hang with it.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a publish waits for the broker's confirm; past it the publish fails (the message
/// may still arrive: at-least-once, the inbox absorbs the repeat).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the supervisor looks at the connection's state.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// How long a superseded connection is watched, in case lapin's recovery still completes it
/// and replays consumers nobody reads any more.
const RETIRE_WINDOW: Duration = Duration::from_secs(600);
/// The supervisor's waits between reconnect attempts: short and capped, so the bus is back
/// within about a second of the broker (each attempt also retries the TCP connect itself,
/// [`LIBRARY_RETRIES`] times).
const RECONNECT_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(50), Duration::from_millis(500));

/// How the AMQP bus recovers from a lost connection; the defaults suit production.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// Let lapin reconnect and replay channels, consumers and topology, so the same
    /// subscriptions carry on after a short outage. Off (the default), or when lapin gives
    /// up, the supervisor opens a fresh connection at once, and subscriptions end so callers
    /// subscribe again: quicker, as lapin's recovery holds on for up to `recovery_grace`.
    pub library_recovery: bool,
    /// How long the connection may stay down under lapin's recovery before the supervisor
    /// gives up on it and connects afresh.
    pub recovery_grace: Duration,
    /// How often the supervisor checks that a connection lapin reports as up still answers
    /// (it opens and closes a channel). lapin 4.12.3's recovery can deadlock its I/O loop
    /// when a channel is being opened at the moment the connection drops; the connection
    /// then looks connected and never answers again.
    pub liveness_interval: Duration,
    /// How long that check may take before the connection is given up.
    pub liveness_timeout: Duration,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        Self {
            library_recovery: false,
            recovery_grace: Duration::from_secs(20),
            liveness_interval: Duration::from_secs(15),
            liveness_timeout: Duration::from_secs(20),
        }
    }
}

/// The RabbitMQ bus. See the module docs; [`Bus`] has the contract.
pub struct AmqpBus {
    inner: Arc<Inner>,
}

struct Inner {
    config: BusConfig,
    uri: AMQPUri,
    tls: OwnedTLSConfig,
    options: AmqpOptions,
    exchange: ShortString,
    dead_letter_exchange: ShortString,
    /// The live connection; None while the supervisor reconnects or after close.
    link: RwLock<Option<Arc<Link>>>,
    generation: AtomicU64,
    /// Everything declared so far, redeclared on a fresh connection.
    topology: Mutex<Topology>,
    publishers: Vec<tokio::sync::Mutex<Option<Publisher>>>,
    next_publisher: AtomicUsize,
    /// Cancelled by `close` (or drop); every link's `lost` token is a child of it.
    shutdown: CancellationToken,
}

struct Link {
    connection: Connection,
    generation: u64,
    /// Cancelled when this connection is given up for good: its subscriptions end.
    lost: CancellationToken,
    /// Raised when an operation timed out, so the supervisor checks the connection now.
    suspect: Notify,
}

impl Link {
    /// Runs one broker operation, bounded by [`OPERATION_TIMEOUT`].
    async fn call<T>(
        &self,
        context: &str,
        operation: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, BusError> {
        match timeout(OPERATION_TIMEOUT, operation).await {
            Ok(result) => result.map_err(|e| from_lapin(context, e)),
            Err(_) => {
                self.suspect.notify_one();
                Err(BusError::Unavailable(format!(
                    "{context}: no answer from the broker within {OPERATION_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn channel(&self) -> Result<Channel, BusError> {
        self.call("open a channel", self.connection.create_channel())
            .await
    }
}

struct Publisher {
    generation: u64,
    channel: Channel,
}

#[derive(Default)]
struct Topology {
    /// Queue name (before the prefix) to its bindings.
    queues: BTreeMap<String, BTreeSet<String>>,
    /// Queues whose dead letters were subscribed to.
    dead_letters: BTreeSet<String>,
}

impl AmqpBus {
    /// Connects with the default [`AmqpOptions`]. Fails with [`BusError::Unavailable`] when
    /// the broker cannot be reached after a short retry (about 1.5 s; the caller decides
    /// whether to wait longer); once connected, the bus recovers on its own.
    pub async fn connect(config: BusConfig) -> Result<Self, BusError> {
        Self::connect_with(config, AmqpOptions::default()).await
    }

    pub async fn connect_with(config: BusConfig, options: AmqpOptions) -> Result<Self, BusError> {
        let uri = broker_uri(&config.url)?;
        let tls = tls_config(&config.tls, &uri)?;
        let exchange = short(
            "the exchange name",
            &format!("{}{EVENTS_EXCHANGE}", config.prefix),
        )?;
        let dead_letter_exchange = short(
            "the dead-letter exchange name",
            &format!("{}{DEAD_LETTER_EXCHANGE}", config.prefix),
        )?;
        let inner = Arc::new(Inner {
            config,
            uri,
            tls,
            options,
            exchange,
            dead_letter_exchange,
            link: RwLock::new(None),
            generation: AtomicU64::new(0),
            topology: Mutex::new(Topology::default()),
            publishers: (0..PUBLISHER_CHANNELS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next_publisher: AtomicUsize::new(0),
            shutdown: CancellationToken::new(),
        });
        let link = inner.open_link().await?;
        *inner.link.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(link));
        tokio::spawn(supervise(inner.clone()));
        Ok(Self { inner })
    }
}

impl Drop for AmqpBus {
    fn drop(&mut self) {
        // Stops the supervisor, which lets go of the connection (lapin closes it on drop).
        self.inner.shutdown.cancel();
    }
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus")
            .field("url", &redact_url(&self.inner.config.url))
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

/// The broker's address as `bus.url` gives it, parsed once up front so a wrong URL is a
/// configuration error, not an outage (the parser's message is left out as it may quote the
/// password). Unless the URL says otherwise: a short heartbeat, so the broker soon gives back
/// what a dead or hung connection held; small frames ([`FRAME_MAX`]); and a bounded TCP
/// connect, so a silent network cannot hold a (re)connect for minutes.
fn broker_uri(url: &str) -> Result<AMQPUri, BusError> {
    let mut uri: AMQPUri = url.parse().map_err(|_| {
        BusError::Other(format!(
            "bus.url `{}` is not a valid AMQP URL",
            redact_url(url)
        ))
    })?;
    uri.query.heartbeat.get_or_insert(HEARTBEAT_SECS);
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    uri.query
        .connection_timeout
        .get_or_insert(TCP_CONNECT_TIMEOUT_MS);
    Ok(uri)
}

/// `[bus.tls]` read once at connect, so a missing or empty file is a configuration error
/// naming the setting, not an outage.
fn tls_config(tls: &BusTls, uri: &AMQPUri) -> Result<OwnedTLSConfig, BusError> {
    if *tls == BusTls::default() {
        return Ok(OwnedTLSConfig::default());
    }
    if uri.scheme != AMQPScheme::AMQPS {
        return Err(BusError::Other(
            "bus.tls is set but bus.url is not an amqps:// URL".into(),
        ));
    }
    let read = |setting: &str, path: &std::path::Path| {
        crate::server::read_pem(setting, path).map_err(|e| BusError::Other(e.to_string()))
    };
    let cert_chain = match &tls.ca_file {
        Some(ca) => Some(String::from_utf8_lossy(&read("bus.tls.ca_file", ca)?).into_owned()),
        None => None,
    };
    let identity = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
            pem: read("bus.tls.cert_file", cert)?,
            key: read("bus.tls.key_file", key)?,
        }),
        (None, None) => None,
        _ => {
            return Err(BusError::Other(
                "bus.tls.cert_file and bus.tls.key_file go together".into(),
            ));
        }
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

fn short(what: &str, value: &str) -> Result<ShortString, BusError> {
    ShortString::try_new(value).map_err(|_| {
        BusError::Other(format!(
            "{what} is {} bytes; AMQP allows at most 255",
            value.len()
        ))
    })
}

/// A refusal by the broker (wrong arguments, missing exchange) is the caller's problem; the
/// rest means the connection or channel is gone.
fn from_lapin(context: &str, error: lapin::Error) -> BusError {
    if error.is_amqp_soft_error() {
        BusError::Other(format!("{context}: {error}"))
    } else {
        BusError::Unavailable(format!("{context}: {error}"))
    }
}

fn closed() -> BusError {
    BusError::Unavailable("the bus is closed".into())
}

fn reconnecting() -> BusError {
    BusError::Unavailable("not connected to the broker (reconnecting)".into())
}

impl Inner {
    fn current_link(&self) -> Result<Arc<Link>, BusError> {
        if self.shutdown.is_cancelled() {
            return Err(closed());
        }
        match self.link.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(link) if link.connection.status().connected() => Ok(link.clone()),
            _ => Err(reconnecting()),
        }
    }

    fn connection_properties(&self) -> ConnectionProperties {
        let name = if self.config.prefix.is_empty() {
            "yimen".to_string()
        } else {
            format!("yimen {}", self.config.prefix)
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(name.into())
            .configure_backoff(|b| {
                b.with_min_delay(LIBRARY_RETRY_MIN)
                    .with_max_delay(LIBRARY_RETRY_MAX)
                    .with_max_times(LIBRARY_RETRIES)
            });
        if self.options.library_recovery {
            properties.enable_auto_recover()
        } else {
            properties
        }
    }

    /// A new connection with the exchanges declared and everything declared before
    /// redeclared.
    async fn open_link(&self) -> Result<Link, BusError> {
        let url = &self.config.url;
        let connection = timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri_with_config(
                self.uri.clone(),
                self.connection_properties(),
                self.tls.clone(),
                lapin::runtime::default_runtime().map_err(|e| {
                    BusError::Unavailable(format!("no runtime for the AMQP connection: {e}"))
                })?,
            ),
        )
        .await
        .map_err(|_| {
            BusError::Unavailable(format!(
                "no answer from {} within {CONNECT_TIMEOUT:?}",
                redact_url(url)
            ))
        })?
        .map_err(|e| {
            BusError::Unavailable(format!("cannot connect to {}: {e}", redact_url(url)))
        })?;
        let link = Link {
            connection,
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            lost: self.shutdown.child_token(),
            suspect: Notify::new(),
        };
        let declared = async {
            let channel = link.channel().await?;
            let declared = self.declare_exchanges(&link, &channel).await;
            close_channel(channel).await;
            declared
        }
        .await;
        if let Err(e) = declared {
            let _ = timeout(CLOSE_TIMEOUT, link.connection.close(200, "OK".into())).await;
            return Err(e);
        }
        self.redeclare(&link).await;
        Ok(link)
    }

    /// Redeclares what was declared on an earlier connection: the broker may have lost it
    /// (a reset node, or queues that expired while nobody was connected).
    async fn redeclare(&self, link: &Link) {
        let (queues, dead_letters) = {
            let topology = self.topology.lock().unwrap_or_else(|e| e.into_inner());
            let queues: Vec<QueueSpec> = topology
                .queues
                .iter()
                .map(|(name, bindings)| QueueSpec {
                    name: name.clone(),
                    bindings: bindings.iter().cloned().collect(),
                })
                .collect();
            (queues, topology.dead_letters.clone())
        };
        for spec in queues {
            if let Err(e) = self.declare_queue_on_new_channel(link, &spec).await {
                tracing::warn!(queue = %spec.name, error = %e, "cannot redeclare queue after reconnecting");
            }
        }
        for queue in dead_letters {
            let declared = async {
                let channel = link.channel().await?;
                let declared = self.declare_dead_letters_on(link, &channel, &queue).await;
                close_channel(channel).await;
                declared
            };
            if let Err(e) = declared.await {
                tracing::warn!(queue = %queue, error = %e, "cannot redeclare dead-letter queue after reconnecting");
            }
        }
    }

    fn remember(&self, spec: &QueueSpec) {
        let mut topology = self.topology.lock().unwrap_or_else(|e| e.into_inner());
        topology
            .queues
            .entry(spec.name.clone())
            .or_default()
            .extend(spec.bindings.iter().cloned());
    }

    fn quorum_arguments(&self) -> FieldTable {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        if let Some(secs) = self.config.queue_expires_secs {
            let millis = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            arguments.insert("x-expires".into(), AMQPValue::LongLongInt(millis));
        }
        arguments
    }

    async fn declare_exchanges(&self, link: &Link, channel: &Channel) -> Result<(), BusError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        link.call(
            "declare the events exchange",
            channel.exchange_declare(
                self.exchange.clone(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            ),
        )
        .await?;
        link.call(
            "declare the dead-letter exchange",
            channel.exchange_declare(
                self.dead_letter_exchange.clone(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            ),
        )
        .await
    }

    /// Declares the exchanges and the dead-letter queue of `queue`, bound to the dead-letter
    /// exchange by the queue's full name; answers the dead-letter queue's full name.
    async fn declare_dead_letters_on(
        &self,
        link: &Link,
        channel: &Channel,
        queue: &str,
    ) -> Result<ShortString, BusError> {
        let full = short("the queue name", &format!("{}{queue}", self.config.prefix))?;
        let dead = short(
            "the dead-letter queue name",
            &format!("{}{}", self.config.prefix, dead_letter_queue(queue)),
        )?;
        self.declare_exchanges(link, channel).await?;
        link.call(
            "declare the dead-letter queue",
            channel.queue_declare(dead.clone(), durable_queue(), self.quorum_arguments()),
        )
        .await?;
        link.call(
            "bind the dead-letter queue",
            channel.queue_bind(
                dead.clone(),
                self.dead_letter_exchange.clone(),
                full,
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(dead)
    }

    /// Declares the retry queue of `queue`: its messages wait `bus.retry_delay_ms`, then go
    /// back to the end of `queue` through the default exchange. At-least-once dead-lettering
    /// (quorum queues, RabbitMQ 3.10) so a message is never lost on its way back.
    async fn declare_retry_queue_on(
        &self,
        link: &Link,
        channel: &Channel,
        queue: &str,
    ) -> Result<(), BusError> {
        let full = format!("{}{queue}", self.config.prefix);
        let retry = short(
            "the retry queue name",
            &format!("{}{}", self.config.prefix, retry_queue(queue)),
        )?;
        let mut arguments = self.quorum_arguments();
        for (key, value) in [
            (
                "x-message-ttl",
                AMQPValue::LongLongInt(
                    i64::try_from(self.config.retry_delay_ms).unwrap_or(i64::MAX),
                ),
            ),
            ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
            (
                "x-dead-letter-routing-key",
                AMQPValue::LongString(full.as_str().into()),
            ),
            (
                "x-dead-letter-strategy",
                AMQPValue::LongString("at-least-once".into()),
            ),
            // What at-least-once dead-lettering asks of the queue.
            ("x-overflow", AMQPValue::LongString("reject-publish".into())),
        ] {
            arguments.insert(key.into(), value);
        }
        link.call(
            "declare the retry queue",
            channel.queue_declare(retry, durable_queue(), arguments),
        )
        .await
        .map(drop)
    }

    /// Declares the queue, its retry and dead-letter queues and its bindings; answers its full
    /// name.
    async fn declare_queue_on(
        &self,
        link: &Link,
        channel: &Channel,
        spec: &QueueSpec,
    ) -> Result<ShortString, BusError> {
        let full = format!("{}{}", self.config.prefix, spec.name);
        let name = short("the queue name", &full)?;
        let bindings = spec
            .bindings
            .iter()
            .map(|b| short("a binding", b))
            .collect::<Result<Vec<_>, _>>()?;
        self.declare_dead_letters_on(link, channel, &spec.name)
            .await?;
        self.declare_retry_queue_on(link, channel, &spec.name)
            .await?;
        let mut arguments = self.quorum_arguments();
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(self.config.delivery_limit)),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.dead_letter_exchange.as_str().into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(full.as_str().into()),
        );
        link.call(
            "declare the queue",
            channel.queue_declare(name.clone(), durable_queue(), arguments),
        )
        .await?;
        for binding in bindings {
            link.call(
                "bind the queue",
                channel.queue_bind(
                    name.clone(),
                    self.exchange.clone(),
                    binding,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        }
        Ok(name)
    }

    async fn declare_queue_on_new_channel(
        &self,
        link: &Link,
        spec: &QueueSpec,
    ) -> Result<(), BusError> {
        let channel = link.channel().await?;
        let declared = self.declare_queue_on(link, &channel, spec).await;
        close_channel(channel).await;
        declared.map(|_| ())
    }

    /// A consumer on `queue` over `channel`, with the configured prefetch and manual acks.
    /// `retries`: the queue (before the prefix) whose retry queue takes its deliveries retried
    /// later; None for a dead-letter queue, whose deliveries go back at once.
    async fn consume(
        self: &Arc<Self>,
        link: &Link,
        channel: Channel,
        queue: ShortString,
        retries: Option<String>,
    ) -> Result<Box<dyn Subscription>, BusError> {
        link.call(
            "set the prefetch",
            channel.basic_qos(self.config.prefetch(), BasicQosOptions::default()),
        )
        .await?;
        let consumer = link
            .call(
                "start consuming",
                channel.basic_consume(
                    queue,
                    // The broker names the consumer.
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        Ok(Box::new(AmqpSubscription {
            consumer,
            channel,
            lost: link.lost.clone(),
            retries: retries.map(|queue| {
                Arc::new(Retries {
                    inner: self.clone(),
                    queue,
                })
            }),
        }))
    }

    /// Publishes `message` to `exchange` with `routing_key` and waits for the confirm, on one
    /// of the publishing channels.
    async fn publish_to(
        &self,
        exchange: &ShortString,
        routing_key: &str,
        message: &Message,
    ) -> Result<Published, BusError> {
        self.publish_batch_to(exchange, &[(routing_key, message)])
            .await
            .pop()
            .unwrap_or_else(|| Err(BusError::Other("no outcome for a publish".into())))
    }

    /// Publishes each `(routing key, message)` to `exchange` on one publishing channel without
    /// waiting for each other's confirms; the channel is held until every confirm is in, so
    /// each return is matched within the batch it belongs to.
    async fn publish_batch_to(
        &self,
        exchange: &ShortString,
        messages: &[(&str, &Message)],
    ) -> Vec<Result<Published, BusError>> {
        let failed = |e: BusError| vec![Err(e); messages.len()];
        if messages.is_empty() {
            return Vec::new();
        }
        if self.shutdown.is_cancelled() {
            return failed(closed());
        }
        let index = self.next_publisher.fetch_add(1, Ordering::Relaxed) % self.publishers.len();
        let mut slot = self.publishers[index].lock().await;
        let link = match self.current_link() {
            Ok(link) => link,
            Err(e) => return failed(e),
        };
        let channel = match self.publisher(&link, &mut slot).await {
            Ok(channel) => channel,
            Err(e) => return failed(e),
        };
        let (outcomes, replace) = self
            .publish_all_on(&link, &channel, exchange, messages)
            .await;
        if replace && let Some(publisher) = slot.take() {
            tokio::spawn(close_channel(publisher.channel));
        }
        outcomes
    }

    /// The publishing channel in `slot`, opened (with confirms) when there is none usable.
    async fn publisher(
        &self,
        link: &Link,
        slot: &mut Option<Publisher>,
    ) -> Result<Channel, BusError> {
        if let Some(publisher) = slot.as_ref()
            && publisher.generation == link.generation
        {
            let status = publisher.channel.status();
            if status.connected() {
                return Ok(publisher.channel.clone());
            }
            if status.reconnecting() {
                // lapin is replaying it; opening another would leak this one.
                return Err(reconnecting());
            }
        }
        *slot = None;
        let channel = link.channel().await?;
        link.call(
            "enable publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        *slot = Some(Publisher {
            generation: link.generation,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    /// Publishes every message on `channel`, one after another without waiting, then waits
    /// for all their confirms together (each within [`CONFIRM_TIMEOUT`] of the last publish).
    /// The flag says the channel's state is in doubt and it should be replaced.
    ///
    /// A returned (unroutable) message is recognised by its id among the returns of the
    /// whole batch, not by the confirm lapin hands it with: when the broker acks several
    /// publishes at once, lapin attaches a return to whichever of them it completes first.
    async fn publish_all_on(
        &self,
        link: &Link,
        channel: &Channel,
        exchange: &ShortString,
        messages: &[(&str, &Message)],
    ) -> (Vec<Result<Published, BusError>>, bool) {
        let mut outcomes: Vec<Option<Result<Published, BusError>>> = vec![None; messages.len()];
        let mut confirms = Vec::with_capacity(messages.len());
        let mut broken: Option<BusError> = None;
        for (index, &(routing_key, message)) in messages.iter().enumerate() {
            let (routing_key, properties) = match prepare(routing_key, message) {
                Ok(prepared) => prepared,
                Err(e) => {
                    outcomes[index] = Some(Err(e));
                    continue;
                }
            };
            if let Some(e) = &broken {
                outcomes[index] = Some(Err(e.clone()));
                continue;
            }
            let publish = channel.basic_publish(
                exchange.clone(),
                routing_key,
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &message.body,
                properties,
            );
            match link.call("publish", publish).await {
                Ok(confirm) => confirms.push((index, confirm)),
                Err(e) => {
                    outcomes[index] = Some(Err(e.clone()));
                    broken = Some(e);
                }
            }
        }
        let mut replace = broken.is_some();
        let deadline = Instant::now() + CONFIRM_TIMEOUT;
        let confirmed =
            futures::future::join_all(confirms.into_iter().map(|(index, confirm)| async move {
                (index, tokio::time::timeout_at(deadline, confirm).await)
            }))
            .await;
        let mut returned = std::collections::HashSet::new();
        let mut acked = Vec::with_capacity(confirmed.len());
        for (index, confirmation) in confirmed {
            let outcome = match confirmation {
                Ok(Ok(Confirmation::Ack(message))) => {
                    returned.extend(message.and_then(|m| returned_id(&m)));
                    acked.push(index);
                    continue;
                }
                Ok(Ok(Confirmation::Nack(message))) => {
                    returned.extend(message.and_then(|m| returned_id(&m)));
                    Err(BusError::Nacked(
                        "the broker could not take the message (publisher nack)".into(),
                    ))
                }
                Ok(Ok(Confirmation::NotRequested)) => {
                    replace = true;
                    Err(BusError::Other(
                        "publisher confirms are not enabled on the channel".into(),
                    ))
                }
                Ok(Err(e)) => {
                    replace = true;
                    Err(from_lapin("publisher confirm", e))
                }
                Err(_) => {
                    replace = true;
                    link.suspect.notify_one();
                    Err(BusError::Unavailable(format!(
                        "no publisher confirm within {CONFIRM_TIMEOUT:?}"
                    )))
                }
            };
            outcomes[index] = Some(outcome);
        }
        for index in acked {
            let unroutable = returned.remove(messages[index].1.id.as_str());
            outcomes[index] = Some(Ok(if unroutable {
                Published::Unroutable
            } else {
                Published::Routed
            }));
        }
        if !returned.is_empty() {
            // A return left over from a publish whose confirm was lost with an earlier
            // connection: the channel is replaced so no later publish is matched with it.
            replace = true;
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(BusError::Other("no outcome for a publish".into()))))
            .collect();
        (outcomes, replace)
    }
}

/// The routing key and properties of `message`, published with `routing_key`, or why the
/// broker could not take it.
fn prepare(
    routing_key: &str,
    message: &Message,
) -> Result<(ShortString, BasicProperties), BusError> {
    let routing_key = short("the routing key", routing_key)?;
    let mut headers = FieldTable::default();
    for (key, value) in &message.headers {
        headers.insert(
            short("a header name", key)?,
            AMQPValue::LongString(value.as_str().into()),
        );
    }
    let properties = BasicProperties::default()
        .with_message_id(short("the message id", &message.id)?)
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers);
    Ok((routing_key, properties))
}

/// The message id of a message the broker returned.
fn returned_id(message: &lapin::message::BasicReturnMessage) -> Option<String> {
    message
        .delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.to_string())
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

async fn close_channel(channel: Channel) {
    if channel.status().connected() {
        let _ = timeout(CLOSE_TIMEOUT, channel.close(200, "OK".into())).await;
    }
}

/// Watches the connection; when it is lost for good, reconnects with backoff.
async fn supervise(inner: Arc<Inner>) {
    loop {
        let Some(link) = inner.link.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let cause = tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            cause = watch(&link, &inner.options) => cause,
        };
        tracing::warn!(
            broker = %redact_url(&inner.config.url),
            cause,
            "connection to the broker lost; reconnecting"
        );
        *inner.link.write().unwrap_or_else(|e| e.into_inner()) = None;
        retire(link);
        let lost_at = Instant::now();
        let mut backoff = RECONNECT_BACKOFF;
        loop {
            if !backoff.wait(&inner.shutdown).await {
                return;
            }
            match inner.open_link().await {
                Ok(link) => {
                    let mut current = inner.link.write().unwrap_or_else(|e| e.into_inner());
                    // `close` cancels before it takes the link, so checking under the lock
                    // never installs a connection after the bus closed.
                    if inner.shutdown.is_cancelled() {
                        drop(current);
                        let _ =
                            timeout(CLOSE_TIMEOUT, link.connection.close(200, "OK".into())).await;
                        return;
                    }
                    *current = Some(Arc::new(link));
                    tracing::info!(
                        broker = %redact_url(&inner.config.url),
                        after_ms = lost_at.elapsed().as_millis() as u64,
                        "reconnected to the broker"
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff.peek(), "cannot reconnect to the broker");
                }
            }
        }
    }
}

/// Returns once `link` is lost for good, with why.
async fn watch(link: &Link, options: &AmqpOptions) -> &'static str {
    let mut down_since: Option<Instant> = None;
    let mut checked = Instant::now();
    loop {
        let suspect = tokio::select! {
            _ = sleep(WATCH_INTERVAL) => false,
            _ = link.suspect.notified() => true,
        };
        let status = link.connection.status();
        if status.connected() {
            down_since = None;
            if suspect || checked.elapsed() >= options.liveness_interval {
                if !answers(link, options.liveness_timeout).await {
                    return "the connection stopped answering";
                }
                checked = Instant::now();
            }
            continue;
        }
        if status.errored() || status.closed() {
            return "the connection closed";
        }
        if !options.library_recovery {
            // Nobody else will bring it back.
            if status.closing() {
                continue;
            }
            return "the connection dropped";
        }
        let since = *down_since.get_or_insert_with(Instant::now);
        if since.elapsed() > options.recovery_grace {
            return "lapin's recovery did not finish in time";
        }
    }
}

/// Whether a connection that looks up still answers: opening and closing a channel is a
/// round trip through lapin's I/O loop and the broker. Failing fast (the connection just
/// dropped) counts as answering; the state checks take it from there.
async fn answers(link: &Link, within: Duration) -> bool {
    let round_trip = async {
        let channel = link.connection.create_channel().await?;
        channel.close(200, "OK".into()).await
    };
    timeout(within, round_trip).await.is_ok()
}

/// Ends a given-up connection's subscriptions; if lapin might still recover it, closes it
/// once it does, so the consumers it would replay do not hold messages nobody reads.
fn retire(link: Arc<Link>) {
    link.lost.cancel();
    let status = link.connection.status();
    if status.errored() || status.closed() {
        return;
    }
    tokio::spawn(async move {
        let deadline = Instant::now() + RETIRE_WINDOW;
        while Instant::now() < deadline {
            let status = link.connection.status();
            if status.connected() {
                let _ = timeout(CLOSE_TIMEOUT, link.connection.close(200, "OK".into())).await;
                return;
            }
            if status.errored() || status.closed() {
                return;
            }
            sleep(WATCH_INTERVAL).await;
        }
    });
}

#[async_trait]
impl Bus for AmqpBus {
    fn prefix(&self) -> &str {
        &self.inner.config.prefix
    }

    async fn publish(&self, message: &Message) -> Result<Published, BusError> {
        self.publish_batch(std::slice::from_ref(message))
            .await
            .pop()
            .unwrap_or_else(|| Err(BusError::Other("no outcome for a publish".into())))
    }

    /// The messages go out together on one publishing channel (`Inner::publish_batch_to`).
    async fn publish_batch(&self, messages: &[Message]) -> Vec<Result<Published, BusError>> {
        let inner = &self.inner;
        let messages: Vec<(&str, &Message)> = messages
            .iter()
            .map(|m| (m.routing_key.as_str(), m))
            .collect();
        inner.publish_batch_to(&inner.exchange, &messages).await
    }

    async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let link = self.inner.current_link()?;
        self.inner.declare_queue_on_new_channel(&link, spec).await?;
        self.inner.remember(spec);
        Ok(())
    }

    async fn subscribe(&self, spec: &QueueSpec) -> Result<Box<dyn Subscription>, BusError> {
        let inner = &self.inner;
        let link = inner.current_link()?;
        let channel = link.channel().await?;
        // Declared on the consuming channel itself, so lapin's recovery replays the
        // declarations before it replays the consumer.
        let queue = match inner.declare_queue_on(&link, &channel, spec).await {
            Ok(queue) => queue,
            Err(e) => {
                close_channel(channel).await;
                return Err(e);
            }
        };
        inner.remember(spec);
        inner
            .consume(&link, channel, queue, Some(spec.name.clone()))
            .await
    }

    async fn subscribe_dead_letters(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        let inner = &self.inner;
        let link = inner.current_link()?;
        let channel = link.channel().await?;
        let dead = match inner.declare_dead_letters_on(&link, &channel, queue).await {
            Ok(dead) => dead,
            Err(e) => {
                close_channel(channel).await;
                return Err(e);
            }
        };
        inner
            .topology
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dead_letters
            .insert(queue.to_string());
        inner.consume(&link, channel, dead, None).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner.current_link().map(|_| ())
    }

    async fn close(&self) {
        let inner = &self.inner;
        inner.shutdown.cancel();
        let link = inner.link.write().unwrap_or_else(|e| e.into_inner()).take();
        for slot in &inner.publishers {
            // A publish in flight keeps its slot; the connection close below ends it.
            if let Ok(mut slot) = slot.try_lock() {
                slot.take();
            }
        }
        if let Some(link) = link
            && link.connection.status().connected()
        {
            let _ = timeout(CLOSE_TIMEOUT, link.connection.close(200, "OK".into())).await;
        }
    }
}

/// Consumes one queue. Dropping it cancels the consumer and closes its channel: the broker
/// gives every unacked delivery back, marked redelivered.
struct AmqpSubscription {
    consumer: Consumer,
    channel: Channel,
    lost: CancellationToken,
    retries: Option<Arc<Retries>>,
}

/// Where the deliveries of one subscription go when retried later.
struct Retries {
    inner: Arc<Inner>,
    /// The consumed queue, before the prefix.
    queue: String,
}

impl Retries {
    /// Republishes `message` (its attempts so far: `attempts`) to the retry queue, or past the
    /// delivery limit to the dead letters, and waits for the broker's confirm.
    async fn send(&self, message: &Message, attempts: u32) -> Result<Retry, BusError> {
        let inner = &self.inner;
        let prefix = &inner.config.prefix;
        let attempts = attempts.saturating_add(1);
        let mut copy = message.clone();
        // A retried message comes back through a dead-lettering (the retry queue's expiry);
        // the broker's death headers of that trip would misname why it died in the end.
        copy.headers.retain(|key, _| {
            !(key.starts_with("x-first-death-") || key.starts_with("x-last-death-"))
        });
        copy.headers
            .insert(ROUTING_KEY_HEADER.into(), message.routing_key.clone());
        let dead = attempts > inner.config.delivery_limit;
        let (target, retry) = if dead {
            // The headers RabbitMQ writes when it dead-letters, so dead letters read alike.
            for (key, value) in [
                ("x-first-death-reason", "delivery_limit".to_string()),
                ("x-first-death-queue", format!("{prefix}{}", self.queue)),
                ("x-first-death-exchange", inner.exchange.to_string()),
            ] {
                copy.headers.insert(key.into(), value);
            }
            (dead_letter_queue(&self.queue), Retry::DeadLettered)
        } else {
            copy.headers
                .insert(ATTEMPTS_HEADER.into(), attempts.to_string());
            (retry_queue(&self.queue), Retry::Scheduled)
        };
        // Declared each time: the queue is there even if the broker lost it, and a queue that
        // expires when idle (`bus.queue_expires_secs`, tests) is not idle while it holds this.
        let link = inner.current_link()?;
        let channel = link.channel().await?;
        let declared = if dead {
            inner
                .declare_dead_letters_on(&link, &channel, &self.queue)
                .await
                .map(drop)
        } else {
            inner
                .declare_retry_queue_on(&link, &channel, &self.queue)
                .await
        };
        close_channel(channel).await;
        declared?;
        let target = format!("{prefix}{target}");
        match inner
            .publish_to(&ShortString::from(""), &target, &copy)
            .await?
        {
            Published::Routed => Ok(retry),
            Published::Unroutable => Err(BusError::Other(format!("no queue {target}"))),
        }
    }
}

#[async_trait]
impl Subscription for AmqpSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            let item = tokio::select! {
                biased;
                _ = self.lost.cancelled() => return None,
                item = self.consumer.next() => item,
            };
            match item {
                // The broker cancelled the consumer (queue deleted) or the channel closed.
                None => return None,
                Some(Ok(delivery)) => {
                    return Some(delivery_from(delivery, self.retries.clone()));
                }
                Some(Err(error)) => {
                    // lapin is reconnecting: once it has replayed this channel and its
                    // consumer, deliveries resume on the same stream. If it cannot, or the
                    // supervisor gives the connection up, the subscription has ended.
                    let recovered = tokio::select! {
                        _ = self.lost.cancelled() => return None,
                        recovered = self.channel.wait_for_recovery(error) => recovered,
                    };
                    if recovered.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

fn delivery_from(delivery: LapinDelivery, retries: Option<Arc<Retries>>) -> Delivery {
    let LapinDelivery {
        routing_key,
        redelivered,
        properties,
        data,
        acker,
        ..
    } = delivery;
    let table = properties.headers().as_ref();
    let mut headers = table.map(string_headers).unwrap_or_default();
    // The bus's own headers become the delivery's attempts and routing key.
    let attempts = headers
        .remove(ATTEMPTS_HEADER)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let routing_key = headers
        .remove(ROUTING_KEY_HEADER)
        // A dead letter arrives with the dead-letter routing key (its queue's name); the
        // event type it was published with is what a reader of dead letters needs.
        .or_else(|| table.and_then(dead_lettered_routing_key))
        .unwrap_or_else(|| routing_key.to_string());
    let message = Message {
        id: properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        routing_key,
        body: data,
        headers,
    };
    Delivery::new(
        message,
        redelivered,
        Box::new(AmqpAcker {
            acker,
            settled: AtomicBool::new(false),
            retries,
        }),
    )
    .with_attempts(attempts)
}

/// The string-valued headers: the application's (trace context) and, on dead letters, the
/// broker's `x-first-death-*`. Numbers and tables (`x-delivery-count`, `x-death`) are left out.
fn string_headers(table: &FieldTable) -> BTreeMap<String, String> {
    table
        .inner()
        .iter()
        .filter_map(|(key, value)| {
            let value = match value {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.to_string(),
                _ => return None,
            };
            Some((key.to_string(), value))
        })
        .collect()
}

/// The routing key a dead-lettered message was first published with (`x-death`).
fn dead_lettered_routing_key(table: &FieldTable) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = table.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(death) = deaths.as_slice().first()? else {
        return None;
    };
    let AMQPValue::FieldArray(keys) = death.inner().get("routing-keys")? else {
        return None;
    };
    match keys.as_slice().first()? {
        AMQPValue::LongString(key) => Some(String::from_utf8_lossy(key.as_bytes()).into_owned()),
        AMQPValue::ShortString(key) => Some(key.to_string()),
        _ => None,
    }
}

struct AmqpAcker {
    acker: LapinAcker,
    settled: AtomicBool,
    retries: Option<Arc<Retries>>,
}

fn settled(context: &str, result: lapin::Result<bool>) -> Result<(), BusError> {
    match result {
        Ok(true) => Ok(()),
        // lapin answers false when the delivery's channel has closed: the broker has given
        // the message back already and will deliver it again.
        Ok(false) => Err(BusError::Unavailable(format!(
            "{context}: the delivery's channel has closed; the message will be redelivered"
        ))),
        Err(e) => Err(from_lapin(context, e)),
    }
}

/// Bounds a settlement: a hung connection must not hang the consumer loop (the broker
/// redelivers whatever was not settled).
async fn bounded_settle(
    context: &str,
    settle: impl Future<Output = lapin::Result<bool>>,
) -> Result<(), BusError> {
    match timeout(OPERATION_TIMEOUT, settle).await {
        Ok(result) => settled(context, result),
        Err(_) => Err(BusError::Unavailable(format!(
            "{context}: no answer from the broker within {OPERATION_TIMEOUT:?}"
        ))),
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.settled.store(true, Ordering::Release);
        bounded_settle("ack", self.acker.ack(BasicAckOptions::default())).await
    }

    async fn nack(&self, requeue: bool) -> Result<(), BusError> {
        self.settled.store(true, Ordering::Release);
        let options = BasicNackOptions {
            requeue,
            multiple: false,
        };
        bounded_settle("nack", self.acker.nack(options)).await
    }

    /// The copy is confirmed before the delivery is acked: a failure in between leaves both,
    /// and the inbox absorbs the repeat.
    async fn retry_later(&self, message: &Message, attempts: u32) -> Result<Retry, BusError> {
        let Some(retries) = &self.retries else {
            return self.nack(true).await.map(|()| Retry::Scheduled);
        };
        if !self.acker.usable() {
            return Err(BusError::Unavailable(
                "retry later: the delivery's channel has closed; the message will be redelivered"
                    .into(),
            ));
        }
        let retry = retries.send(message, attempts).await?;
        self.ack().await?;
        Ok(retry)
    }
}

impl Drop for AmqpAcker {
    fn drop(&mut self) {
        // A delivery dropped unsettled (its handler panicked or was cancelled) goes back at
        // once, instead of holding a prefetch slot until the channel closes.
        if *self.settled.get_mut() || !self.acker.usable() {
            return;
        }
        let acker = self.acker.clone();
        let options = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = acker.nack(options).await;
                });
            }
            Err(_) => {
                // No runtime to wait on: lapin queues the nack on the first poll, so one poll
                // sends it; its answer is not needed.
                let _ = acker.nack(options).now_or_never();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_url_gets_short_heartbeats_and_small_frames_unless_it_sets_its_own() {
        let plain = broker_uri("amqp://guest:guest@127.0.0.1:5672/%2f").expect("parse");
        assert_eq!(plain.query.heartbeat, Some(HEARTBEAT_SECS));
        assert_eq!(plain.query.frame_max, Some(FRAME_MAX));
        assert_eq!(plain.query.connection_timeout, Some(TCP_CONNECT_TIMEOUT_MS));

        let own =
            broker_uri("amqp://127.0.0.1/%2f?heartbeat=30&frame_max=131072&connection_timeout=900")
                .expect("parse");
        assert_eq!(own.query.heartbeat, Some(30));
        assert_eq!(own.query.frame_max, Some(131_072));
        assert_eq!(own.query.connection_timeout, Some(900));
    }

    #[test]
    fn a_broker_url_that_does_not_parse_is_refused_without_its_password() {
        let Err(BusError::Other(message)) = broker_uri("amqp://guest:s3cret@127.0.0.1:notaport/")
        else {
            panic!("a bad URL must be refused");
        };
        assert!(!message.contains("s3cret"), "{message}");
    }
}
