//! The IntakeService as a client meets it, called through the tonic trait without a network:
//! status codes, field violations, nothing written when a request is refused, and what an
//! evaluation writes and publishes when it is taken.

mod support;

use sqlx::Row;
use support::*;
use tonic::{Code, Request, Status};
use yimen_intake::api::Api;
use yimen_platform::db::Db;
use yimen_platform::time::millis;
use yimen_platform::{events, outbox};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::intake_service_server::IntakeService;
use yimen_proto::v1::*;

yimen_testkit::store_contract!(
    yimen_intake::SERVICE,
    yimen_intake::MIGRATIONS,
    [
        invalid_submission_names_every_bad_field_and_writes_nothing,
        unknown_enum_values_are_invalid_argument,
        submitted_case_is_answered_by_get_and_list,
        get_case_with_empty_ref_is_invalid_and_unknown_is_not_found,
        list_with_bad_page_token_is_invalid_on_page_token,
        request_review_names_every_bad_field_and_an_unknown_case_is_not_found,
        satisfied_or_basically_satisfied_evaluation_closes_a_replied_case,
        unsatisfied_evaluation_reopens_the_case_until_dispatch_assigns_it_again,
        evaluating_a_case_that_is_not_replied_is_failed_precondition_and_writes_nothing,
        evaluation_without_satisfaction_is_invalid_argument_and_of_an_unknown_case_not_found,
    ]
);

fn fields(status: &Status) -> Vec<String> {
    yimen_testkit::harness::violated_fields(status)
}

async fn count(db: &Db, table: &'static str) -> i64 {
    let sql = match table {
        "cases" => "SELECT COUNT(*) FROM cases",
        "petitioners" => "SELECT COUNT(*) FROM petitioners",
        "timeline" => "SELECT COUNT(*) FROM timeline",
        "counters" => "SELECT COUNT(*) FROM counters",
        "evaluations" => "SELECT COUNT(*) FROM evaluations",
        other => panic!("no table {other}"),
    };
    sqlx::query_scalar(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
}

async fn submit_status(api: &Api, request: SubmitCaseRequest) -> Status {
    api.submit_case(Request::new(request))
        .await
        .expect_err("refused")
}

async fn invalid_submission_names_every_bad_field_and_writes_nothing(db: Db) {
    let api = api(&db);
    let mut request = submission(Category::SocialAssistance, "洋梓镇", "");
    request.headcount = 0;
    request.petitioners[0].id_number = "110105194912310021".into();
    request.petitioners.push(Person {
        name: String::new(),
        id_number: String::new(),
        phone: "not a phone".into(),
    });
    request.location = None;
    request.amount_claimed = Some(Money { fen: -100 });

    let status = submit_status(&api, request).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&status),
        [
            "headcount",
            "petitioners[0].id_number",
            "petitioners[1].name",
            "petitioners[1].phone",
            "subject",
            "location.town",
            "amount_claimed.fen",
        ]
    );
    // No personal data is echoed back in the message either.
    assert!(
        !status.message().contains("110105194912310021"),
        "{}",
        status.message()
    );

    for table in ["cases", "petitioners", "timeline", "counters"] {
        assert_eq!(count(&db, table).await, 0, "{table} is untouched");
    }
    assert!(
        outbox::unsent_routing_keys(&db)
            .await
            .expect("outbox")
            .is_empty()
    );
}

async fn unknown_enum_values_are_invalid_argument(db: Db) {
    let mut request = submission(Category::Land, "柴湖镇", "boundary");
    request.channel = 99;
    request.category = 99;
    let status = submit_status(&api(&db), request).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["channel", "category"]);

    let status = api(&db)
        .list_cases(Request::new(ListCasesRequest {
            status: 99,
            ..Default::default()
        }))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["status"]);
}

