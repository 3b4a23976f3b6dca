//! Telemetry for every yimen process: structured logs that carry the trace id, OpenTelemetry
//! traces exported over OTLP/gRPC, and the W3C trace context carried across gRPC metadata and
//! AMQP headers, so one case's journey through all five services is one trace.
//!
//! # What goes where
//! - Logs go to stdout, as JSON (one object a line, with `trace_id`/`span_id` of the current
//!   span) or as text, filtered by `log_level` (or `RUST_LOG` when set).
//! - Spans at INFO and above become OpenTelemetry spans whatever the log level, so quieting the
//!   logs never breaks a trace; of the events, only warnings and errors are attached to spans
//!   (the logs already hold the rest, correlated by trace id).
//! - Without an OTLP endpoint spans still get ids (logs and propagation work), nothing is
//!   exported.
//!
//! # No personal data
//! Span names, span fields and log fields must never carry personal data: no names, ID
//! numbers, phone numbers, addresses or free text written by a petitioner. Use case ids,
//! event ids, routing keys, department codes and RPC names. Everything recorded on a span
//! leaves the process for the collector, where access is far wider than to the databases.
//!
//! # Metrics
//! [`metrics`]: the OpenTelemetry metrics SDK, exported over OTLP to the same endpoint every
//! minute and served for Prometheus at `telemetry.metrics_listen` ([`metrics::serve`]).
//!
//! # One per process
//! The subscriber, the tracer provider and the propagator are process-global. [`init`] installs
//! them once; later calls (tests that start several services in one process) get a guard that
//! does nothing and share the first call's service name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, Span as SdkSpan, SpanData, SpanProcessor,
};
use serde::{Deserialize, Serialize};
use tracing::{Level, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

pub mod metrics;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint, e.g. `http://127.0.0.1:4317`; None/empty → no export.
    pub otlp_endpoint: Option<String>,
    /// `json` (one object a line, with trace ids) or `text` (for a terminal).
    pub log_format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `warn,yimen_intake=debug`; `RUST_LOG`
    /// overrides it when set. Only the logs follow it, not the spans.
    pub log_level: String,
    /// Where `yimen serve` and `yimen standalone` answer Prometheus scrapes (`GET /metrics`),
    /// one endpoint per process whatever services it runs; "" serves none.
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: String,
}

/// Prometheus' port for OpenTelemetry exporters, on every interface.
pub const DEFAULT_METRICS_LISTEN: &str = "0.0.0.0:9464";

