//! The trace of one case crosses gRPC and AMQP: spans exported over OTLP by separate processes
//! share one trace id — intake's and dispatch's, and on a referral mediation's too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use yimen_e2e::*;
use yimen_proto::v1::*;
use yimen_testkit::otlp::{OtlpReceiver, ReceivedSpan};

/// Trace ids that have spans from both services.
fn shared_traces(spans: &[ReceivedSpan]) -> BTreeSet<String> {
    let mut services: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in spans {
        services
            .entry(&s.trace_id)
            .or_default()
            .insert(&s.service_name);
    }
    services
        .into_iter()
        .filter(|(_, names)| names.contains("yimen-intake") && names.contains("yimen-dispatch"))
        .map(|(id, _)| id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_case_is_one_trace_across_intake_and_dispatch_processes() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let extra = BTreeMap::from([(
        "YIMEN__TELEMETRY__OTLP_ENDPOINT".to_string(),
        receiver.endpoint(),
    )]);
    let Some(cluster) = Distributed::start_with(extra).await else {
        return;
    };
    let case = cluster
        .clients
        .intake
        .clone()
        .submit_case(submission(
            Category::SocialAssistance,
            "洋梓镇",
            "allowance",
        ))
        .await
        .expect("submit")
        .into_inner();
    wait_for_case(&cluster.clients, &case.case_id, |c| {
        !c.department.is_empty()
    })
    .await;
    let unknown = cluster
        .clients
        .intake
        .clone()
        .get_case(GetCaseRequest {
            case_ref: "YM-2000-999999".into(),
            after_position: 0,
        })
        .await
        .expect_err("no such case");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let prefix = cluster.bus.prefix.clone();
    // SIGTERM makes both processes flush their spans.
    cluster.stop().await;

    let spans = receiver
        .wait_for(Duration::from_secs(30), |spans| {
            !shared_traces(spans).is_empty()
        })
        .await;
    let shared = shared_traces(&spans);
    assert!(
        !shared.is_empty(),
        "no trace spans both services: {spans:#?}"
    );
    let trace = shared.first().expect("a shared trace");
    let in_trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| &s.trace_id == trace).collect();
    assert!(
        in_trace
            .iter()
            .any(|s| s.service_name == "yimen-intake" && s.name.contains("SubmitCase")),
        "the trace starts at SubmitCase: {in_trace:#?}"
    );
    assert!(
        in_trace
            .iter()
            .any(|s| s.service_name == "yimen-dispatch" && s.name.contains("case.registered")),
        "dispatch's consumer span is in it: {in_trace:#?}"
    );
    // Each call's span says what it answered (GetCase also answered OK while the case was
    // polled for).
    let statuses_of = |method: &str| {
        spans
            .iter()
            .filter(|s| s.service_name == "yimen-intake" && s.name.ends_with(method))
            .filter_map(|s| s.attribute("rpc.grpc.status_code"))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        statuses_of("/SubmitCase"),
        BTreeSet::from(["0"]),
        "{spans:#?}"
    );
    assert!(
        statuses_of("/GetCase").contains("5"),
        "NOT_FOUND: {spans:#?}"
    );
    // Messaging spans name the installation's real exchange and queue, prefix and all.
    let destination = |service: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.service_name == service && s.name == name)
            .and_then(|s| s.attribute("messaging.destination.name"))
            .map(str::to_string)
    };
    assert_eq!(
        destination("yimen-intake", "case.registered publish"),
        Some(format!("{prefix}yimen.events"))
    );
    assert_eq!(
        destination("yimen-dispatch", "case.registered process"),
        Some(format!("{prefix}yimen.dispatch"))
    );
}

/// The services whose spans are in `trace`.
fn services_in(spans: &[ReceivedSpan], trace: &str) -> BTreeSet<String> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace)
        .map(|s| s.service_name.clone())
        .collect()
}

/// The trace of the first span of `service` whose name contains `name`.
fn trace_of(spans: &[ReceivedSpan], service: &str, name: &str) -> Option<String> {
    spans
        .iter()
        .find(|s| s.service_name == service && s.name.contains(name))
        .map(|s| s.trace_id.clone())
}

/// An SRE follows a case through all five processes: the registration's trace reaches every
/// other service (each consumes it), and a referral's trace goes from dispatch through
/// mediation to intake's timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_referral_traces_cross_all_five_processes() {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let extra = BTreeMap::from([(
        "YIMEN__TELEMETRY__OTLP_ENDPOINT".to_string(),
        receiver.endpoint(),
    )]);
    let Some(cluster) = Distributed::start_with(extra).await else {
        return;
    };
    let player = yimen::scenarios::Player::new(cluster.clients.clone(), |line| eprintln!("{line}"));
    player.seed_mediators().await.expect("mediators");
    player
        .play(yimen::scenarios::Scenario::ExpoMerchants)
        .await
        .expect("the expo merchants");
    cluster.stop().await;

    let complete = |spans: &[ReceivedSpan]| {
        let registration = trace_of(spans, "yimen-intake", "SubmitCase");
        let referral = trace_of(spans, "yimen-dispatch", "ReferToMediation");
        registration.is_some_and(|t| services_in(spans, &t).len() == 5)
            && referral.is_some_and(|t| services_in(spans, &t).len() >= 3)
    };
    let spans = receiver.wait_for(Duration::from_secs(30), complete).await;

    let registration = trace_of(&spans, "yimen-intake", "SubmitCase").expect("SubmitCase span");
    assert_eq!(
        services_in(&spans, &registration),
        BTreeSet::from(
            [
                "yimen-intake",
                "yimen-dispatch",
                "yimen-mediation",
                "yimen-analysis",
                "yimen-assessment"
            ]
            .map(String::from)
        ),
        "case.registered reaches every other service in one trace"
    );
    let referral = trace_of(&spans, "yimen-dispatch", "ReferToMediation").expect("refer span");
    let in_referral: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == referral).collect();
    for (service, name) in [
        ("yimen-mediation", "case.referred"),
        ("yimen-intake", "mediation.opened"),
    ] {
        assert!(
            in_referral
                .iter()
                .any(|s| s.service_name == service && s.name.contains(name)),
            "{service} handles {name} in the referral's trace: {in_referral:#?}"
        );
    }
}
