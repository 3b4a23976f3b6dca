//! Metrics, through the OpenTelemetry metrics SDK: exported over OTLP to the traces' endpoint
//! (`telemetry.otlp_endpoint`, every minute) and served for Prometheus on
//! `telemetry.metrics_listen` (`GET /metrics`, the text format), one endpoint a process whatever
//! services it runs (standalone serves all five there).
//!
//! What is measured is measured once, here and where the platform does the work: every RPC by
//! the server's layer ([`RpcMetricsLayer`]), every publish by the outbox relay, every delivery
//! by the consumer loop, the outbox backlog by the relay, the pool by the store, the broker by
//! the readiness check. A service adds only its domain figures, as [`Sampled`] gauges it reads
//! from its store now and then ([`sample_every`]).
//!
//! # Names (docs/architecture.md has the table)
//! The OpenTelemetry names follow the semantic conventions where there is one
//! (`rpc.server.call.duration`, `messaging.process.duration`, `db.client.connection.count`);
//! the Prometheus exposition spells them with `_`, the unit (`_seconds`) and `_total` for
//! counters: `rpc_server_call_duration_seconds`.
//!
//! # No personal data, bounded labels
//! Labels carry only values from closed sets: RPC names of the contract (an unknown path is
//! `_OTHER`), gRPC codes, event types (a department's routing key counted under its type),
//! queue and exchange names, service names, department codes and alert kinds. Never a case id,
//! a name or any text a caller wrote.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use tokio_util::sync::CancellationToken;

/// The histogram buckets of every duration, in seconds.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Where the scrape endpoint answers.
pub const METRICS_PATH: &str = "/metrics";

/// The name of the meter every yimen instrument belongs to.
const METER: &str = "yimen";

/// Label keys (OpenTelemetry attribute names; Prometheus writes `.` as `_`).
pub const SERVICE: &str = "yimen.service";
pub const DESTINATION: &str = "messaging.destination.name";
pub const EVENT_TYPE: &str = "yimen.event_type";
pub const OUTCOME: &str = "yimen.outcome";
/// The RPC label value of a path that is no method of the contract: a caller's typo (or probe)
/// must not make a series of its own.
pub const OTHER: &str = "_OTHER";

/// What became of one delivery, as `messaging.process.duration` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// Applied (its effect committed).
    Ok,
    /// Absorbed by the inbox: applied before.
    Duplicate,
    /// Given back to the bus, to come again (later retry, shutdown, an unsettled nack).
    Retried,
    /// Moved to the dead-letter queue (malformed, or past the delivery limit).
    DeadLettered,
}

impl Processed {
    pub fn as_str(self) -> &'static str {
        match self {
            Processed::Ok => "ok",
            Processed::Duplicate => "duplicate",
            Processed::Retried => "retried",
            Processed::DeadLettered => "dead_lettered",
        }
    }
}

/// The platform's own instruments, made once the provider is installed.
struct Instruments {
    rpc_duration: Histogram<f64>,
    publish_duration: Histogram<f64>,
    process_duration: Histogram<f64>,
    dead_lettered: Counter<u64>,
    outbox_pending: Gauge<u64>,
    outbox_oldest_age: Gauge<f64>,
    consumer_lag: Gauge<f64>,
    bus_connected: Gauge<u64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        let duration = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build()
        };
        Self {
            rpc_duration: duration(
                "rpc.server.call.duration",
                "How long the server took to answer an RPC, by method and gRPC status",
            ),
            publish_duration: duration(
                "messaging.publish.duration",
                "How long publishing an event from the outbox took, until the broker's confirm",
            ),
            process_duration: duration(
                "messaging.process.duration",
                "How long applying and settling one delivery took, by event type and outcome",
            ),
            dead_lettered: meter
                .u64_counter("yimen.messages.dead_lettered")
                .with_description("Deliveries moved to their queue's dead letters")
                .build(),
            outbox_pending: meter
                .u64_gauge("yimen.outbox.pending")
                .with_description("Events in the outbox not published yet")
                .build(),
            outbox_oldest_age: meter
                .f64_gauge("yimen.outbox.oldest_age")
                .with_unit("s")
                .with_description("How long the oldest unpublished event has waited (0: none)")
                .build(),
            consumer_lag: meter
                .f64_gauge("yimen.consumer.lag")
                .with_unit("s")
                .with_description(
                    "How old the last delivery processed was when processed (now - occurred_at)",
                )
                .build(),
            bus_connected: meter
                .u64_gauge("yimen.bus.connected")
                .with_description("1 while the broker answers, 0 when it does not")
                .build(),
        }
    }
}

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
static METER_OF_PROCESS: OnceLock<Meter> = OnceLock::new();

/// The registry the scrape endpoint renders: the Prometheus exporter's, once installed.
static EXPOSITION: OnceLock<prometheus::Registry> = OnceLock::new();

