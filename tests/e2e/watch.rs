//! Live work for outside systems, in both modes: a department's own system follows its work
//! with WatchAssignments, routed to it by a routing rule, goes away, reconnects with the last
//! position it received and gets exactly what it missed; the stream ends cleanly when the
//! installation stops.

use std::path::Path;

use yimen_e2e::*;
use yimen_platform::auth::{Principal, Role};
use yimen_proto::v1::dispatch_service_client::DispatchServiceClient;
use yimen_proto::v1::*;
use yimen_testkit::harness::next_item;

const DEPARTMENT: &str = "bus-company";
const KEYWORD: &str = "bus route";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_a_departments_system_follows_its_work_through_a_reconnect() {
    let s = Standalone::start().await.expect("start standalone");
    let stream = follows_its_work_through_a_reconnect(&s.clients, &s.signing_key).await;
    s.stop().await;
    ends_when_the_installation_stops(stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_a_departments_system_follows_its_work_through_a_reconnect() {
    let Some(d) = Distributed::start().await else {
        return;
    };
    let stream = follows_its_work_through_a_reconnect(&d.clients, &d.signing_key).await;
    d.stop().await;
    ends_when_the_installation_stops(stream).await;
}

type Watch = tonic::Streaming<Assignment>;

/// The department's own system: its token, its client, a new connection each time.
async fn department_system(
    clients: &Clients,
    signing_key: &Path,
) -> DispatchServiceClient<yimen::client::Traced> {
    let token = token_for(
        signing_key,
        Principal {
            subject: "bus-company-system".into(),
            role: Role::Department,
            department: Some(DEPARTMENT.into()),
            committee: None,
        },
    );
    yimen::client::dispatch(&clients.urls.clone().with_token(token))
        .await
        .expect("connect as the department")
}

async fn watch(system: &mut DispatchServiceClient<yimen::client::Traced>, after: u64) -> Watch {
    system
        .watch_assignments(ListAssignmentsRequest {
            after_position: after,
            ..Default::default()
        })
        .await
        .expect("watch its work")
        .into_inner()
}

/// The next item a stream sends (bounded, so a missing one fails instead of hanging).
async fn next<T>(stream: &mut tonic::Streaming<T>) -> T {
    next_item(stream).await.expect("the stream is open")
}

fn seen(a: &Assignment) -> (String, AssignmentState) {
    (
        a.case_id.clone(),
        AssignmentState::try_from(a.state).expect("a state"),
    )
}

async fn submit(clients: &Clients, subject: &str) -> String {
    clients
        .intake
        .clone()
        .submit_case(submission(Category::Transport, "石牌镇", subject))
        .await
        .expect("submit")
        .into_inner()
        .case_id
}

/// Plays the department's system; answers its last stream, still open.
async fn follows_its_work_through_a_reconnect(clients: &Clients, signing_key: &Path) -> Watch {
    let mut dispatch = clients.dispatch.clone();
    dispatch
        .join_department(JoinDepartmentRequest {
            code: DEPARTMENT.into(),
            name: "公交公司".into(),
            level: DepartmentLevel::City as i32,
            area: None,
            categories: vec![],
            review_body: String::new(),
        })
        .await
        .expect("join");
    let rules = dispatch
        .set_routing_rules(SetRoutingRulesRequest {
            rules: vec![RoutingRule {
                rule_id: "bus-routes".into(),
                department: DEPARTMENT.into(),
                keyword: KEYWORD.into(),
                ..Default::default()
            }],
        })
        .await
        .expect("routing rules")
        .into_inner();

    let mut system = department_system(clients, signing_key).await;
    let mut stream = watch(&mut system, 0).await;
    let first = submit(clients, "the bus route 7 was cut").await;
    let assigned = next(&mut stream).await;
    assert_eq!(seen(&assigned), (first.clone(), AssignmentState::Pending));
    assert_eq!(
        (
            assigned.routing_rule.as_str(),
            assigned.routing_rules_version
        ),
        ("bus-routes", rules.version)
    );
    system
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assigned.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept");
    let accepted = next(&mut stream).await;
    assert_eq!(seen(&accepted), (first.clone(), AssignmentState::Accepted));
    let last = accepted.position;
    // The system goes away: stream and connection.
    drop(stream);
    drop(system);

    // While it is away: a second case comes (seen by the center), then the first is replied.
    let second = submit(clients, "a new bus route skips the village").await;
    until("the second case reaches the department", || async {
        dispatch
            .clone()
            .list_assignments(ListAssignmentsRequest {
                department: DEPARTMENT.into(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .assignments
            .into_iter()
            .find(|a| a.case_id == second)
    })
    .await;
    dispatch
        .reply_assignment(ReplyAssignmentRequest {
            assignment_id: assigned.assignment_id.clone(),
            reply: "route 7 runs again from Monday".into(),
        })
        .await
        .expect("reply");

    // It reconnects with the last position it received: exactly what it missed, in order.
    let mut system = department_system(clients, signing_key).await;
    let mut stream = watch(&mut system, last).await;
    let missed = [next(&mut stream).await, next(&mut stream).await];
    assert_eq!(
        missed.iter().map(seen).collect::<Vec<_>>(),
        [
            (second.clone(), AssignmentState::Pending),
            (first.clone(), AssignmentState::Replied),
        ]
    );
    assert!(missed[0].position > last && missed[1].position > missed[0].position);
    // Nothing else was waiting: the next item is the next change.
    system
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: missed[0].assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept the second");
    let live = next(&mut stream).await;
    assert_eq!(seen(&live), (second, AssignmentState::Accepted));
    stream
}

/// Once the installation stopped, the stream has ended cleanly (no error, no more items).
async fn ends_when_the_installation_stops(mut stream: Watch) {
    assert!(next_item(&mut stream).await.is_none(), "ended cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_a_case_is_followed_through_a_reconnect() {
    let s = Standalone::start().await.expect("start standalone");
    case_followed_through_a_reconnect(&s.clients).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_a_case_is_followed_through_a_reconnect() {
    let Some(d) = Distributed::start().await else {
        return;
    };
    case_followed_through_a_reconnect(&d.clients).await;
    d.stop().await;
}

async fn watch_case(
    clients: &Clients,
    case_id: &str,
    after: u64,
) -> tonic::Streaming<TimelineEntry> {
    clients
        .intake
        .clone()
        .watch_case(GetCaseRequest {
            case_ref: case_id.into(),
            after_position: after,
        })
        .await
        .expect("watch the case")
        .into_inner()
}

/// The center follows a case's timeline as dispatch's events reach intake, goes away while the
/// department accepts it, and resumes with exactly the line it missed.
async fn case_followed_through_a_reconnect(clients: &Clients) {
    let case_id = submit(clients, "the bus route 7 was cut").await;
    let mut stream = watch_case(clients, &case_id, 0).await;
    let registered = next(&mut stream).await;
    let assigned = next(&mut stream).await;
    assert_eq!(
        [registered.kind.as_str(), assigned.kind.as_str()],
        ["case.registered", "case.assigned"]
    );
    assert_eq!((registered.position, assigned.position), (1, 2));
    drop(stream);

    let assignment = until("the case's assignment", || async {
        clients
            .dispatch
            .clone()
            .list_assignments(ListAssignmentsRequest {
                department: assigned.department.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .assignments
            .into_iter()
            .find(|a| a.case_id == case_id)
    })
    .await;
    clients
        .dispatch
        .clone()
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id,
            handler: String::new(),
        })
        .await
        .expect("accept");
    wait_for_case(clients, &case_id, |c| {
        c.status == CaseStatus::Accepted as i32
    })
    .await;

    let mut resumed = watch_case(clients, &case_id, assigned.position).await;
    let missed = next(&mut resumed).await;
    assert_eq!(
        (missed.kind.as_str(), missed.position),
        ("case.accepted", 3)
    );
}
