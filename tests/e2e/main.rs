//! End to end over gRPC, in both deployment modes: standalone (one process, SQLite, the
//! in-process bus) and distributed (the five services as separate processes on PostgreSQL
//! and RabbitMQ). Each behaviour is one async fn run against both.

use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt;
use yimen::run::Target;
use yimen_e2e::*;
use yimen_proto::v1::*;

use review::review_then_re_review_then_the_same_matter_is_not_taken_again;

use desk::{
    a_case_settled_at_the_desk_closes_after_evaluation_without_dispatch,
    a_withdrawn_case_leaves_its_department, the_city_takes_over_a_town_case_and_hands_it_down,
};
use joint::{
    an_instruction_is_tracked_until_the_case_is_reported_back,
    joint_handling_the_lead_replies_once_every_part_is_in,
};
use legal_clock::{
    a_supplement_pause_moves_the_handling_deadline,
    refusal_names_the_channel_and_the_petitioner_is_sent_a_notice,
};
use supervision::{
    a_similar_case_sweep_sends_the_answered_cases_for_handling_again,
    the_third_return_makes_a_problem_case_under_supervision_and_alerted,
};

macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod standalone {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = yimen_e2e::Standalone::start().await.expect("start standalone");
                    super::$name(&s.clients).await;
                    s.stop().await;
                }
            )*
        }
        mod distributed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(d) = yimen_e2e::Distributed::start().await else { return };
                    super::$name(&d.clients).await;
                    d.stop().await;
                }
            )*
        }
    };
}

both_modes!(
    submit_assigned_accepted_replied_each_step_in_timeline,
    leaving_department_hands_open_cases_to_new_owner,
    joined_department_receives_new_cases_of_its_category,
    returned_case_is_rerouted_and_timeline_says_so,
    invalid_submission_names_every_bad_field_and_writes_nothing,
    oversized_submission_is_invalid_argument_not_a_transport_error,
    reflection_lists_the_yimen_services,
    unsatisfied_evaluation_reopens_the_case_to_the_same_department,
    seeded_departments_reach_assessment_before_any_case,
    the_petitioner_follows_the_case_with_its_query_code_and_no_token,
    refusal_names_the_channel_and_the_petitioner_is_sent_a_notice,
    a_supplement_pause_moves_the_handling_deadline,
    review_then_re_review_then_the_same_matter_is_not_taken_again,
    a_withdrawn_case_leaves_its_department,
    a_case_settled_at_the_desk_closes_after_evaluation_without_dispatch,
    the_city_takes_over_a_town_case_and_hands_it_down,
    the_third_return_makes_a_problem_case_under_supervision_and_alerted,
    a_similar_case_sweep_sends_the_answered_cases_for_handling_again,
    joint_handling_the_lead_replies_once_every_part_is_in,
    an_instruction_is_tracked_until_the_case_is_reported_back,
);

mod audit;
mod chart;
mod desk;
mod health;
mod joint;
mod legal_clock;
mod metrics;
mod privacy;
mod review;
mod scenarios;
mod supervision;
mod trace;
mod watch;

/// The fields a refusal's `google.rpc.BadRequest` names.
fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// No case was registered: a refused submission wrote nothing.
async fn assert_nothing_registered(clients: &Clients) {
    let listed = clients
        .intake
        .clone()
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.cases.is_empty(), "nothing was written");
}

fn kinds(case: &Case) -> Vec<String> {
    case.timeline.iter().map(|t| t.kind.clone()).collect()
}

async fn submit(clients: &Clients, request: SubmitCaseRequest) -> SubmitCaseResponse {
    clients
        .intake
        .clone()
        .submit_case(request)
        .await
        .expect("submit case")
        .into_inner()
}

