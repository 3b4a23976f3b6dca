//! The IntakeService as a client meets it, called through the tonic trait without a network:
//! status codes, field violations, and nothing written when a request is refused.

mod support;

use support::*;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use yimen_intake::api::IntakeApi;
use yimen_platform::db::Db;
use yimen_platform::outbox;
use yimen_proto::v1::intake_service_server::IntakeService;
use yimen_proto::v1::*;

yimen_platform::store_contract!(
    yimen_intake::SERVICE,
    yimen_intake::MIGRATIONS,
    [
        invalid_submission_names_every_bad_field_and_writes_nothing,
        unknown_enum_values_are_invalid_argument,
        submitted_case_is_answered_by_get_and_list,
        get_case_with_empty_ref_is_invalid_and_unknown_is_not_found,
        list_with_bad_page_token_is_invalid_on_page_token,
        later_rpcs_answer_unimplemented,
    ]
);

fn fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

async fn count(db: &Db, table: &'static str) -> i64 {
    let sql = match table {
        "cases" => "SELECT COUNT(*) FROM cases",
        "petitioners" => "SELECT COUNT(*) FROM petitioners",
        "timeline" => "SELECT COUNT(*) FROM timeline",
        "counters" => "SELECT COUNT(*) FROM counters",
        other => panic!("no table {other}"),
    };
    sqlx::query_scalar(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
}

async fn submit_status(api: &IntakeApi, request: SubmitCaseRequest) -> Status {
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

async fn later_rpcs_answer_unimplemented(db: Db) {
    let api = api(&db);
    let codes = [
        api.add_supplement(Request::new(AddSupplementRequest::default()))
            .await
            .map(|_| ()),
        api.request_review(Request::new(RequestReviewRequest::default()))
            .await
            .map(|_| ()),
        api.watch_case(Request::new(GetCaseRequest::default()))
            .await
            .map(|_| ()),
    ];
    for outcome in codes {
        let status = outcome.expect_err("not yet");
        assert_eq!(status.code(), Code::Unimplemented);
        assert!(
            status.message().contains("later release"),
            "{}",
            status.message()
        );
    }
}