fn default_metrics_listen() -> String {
    DEFAULT_METRICS_LISTEN.into()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            log_format: LogFormat::Json,
            log_level: "info".into(),
            metrics_listen: default_metrics_listen(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// Flushes the exported spans when the process is done. Keep it for the life of the process:
/// dropping it flushes and stops the export just as [`TelemetryGuard::shutdown`] does.
#[must_use = "dropping the guard stops the span export; keep it until the process ends"]
pub struct TelemetryGuard {
    export: Option<Export>,
}

struct Export {
    provider: SdkTracerProvider,
    detached: Arc<AtomicBool>,
    /// The metrics provider, flushed at the end as the spans are.
    meters: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exporting", &self.export.is_some())
            .finish()
    }
}

impl TelemetryGuard {
    /// Exports every span ended so far and stops the export. Spans made afterwards still get
    /// ids (logs and propagation keep working for other services in the same process) but
    /// are no longer exported.
    pub fn shutdown(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let Some(export) = self.export.take() else {
            return;
        };
        // Detach first, then flush: what ended before this line is queued and gets flushed;
        // nothing queued later is left half-sent.
        export.detached.store(true, Ordering::SeqCst);
        let flush = || {
            let spans = export.provider.force_flush();
            let meters = export.meters.force_flush();
            spans.and(meters)
        };
        // The flush blocks until the collector answers. On a multi-threaded runtime, let the
        // other tasks of this worker move elsewhere meanwhile (a collector in a test may be
        // one of them).
        let result = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(flush)
            }
            _ => flush(),
        };
        if let Err(e) = result {
            // Logging may be the broken part; say it where an operator will see it.
            eprintln!("telemetry: could not flush spans and metrics at shutdown: {e}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Set by the first [`init`]; later calls do nothing.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the global subscriber (JSON logs carrying trace_id/span_id of the current span, or
/// text) and, when an endpoint is configured, a batch OTLP/gRPC span exporter with resource
/// `service.name = service_name`, and the metrics provider (the Prometheus exposition, and an
/// OTLP/gRPC exporter with the same endpoint). Sets the W3C TraceContext propagator globally. Safe to call
/// more than once per process: later calls return a guard that does nothing.
pub fn init(service_name: &str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    // Validate everything before claiming the process-wide slot, so a bad configuration is
    // an error to fix and not a silently half-installed telemetry.
    let log_filter = log_filter(&config.log_level)?;
    let endpoint = config
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());

    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(TelemetryGuard { export: None });
    }
    let result = install(service_name, config.log_format, log_filter, endpoint);
    if result.is_err() {
        // Nothing global was set yet (the exporter is built first), so a later call may retry.
        INSTALLED.store(false, Ordering::SeqCst);
    }
    result
}

/// lapin logs a returned message whole (body included) at WARN and every frame at TRACE: a
/// body may hold a case's subject, so those never reach the logs, whatever the level asked.
const NEVER_LOGGED: [&str; 2] = ["lapin=info", "lapin::returned_messages=error"];

fn log_filter(level: &str) -> anyhow::Result<EnvFilter> {
    let mut filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| anyhow::anyhow!("RUST_LOG `{directives}`: {e}")),
        _ => EnvFilter::try_new(level)
            .map_err(|e| anyhow::anyhow!("configuration: telemetry.log_level `{level}`: {e}")),
    }?;
    for directive in NEVER_LOGGED {
        filter = filter.add_directive(directive.parse()?);
    }
    Ok(filter)
}

fn install(
    service_name: &str,
    format: LogFormat,
    log_filter: EnvFilter,
    endpoint: Option<&str>,
) -> anyhow::Result<TelemetryGuard> {
    let resource = Resource::builder()
        .with_service_name(service_name.to_string())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut detached = None;
    let mut metric_exporter = None;
    if let Some(endpoint) = endpoint {
        use opentelemetry_otlp::WithExportConfig;
        // The tonic channel lives on a runtime of its own: exports then neither depend on the
        // caller's runtime still running (a test's runtime ends with the test) nor deadlock a
        // single-threaded runtime that blocks in `shutdown`.
        let _entered = export_runtime()?.enter();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| {
                anyhow::anyhow!("configuration: telemetry.otlp_endpoint `{endpoint}`: {e}")
            })?;
        let flag = Arc::new(AtomicBool::new(false));
        builder = builder.with_span_processor(Detachable {
            inner: BatchSpanProcessor::builder(exporter).build(),
            detached: flag.clone(),
        });
        detached = Some(flag);
        metric_exporter = Some(
            opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| {
                    anyhow::anyhow!("configuration: telemetry.otlp_endpoint `{endpoint}`: {e}")
                })?,
        );
    }
    let provider = builder.build();
    let tracer = provider.tracer("yimen");

    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(filter_fn(|meta| {
            if meta.is_span() {
                *meta.level() <= Level::INFO
            } else {
                *meta.level() <= Level::WARN
            }
        }));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (json, text) = match format {
        LogFormat::Json => (
            Some(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonWithTrace)
                    .with_writer(std::io::stdout)
                    .with_filter(log_filter),
            ),
            None,
        ),
        LogFormat::Text => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stdout)
                    .with_filter(log_filter),
            ),
        ),
    };
    let subscriber = Registry::default().with(otel).with(json).with(text);
    // Metrics do not depend on who owns the logs.
    let meters = metrics::install(resource, metric_exporter)?;

    global::set_text_map_propagator(TraceContextPropagator::new());
    if global_subscriber_is_set() {
        // Someone else (a test harness, an embedding program) owns the global subscriber; keep
        // theirs rather than fail, and say so.
        eprintln!(
            "telemetry: a global tracing subscriber is already installed; yimen's logs and spans are not"
        );
        return Ok(TelemetryGuard { export: None });
    }
    if let Err(e) = subscriber.try_init() {
        // The subscriber is ours (checked above); what failed is bridging the `log` crate,
        // which another logger already holds. Logs through `log` go there instead.
        eprintln!("telemetry: {e}");
    }
    global::set_tracer_provider(provider.clone());

    Ok(TelemetryGuard {
        export: detached.map(|detached| Export {
            provider,
            detached,
            meters,
        }),
    })
}