/// Accepts `assignment` and replies `text`, as its department would; answers the replied
/// assignment.
async fn accept_and_reply(clients: &Clients, assignment: &Assignment, text: &str) -> Assignment {
    let mut dispatch = clients.dispatch.clone();
    dispatch
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept")
        .into_inner();
    dispatch
        .reply_assignment(ReplyAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            reply: text.into(),
        })
        .await
        .expect("reply")
        .into_inner()
}

async fn assignment_of(clients: &Clients, department: &str, case_id: &str) -> Assignment {
    until(&format!("case {case_id} reaches {department}"), || async {
        clients
            .dispatch
            .clone()
            .list_assignments(ListAssignmentsRequest {
                department: department.into(),
                states: vec![
                    AssignmentState::Pending as i32,
                    AssignmentState::Accepted as i32,
                ],
                after_position: 0,
                page: None,
            })
            .await
            .expect("list assignments")
            .into_inner()
            .assignments
            .into_iter()
            .find(|a| a.case_id == case_id)
    })
    .await
}

async fn join(clients: &Clients, code: &str, categories: &[Category]) {
    clients
        .dispatch
        .clone()
        .join_department(JoinDepartmentRequest {
            code: code.into(),
            name: format!("{code} office"),
            level: DepartmentLevel::City as i32,
            area: None,
            categories: categories.iter().map(|c| *c as i32).collect(),
            review_body: String::new(),
        })
        .await
        .expect("join department");
}

/// The petitioner's own view: the query code answered at registration shows the status to a
/// caller holding no token; a wrong code is NOT_FOUND, and nothing about people is shown.
async fn the_petitioner_follows_the_case_with_its_query_code_and_no_token(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    assert_eq!(case.query_code.len(), 12, "{case:?}");
    let mut urls = clients.urls.clone();
    urls.token = None;
    let mut anonymous = yimen::client::intake(&urls).await.expect("connect");
    let view = anonymous
        .get_case_status(GetCaseStatusRequest {
            case_number: case.case_number.clone(),
            query_code: case.query_code.clone(),
        })
        .await
        .expect("the status without a token")
        .into_inner();
    assert_eq!(view.case_number, case.case_number);
    assert_ne!(view.status, CaseStatus::Unspecified as i32);
    assert_eq!(view.timeline[0].kind, "case.registered", "{view:?}");
    let wrong = anonymous
        .get_case_status(GetCaseStatusRequest {
            case_number: case.case_number.clone(),
            query_code: "ABCDEFGHJKMN".into(),
        })
        .await
        .expect_err("a wrong code");
    assert_eq!(wrong.code(), Code::NotFound, "{wrong:?}");
    // The same call needs a token for anything else.
    let refused = anonymous
        .get_case(GetCaseRequest {
            case_ref: case.case_number.clone(),
            after_position: 0,
        })
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
}

async fn submit_assigned_accepted_replied_each_step_in_timeline(clients: &Clients) {
    let case = submit(
        clients,
        submission(
            Category::SocialAssistance,
            "洋梓镇",
            "subsistence allowance stopped",
        ),
    )
    .await;
    assert!(case.case_number.starts_with("YM-"), "{}", case.case_number);

    let assigned = wait_for_case(clients, &case.case_number, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    assert_eq!(assigned.department, "civil-affairs");

    let assignment = assignment_of(clients, "civil-affairs", &case.case_id).await;
    let mut dispatch = clients.dispatch.clone();
    dispatch
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept");
    wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Accepted as i32
    })
    .await;
    dispatch
        .reply_assignment(ReplyAssignmentRequest {
            assignment_id: assignment.assignment_id,
            reply: "allowance restored from next month".into(),
        })
        .await
        .expect("reply");
    let replied = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Replied as i32
    })
    .await;
    assert_eq!(
        replied.status,
        CaseStatus::Replied as i32,
        "{:?}",
        kinds(&replied)
    );

    let kinds = kinds(&replied);
    let position = |prefix: &str| {
        kinds
            .iter()
            .position(|k| k.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in timeline {kinds:?}"))
    };
    let steps = [
        position("case.registered"),
        position("case.assigned"),
        position("case.accepted"),
        position("case.replied"),
    ];
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "out of order: {kinds:?}"
    );
}

