//! The metrics endpoint after real traffic: each `yimen serve` process answers a Prometheus
//! scrape with its RPC, messaging, outbox, pool and domain series, and standalone answers for
//! all five services on one endpoint; no label carries a petitioner's data or a case's id.

use std::time::Duration;

use yimen::run::Target;
use yimen_e2e::*;
use yimen_proto::v1::*;
use yimen_testkit::metrics::{Samples, scrape};

/// The petitioner of these tests: a name and numbers no series may show.
const NAME: &str = "度量测试人";
const ID_NUMBER: &str = "110105199001011232";
const PHONE: &str = "13912345678";

/// A collective petition (headcount 6: analysis raises a COLLECTIVE alert) of the petitioner
/// above.
fn petition() -> SubmitCaseRequest {
    let mut request = submission(Category::SocialAssistance, "洋梓镇", "metrics allowance");
    request.headcount = 6;
    request.petitioners = vec![Person {
        name: NAME.into(),
        id_number: ID_NUMBER.into(),
        phone: PHONE.into(),
    }];
    request
}

/// Scrapes `addr` until `pred` holds (the store-read figures refresh every few seconds;
/// bounded), answering the last scrape either way so the caller's assertion shows it.
async fn scrape_until(addr: &str, what: &str, pred: impl Fn(&Samples) -> bool) -> Samples {
    let found = eventually(what, Duration::from_secs(60), || async {
        let samples = scrape(addr).await?;
        Ok(pred(&samples).then_some(samples))
    })
    .await;
    match found {
        Ok(samples) => samples,
        Err(_) => scrape(addr).await.expect("scrape"),
    }
}

/// Nothing a petitioner wrote or is, and no case's id or number, in any scrape.
fn no_personal_data(body: &str, case: &Case) {
    for secret in [
        NAME,
        ID_NUMBER,
        PHONE,
        "metrics allowance",
        case.case_id.as_str(),
        case.case_number.as_str(),
    ] {
        assert!(!body.contains(secret), "{secret:?} in a scrape:\n{body}");
    }
}