/// The stores of the services running in this process, for the pool gauges (by service).
static POOLS: LazyLock<Mutex<BTreeMap<&'static str, sqlx::AnyPool>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// Builds the meter provider: the Prometheus exporter always (the scrape endpoint renders it),
/// and a periodic OTLP exporter when `otlp` is set (built inside the export runtime by the
/// caller). Installs it as the process's and makes the platform's instruments.
pub(crate) fn install(
    resource: Resource,
    otlp: Option<opentelemetry_otlp::MetricExporter>,
) -> anyhow::Result<SdkMeterProvider> {
    let (provider, registry) = provider(resource, otlp)?;
    let meter = provider.meter(METER);
    let _ = INSTRUMENTS.set(Instruments::new(&meter));
    observe_pools(&meter);
    let _ = METER_OF_PROCESS.set(meter);
    let _ = EXPOSITION.set(registry);
    opentelemetry::global::set_meter_provider(provider.clone());
    Ok(provider)
}

/// A meter provider whose collections `registry` renders, exporting to `otlp` too when given.
fn provider(
    resource: Resource,
    otlp: Option<opentelemetry_otlp::MetricExporter>,
) -> anyhow::Result<(SdkMeterProvider, prometheus::Registry)> {
    let registry = prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        // `otel_scope_name="yimen"` on every series says nothing: one meter makes them all.
        .scope_info_enabled(false)
        .build()?;
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(exporter);
    if let Some(otlp) = otlp {
        builder = builder.with_reader(PeriodicReader::builder(otlp).build());
    }
    Ok((builder.build(), registry))
}

/// `db.client.connection.count` (idle and used) and `db.client.connection.max` of every
/// registered store, read from the pools at each collection (no query).
fn observe_pools(meter: &Meter) {
    static HANDLES: OnceLock<(
        opentelemetry::metrics::ObservableGauge<u64>,
        opentelemetry::metrics::ObservableGauge<u64>,
    )> = OnceLock::new();
    let count = meter
        .u64_observable_gauge("db.client.connection.count")
        .with_description("Connections of the service's pool, idle or used")
        .with_callback(|gauge| {
            for (service, pool) in POOLS.lock().expect("pools").iter() {
                let idle = u64::try_from(pool.num_idle()).unwrap_or(0);
                let size = u64::from(pool.size());
                for (state, n) in [("idle", idle), ("used", size.saturating_sub(idle))] {
                    gauge.observe(
                        n,
                        &[
                            KeyValue::new(SERVICE, *service),
                            KeyValue::new("db.client.connection.state", state),
                        ],
                    );
                }
            }
        })
        .build();
    let max = meter
        .u64_observable_gauge("db.client.connection.max")
        .with_description("The most connections the service's pool opens")
        .with_callback(|gauge| {
            for (service, pool) in POOLS.lock().expect("pools").iter() {
                gauge.observe(
                    u64::from(pool.options().get_max_connections()),
                    &[KeyValue::new(SERVICE, *service)],
                );
            }
        })
        .build();
    let _ = HANDLES.set((count, max));
}

/// True once metrics are collected in this process ([`super::init`]); samplers of figures
/// that cost a query do nothing otherwise.
pub fn enabled() -> bool {
    INSTRUMENTS.get().is_some()
}

/// Watches the pool of a running service's store (`db.client.connection.*`).
pub fn watch_pool(service: &'static str, pool: &sqlx::AnyPool) {
    POOLS.lock().expect("pools").insert(service, pool.clone());
}

fn seconds(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64()
}

/// One RPC answered: `rpc.server.call.duration`.
pub fn record_rpc(service: &str, method: &str, code: tonic::Code, elapsed: Duration) {
    if let Some(m) = INSTRUMENTS.get() {
        m.rpc_duration.record(
            seconds(elapsed),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", service.to_string()),
                KeyValue::new("rpc.method", method.to_string()),
                KeyValue::new("rpc.grpc.status_code", code as i64),
            ],
        );
    }
}

/// One event published from `service`'s outbox to `exchange` (or not: `ok` false).
pub fn record_publish(
    service: &'static str,
    exchange: &str,
    routing_key: &str,
    ok: bool,
    elapsed: Duration,
) {
    if let Some(m) = INSTRUMENTS.get() {
        m.publish_duration.record(
            seconds(elapsed),
            &[
                KeyValue::new(SERVICE, service),
                KeyValue::new(DESTINATION, exchange.to_string()),
                KeyValue::new(EVENT_TYPE, event_type(routing_key)),
                KeyValue::new(OUTCOME, if ok { "ok" } else { "failed" }),
            ],
        );
    }
}