async fn leaving_department_hands_open_cases_to_new_owner(clients: &Clients) {
    join(clients, "commerce-a", &[Category::CivilCommercial]).await;
    join(clients, "commerce-b", &[Category::CivilCommercial]).await;
    let case = submit(
        clients,
        submission(
            Category::CivilCommercial,
            "郢中街道",
            "expo cancelled, deposits kept",
        ),
    )
    .await;
    let held = wait_for_case(clients, &case.case_id, |c| c.department == "commerce-a").await;
    assert_eq!(held.department, "commerce-a");

    let left = clients
        .dispatch
        .clone()
        .leave_department(LeaveDepartmentRequest {
            code: "commerce-a".into(),
            reason: "merged".into(),
        })
        .await
        .expect("leave")
        .into_inner();
    assert!(
        left.handovers
            .iter()
            .any(|h| h.case_id == case.case_id && h.to_department == "commerce-b"),
        "{:?}",
        left.handovers
    );
    let moved = wait_for_case(clients, &case.case_id, |c| c.department == "commerce-b").await;
    assert_eq!(moved.department, "commerce-b");
    assert_eq!(moved.status, CaseStatus::Assigned as i32);
    assert!(
        moved
            .timeline
            .iter()
            .any(|t| t.department == "commerce-b" && t.summary.contains("commerce-a")),
        "the new assignment says why: {:?}",
        moved.timeline
    );
    assignment_of(clients, "commerce-b", &case.case_id).await;
}

async fn joined_department_receives_new_cases_of_its_category(clients: &Clients) {
    let before = submit(
        clients,
        submission(Category::MarriageFamily, "胡集镇", "custody after divorce"),
    )
    .await;
    let at_center = wait_for_case(clients, &before.case_id, |c| !c.department.is_empty()).await;
    assert_eq!(at_center.department, "city-center", "nobody owned it yet");

    join(clients, "family-office", &[Category::MarriageFamily]).await;
    let after = submit(
        clients,
        submission(Category::MarriageFamily, "胡集镇", "maintenance unpaid"),
    )
    .await;
    let routed = wait_for_case(clients, &after.case_id, |c| !c.department.is_empty()).await;
    assert_eq!(routed.department, "family-office");
}

async fn returned_case_is_rerouted_and_timeline_says_so(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    let first = wait_for_case(clients, &case.case_id, |c| !c.department.is_empty()).await;
    let assignment = assignment_of(clients, &first.department, &case.case_id).await;
    let answer = clients
        .dispatch
        .clone()
        .return_assignment(ReturnAssignmentRequest {
            assignment_id: assignment.assignment_id,
            reason: "a road matter for the town".into(),
        })
        .await
        .expect("return")
        .into_inner();
    let next = answer.reassigned.expect("reassigned").department;
    assert_ne!(next, first.department, "never back to the same department");
    let moved = wait_for_case(clients, &case.case_id, |c| c.department == next).await;
    assert_eq!(moved.department, next);
    assert!(
        kinds(&moved).iter().any(|k| k.starts_with("case.returned")),
        "{:?}",
        kinds(&moved)
    );
}

