//! Telemetry end to end in one process: the trace context crosses a header map (as it crosses
//! AMQP headers and outbox rows), gRPC metadata and HTTP headers, and the spans reach an OTLP
//! collector with their parent links intact.
//!
//! Only the first test installs the process-global telemetry; the others run under a local
//! subscriber of their own, so they hold whatever order the harness runs them in.

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;
use yimen_platform::telemetry::{self, LogFormat, TelemetryConfig, TraceContextInterceptor};
use yimen_testkit::otlp::{OtlpReceiver, ReceivedSpan};

/// The span id in a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn traceparent_span_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(2).expect("a traceparent")
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.name == name && s.service_name == "yimen-test")
}

// Multi-threaded: the receiver must answer while `shutdown` blocks this thread on the flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_crosses_a_header_map_and_reaches_the_collector() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let guard = telemetry::init(
        "yimen-test",
        &TelemetryConfig {
            otlp_endpoint: Some(receiver.endpoint()),
            log_format: LogFormat::Json,
            log_level: "warn".into(),
            metrics_listen: String::new(),
        },
    )
    .expect("telemetry");

    let mut headers = BTreeMap::new();
    let producer_trace = {
        let producer = tracing::info_span!("producer");
        let _entered = producer.enter();
        telemetry::inject_current(&mut headers);
        telemetry::current_trace_id()
    };
    assert_eq!(producer_trace.len(), 32, "a trace id inside a span");
    let traceparent = headers.get("traceparent").expect("traceparent injected");
    assert!(
        traceparent.contains(&producer_trace),
        "{traceparent} carries {producer_trace}"
    );

    let consumer = tracing::info_span!("consumer");
    telemetry::set_parent_from_headers(&consumer, &headers);
    let consumer_trace = consumer.in_scope(telemetry::current_trace_id);
    assert_eq!(consumer_trace, producer_trace);
    drop(consumer);
    // Metrics go to the same endpoint; the shutdown flushes them with the spans.
    telemetry::metrics::record_rpc(
        "yimen.v1.IntakeService",
        "SubmitCase",
        tonic::Code::Ok,
        Duration::from_millis(3),
    );
    guard.shutdown();
    let metrics = receiver.metrics();
    assert!(
        metrics.contains(&(
            "yimen-test".to_string(),
            "rpc.server.call.duration".to_string()
        )),
        "the RPC duration exported over OTLP: {metrics:?}"
    );

    let spans = receiver
        .wait_for(Duration::from_secs(30), |spans| {
            named(spans, "producer").is_some() && named(spans, "consumer").is_some()
        })
        .await;
    let producer = named(&spans, "producer").unwrap_or_else(|| panic!("producer: {spans:#?}"));
    let consumer = named(&spans, "consumer").unwrap_or_else(|| panic!("consumer: {spans:#?}"));
    assert_eq!(producer.trace_id, producer_trace);
    assert_eq!(consumer.trace_id, producer.trace_id, "one trace");
    assert_eq!(
        consumer.parent_span_id, producer.span_id,
        "child of the producer"
    );
    assert_eq!(traceparent_span_id(traceparent), producer.span_id);
    assert_eq!(producer.parent_span_id, "", "the producer is a root");
}

/// A subscriber of this thread alone, with the OpenTelemetry layer and no export.
fn local_subscriber() -> impl tracing::Subscriber + Send + Sync {
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .build()
        .tracer("test");
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer))
}

#[test]
fn grpc_server_span_continues_the_callers_trace() {
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let request = http::Request::builder()
        .uri("http://127.0.0.1:50051/yimen.v1.IntakeService/SubmitCase")
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .body(())
        .expect("request");
    tracing::subscriber::with_default(local_subscriber(), || {
        let span = telemetry::grpc_server_span(&request);
        assert_eq!(span.in_scope(telemetry::current_trace_id), trace_id);

        // A call made while serving carries the same trace on, as the next hop's parent.
        let outgoing = span.in_scope(|| {
            tonic::service::Interceptor::call(&mut TraceContextInterceptor, tonic::Request::new(()))
                .expect("interceptor")
        });
        let traceparent = outgoing
            .metadata()
            .get("traceparent")
            .expect("traceparent in metadata")
            .to_str()
            .expect("ascii");
        assert!(
            traceparent.starts_with(&format!("00-{trace_id}-")),
            "{traceparent}"
        );
        assert_ne!(
            traceparent_span_id(traceparent),
            caller_span,
            "the server span is the parent"
        );
    });
}

#[test]
fn headers_without_a_trace_leave_the_span_alone() {
    tracing::subscriber::with_default(local_subscriber(), || {
        let outer = tracing::info_span!("outer");
        let outer_trace = outer.in_scope(telemetry::current_trace_id);
        outer.in_scope(|| {
            let inner = tracing::info_span!("inner");
            telemetry::set_parent_from_headers(&inner, &BTreeMap::new());
            assert_eq!(inner.in_scope(telemetry::current_trace_id), outer_trace);
        });
    });
}
