//! An OTLP/gRPC trace (and metrics) receiver for tests: services export to it like to a real
//! collector, and the test asks which spans (and which metrics) arrived, so trace propagation is checked end to end without an
//! external collector.
//!
//! It listens on 127.0.0.1 on a free port and stops when dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::server::TcpIncoming;

/// One span as the receiver got it, flattened to strings for easy assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The exporting process's `service.name` resource attribute.
    pub service_name: String,
    /// Hex, 32 characters.
    pub trace_id: String,
    /// Hex, 16 characters.
    pub span_id: String,
    /// Hex, or empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

impl ReceivedSpan {
    /// The value of attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A running receiver; see the module doc.
pub struct OtlpReceiver {
    addr: std::net::SocketAddr,
    store: Arc<Store>,
    _stop: DropGuard,
}

struct Store {
    spans: Mutex<Vec<ReceivedSpan>>,
    /// `(service.name, metric name)` of every metric exported.
    metrics: Mutex<Vec<(String, String)>>,
    /// Bumped on every export, so waiters wake on news instead of polling.
    version: watch::Sender<u64>,
}

impl OtlpReceiver {
    /// Starts receiving on a free port of 127.0.0.1, on the current Tokio runtime.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store {
            spans: Mutex::new(Vec::new()),
            metrics: Mutex::new(Vec::new()),
            version: watch::channel(0).0,
        });
        let stop = CancellationToken::new();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(store.clone())))
            .add_service(MetricsServiceServer::new(Collector(store.clone())))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener),
                stop.clone().cancelled_owned(),
            );
        tokio::spawn(async move {
            if let Err(e) = server.await {
                eprintln!("OTLP test receiver stopped: {e}");
            }
        });
        Ok(Self {
            addr,
            store,
            _stop: stop.drop_guard(),
        })
    }

    /// The endpoint to configure exporters with: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store.spans.lock().expect("span store").clone()
    }

    /// `(service.name, metric name)` of every metric exported so far, in arrival order.
    pub fn metrics(&self) -> Vec<(String, String)> {
        self.store.metrics.lock().expect("metric store").clone()
    }

    /// Waits (bounded by `timeout`) until `pred` holds for the received spans; returns them
    /// either way, so the caller's assertion can show what did arrive.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let mut news = self.store.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark the current version seen before looking, so an export that lands between
            // the look and the wait still wakes us.
            news.borrow_and_update();
            let spans = self.spans();
            if pred(&spans) {
                return spans;
            }
            match tokio::time::timeout_at(deadline, news.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out (or the store is gone, which cannot happen while `self` lives).
                _ => return self.spans(),
            }
        }
    }
}

struct Collector(Arc<Store>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service_name = service_name(resource_spans.resource.as_ref());
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                received.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    name: span.name,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
        self.0.spans.lock().expect("span store").extend(received);
        self.0.version.send_modify(|v| *v += 1);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_metrics in request.into_inner().resource_metrics {
            let service_name = service_name(resource_metrics.resource.as_ref());
            for metric in resource_metrics
                .scope_metrics
                .into_iter()
                .flat_map(|s| s.metrics)
            {
                received.push((service_name.clone(), metric.name));
            }
        }
        self.0
            .metrics
            .lock()
            .expect("metric store")
            .extend(received);
        self.0.version.send_modify(|v| *v += 1);
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// The exporting process's `service.name` resource attribute (empty when it has none).
fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .map(|kv| text(kv.value.as_ref()))
        .unwrap_or_default()
}

/// An attribute value as text: strings as they are, the rest in a readable form.
fn text(value: Option<&AnyValue>) -> String {
    use any_value::Value;
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => hex::encode(b),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| text(Some(v))).collect();
            format!("[{}]", items.join(","))
        }
        Some(Value::KvlistValue(kvs)) => {
            let items: Vec<String> = kvs
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, text(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Some(Value::StringValueStrindex(i)) => format!("#{i}"),
    }
}