async fn invalid_submission_names_every_bad_field_and_writes_nothing(clients: &Clients) {
    let mut request = submission(Category::SocialAssistance, "洋梓镇", "");
    request.headcount = 0;
    let status = clients
        .intake
        .clone()
        .submit_case(request)
        .await
        .expect_err("invalid input is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    assert!(fields.contains(&"subject".to_string()), "{fields:?}");
    assert!(fields.contains(&"headcount".to_string()), "{fields:?}");
    assert_nothing_registered(clients).await;
}

/// A description over its limit names the field; a request over the transport's limit says
/// the limit. Both are INVALID_ARGUMENT, and nothing is written.
async fn oversized_submission_is_invalid_argument_not_a_transport_error(clients: &Clients) {
    let mut long = submission(Category::SocialAssistance, "洋梓镇", "long");
    long.description = "长".repeat(100_000);
    let status = clients
        .intake
        .clone()
        .submit_case(long)
        .await
        .expect_err("over the description's limit");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = violated_fields(&status);
    assert_eq!(fields, ["description"]);

    let mut huge = submission(Category::SocialAssistance, "洋梓镇", "huge");
    huge.description = "x".repeat(5 * 1024 * 1024);
    let status = clients
        .intake
        .clone()
        .submit_case(huge)
        .await
        .expect_err("over the request's limit");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("larger than the limit"),
        "{status:?}"
    );
    assert_nothing_registered(clients).await;
}

async fn reflection_lists_the_yimen_services(clients: &Clients) {
    let channel = yimen::client::traced(Target::Intake, &clients.urls)
        .await
        .expect("a channel to intake");
    // The same question in both versions of the reflection protocol.
    macro_rules! list_services {
        ($version:ident) => {{
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let answer = ServerReflectionClient::new(channel.clone())
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .expect(concat!("reflection ", stringify!($version)))
                .into_inner()
                .message()
                .await
                .expect("answer")
                .expect("one answer");
            let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
                panic!("unexpected reflection answer");
            };
            list.service
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<String>>()
        }};
    }
    for names in [list_services!(v1), list_services!(v1alpha)] {
        for service in ["yimen.v1.IntakeService", "grpc.health.v1.Health"] {
            assert!(names.contains(&service.to_string()), "{service}: {names:?}");
        }
    }
}

