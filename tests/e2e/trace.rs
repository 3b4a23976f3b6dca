//! The trace of one case crosses gRPC and AMQP: spans from intake and from dispatch, exported
//! over OTLP by two separate processes, share one trace id.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use yimen_e2e::*;
use yimen_platform::testing::otlp::{OtlpReceiver, ReceivedSpan};
use yimen_proto::v1::*;

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
}
