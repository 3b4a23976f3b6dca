//! The AssessmentService as a client meets it, called through the tonic trait without a
//! network: status codes, field violations, defaults, and nothing written when a request is
//! refused.

use tonic::{Code, Request, Status};
use yimen_assessment::AssessmentConfig;
use yimen_assessment::api::Api;
use yimen_platform::db::{Db, now_millis};
use yimen_platform::events::new_event;
use yimen_platform::time::{millis, timestamp};
use yimen_proto::v1::assessment_service_server::AssessmentService;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;

yimen_testkit::store_contract!(
    yimen_assessment::SERVICE,
    yimen_assessment::MIGRATIONS,
    [
        an_unset_period_is_the_current_month,
        a_backward_or_empty_period_is_invalid_on_period,
        bulletin_and_quarter_bounds_are_validated_naming_every_field,
        check_in_refuses_bad_staff_and_unknown_department_and_writes_nothing,
        check_in_records_attendance_and_answers_the_time,
        subsidy_requests_are_validated_naming_every_field_and_write_nothing,
    ]
);

fn api(db: &Db) -> Api {
    Api::new(db.clone(), &AssessmentConfig::default())
}

fn fields(status: &Status) -> Vec<String> {
    yimen_testkit::harness::violated_fields(status)
}

async fn deliver(db: &Db, event: &Event) {
    let handler = std::sync::Arc::new(yimen_assessment::consumers::Handler::new(
        db.clone(),
        &AssessmentConfig::default(),
    ));
    yimen_testkit::harness::deliver(db, &*handler, event)
        .await
        .expect("handle");
}

async fn join(db: &Db, code: &str) {
    let payload = Payload::DepartmentJoined(DepartmentJoined {
        department: Some(Department {
            code: code.into(),
            name: format!("{code} office"),
            active: true,
            ..Default::default()
        }),
    });
    deliver(db, &new_event("department.joined", "", "dispatch", payload)).await;
}

async fn attendance_rows(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM attendance")
        .fetch_one(db.pool())
        .await
        .expect("count")
}

async fn an_unset_period_is_the_current_month(db: Db) {
    // Stamped now: it falls in the current month (China time).
    let payload = Payload::CaseAssigned(CaseAssigned {
        assignment_id: "a1".into(),
        department: "housing".into(),
        department_name: "住建局".into(),
        ..Default::default()
    });
    deliver(
        &db,
        &new_event("case.assigned.housing", "c1", "dispatch", payload),
    )
    .await;
    let cards = api(&db)
        .get_scorecard(Request::new(GetScorecardRequest {
            department: "housing".into(),
            period: None,
        }))
        .await
        .expect("scorecard")
        .into_inner()
        .scorecards;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].assigned, 1);
}

async fn a_backward_or_empty_period_is_invalid_on_period(db: Db) {
    join(&db, "housing").await;
    let api = api(&db);
    let now = now_millis();
    for (from, to) in [(now, now), (now, now - 1)] {
        let period = Some(Period {
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        });
        let status = api
            .get_scorecard(Request::new(GetScorecardRequest {
                department: String::new(),
                period,
            }))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(fields(&status), ["period"]);
        let status = api
            .list_negative_list(Request::new(ListNegativeListRequest {
                period,
                department: String::new(),
            }))
            .await
            .expect_err("refused");
        assert_eq!(fields(&status), ["period"]);
    }
    let half_open = Some(Period {
        from: Some(timestamp(now)),
        to: None,
    });
    let status = api
        .get_scorecard(Request::new(GetScorecardRequest {
            department: "housing".into(),
            period: half_open,
        }))
        .await
        .expect_err("refused");
    assert_eq!(fields(&status), ["period.to"]);
}

async fn bulletin_and_quarter_bounds_are_validated_naming_every_field(db: Db) {
    let api = api(&db);
    for month in [0, 13] {
        let status = api
            .get_monthly_bulletin(Request::new(GetMonthlyBulletinRequest { year: 0, month }))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(fields(&status), ["year", "month"]);
    }
    for quarter in [0, 5] {
        let status = api
            .get_quarterly_assessment(Request::new(GetQuarterlyAssessmentRequest {
                year: 2026,
                quarter,
            }))
            .await
            .expect_err("refused");
        assert_eq!(fields(&status), ["quarter"]);
    }
    let december = api
        .get_monthly_bulletin(Request::new(GetMonthlyBulletinRequest {
            year: 2025,
            month: 12,
        }))
        .await
        .expect("a valid month")
        .into_inner();
    assert_eq!(december.notes, ["attendance: 0 check-ins"]);
}

async fn check_in_refuses_bad_staff_and_unknown_department_and_writes_nothing(db: Db) {
    join(&db, "housing").await;
    let api = api(&db);
    for (staff_id, department, expected) in [
        ("", "nobody", vec!["staff_id", "department"]),
        (&*"x".repeat(65), "housing", vec!["staff_id"]),
        ("S-001", "", vec!["department"]),
        ("S-001", "nobody", vec!["department"]),
    ] {
        let status = api
            .check_in(Request::new(CheckInRequest {
                staff_id: staff_id.into(),
                department: department.into(),
            }))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(fields(&status), expected);
    }
    assert_eq!(attendance_rows(&db).await, 0);
}

async fn check_in_records_attendance_and_answers_the_time(db: Db) {
    join(&db, "housing").await;
    let answer = api(&db)
        .check_in(Request::new(CheckInRequest {
            staff_id: " S-001 ".into(),
            department: "housing".into(),
        }))
        .await
        .expect("checked in")
        .into_inner();
    let at = millis(answer.at.as_ref().expect("the time"));
    let row: (String, String, i64) =
        sqlx::query_as("SELECT staff_id, department, at FROM attendance")
            .fetch_one(db.pool())
            .await
            .expect("one check-in");
    assert_eq!(row, ("S-001".to_string(), "housing".to_string(), at));
}

async fn subsidy_requests_are_validated_naming_every_field_and_write_nothing(db: Db) {
    let api = api(&db);
    let status = api
        .get_mediator_subsidies(Request::new(GetMediatorSubsidiesRequest {
            year: 2026,
            quarter: 5,
        }))
        .await
        .expect_err("no fifth quarter");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["quarter"]);

    let status = api
        .set_subsidy_grades(Request::new(SetSubsidyGradesRequest {
            year: 2026,
            quarter: 0,
            grades: vec![
                MediationGrade {
                    mediation_id: String::new(),
                    grade: SubsidyGrade::Major as i32,
                },
                MediationGrade {
                    mediation_id: "m-1".into(),
                    grade: 0,
                },
            ],
            full_time_mediators: vec!["a,b".into()],
        }))
        .await
        .expect_err("broken review");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&status),
        [
            "quarter",
            "grades[0].mediation_id",
            "grades[1].grade",
            "full_time_mediators[0]"
        ]
    );
    let empty = api
        .set_subsidy_grades(Request::new(SetSubsidyGradesRequest {
            year: 2026,
            quarter: 1,
            ..Default::default()
        }))
        .await
        .expect_err("nothing to record");
    assert_eq!(fields(&empty), ["grades"]);
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM full_time_mediators")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(written, 0);
}