/// Every call but the health check needs a verified token whose role the policy allows.
async fn calls_need_a_token_the_role_allows(clients: &Clients, signing_key: &std::path::Path) {
    let urls = |token: Option<String>| {
        let mut urls = clients.urls.clone();
        urls.token = token;
        urls
    };
    let get = GetCaseRequest {
        case_ref: "YM-2026-000001".into(),
        after_position: 0,
    };
    let anonymous = yimen::client::intake(&urls(None)).await.expect("connect");
    let status = anonymous
        .clone()
        .get_case(get.clone())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("bearer"), "{status:?}");

    let forged = yimen::client::intake(&urls(Some("not.a.token".into())))
        .await
        .expect("connect");
    let status = forged
        .clone()
        .get_case(get.clone())
        .await
        .expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        !status.message().contains("not.a.token"),
        "the token is echoed: {status:?}"
    );

    let analyst = token_for(
        signing_key,
        yimen_platform::auth::Principal {
            subject: "e2e-analyst".into(),
            role: yimen_platform::auth::Role::Analyst,
            department: None,
            committee: None,
        },
    );
    let mut dispatch = yimen::client::dispatch(&urls(Some(analyst.clone())))
        .await
        .expect("connect");
    let status = dispatch
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: uuid::Uuid::now_v7().to_string(),
            handler: String::new(),
        })
        .await
        .expect_err("an analyst accepts nothing");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("department"), "{status:?}");
    // The same token reads what an analyst may.
    let mut analysis = yimen::client::analysis(&urls(Some(analyst)))
        .await
        .expect("connect");
    analysis
        .get_situation(GetSituationRequest::default())
        .await
        .expect("an analyst reads the situation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_calls_need_a_token_the_role_allows() {
    let s = Standalone::start().await.expect("start standalone");
    calls_need_a_token_the_role_allows(&s.clients, &s.signing_key).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_calls_need_a_token_the_role_allows() {
    let Some(d) = Distributed::start().await else {
        return;
    };
    calls_need_a_token_the_role_allows(&d.clients, &d.signing_key).await;
    d.stop().await;
}

/// With `[server.tls]` and a client CA, the services answer over TLS to a client presenting a
/// certificate that CA signed, and refuse one that presents none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_serves_tls_and_asks_for_a_client_certificate() {
    let pki = yimen_testkit::tls::TestPki::generate();
    let client = ClientTls {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(pki.client_cert_file.clone()),
        key_file: Some(pki.client_key_file.clone()),
        ..ClientTls::default()
    };
    let s = Standalone::start_with(
        |settings| {
            settings.server.tls = yimen_platform::server::TlsConfig {
                cert_file: Some(pki.server_cert_file.clone()),
                key_file: Some(pki.server_key_file.clone()),
                client_ca_file: Some(pki.ca_file.clone()),
            }
        },
        client,
    )
    .await
    .expect("start standalone with TLS and mTLS");
    assert!(s.clients.urls.intake.starts_with("https://"));
    let departments = s
        .clients
        .dispatch
        .clone()
        .list_departments(ListDepartmentsRequest::default())
        .await
        .expect("a call with the client certificate")
        .into_inner()
        .departments;
    assert!(!departments.is_empty(), "the seed's departments");

    let no_certificate = s.clients.urls.clone().with_tls(ClientTls {
        ca_file: Some(pki.ca_file.clone()),
        ..ClientTls::default()
    });
    // TLS 1.3 finishes the client's side of the handshake before the server checks the
    // certificate, so the refusal comes at connect or at the first call.
    let refused = match Clients::connect(&no_certificate).await {
        Err(_) => true,
        Ok(clients) => clients
            .dispatch
            .clone()
            .list_departments(ListDepartmentsRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a call without a client certificate is refused");

    // `yimen healthcheck` reaches a TLS server with the same flags as the other commands.
    // A probe inside a pod dials 127.0.0.1 and names the certificate's host with
    // --server-name; a name the certificate does not hold fails.
    let healthcheck = |with_certificate: bool, server_name: &str, probe: &str| {
        let mut command = healthcheck(Target::Intake, &s.clients.urls.intake, probe);
        command
            .arg("--ca-file")
            .arg(&pki.ca_file)
            .args(["--server-name", server_name])
            .env_remove("YIMEN_CERT_FILE")
            .env_remove("YIMEN_KEY_FILE");
        if with_certificate {
            command
                .arg("--cert-file")
                .arg(&pki.client_cert_file)
                .arg("--key-file")
                .arg(&pki.client_key_file);
        }
        command.status()
    };
    let status = healthcheck(true, "localhost", "readiness")
        .await
        .expect("run yimen healthcheck");
    assert!(status.success(), "yimen healthcheck over mTLS: {status}");
    let status = healthcheck(true, "localhost", "liveness")
        .await
        .expect("run yimen healthcheck");
    assert!(
        status.success(),
        "yimen healthcheck --probe liveness over mTLS: {status}"
    );
    let status = healthcheck(false, "localhost", "readiness")
        .await
        .expect("run yimen healthcheck");
    assert!(!status.success(), "yimen healthcheck without a certificate");
    let status = healthcheck(true, "intake.elsewhere.example", "readiness")
        .await
        .expect("run yimen healthcheck");
    assert!(
        !status.success(),
        "a server name the certificate does not hold"
    );
    s.stop().await;
}

/// A department's own system reads its work from `yimen.dept.<code>` on the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_system_consumes_its_work_from_its_queue() {
    let extra = std::collections::BTreeMap::from([(
        "YIMEN__DISPATCH__DEPARTMENT_QUEUES".to_string(),
        "true".to_string(),
    )]);
    let Some(cluster) = Distributed::start_with(extra).await else {
        return;
    };
    let department_system = yimen_platform::bus::connect(&cluster.bus)
        .await
        .expect("the department's system connects");
    let mut work = department_system
        .subscribe(&yimen_platform::bus::QueueSpec::department("civil-affairs"))
        .await
        .expect("subscribe to the department queue");
    let case = submit(
        &cluster.clients,
        submission(Category::SocialAssistance, "洋梓镇", "allowance stopped"),
    )
    .await;
    let delivery = tokio::time::timeout(Duration::from_secs(30), work.next())
        .await
        .expect("work arrives in time")
        .expect("a delivery");
    assert_eq!(delivery.message.routing_key, "case.assigned.civil-affairs");
    let event = yimen_platform::events::decode(&delivery.message.body).expect("an event");
    assert_eq!(event.case_id, case.case_id);
    delivery.ack().await.expect("ack");
    department_system.close().await;
    cluster.stop().await;
}

/// 质量评价: an unsatisfied petitioner reopens the case; dispatch gives it back to the department
/// that replied, and the assessment counts the reply as one that did not settle the case.
async fn unsatisfied_evaluation_reopens_the_case_to_the_same_department(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::SocialAssistance, "洋梓镇", "allowance too low"),
    )
    .await;
    let first = assignment_of(clients, "civil-affairs", &case.case_id).await;
    accept_and_reply(clients, &first, "the allowance follows the standard").await;
    wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Replied as i32
    })
    .await;

    let mut intake = clients.intake.clone();
    let reopened = intake
        .submit_evaluation(SubmitEvaluationRequest {
            case_ref: case.case_number.clone(),
            satisfaction: Satisfaction::Unsatisfied as i32,
            comment: String::new(),
        })
        .await
        .expect("evaluate")
        .into_inner();
    assert_eq!(reopened.status(), CaseStatus::Reopened);

    let again = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    assert_eq!(again.status(), CaseStatus::Assigned, "{:?}", kinds(&again));
    assert_eq!(again.department, "civil-affairs");
    let kinds = kinds(&again);
    let reopened_at = kinds.iter().position(|k| k == "case.reopened");
    let assigned_last = kinds.iter().rposition(|k| k == "case.assigned");
    assert!(
        reopened_at.is_some() && assigned_last > reopened_at,
        "reopened, then assigned again: {kinds:?}"
    );
    let second = assignment_of(clients, "civil-affairs", &case.case_id).await;
    assert_ne!(second.assignment_id, first.assignment_id);
    assert_eq!(second.state(), AssignmentState::Pending);

    // A second evaluation before the new reply is refused: there is no reply to judge.
    let refused = intake
        .submit_evaluation(SubmitEvaluationRequest {
            case_ref: case.case_id.clone(),
            satisfaction: Satisfaction::Satisfied as i32,
            comment: String::new(),
        })
        .await
        .expect_err("nothing to evaluate");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let card = until("assessment counts the reopening", || async {
        clients
            .assessment
            .clone()
            .get_scorecard(GetScorecardRequest {
                department: "civil-affairs".into(),
                period: None,
            })
            .await
            .expect("scorecard")
            .into_inner()
            .scorecards
            .into_iter()
            .find(|c| c.reopened == 1 && c.assigned == 2)
    })
    .await;
    assert_eq!((card.evaluated, card.closed), (1, 0));
}

