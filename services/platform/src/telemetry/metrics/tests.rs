use super::*;
use yimen_testkit::metrics::parse;

/// A provider of its own (nothing global), its instruments and the registry rendering them.
fn local() -> (SdkMeterProvider, Instruments, prometheus::Registry) {
    let resource = Resource::builder().with_service_name("yimen-test").build();
    let (provider, registry) = provider(resource, None).expect("a meter provider");
    let instruments = Instruments::new(&provider.meter(METER));
    (provider, instruments, registry)
}

#[test]
fn durations_render_as_prometheus_histograms_in_seconds() {
    let (_provider, m, registry) = local();
    let labels = [
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", "yimen.v1.IntakeService"),
        KeyValue::new("rpc.method", "SubmitCase"),
        KeyValue::new("rpc.grpc.status_code", 0_i64),
    ];
    m.rpc_duration.record(0.003, &labels);
    m.rpc_duration.record(0.2, &labels);
    let text = render_registry(&registry);
    let samples = parse(&text).expect("the exposition parses");
    let call = [
        ("rpc_service", "yimen.v1.IntakeService"),
        ("rpc_method", "SubmitCase"),
        ("rpc_grpc_status_code", "0"),
        ("rpc_system", "grpc"),
    ];
    let count = samples.value("rpc_server_call_duration_seconds_count", &call);
    assert_eq!(count, Some(2.0), "{text}");
    let sum = samples
        .value("rpc_server_call_duration_seconds_sum", &call)
        .expect("a sum");
    assert!((sum - 0.203).abs() < 1e-9, "{text}");
    // Every bucket of the spec, cumulative, and +Inf.
    let bucket = |le: &str| {
        let mut with = call.to_vec();
        with.push(("le", le));
        samples.value("rpc_server_call_duration_seconds_bucket", &with)
    };
    assert_eq!(bucket("0.0025"), Some(0.0), "{text}");
    assert_eq!(bucket("0.005"), Some(1.0), "{text}");
    assert_eq!(bucket("0.25"), Some(2.0), "{text}");
    assert_eq!(bucket("10"), Some(2.0), "{text}");
    assert_eq!(bucket("+Inf"), Some(2.0), "{text}");
    assert_eq!(
        samples
            .find("rpc_server_call_duration_seconds_bucket", &call)
            .count(),
        DURATION_BUCKETS.len() + 1,
        "{text}"
    );
    assert!(
        text.contains("# TYPE rpc_server_call_duration_seconds histogram"),
        "{text}"
    );
    assert!(!text.contains("otel_scope"), "no scope labels: {text}");
}

