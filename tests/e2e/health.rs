//! Readiness and recovery, distributed: with the broker away every service stays ready (the
//! health detail names the broker), intake goes on accepting cases, and once the broker is
//! back their events flow and each case reaches its department.

use std::collections::BTreeMap;
use std::time::Instant;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use yimen::run::Target;
use yimen_e2e::*;
use yimen_proto::v1::*;
use yimen_testkit::proxy::Proxy;

/// What `target` answers on the health service `name`.
async fn health(d: &Distributed, target: Target, name: &str) -> ServingStatus {
    let channel = yimen::client::channel(
        target.name(),
        d.clients.urls.of(target),
        &Default::default(),
    )
    .await
    .expect("a channel to the service");
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: name.into(),
        })
        .await
        .expect("a health answer")
        .into_inner()
        .status()
}

/// Whether `yimen healthcheck --target intake --probe <probe>` exits 0.
async fn intake_probe(d: &Distributed, probe: &str) -> bool {
    healthcheck(Target::Intake, d.clients.urls.of(Target::Intake), probe)
        .status()
        .await
        .expect("run yimen healthcheck")
        .success()
}

async fn assigned(clients: &Clients, case_id: &str) -> Case {
    let case = wait_for_case(clients, case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    assert_eq!(
        case.status,
        CaseStatus::Assigned as i32,
        "the case reached its department: {:?}",
        case.timeline.iter().map(|t| &t.kind).collect::<Vec<_>>()
    );
    case
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_stays_ready_and_accepting_while_the_broker_is_away_and_its_cases_flow_once_it_is_back()
 {
    let proxy = Proxy::start(&yimen_testkit::broker::amqp_url()).await;
    let extra = BTreeMap::from([("YIMEN__BUS__URL".to_string(), proxy.url().to_string())]);
    let Some(d) = Distributed::start_with(extra).await else {
        return;
    };
    let mut intake = d.clients.intake.clone();
    let before = intake
        .submit_case(submission(Category::Transport, "石牌镇", "bus route cut"))
        .await
        .expect("submit")
        .into_inner();
    assigned(&d.clients, &before.case_id).await;

    proxy.outage();
    until("intake's health detail to name the broker down", || async {
        (health(&d, Target::Intake, yimen_platform::server::BROKER).await
            == ServingStatus::NotServing)
            .then_some(())
    })
    .await;
    for target in Target::ALL {
        assert_eq!(
            health(&d, target, yimen_platform::server::READINESS).await,
            ServingStatus::Serving,
            "{} stays ready with its database up and the broker away",
            target.name()
        );
    }
    assert!(
        intake_probe(&d, "readiness").await,
        "readiness probe passes"
    );
    assert!(!intake_probe(&d, "broker").await, "broker probe fails");
    assert!(intake_probe(&d, "database").await, "database probe passes");

    let during = intake
        .submit_case(submission(Category::Transport, "石牌镇", "bus stop moved"))
        .await
        .expect("intake accepts a case while the broker is away")
        .into_inner();
    let waiting = d
        .clients
        .intake
        .clone()
        .get_case(GetCaseRequest {
            case_ref: during.case_id.clone(),
            after_position: 0,
        })
        .await
        .expect("get case")
        .into_inner();
    assert_eq!(waiting.status, CaseStatus::Registered as i32);

    proxy.set_open(true);
    let returned = Instant::now();
    assigned(&d.clients, &during.case_id).await;
    eprintln!(
        "measured: a case accepted during the outage reached its department {} ms after the \
         broker returned",
        returned.elapsed().as_millis()
    );
    until("intake's health detail to name the broker up", || async {
        (health(&d, Target::Intake, yimen_platform::server::BROKER).await == ServingStatus::Serving)
            .then_some(())
    })
    .await;
    assert!(
        intake_probe(&d, "broker").await,
        "broker probe passes again"
    );
    d.stop().await;
    // The proxy goes last: the processes stop while their broker is still reachable.
    drop(proxy);
}