/// The departments joined at start (standalone seeds them while the services start) reach
/// assessment, named, before any case: no event is published before its consumers' queues exist.
async fn seeded_departments_reach_assessment_before_any_case(clients: &Clients) {
    let seeded = seed();
    until(
        "assessment knows every seeded department by name",
        || async {
            let cards = clients
                .assessment
                .clone()
                .get_scorecard(GetScorecardRequest::default())
                .await
                .expect("scorecards")
                .into_inner()
                .scorecards;
            seeded
                .iter()
                .all(|d| {
                    cards
                        .iter()
                        .any(|c| c.department == d.code && c.department_name == d.name)
                })
                .then_some(())
        },
    )
    .await;
}

/// `yimen migrate` declares every service's queue on the broker, so what one service publishes
/// before another has ever started waits in the other's queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_declares_every_services_queue_on_the_broker() {
    use yimen_platform::bus::{Message, Published};
    let Some(database) = yimen_testkit::stores::fresh_postgres_database().await else {
        return;
    };
    let broker = yimen_e2e::installation_broker();
    let config = broker.config().clone();
    let status = tokio::process::Command::new(yimen_bin())
        .arg("migrate")
        .envs([
            ("YIMEN__DATABASE__URL", database.url().to_string()),
            ("YIMEN__BUS__URL", config.url.clone()),
            ("YIMEN__BUS__PREFIX", config.prefix.clone()),
            (
                "YIMEN__BUS__DELIVERY_LIMIT",
                config.delivery_limit.to_string(),
            ),
            (
                "YIMEN__BUS__QUEUE_EXPIRES_SECS",
                yimen_testkit::broker::TEST_QUEUE_EXPIRY_SECS.to_string(),
            ),
            ("YIMEN__TELEMETRY__LOG_LEVEL", "warn".into()),
        ])
        .status()
        .await
        .expect("run yimen migrate");
    assert!(status.success(), "yimen migrate: {status}");

    let bus = yimen_platform::bus::connect(&config)
        .await
        .expect("the broker");
    let message = |routing_key: &str| Message {
        id: uuid::Uuid::now_v7().to_string(),
        routing_key: routing_key.into(),
        body: b"not read".to_vec(),
        headers: Default::default(),
    };
    for key in [
        "case.registered",
        "department.joined",
        "case.referred.housing",
    ] {
        assert_eq!(
            bus.publish(&message(key)).await.expect("publish"),
            Published::Routed,
            "{key} has a queue before any service ran"
        );
    }
    let mut analysis = bus
        .subscribe(&Target::Analysis.queue())
        .await
        .expect("analysis's queue");
    let first = tokio::time::timeout(Duration::from_secs(10), analysis.next())
        .await
        .expect("a waiting message")
        .expect("a delivery");
    assert_eq!(first.message.routing_key, "case.registered");
    first.ack().await.expect("ack");
    drop(analysis);
    bus.close().await;
}