async fn submitted_case_is_answered_by_get_and_list(db: Db) {
    let api = api(&db);
    let submitted = api
        .submit_case(Request::new(submission(
            Category::Transport,
            "石牌镇",
            "bus route cut",
        )))
        .await
        .expect("submitted")
        .into_inner();
    let case = api
        .get_case(Request::new(GetCaseRequest {
            case_ref: submitted.case_number.clone(),
            after_position: 0,
        }))
        .await
        .expect("found")
        .into_inner();
    assert_eq!(case.case_id, submitted.case_id);
    assert_eq!(case.subject, "bus route cut");
    let listed = api
        .list_cases(Request::new(ListCasesRequest::default()))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.cases.len(), 1);
    assert_eq!(listed.cases[0].case_number, submitted.case_number);
    assert!(listed.next_page_token.is_empty());
}

async fn get_case_with_empty_ref_is_invalid_and_unknown_is_not_found(db: Db) {
    let api = api(&db);
    let get = |case_ref: &str| GetCaseRequest {
        case_ref: case_ref.into(),
        after_position: 0,
    };
    let status = api
        .get_case(Request::new(get(" ")))
        .await
        .expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["case_ref"]);
    let status = api
        .get_case(Request::new(get("YM-2026-999999")))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
}

async fn list_with_bad_page_token_is_invalid_on_page_token(db: Db) {
    let request = ListCasesRequest {
        page: Some(PageRequest {
            page_size: 10,
            page_token: "page-2".into(),
        }),
        ..Default::default()
    };
    let status = api(&db)
        .list_cases(Request::new(request))
        .await
        .expect_err("bad token");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["page.page_token"]);
}

async fn request_review_names_every_bad_field_and_an_unknown_case_is_not_found(db: Db) {
    let api = api(&db);
    let invalid = api
        .request_review(Request::new(RequestReviewRequest::default()))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(fields(&invalid), ["case_ref", "reason"]);
    let unknown = api
        .request_review(Request::new(RequestReviewRequest {
            case_ref: "YM-2026-999999".into(),
            reason: "not satisfied".into(),
        }))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
}

// --- evaluation (质量评价) -------------------------------------------------------------------

/// Personal data a petitioner may well write in a comment.
const PERSONAL_COMMENT: &str = "王某 13800000000 thanks the office";

fn evaluation(
    case_ref: &str,
    satisfaction: Satisfaction,
    comment: &str,
) -> SubmitEvaluationRequest {
    SubmitEvaluationRequest {
        case_ref: case_ref.into(),
        satisfaction: satisfaction as i32,
        comment: comment.into(),
    }
}

async fn evaluate(api: &Api, request: SubmitEvaluationRequest) -> Result<Case, Status> {
    api.submit_evaluation(Request::new(request))
        .await
        .map(|r| r.into_inner())
}

/// A registered case that `department` has replied to.
async fn replied_case(db: &Db, department: &str) -> SubmitCaseResponse {
    let submitted = submit(
        db,
        submission(Category::SocialAssistance, "洋梓镇", "allowance stopped"),
    )
    .await;
    let r = registered_at(&get(db, &submitted.case_id).await);
    reply(db, &submitted.case_id, department, r + 10).await;
    submitted
}

/// The stored evaluations of a case: (satisfaction, comment, department, event id).
async fn stored_evaluations(db: &Db, case_id: &str) -> Vec<(i64, String, String, String)> {
    sqlx::query(
        "SELECT satisfaction, comment, department, event_id FROM evaluations \
         WHERE case_id = $1 ORDER BY evaluated_at",
    )
    .bind(case_id)
    .fetch_all(db.pool())
    .await
    .expect("evaluations")
    .iter()
    .map(|r| {
        (
            r.try_get("satisfaction").expect("satisfaction"),
            r.try_get("comment").expect("comment"),
            r.try_get("department").expect("department"),
            r.try_get("event_id").expect("event_id"),
        )
    })
    .collect()
}

fn assert_no_comment_in(event: &Event) {
    let body = String::from_utf8_lossy(&events::encode(event)).to_string();
    for personal in ["王某", "13800000000", "thanks the office"] {
        assert!(
            !body.contains(personal),
            "{} carries {personal}",
            event.r#type
        );
    }
}