/// One delivery of `queue` processed by `service`: `messaging.process.duration`, and
/// `yimen.messages.dead_lettered` when it went to the dead letters.
pub fn record_process(
    service: &'static str,
    queue: &str,
    routing_key: &str,
    outcome: Processed,
    elapsed: Duration,
) {
    if let Some(m) = INSTRUMENTS.get() {
        let event_type = event_type(routing_key);
        m.process_duration.record(
            seconds(elapsed),
            &[
                KeyValue::new(SERVICE, service),
                KeyValue::new(DESTINATION, queue.to_string()),
                KeyValue::new(EVENT_TYPE, event_type),
                KeyValue::new(OUTCOME, outcome.as_str()),
            ],
        );
        if outcome == Processed::DeadLettered {
            m.dead_lettered.add(
                1,
                &[
                    KeyValue::new(SERVICE, service),
                    KeyValue::new(DESTINATION, queue.to_string()),
                    KeyValue::new(EVENT_TYPE, event_type),
                ],
            );
        }
    }
}

/// How old an event of `queue` was when `service` processed it.
pub fn record_lag(service: &'static str, queue: &str, lag: Duration) {
    if let Some(m) = INSTRUMENTS.get() {
        m.consumer_lag.record(
            seconds(lag),
            &[
                KeyValue::new(SERVICE, service),
                KeyValue::new(DESTINATION, queue.to_string()),
            ],
        );
    }
}

/// `service`'s outbox as last looked at: unpublished events, and the oldest one's age.
pub fn record_outbox(service: &'static str, pending: u64, oldest_age: Duration) {
    if let Some(m) = INSTRUMENTS.get() {
        let service = [KeyValue::new(SERVICE, service)];
        m.outbox_pending.record(pending, &service);
        m.outbox_oldest_age.record(seconds(oldest_age), &service);
    }
}

/// Whether `service`'s broker answered its last readiness check.
pub fn record_bus_connected(service: &str, connected: bool) {
    if let Some(m) = INSTRUMENTS.get() {
        m.bus_connected.record(
            u64::from(connected),
            &[KeyValue::new(SERVICE, service.to_string())],
        );
    }
}

/// The event type a routing key counts under: its type (a department's key under its type),
/// or `_OTHER` for a key of no type of the contract.
fn event_type(routing_key: &str) -> &'static str {
    let kind = yimen_proto::event_type::kind(routing_key);
    yimen_proto::event_type::ALL
        .iter()
        .find(|t| **t == kind)
        .copied()
        .unwrap_or(OTHER)
}

// ---------------------------------------------------------------------------------------------
// Figures read from a store: a service's domain gauges.

/// Figures a service reads from its store now and then ([`sample_every`]) and that every
/// collection reports as last read: cheap at scrape time whatever the load. Made once per name
/// in a process (a second [`Sampled::gauge`] of the name answers the first).
#[derive(Clone)]
pub struct Sampled {
    rows: Arc<Mutex<Vec<Row>>>,
}

/// One sampled figure: its labels and its value.
type Row = (Vec<KeyValue>, u64);

/// An instrument kept alive for as long as the process runs (its callback reads the rows).
type Kept = Option<Box<dyn std::any::Any + Send>>;

/// Every sampled instrument made so far, by name, with the instrument kept alive.
static SAMPLED: LazyLock<Mutex<BTreeMap<&'static str, (Sampled, Kept)>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

impl Sampled {
    /// A gauge: each row's value as last read; a row no longer read is no longer reported.
    pub fn gauge(name: &'static str, description: &'static str) -> Self {
        Self::make(name, |meter, sampled| {
            let rows = sampled.rows.clone();
            Box::new(
                meter
                    .u64_observable_gauge(name)
                    .with_description(description)
                    .with_callback(move |gauge| {
                        for (labels, value) in rows.lock().expect("sampled rows").iter() {
                            gauge.observe(*value, labels);
                        }
                    })
                    .build(),
            )
        })
    }

    /// A counter whose running totals are read from the store (so they survive restarts and
    /// count what committed, nothing else).
    pub fn counter(name: &'static str, description: &'static str) -> Self {
        Self::make(name, |meter, sampled| {
            let rows = sampled.rows.clone();
            Box::new(
                meter
                    .u64_observable_counter(name)
                    .with_description(description)
                    .with_callback(move |counter| {
                        for (labels, value) in rows.lock().expect("sampled rows").iter() {
                            counter.observe(*value, labels);
                        }
                    })
                    .build(),
            )
        })
    }

    fn make(
        name: &'static str,
        instrument: impl FnOnce(&Meter, &Sampled) -> Box<dyn std::any::Any + Send>,
    ) -> Self {
        let mut all = SAMPLED.lock().expect("sampled instruments");
        let (sampled, _) = all.entry(name).or_insert_with(|| {
            let sampled = Sampled {
                rows: Arc::new(Mutex::new(Vec::new())),
            };
            let kept = METER_OF_PROCESS.get().map(|m| instrument(m, &sampled));
            (sampled, kept)
        });
        sampled.clone()
    }