/// `yimen dept import FILE` joins the file's departments that are not registered and leaves
/// the others alone, so running it again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dept_import_joins_only_the_departments_not_yet_registered() {
    let s = Standalone::start().await.expect("start standalone");
    let dir = yimen_testkit::stores::temp_dir("yimen-import-");
    let file = dir.path().join("departments.toml");
    let seed_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/departments.toml"),
    )
    .expect("read the seed");
    let extra = "\n[[department]]\ncode = \"archives\"\nname = \"档案局\"\nlevel = \"city\"\ncategories = [\"food_drug\"]\n";
    std::fs::write(&file, format!("{seed_text}{extra}")).expect("write the departments file");
    let import = || {
        let mut command = tokio::process::Command::new(yimen_bin());
        command
            .args(["--json", "dept", "import"])
            .arg(&file)
            .args(["--dispatch", &s.clients.urls.dispatch])
            .args([
                "--token",
                s.clients.urls.token.as_deref().unwrap_or_default(),
            ])
            .env("YIMEN__TELEMETRY__LOG_LEVEL", "warn")
            .output()
    };
    let answer = |output: std::process::Output| -> serde_json::Value {
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).expect("JSON")
    };
    let first = answer(import().await.expect("run yimen dept import"));
    assert_eq!(first["joined"], serde_json::json!(["archives"]), "{first}");
    assert_eq!(
        first["already_registered"].as_array().map(Vec::len),
        Some(seed().len()),
        "{first}"
    );
    let again = answer(import().await.expect("run yimen dept import again"));
    assert_eq!(again["joined"], serde_json::json!([]), "{again}");
    assert_eq!(
        again["already_registered"].as_array().map(Vec::len),
        Some(seed().len() + 1),
        "{again}"
    );
    s.stop().await;
}