/// Whether a global subscriber is installed. Asked on a fresh thread because on this one a
/// scoped default (`tracing::subscriber::with_default`, as tests use) would answer instead,
/// and `tracing::dispatcher::has_been_set` counts scoped defaults too.
fn global_subscriber_is_set() -> bool {
    std::thread::spawn(|| {
        tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>())
    })
    .join()
    .unwrap_or(false)
}

fn export_runtime() -> anyhow::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("yimen-otlp")
        .enable_all()
        .build()?;
    // Kept for the life of the process: a runtime must not be dropped inside another one.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// The batch exporter behind a switch: [`TelemetryGuard::shutdown`] stops the export without
/// shutting the provider down, because a shut-down provider hands out invalid span contexts and
/// would break trace propagation for every other service in the process.
#[derive(Debug)]
struct Detachable {
    inner: BatchSpanProcessor,
    detached: Arc<AtomicBool>,
}

impl SpanProcessor for Detachable {
    fn on_start(&self, span: &mut SdkSpan, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !self.detached.load(Ordering::Relaxed) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

// ---------------------------------------------------------------------------------------------
// Propagation. The wire format is W3C Trace Context (`traceparent`, `tracestate`) by design of
// the event envelope, so these helpers use that propagator directly rather than the global one:
// they then behave the same before `init`, in tests, and whatever else sets the global.

/// The OpenTelemetry context of the innermost entered span that has one: the entered span
/// itself, unless it is filtered out of tracing (a DEBUG span), then its nearest traced
/// ancestor.
fn current_context() -> Context {
    let cx = Context::current();
    if cx.span().span_context().is_valid() {
        return cx;
    }
    tracing::Span::current().context()
}

/// Makes `span` a child of `parent` when that carries a valid remote span; else leaves it be.
fn adopt(span: &tracing::Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled or already started; then it keeps its parent.
        let _ = span.set_parent(parent);
    }
}

struct MapInjector<'a>(&'a mut BTreeMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_ascii_lowercase(), value);
    }
}

struct MapExtractor<'a>(&'a BTreeMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // Headers may have been written by another client in another case.
        self.0
            .get(key)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// W3C trace context of the current span (`traceparent`, `tracestate`) into a string map — for
/// AMQP headers and outbox rows. Adds nothing when there is no current trace.
pub fn inject_current(headers: &mut BTreeMap<String, String>) {
    TraceContextPropagator::new().inject_context(&current_context(), &mut MapInjector(headers));
}

/// Makes `span` a child of the context carried in `headers` (no-op if none). Call it before the
/// span is first entered: a started span cannot change its parent.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &BTreeMap<String, String>) {
    adopt(
        span,
        TraceContextPropagator::new().extract(&MapExtractor(headers)),
    );
}