async fn satisfied_or_basically_satisfied_evaluation_closes_a_replied_case(db: Db) {
    let api = api(&db);
    for satisfaction in [Satisfaction::Satisfied, Satisfaction::BasicallySatisfied] {
        let submitted = replied_case(&db, "civil-affairs").await;
        let published_before = outbox_events(&db).await.len();

        let case = evaluate(
            &api,
            evaluation(&submitted.case_number, satisfaction, PERSONAL_COMMENT),
        )
        .await
        .expect("evaluated");

        assert_eq!(case.status, CaseStatus::Closed as i32, "{satisfaction:?}");
        assert_eq!(case.department, "civil-affairs");
        assert_eq!(
            case,
            get(&db, &submitted.case_id).await,
            "the answer is what was stored"
        );
        let lines = &case.timeline[case.timeline.len() - 2..];
        let words = if satisfaction == Satisfaction::Satisfied {
            "evaluated: satisfied"
        } else {
            "evaluated: basically satisfied"
        };
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.kind.as_str(), l.summary.as_str(), l.department.as_str()))
                .collect::<Vec<_>>(),
            [
                ("case.evaluated", words, "civil-affairs"),
                ("case.closed", "closed (办结)", "civil-affairs"),
            ]
        );

        let published = outbox_events(&db).await.split_off(published_before);
        let types: Vec<&str> = published.iter().map(|e| e.r#type.as_str()).collect();
        assert_eq!(types, ["case.evaluated", "case.closed"]);
        for (event, line) in published.iter().zip(lines) {
            assert_eq!(
                (event.producer.as_str(), event.case_id.as_str()),
                ("intake", submitted.case_id.as_str())
            );
            assert_eq!(event.id, line.event_id, "each line is its event's");
            assert_eq!(event.occurred_at, line.at);
            assert_no_comment_in(event);
        }
        assert_eq!(
            published[0].payload,
            Some(Payload::CaseEvaluated(CaseEvaluated {
                satisfaction: satisfaction as i32,
                department: "civil-affairs".into(),
            }))
        );
        assert_eq!(
            published[1].payload,
            Some(Payload::CaseClosed(CaseClosed {
                department: "civil-affairs".into(),
                satisfaction: satisfaction as i32,
            }))
        );
        assert_eq!(
            stored_evaluations(&db, &submitted.case_id).await,
            [(
                satisfaction as i64,
                PERSONAL_COMMENT.to_string(),
                "civil-affairs".to_string(),
                published[0].id.clone(),
            )],
            "the comment is kept with the evaluation"
        );
    }
}

async fn unsatisfied_evaluation_reopens_the_case_until_dispatch_assigns_it_again(db: Db) {
    let api = api(&db);
    let submitted = replied_case(&db, "civil-affairs").await;
    let id = submitted.case_id.as_str();
    let replied_at = millis(
        get(&db, id)
            .await
            .timeline
            .last()
            .expect("line")
            .at
            .as_ref()
            .expect("at"),
    );

    let case = evaluate(
        &api,
        evaluation(id, Satisfaction::Unsatisfied, "nothing has changed"),
    )
    .await
    .expect("evaluated");
    assert_eq!(case.status, CaseStatus::Reopened as i32);
    assert_eq!(
        case.department, "civil-affairs",
        "until dispatch assigns it again"
    );
    let reopened = case.timeline.last().expect("line");
    assert_eq!(reopened.kind, "case.reopened");
    assert_eq!(
        reopened.summary,
        "reopened: the petitioner was unsatisfied with the reply; dispatch assigns it again"
    );
    assert_eq!(reopened.department, "civil-affairs");
    let reopened_at = millis(reopened.at.as_ref().expect("at"));
    assert!(reopened_at >= replied_at, "the status time never goes back");

    let published = outbox_events(&db).await;
    let types: Vec<&str> = published.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        types,
        ["case.registered", "case.evaluated", "case.reopened"]
    );
    assert_eq!(
        published[2].payload,
        Some(Payload::CaseReopened(CaseReopened {
            department: "civil-affairs".into(),
            reason: "the petitioner was unsatisfied with the reply".into(),
        }))
    );
    assert_eq!(
        published[1].payload,
        Some(Payload::CaseEvaluated(CaseEvaluated {
            satisfaction: Satisfaction::Unsatisfied as i32,
            department: "civil-affairs".into(),
        }))
    );

    // A late event from before the evaluation does not roll the case back ...
    apply(
        &db,
        &accepted(id, "civil-affairs", replied_at - 5, replied_at),
    )
    .await
    .expect("late acceptance");
    assert_eq!(get(&db, id).await.status, CaseStatus::Reopened as i32);
    // ... while dispatch's new assignment takes the case: REOPENED → ASSIGNED.
    apply(&db, &assigned(id, "social-security", reopened_at + 10))
        .await
        .expect("assigned again");
    let case = get(&db, id).await;
    assert_eq!(case.status, CaseStatus::Assigned as i32);
    assert_eq!(case.department, "social-security");
    assert_eq!(kinds(&case).last(), Some(&"case.assigned"));
}