/// `yimen bench --bus` against a running installation: every submitted case is seen assigned
/// on the broker, and the machine's raw limits are measured in the same run (on the
/// installation's database and broker, leaving nothing behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_against_an_installation_sees_every_case_assigned_on_the_broker() {
    let Some(d) = Distributed::start().await else {
        return;
    };
    let database = d.env["YIMEN__DATABASE__URL"].clone();
    let progress = yimen::progress::Progress::silent();
    let raw = yimen::bench::raw::measure(
        &database,
        &d.bus.url,
        &d.bus.prefix,
        Duration::from_millis(500),
        &progress,
    )
    .await
    .expect("measure the raw limits");
    assert!(
        raw.commits_per_sec > 0.0 && raw.messages_per_sec > 0.0,
        "{raw:?}"
    );
    let load = yimen::bench::Load {
        cases: 40,
        concurrency: 4,
        rate: Some(100.0),
        patience: Duration::from_secs(60),
        reads: 80,
        read_concurrency: 4,
    };
    let broker = yimen::bench::remote::Broker {
        url: d.bus.url.clone(),
        prefix: d.bus.prefix.clone(),
    };
    let report =
        yimen::bench::remote::run(&d.clients.urls, &broker, load, Some(raw), true, progress)
            .await
            .expect("bench the installation");
    assert_eq!(report.assigned, 40, "every case seen assigned:\n{report}");
    let feeds = report
        .feeds
        .as_ref()
        .expect("the departments' streams followed");
    assert!(feeds.departments > 0, "{report}");
    assert_eq!(
        feeds.cases, 40,
        "every case reached a department's stream:\n{report}"
    );
    assert_eq!(
        report.reads.as_ref().map(|r| r.count),
        Some(80),
        "the cases read back:\n{report}"
    );
    assert!(
        report.intake_to_assigned.p50 > Duration::ZERO,
        "latencies measured:\n{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("yimen reaches"),
        "the ratio is printed:\n{text}"
    );
    d.stop().await;
}

/// The binary stands on its own: `yimen standalone` started where there is no deploy/ directory
/// joins the departments built into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_outside_the_repository_joins_the_builtin_departments() {
    let alone = StandaloneProcess::start(&[]).await;
    let clients = &alone.clients;
    let departments = clients
        .dispatch
        .clone()
        .list_departments(ListDepartmentsRequest::default())
        .await
        .expect("list departments")
        .into_inner()
        .departments;
    let codes: Vec<&str> = departments.iter().map(|d| d.code.as_str()).collect();
    for department in seed() {
        assert!(
            codes.contains(&department.code.as_str()),
            "{} joined: {codes:?}",
            department.code
        );
    }
    alone.stop().await;
}

/// `yimen migrate --departments builtin` joins the departments straight into dispatch's store,
/// their `department.joined` events waiting in its outbox; run again, it joins none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_joins_the_departments_once() {
    use sqlx::Connection;
    let Some(database) = yimen_testkit::stores::fresh_postgres_database().await else {
        return;
    };
    let migrate = || {
        tokio::process::Command::new(yimen_bin())
            .args([
                "migrate",
                "--target",
                "dispatch",
                "--departments",
                "builtin",
            ])
            .envs([
                ("YIMEN__DATABASE__URL", database.url()),
                ("YIMEN__BUS__URL", "memory"),
                ("YIMEN__TELEMETRY__LOG_LEVEL", "warn"),
            ])
            .output()
    };
    for round in ["first", "second"] {
        let output = migrate().await.expect("run yimen migrate");
        assert!(output.status.success(), "{round} run: {output:?}");
    }
    let mut conn = sqlx::PgConnection::connect(database.url())
        .await
        .expect("connect");
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM dispatch.departments")
        .fetch_all(&mut conn)
        .await
        .expect("list departments");
    let joined: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM dispatch.outbox WHERE routing_key = 'department.joined'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count department.joined events");
    for department in seed() {
        assert!(
            codes.contains(&department.code),
            "{} joined: {codes:?}",
            department.code
        );
    }
    assert_eq!(
        joined,
        seed().len() as i64,
        "one event per department, not two"
    );
    conn.close().await.expect("close");
}