/// For tonic's `Server::builder().trace_fn(...)`: a span per RPC, named per the OpenTelemetry
/// RPC conventions (`otel.name` = `yimen.v1.IntakeService/SubmitCase`, `otel.kind` = `server`,
/// `rpc.system` = `grpc`, `rpc.service`, `rpc.method`), whose parent is the `traceparent` in the
/// request's HTTP headers. Health checks and reflection get DEBUG spans, which are not traced:
/// a probe every few seconds would otherwise drown the traces that matter. The auth layer fills
/// in `enduser.role` and `enduser.id` (the token's subject) once the caller is known, and
/// [`record_grpc_status`] the answer's `rpc.grpc.status_code`.
pub fn grpc_server_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path().trim_start_matches('/');
    let (service, method) = path.rsplit_once('/').unwrap_or((path, ""));
    let infrastructure =
        service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.");
    let span = if infrastructure {
        tracing::debug_span!(
            "grpc",
            otel.name = path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            enduser.role = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    } else {
        tracing::info_span!(
            "grpc",
            otel.name = path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            enduser.role = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    };
    adopt(
        &span,
        TraceContextPropagator::new().extract(&HeaderExtractor(request.headers())),
    );
    span
}

/// Records the gRPC status a call answered on its span: `rpc.grpc.status_code` (0 for OK), and
/// `otel.status_code = ERROR` for the codes the OpenTelemetry RPC conventions count as a server
/// error (the caller's own mistakes, such as NOT_FOUND or INVALID_ARGUMENT, are not). A failed
/// call answers its status in the headers (trailers-only); one that has not failed by the time
/// its headers go out is recorded as OK.
pub fn record_grpc_status<B>(response: http::Response<B>) -> http::Response<B> {
    use tonic::Code;
    let code = metrics::answered_code(response.headers());
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// A tonic client interceptor that injects the current span's trace context into the request
/// metadata, so the server's span joins the caller's trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        TraceContextPropagator::new().inject_context(
            &current_context(),
            &mut MetadataInjector(request.metadata_mut()),
        );
        Ok(request)
    }
}

/// The hex trace id of the current span (empty when none) — handy for logs and tests.
pub fn current_trace_id() -> String {
    let cx = current_context();
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        sc.trace_id().to_string()
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON logs. tracing-subscriber's own JSON format knows nothing of OpenTelemetry ids, and the
// trace id is what lets an operator go from a log line to the whole journey of a case.

/// One JSON object a line: `timestamp`, `level`, `target`, `message`, the event's other
/// `fields`, the current `span` (its name and fields) and `trace_id`/`span_id`.
struct JsonWithTrace;

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        use serde_json::{Map, Value};

        let meta = event.metadata();
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);

        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        let target = visitor
            .log_target
            .take()
            .unwrap_or_else(|| meta.target().to_string());
        line.insert("target".into(), target.into());
        if let Some(message) = visitor.message.take() {
            line.insert("message".into(), message);
        }
        if !visitor.fields.is_empty() {
            line.insert("fields".into(), Value::Object(visitor.fields));
        }
        if let Some(span) = ctx.lookup_current() {
            let mut object = Map::new();
            object.insert("name".into(), span.name().into());
            // JsonFields left the span's fields in its extensions as a JSON object.
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
            {
                object.extend(fields);
            }
            line.insert("span".into(), Value::Object(object));
        }
        let cx = current_context();
        let otel_span = cx.span();
        let sc = otel_span.span_context();
        if sc.is_valid() {
            line.insert("trace_id".into(), sc.trace_id().to_string().into());
            line.insert("span_id".into(), sc.span_id().to_string().into());
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[derive(Default)]
struct JsonVisitor {
    message: Option<serde_json::Value>,
    log_target: Option<String>,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl JsonVisitor {
    fn put(&mut self, field: &tracing::field::Field, value: serde_json::Value) {
        match field.name() {
            "message" => self.message = Some(value),
            // Records bridged from the `log` crate carry their origin as fields.
            "log.target" => {
                self.log_target = value.as_str().map(str::to_string);
            }
            name if name.starts_with("log.") => {}
            name => {
                self.fields.insert(name.to_string(), value);
            }
        }
    }
}

impl tracing::field::Visit for JsonVisitor {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_lowercase_formats() {
        let config = TelemetryConfig::default();
        assert_eq!(config.otlp_endpoint, None);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_level, "info");
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["log_format"], "json");
        let text: LogFormat = serde_json::from_value("text".into()).unwrap();
        assert_eq!(text, LogFormat::Text);
    }

    #[test]
    fn header_maps_are_read_case_insensitively() {
        let headers = BTreeMap::from([("TraceParent".to_string(), "x".to_string())]);
        assert_eq!(MapExtractor(&headers).get("traceparent"), Some("x"));
    }

    #[test]
    fn nothing_is_injected_without_a_trace() {
        let mut headers = BTreeMap::new();
        inject_current(&mut headers);
        assert!(headers.is_empty());
        assert_eq!(current_trace_id(), "");
    }
}