async fn evaluating_a_case_that_is_not_replied_is_failed_precondition_and_writes_nothing(db: Db) {
    let api = api(&db);
    let registered = submit(&db, submission(Category::Land, "柴湖镇", "boundary")).await;
    let accepted_case = submit(&db, submission(Category::Land, "柴湖镇", "forest")).await;
    let r = registered_at(&get(&db, &accepted_case.case_id).await);
    apply(
        &db,
        &assigned(&accepted_case.case_id, "natural-resources", r + 10),
    )
    .await
    .expect("assigned");
    apply(
        &db,
        &accepted(
            &accepted_case.case_id,
            "natural-resources",
            r + 20,
            r + 1_000,
        ),
    )
    .await
    .expect("accepted");
    let closed = replied_case(&db, "civil-affairs").await;
    evaluate(
        &api,
        evaluation(&closed.case_id, Satisfaction::Satisfied, ""),
    )
    .await
    .expect("closed");

    let lines = count(&db, "timeline").await;
    let published = outbox_events(&db).await.len();
    for (case, status) in [
        (&registered, "registered"),
        (&accepted_case, "accepted"),
        (&closed, "closed"),
    ] {
        let refused = evaluate(
            &api,
            evaluation(&case.case_number, Satisfaction::Unsatisfied, "too early"),
        )
        .await
        .expect_err("not replied");
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(
            refused.message(),
            format!(
                "case {} is {status}; only a replied case can be evaluated",
                case.case_number
            )
        );
    }
    assert_eq!(count(&db, "evaluations").await, 1, "only the closed case's");
    assert_eq!(count(&db, "timeline").await, lines);
    assert_eq!(outbox_events(&db).await.len(), published);
    assert_eq!(
        get(&db, &accepted_case.case_id).await.status,
        CaseStatus::Accepted as i32
    );
}

async fn evaluation_without_satisfaction_is_invalid_argument_and_of_an_unknown_case_not_found(
    db: Db,
) {
    let api = api(&db);
    let submitted = replied_case(&db, "civil-affairs").await;
    let lines = count(&db, "timeline").await;

    let refused = evaluate(
        &api,
        evaluation(&submitted.case_number, Satisfaction::Unspecified, "fine"),
    )
    .await
    .expect_err("no satisfaction");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(fields(&refused), ["satisfaction"]);

    let refused = evaluate(
        &api,
        evaluation(" ", Satisfaction::Unspecified, &"长".repeat(501)),
    )
    .await
    .expect_err("every field");
    assert_eq!(fields(&refused), ["case_ref", "satisfaction", "comment"]);

    let unknown = evaluate(
        &api,
        evaluation("YM-1999-000001", Satisfaction::Satisfied, PERSONAL_COMMENT),
    )
    .await
    .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(!unknown.message().contains("王某"), "{}", unknown.message());

    assert_eq!(count(&db, "evaluations").await, 0);
    assert_eq!(count(&db, "timeline").await, lines);
    assert_eq!(
        outbox::unsent_routing_keys(&db).await.expect("outbox"),
        ["case.registered"]
    );
    assert_eq!(
        get(&db, &submitted.case_id).await.status,
        CaseStatus::Replied as i32
    );
}