#[test]
fn counters_end_in_total_and_gauges_keep_their_unit() {
    let (_provider, m, registry) = local();
    let queue = [
        KeyValue::new(SERVICE, "dispatch"),
        KeyValue::new(DESTINATION, "t.yimen.dispatch"),
    ];
    let mut dead = queue.to_vec();
    dead.push(KeyValue::new(EVENT_TYPE, "case.registered"));
    m.dead_lettered.add(2, &dead);
    m.consumer_lag.record(1.5, &queue);
    m.outbox_pending
        .record(7, &[KeyValue::new(SERVICE, "dispatch")]);
    m.outbox_oldest_age
        .record(3.0, &[KeyValue::new(SERVICE, "dispatch")]);
    m.bus_connected
        .record(1, &[KeyValue::new(SERVICE, "dispatch")]);
    let text = render_registry(&registry);
    let samples = parse(&text).expect("the exposition parses");
    let service = [("yimen_service", "dispatch")];
    assert_eq!(
        samples.value(
            "yimen_messages_dead_lettered_total",
            &[
                ("yimen_service", "dispatch"),
                ("messaging_destination_name", "t.yimen.dispatch"),
                ("yimen_event_type", "case.registered")
            ]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        samples.value(
            "yimen_consumer_lag_seconds",
            &[("messaging_destination_name", "t.yimen.dispatch")]
        ),
        Some(1.5),
        "{text}"
    );
    assert_eq!(samples.value("yimen_outbox_pending", &service), Some(7.0));
    assert_eq!(
        samples.value("yimen_outbox_oldest_age_seconds", &service),
        Some(3.0)
    );
    assert_eq!(samples.value("yimen_bus_connected", &service), Some(1.0));
    assert!(
        samples
            .value("target_info", &[("service_name", "yimen-test")])
            .is_some(),
        "the process names itself: {text}"
    );
}

#[test]
fn only_the_contracts_methods_name_a_series() {
    assert_eq!(
        rpc_labels("/yimen.v1.IntakeService/SubmitCase"),
        ("yimen.v1.IntakeService", "SubmitCase")
    );
    assert_eq!(
        rpc_labels("/grpc.health.v1.Health/Check"),
        ("grpc.health.v1.Health", "Check")
    );
    assert_eq!(
        rpc_labels("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
        (
            "grpc.reflection.v1.ServerReflection",
            "ServerReflectionInfo"
        )
    );
    for unknown in [
        "/yimen.v1.IntakeService/张三",
        "/yimen.v1.NoSuchService/SubmitCase",
        "/",
        "/favicon.ico",
    ] {
        assert_eq!(rpc_labels(unknown), (OTHER, OTHER), "{unknown}");
    }
}

#[test]
fn routing_keys_count_under_their_event_type() {
    assert_eq!(event_type("case.assigned.civil-affairs"), "case.assigned");
    assert_eq!(event_type("case.registered"), "case.registered");
    assert_eq!(event_type("case.registered.0190f1c2-aaaa"), OTHER);
    assert_eq!(event_type("anything"), OTHER);
}

#[test]
fn outcomes_are_spelled_as_the_spec_says() {
    let all = [
        Processed::Ok,
        Processed::Duplicate,
        Processed::Retried,
        Processed::DeadLettered,
    ]
    .map(Processed::as_str);
    assert_eq!(all, ["ok", "duplicate", "retried", "dead_lettered"]);
}

/// The process-wide path: instruments installed once, recorded through the platform's
/// functions, sampled figures, and the scrape endpoint over HTTP.
#[tokio::test]
async fn the_endpoint_serves_what_the_process_measured() {
    let resource = Resource::builder().with_service_name("yimen-test").build();
    install(resource, None).expect("install metrics");
    assert!(enabled());
    record_rpc(
        "yimen.v1.DispatchService",
        "ListDepartments",
        tonic::Code::NotFound,
        Duration::from_millis(4),
    );
    record_publish(
        "intake",
        "t.yimen.events",
        "case.registered",
        true,
        Duration::from_millis(2),
    );
    record_process(
        "dispatch",
        "t.yimen.dispatch",
        "case.assigned.housing",
        Processed::DeadLettered,
        Duration::from_millis(2),
    );
    let open = Sampled::gauge("yimen.test.open", "test figures");
    assert!(
        Arc::ptr_eq(&open.rows, &Sampled::gauge("yimen.test.open", "again").rows),
        "one instrument per name"
    );
    open.set([
        (vec![("department", "housing".to_string())], 2),
        (vec![("department", "police".to_string())], 0),
    ]);
    let shutdown = CancellationToken::new();
    let addr = serve("127.0.0.1:0", shutdown.clone())
        .await
        .expect("bind")
        .expect("an endpoint");
    let addr = addr.to_string();

    let answer = yimen_testkit::metrics::get(&addr, METRICS_PATH)
        .await
        .expect("scrape");
    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("text/plain"),
        "{}",
        answer.content_type
    );
    let samples = parse(&answer.body).expect("the exposition parses");
    let body = &answer.body;
    assert_eq!(
        samples.value(
            "rpc_server_call_duration_seconds_count",
            &[
                ("rpc_method", "ListDepartments"),
                ("rpc_grpc_status_code", "5")
            ]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        samples.value(
            "messaging_publish_duration_seconds_count",
            &[
                ("yimen_service", "intake"),
                ("messaging_destination_name", "t.yimen.events"),
                ("yimen_event_type", "case.registered"),
                ("yimen_outcome", "ok")
            ]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        samples.value(
            "messaging_process_duration_seconds_count",
            &[
                ("yimen_event_type", "case.assigned"),
                ("yimen_outcome", "dead_lettered")
            ]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        samples.value(
            "yimen_messages_dead_lettered_total",
            &[("yimen_event_type", "case.assigned")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        samples.value("yimen_test_open", &[("department", "housing")]),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        samples.value("yimen_test_open", &[("department", "police")]),
        Some(0.0),
        "{body}"
    );

    // A row no longer read is no longer reported.
    open.set([(vec![("department", "housing".to_string())], 1)]);
    let samples = yimen_testkit::metrics::scrape(&addr).await.expect("scrape");
    assert_eq!(
        samples.value("yimen_test_open", &[("department", "housing")]),
        Some(1.0)
    );
    assert_eq!(
        samples.value("yimen_test_open", &[("department", "police")]),
        None
    );

    let elsewhere = yimen_testkit::metrics::get(&addr, "/")
        .await
        .expect("get /");
    assert_eq!(elsewhere.status, 404);
    shutdown.cancel();
}

#[tokio::test]
async fn an_empty_listen_serves_nothing_and_a_taken_one_fails_naming_the_setting() {
    assert_eq!(serve(" ", CancellationToken::new()).await.unwrap(), None);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = serve(&addr, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("telemetry.metrics_listen"), "{err}");
}