fn at_least_one(samples: &Samples, name: &str, with: &[(&str, &str)]) {
    let value = samples.value(name, with);
    assert!(
        value.is_some_and(|v| v >= 1.0),
        "{name} {with:?} = {value:?} in:\n{samples:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_serve_process_answers_a_scrape_with_what_it_did() {
    let Some(cluster) = Distributed::start().await else {
        return;
    };
    let prefix = cluster.bus.prefix.clone();
    let mut intake = cluster.clients.intake.clone();
    let case = intake
        .submit_case(petition())
        .await
        .expect("submit")
        .into_inner();
    let case = wait_for_case(&cluster.clients, &case.case_id, |c| {
        !c.department.is_empty()
    })
    .await;
    assert!(
        !case.department.is_empty(),
        "the case is assigned: {case:?}"
    );
    let missing = intake
        .get_case(GetCaseRequest {
            case_ref: "YM-2000-999999".into(),
            after_position: 0,
        })
        .await
        .expect_err("no such case");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // intake: the calls it answered, the event it published, its outbox, pool and broker.
    let intake = &cluster.metrics[&Target::Intake];
    let samples = scrape_until(intake, "intake's publish counted", |s| {
        s.value(
            "messaging_publish_duration_seconds_count",
            &[("yimen_event_type", "case.registered")],
        )
        .is_some()
    })
    .await;
    let rpc = "rpc_server_call_duration_seconds_count";
    let intake_rpc = |method, code| {
        [
            ("rpc_system", "grpc"),
            ("rpc_service", "yimen.v1.IntakeService"),
            ("rpc_method", method),
            ("rpc_grpc_status_code", code),
        ]
    };
    at_least_one(&samples, rpc, &intake_rpc("SubmitCase", "0"));
    at_least_one(&samples, rpc, &intake_rpc("GetCase", "5"));
    let exchange = format!("{prefix}yimen.events");
    at_least_one(
        &samples,
        "messaging_publish_duration_seconds_count",
        &[
            ("yimen_service", "intake"),
            ("messaging_destination_name", &exchange),
            ("yimen_event_type", "case.registered"),
            ("yimen_outcome", "ok"),
        ],
    );
    let intake_service = [("yimen_service", "intake")];
    assert!(
        samples
            .value("yimen_outbox_pending", &intake_service)
            .is_some(),
        "{samples:#?}"
    );
    assert!(
        samples
            .value("yimen_outbox_oldest_age_seconds", &intake_service)
            .is_some(),
        "{samples:#?}"
    );
    assert_eq!(
        samples.value("yimen_bus_connected", &intake_service),
        Some(1.0)
    );
    at_least_one(&samples, "db_client_connection_max", &intake_service);
    at_least_one(&samples, "db_client_connection_count", &intake_service);
    let answer = yimen_testkit::metrics::get(intake, "/metrics")
        .await
        .expect("scrape");
    no_personal_data(&answer.body, &case);

    // dispatch: the delivery it processed, its lag, and the department now holding the case.
    let dispatch = &cluster.metrics[&Target::Dispatch];
    let queue = format!("{prefix}yimen.dispatch");
    let department = case.department.clone();
    let samples = scrape_until(dispatch, "the department's open case counted", |s| {
        s.value("yimen_cases_open", &[("department", &department)])
            .is_some_and(|v| v >= 1.0)
    })
    .await;
    at_least_one(
        &samples,
        "messaging_process_duration_seconds_count",
        &[
            ("yimen_service", "dispatch"),
            ("messaging_destination_name", &queue),
            ("yimen_event_type", "case.registered"),
            ("yimen_outcome", "ok"),
        ],
    );
    assert!(
        samples
            .value(
                "yimen_consumer_lag_seconds",
                &[
                    ("yimen_service", "dispatch"),
                    ("messaging_destination_name", &queue)
                ]
            )
            .is_some(),
        "{samples:#?}"
    );
    at_least_one(&samples, "yimen_cases_open", &[("department", &department)]);
    for gauge in ["yimen_cases_overdue", "yimen_cases_escalated"] {
        assert_eq!(
            samples.value(gauge, &[("department", &department)]),
            Some(0.0),
            "{gauge}: a fresh case is neither overdue nor escalated"
        );
    }
    // dispatch published the assignment under the department's routing key: counted under
    // its type, the department's code in no event type.
    at_least_one(
        &samples,
        "messaging_publish_duration_seconds_count",
        &[
            ("yimen_service", "dispatch"),
            ("yimen_event_type", "case.assigned"),
        ],
    );
    let answer = yimen_testkit::metrics::get(dispatch, "/metrics")
        .await
        .expect("scrape");
    no_personal_data(&answer.body, &case);

    // analysis: the collective petition raised its alert, every kind has its series.
    let analysis = &cluster.metrics[&Target::Analysis];
    let samples = scrape_until(analysis, "the collective alert counted", |s| {
        s.value("yimen_alerts_total", &[("kind", "collective")])
            .is_some_and(|v| v >= 1.0)
    })
    .await;
    at_least_one(&samples, "yimen_alerts_total", &[("kind", "collective")]);
    for kind in ["repeat_petitioner", "no_owner", "overdue"] {
        assert!(
            samples
                .value("yimen_alerts_total", &[("kind", kind)])
                .is_some(),
            "{kind}: {samples:#?}"
        );
    }
    let answer = yimen_testkit::metrics::get(analysis, "/metrics")
        .await
        .expect("scrape");
    no_personal_data(&answer.body, &case);

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_serves_every_services_metrics_on_one_endpoint() {
    let listen = format!("127.0.0.1:{}", free_port());
    let alone = StandaloneProcess::start(&[("YIMEN__TELEMETRY__METRICS_LISTEN", &listen)]).await;
    let case = alone
        .clients
        .intake
        .clone()
        .submit_case(petition())
        .await
        .expect("submit")
        .into_inner();
    let case = wait_for_case(&alone.clients, &case.case_id, |c| !c.department.is_empty()).await;
    let department = case.department.clone();
    let samples = scrape_until(&listen, "every figure of the case", |s| {
        s.value("yimen_cases_open", &[("department", &department)])
            .is_some_and(|v| v >= 1.0)
            && s.value("yimen_alerts_total", &[("kind", "collective")])
                .is_some_and(|v| v >= 1.0)
    })
    .await;
    for target in Target::ALL {
        let service = [("yimen_service", target.name())];
        assert!(
            samples.value("yimen_outbox_pending", &service).is_some(),
            "{}'s outbox: {samples:#?}",
            target.name()
        );
        assert_eq!(
            samples.value("db_client_connection_max", &service),
            Some(1.0),
            "{}'s SQLite pool: one writer",
            target.name()
        );
    }
    at_least_one(
        &samples,
        "rpc_server_call_duration_seconds_count",
        &[
            ("rpc_service", "yimen.v1.IntakeService"),
            ("rpc_method", "SubmitCase"),
            ("rpc_grpc_status_code", "0"),
        ],
    );
    at_least_one(
        &samples,
        "messaging_process_duration_seconds_count",
        &[
            ("yimen_service", "dispatch"),
            ("messaging_destination_name", "yimen.dispatch"),
            ("yimen_event_type", "case.registered"),
            ("yimen_outcome", "ok"),
        ],
    );
    at_least_one(&samples, "yimen_cases_open", &[("department", &department)]);
    at_least_one(&samples, "yimen_alerts_total", &[("kind", "collective")]);
    let answer = yimen_testkit::metrics::get(&listen, "/metrics")
        .await
        .expect("scrape");
    no_personal_data(&answer.body, &case);
    alone.stop().await;
}