    /// Replaces every row: each its labels (`(key, value)`, values of a closed set only) and
    /// its value.
    pub fn set(&self, rows: impl IntoIterator<Item = (Vec<(&'static str, String)>, u64)>) {
        let rows = rows
            .into_iter()
            .map(|(labels, value)| {
                let labels = labels
                    .into_iter()
                    .map(|(key, label)| KeyValue::new(key, label))
                    .collect();
                (labels, value)
            })
            .collect();
        *self.rows.lock().expect("sampled rows") = rows;
    }
}

/// Runs `sample` now and then every `every` until `shutdown`, while metrics are collected
/// (never otherwise: a query nobody reads costs all the same). A failed read keeps the last
/// figures and is tried again at the next turn.
pub async fn sample_every<F, Fut>(
    what: &'static str,
    every: Duration,
    shutdown: CancellationToken,
    mut sample: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if !enabled() {
        return;
    }
    loop {
        if let Err(e) = sample().await {
            tracing::debug!(
                what,
                error = format!("{e:#}"),
                "metrics not read; trying again"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RPCs: one layer of the server measures every call of every service.

/// The RPCs a server answers: the contract's services, health and reflection. Any other path is
/// counted as `_OTHER`.
fn known_methods() -> &'static HashSet<String> {
    static KNOWN: LazyLock<HashSet<String>> = LazyLock::new(|| {
        use prost::Message;
        let mut known = HashSet::new();
        for set in [
            yimen_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    for method in &service.method {
                        known.insert(format!(
                            "{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        for reflection in ["grpc.reflection.v1", "grpc.reflection.v1alpha"] {
            known.insert(format!(
                "{reflection}.ServerReflection/ServerReflectionInfo"
            ));
        }
        known
    });
    &KNOWN
}

/// The `(rpc.service, rpc.method)` labels of a request path: its own for a method of the
/// contract, `_OTHER` for anything else.
pub fn rpc_labels(path: &str) -> (&str, &str) {
    let path = path.trim_start_matches('/');
    match path.rsplit_once('/') {
        Some((service, method)) if known_methods().contains(path) => (service, method),
        _ => (OTHER, OTHER),
    }
}

/// The gRPC status an answer carries in its headers: a failed call answers trailers-only;
/// one that has not failed by the time its headers go out is OK.
pub fn answered_code(headers: &http::HeaderMap) -> tonic::Code {
    tonic::Status::from_header_map(headers).map_or(tonic::Code::Ok, |s| s.code())
}

/// Measures every call the server answers (`rpc.server.call.duration`): from the request to
/// the answer's headers, which for a unary call is the whole call.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let (service, method) = rpc_labels(request.uri().path());
        let (service, method) = (service.to_string(), method.to_string());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            let code = match &answer {
                Ok(response) => answered_code(response.headers()),
                Err(_) => tonic::Code::Unknown,
            };
            record_rpc(&service, &method, code, started.elapsed());
            answer
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The scrape endpoint.

/// The Prometheus text exposition of everything measured so far (collecting it runs the
/// observable instruments' callbacks). Empty when metrics are not collected in this process.
pub fn render() -> String {
    EXPOSITION.get().map(render_registry).unwrap_or_default()
}

fn render_registry(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut text = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut text) {
        tracing::warn!(error = %e, "metrics not rendered");
    }
    String::from_utf8(text).unwrap_or_default()
}

/// Binds `listen` (`host:port`; empty: no endpoint, None) and serves `GET /metrics` there until
/// `shutdown`. A listen address that cannot be bound fails here, at start, naming the setting.
pub async fn serve(
    listen: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    let listen = listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("telemetry.metrics_listen: cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, path = METRICS_PATH, "serving metrics");
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "metrics: accept failed");
                        continue;
                    }
                },
                _ = shutdown.cancelled() => return,
            };
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new().serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper::service::service_fn(|request| async move {
                        Ok::<_, std::convert::Infallible>(answer(&request))
                    }),
                );
                tokio::select! {
                    _ = connection => {}
                    _ = shutdown.cancelled() => {}
                }
            });
        }
    });
    Ok(Some(addr))
}

/// The answer to one HTTP request of the scrape endpoint.
fn answer<B>(request: &http::Request<B>) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let reply = |status: http::StatusCode, content_type: &str, body: String| {
        let mut response = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = http::HeaderValue::from_str(content_type) {
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.uri().path() != METRICS_PATH {
        return reply(
            http::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("metrics are at {METRICS_PATH}\n"),
        );
    }
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return reply(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET only\n".into(),
        );
    }
    reply(http::StatusCode::OK, prometheus::TEXT_FORMAT, render())
}

#[cfg(test)]
mod tests;
