//! Assessment's contract over both stores (PostgreSQL and SQLite): the process's events are
//! delivered to the handler the way the consumer loop delivers them (in a transaction that
//! commits after), and the figures are read back through the AssessmentService.

use tonic::{Code, Request};
use yimen_assessment::AssessmentConfig;
use yimen_assessment::api::Api;
use yimen_assessment::domain::Period;
use yimen_platform::db::Db;
use yimen_platform::events::new_event;
use yimen_platform::time::{DAY_MILLIS, millis, timestamp};
use yimen_proto::v1::assessment_service_server::AssessmentService;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;

yimen_testkit::store_contract!(
    yimen_assessment::SERVICE,
    yimen_assessment::MIGRATIONS,
    [
        acceptance_in_time_is_by_the_acceptance_deadline,
        replies_in_time_follow_dispatchs_judgement,
        a_return_counts_for_the_returning_department,
        satisfaction_rate_comes_from_evaluations,
        collective_entry_follows_the_case_when_it_is_returned_or_handed_over,
        collective_entry_is_made_whichever_of_registration_and_assignment_comes_first,
        only_supervision_and_leader_escalations_are_negative_entries,
        each_figure_counts_in_the_period_of_its_own_event,
        scorecard_of_one_department_or_of_all,
        replaying_an_assignments_events_does_not_double_count,
        a_step_arriving_before_its_assignment_is_kept,
        departments_follow_joins_and_leaves_in_event_time,
        negative_list_is_newest_first_and_filtered_by_department,
        monthly_bulletin_and_quarterly_assessment_use_the_same_scorecards,
        mediator_subsidies_pay_stipends_and_graded_awards_per_mediator_and_committee,
        grading_refuses_a_mediation_not_agreed_or_of_another_quarter_and_writes_nothing,
        a_pause_for_a_supplement_is_not_held_against_the_acceptance,
        a_withdrawal_or_a_transfer_is_held_against_no_department,
        an_assignment_that_lets_a_deadline_pass_counts_once_as_overdue,
    ]
);

// --- helpers -------------------------------------------------------------------------------

const HOUR: i64 = 60 * 60 * 1000;

fn march() -> Period {
    Period::month(2026, 3).expect("March 2026")
}

fn february() -> Period {
    Period::month(2026, 2).expect("February 2026")
}

/// `hour` o'clock on `day` March 2026, China time.
fn on(day: i64, hour: i64) -> i64 {
    march().from + (day - 1) * DAY_MILLIS + hour * HOUR
}

fn event(event_type: String, case_id: &str, at: i64, payload: Payload) -> Event {
    let mut event = new_event(event_type, case_id, "dispatch", payload);
    event.occurred_at = Some(timestamp(at));
    event
}

/// Delivers an event the way the consumer loop does: in a transaction that commits after.
async fn deliver(db: &Db, event: &Event) {
    let handler = std::sync::Arc::new(yimen_assessment::consumers::Handler::new(
        db.clone(),
        &AssessmentConfig::default(),
    ));
    yimen_testkit::harness::deliver(db, &*handler, event)
        .await
        .expect("handle");
}

async fn join(db: &Db, code: &str, name: &str, at: i64) {
    let department = Department {
        code: code.into(),
        name: name.into(),
        active: true,
        ..Default::default()
    };
    let payload = Payload::DepartmentJoined(DepartmentJoined {
        department: Some(department),
    });
    deliver(db, &event("department.joined".into(), "", at, payload)).await;
}

async fn leave(db: &Db, code: &str, at: i64) {
    let payload = Payload::DepartmentLeft(DepartmentLeft {
        code: code.into(),
        reason: "clean-up finished".into(),
        handed_over: 0,
    });
    deliver(db, &event("department.left".into(), "", at, payload)).await;
}

async fn register(db: &Db, case_id: &str, headcount: u32, at: i64) {
    let payload = Payload::CaseRegistered(CaseRegistered {
        case_number: format!("YM-2026-{case_id}"),
        channel: Channel::Visit as i32,
        category: Category::CivilCommercial as i32,
        headcount,
        subject: "exhibitors' losses".into(),
        ..Default::default()
    });
    deliver(db, &event("case.registered".into(), case_id, at, payload)).await;
}

fn assigned_event(
    case_id: &str,
    assignment_id: &str,
    department: &str,
    at: i64,
    previous: &str,
) -> Event {
    let payload = Payload::CaseAssigned(CaseAssigned {
        assignment_id: assignment_id.into(),
        case_number: format!("YM-2026-{case_id}"),
        department: department.into(),
        department_name: format!("{department} office"),
        cause: if previous.is_empty() {
            AssignmentCause::Routed
        } else {
            AssignmentCause::Returned
        } as i32,
        previous_department: previous.into(),
        accept_by: Some(timestamp(at + 15 * DAY_MILLIS)),
        ..Default::default()
    });
    event(format!("case.assigned.{department}"), case_id, at, payload)
}

/// Assigns the case at `at`, to be accepted within 15 days.
async fn assign(db: &Db, case_id: &str, assignment_id: &str, department: &str, at: i64) {
    deliver(
        db,
        &assigned_event(case_id, assignment_id, department, at, ""),
    )
    .await;
}

fn accepted_event(case_id: &str, assignment_id: &str, department: &str, at: i64) -> Event {
    let payload = Payload::CaseAccepted(CaseAccepted {
        department_name: String::new(),
        assignment_id: assignment_id.into(),
        department: department.into(),
        handle_by: Some(timestamp(at + 60 * DAY_MILLIS)),
        co_handling: false,
    });
    event(format!("case.accepted.{department}"), case_id, at, payload)
}

async fn accept(db: &Db, case_id: &str, assignment_id: &str, department: &str, at: i64) {
    deliver(db, &accepted_event(case_id, assignment_id, department, at)).await;
}

async fn give_back(db: &Db, case_id: &str, assignment_id: &str, department: &str, at: i64) {
    let payload = Payload::CaseReturned(CaseReturned {
        assignment_id: assignment_id.into(),
        department: department.into(),
        reason: "not ours".into(),
    });
    deliver(
        db,
        &event(format!("case.returned.{department}"), case_id, at, payload),
    )
    .await;
}

async fn reply(
    db: &Db,
    case_id: &str,
    assignment_id: &str,
    department: &str,
    at: i64,
    within_deadline: bool,
) {
    let payload = Payload::CaseReplied(CaseReplied {
        department_name: String::new(),
        assignment_id: assignment_id.into(),
        department: department.into(),
        reply: "resolved".into(),
        within_deadline,
    });
    deliver(
        db,
        &event(format!("case.replied.{department}"), case_id, at, payload),
    )
    .await;
}

async fn escalate(
    db: &Db,
    case_id: &str,
    assignment_id: &str,
    department: &str,
    level: EscalationLevel,
    at: i64,
) {
    let payload = Payload::CaseEscalated(CaseEscalated {
        assignment_id: assignment_id.into(),
        department: department.into(),
        level: level as i32,
        reason: "late".into(),
        leader: String::new(),
        ..Default::default()
    });
    deliver(
        db,
        &event(format!("case.escalated.{department}"), case_id, at, payload),
    )
    .await;
}

async fn evaluate(db: &Db, case_id: &str, department: &str, satisfaction: Satisfaction, at: i64) {
    let payload = Payload::CaseEvaluated(CaseEvaluated {
        satisfaction: satisfaction as i32,
        department: department.into(),
    });
    deliver(db, &event("case.evaluated".into(), case_id, at, payload)).await;
}

fn api(db: &Db) -> Api {
    Api::new(db.clone(), &AssessmentConfig::default())
}

async fn scorecards(db: &Db, department: &str, period: Period) -> Vec<Scorecard> {
    api(db)
        .get_scorecard(Request::new(GetScorecardRequest {
            department: department.into(),
            period: Some(period.to_proto()),
        }))
        .await
        .expect("scorecards")
        .into_inner()
        .scorecards
}

async fn scorecard(db: &Db, department: &str, period: Period) -> Scorecard {
    let mut cards = scorecards(db, department, period).await;
    assert_eq!(cards.len(), 1, "one scorecard for {department}");
    cards.remove(0)
}

async fn negative_list(db: &Db, department: &str, period: Period) -> Vec<NegativeEntry> {
    api(db)
        .list_negative_list(Request::new(ListNegativeListRequest {
            period: Some(period.to_proto()),
            department: department.into(),
        }))
        .await
        .expect("negative list")
        .into_inner()
        .entries
}

/// (department, kind, reason) of each entry, in the list's order.
fn summary(entries: &[NegativeEntry]) -> Vec<(String, NegativeKind, String)> {
    entries
        .iter()
        .map(|e| (e.department.clone(), e.kind(), e.reason.clone()))
        .collect()
}

async fn quarterly(api: &Api, quarter: u32) -> Vec<Scorecard> {
    api.get_quarterly_assessment(Request::new(GetQuarterlyAssessmentRequest {
        year: 2026,
        quarter,
    }))
    .await
    .expect("quarterly assessment")
    .into_inner()
    .scorecards
}

/// The year and month, in China, of an instant.
fn china_month(at: i64) -> (i32, u32) {
    use chrono::Datelike;
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let local = chrono::DateTime::from_timestamp_millis(at)
        .expect("a time")
        .with_timezone(&china);
    (local.year(), local.month())
}

// --- the contract --------------------------------------------------------------------------

async fn acceptance_in_time_is_by_the_acceptance_deadline(db: Db) {
    join(&db, "housing", "住建局", on(1, 0)).await;
    assign(&db, "c1", "a1", "housing", on(2, 9)).await;
    assign(&db, "c2", "a2", "housing", on(2, 10)).await;
    assign(&db, "c3", "a3", "housing", on(2, 11)).await;
    // a1 on the deadline itself, a2 a day early, a3 a day late.
    accept(&db, "c1", "a1", "housing", on(17, 9)).await;
    accept(&db, "c2", "a2", "housing", on(16, 10)).await;
    accept(&db, "c3", "a3", "housing", on(18, 11)).await;

    let card = scorecard(&db, "housing", march()).await;
    assert_eq!(card.department_name, "住建局");
    assert_eq!(
        (card.assigned, card.accepted, card.accepted_in_time),
        (3, 3, 2)
    );
}

async fn replies_in_time_follow_dispatchs_judgement(db: Db) {
    for (case, assignment, within) in [("c1", "a1", true), ("c2", "a2", false), ("c3", "a3", true)]
    {
        assign(&db, case, assignment, "justice", on(1, 9)).await;
        accept(&db, case, assignment, "justice", on(2, 9)).await;
        reply(&db, case, assignment, "justice", on(20, 9), within).await;
    }
    let card = scorecard(&db, "justice", march()).await;
    assert_eq!((card.replied, card.replied_in_time), (3, 2));
}

async fn a_return_counts_for_the_returning_department(db: Db) {
    assign(&db, "c1", "a1", "housing", on(3, 9)).await;
    give_back(&db, "c1", "a1", "housing", on(4, 9)).await;
    deliver(
        &db,
        &assigned_event("c1", "a2", "land", on(4, 9), "housing"),
    )
    .await;

    let housing = scorecard(&db, "housing", march()).await;
    assert_eq!((housing.assigned, housing.returned), (1, 1));
    let land = scorecard(&db, "land", march()).await;
    assert_eq!((land.assigned, land.returned), (1, 0));
}

async fn satisfaction_rate_comes_from_evaluations(db: Db) {
    assign(&db, "c1", "a1", "civil-affairs", on(1, 9)).await;
    evaluate(
        &db,
        "c1",
        "civil-affairs",
        Satisfaction::Satisfied,
        on(10, 9),
    )
    .await;
    evaluate(
        &db,
        "c2",
        "civil-affairs",
        Satisfaction::BasicallySatisfied,
        on(10, 10),
    )
    .await;
    evaluate(
        &db,
        "c3",
        "civil-affairs",
        Satisfaction::Unsatisfied,
        on(10, 11),
    )
    .await;
    // Without a department, the reply judged is that of the department holding the case.
    evaluate(&db, "c1", "", Satisfaction::Unsatisfied, on(11, 9)).await;

    let card = scorecard(&db, "civil-affairs", march()).await;
    assert_eq!((card.evaluated, card.satisfied), (4, 2));
    assert_eq!(card.satisfaction_rate, 0.5);

    join(&db, "health", "卫健局", on(1, 0)).await;
    let unevaluated = scorecard(&db, "health", march()).await;
    assert_eq!(
        (unevaluated.evaluated, unevaluated.satisfaction_rate),
        (0, 0.0)
    );
}

async fn collective_entry_follows_the_case_when_it_is_returned_or_handed_over(db: Db) {
    register(&db, "expo", 19, on(5, 8)).await;
    assert!(negative_list(&db, "", march()).await.is_empty());

    assign(&db, "expo", "a1", "commerce", on(5, 9)).await;
    let entries = negative_list(&db, "", march()).await;
    assert_eq!(
        summary(&entries),
        [(
            "commerce".to_string(),
            NegativeKind::Collective,
            "collective petition of 19 people".to_string()
        )]
    );
    assert_eq!(entries[0].case_id, "expo");
    assert_eq!(
        entries[0].case_number, "YM-2026-expo",
        "named as people name cases"
    );
    assert_eq!(millis(entries[0].at.as_ref().unwrap()), on(5, 9));

    // Returned: the entry moves to the department that holds the case now.
    give_back(&db, "expo", "a1", "commerce", on(5, 10)).await;
    deliver(
        &db,
        &assigned_event("expo", "a2", "city-center", on(5, 10), "commerce"),
    )
    .await;
    let entries = negative_list(&db, "", march()).await;
    assert_eq!(entries.len(), 1, "one COLLECTIVE entry per case");
    assert_eq!(entries[0].department, "city-center");
    assert_eq!(
        scorecard(&db, "commerce", march()).await.negative_entries,
        0
    );
    assert_eq!(
        scorecard(&db, "city-center", march())
            .await
            .negative_entries,
        1
    );

    // A late copy of the first assignment does not take it back.
    deliver(&db, &assigned_event("expo", "a1", "commerce", on(5, 9), "")).await;
    assert_eq!(
        summary(&negative_list(&db, "", march()).await)[0].0,
        "city-center"
    );
}

async fn collective_entry_is_made_whichever_of_registration_and_assignment_comes_first(db: Db) {
    // The assignment arrives before the registration.
    assign(&db, "grain", "a1", "agriculture", on(6, 9)).await;
    assert!(negative_list(&db, "", march()).await.is_empty());
    register(&db, "grain", 74, on(6, 8)).await;
    assert_eq!(
        summary(&negative_list(&db, "", march()).await),
        [(
            "agriculture".to_string(),
            NegativeKind::Collective,
            "collective petition of 74 people".to_string()
        )]
    );

    // Four people are not a collective petition.
    register(&db, "small", 4, on(7, 8)).await;
    assign(&db, "small", "a2", "agriculture", on(7, 9)).await;
    assert_eq!(negative_list(&db, "", march()).await.len(), 1);
}

async fn only_supervision_and_leader_escalations_are_negative_entries(db: Db) {
    assign(&db, "c1", "a1", "medical-insurance", on(1, 9)).await;
    escalate(
        &db,
        "c1",
        "a1",
        "medical-insurance",
        EscalationLevel::Reminder,
        on(10, 9),
    )
    .await;
    assert!(negative_list(&db, "", march()).await.is_empty());

    escalate(
        &db,
        "c1",
        "a1",
        "medical-insurance",
        EscalationLevel::Supervision,
        on(12, 9),
    )
    .await;
    escalate(
        &db,
        "c1",
        "a1",
        "medical-insurance",
        EscalationLevel::Leader,
        on(14, 9),
    )
    .await;
    let entries = negative_list(&db, "", march()).await;
    assert_eq!(
        summary(&entries),
        [(
            "medical-insurance".to_string(),
            NegativeKind::Escalated,
            "escalated to a leader (包案)".to_string()
        )],
        "one entry per case and department, naming the highest level"
    );
    assert_eq!(millis(entries[0].at.as_ref().unwrap()), on(12, 9));

    // Another department escalated on the same case has its own entry.
    escalate(
        &db,
        "c1",
        "a2",
        "tax",
        EscalationLevel::Supervision,
        on(15, 9),
    )
    .await;
    assert_eq!(negative_list(&db, "", march()).await.len(), 2);
    assert_eq!(scorecard(&db, "tax", march()).await.negative_entries, 1);
}

async fn each_figure_counts_in_the_period_of_its_own_event(db: Db) {
    // Assigned on the last evening of February (China time), accepted in March.
    let late_february = march().from - HOUR;
    assign(&db, "c1", "a1", "transport", late_february).await;
    accept(&db, "c1", "a1", "transport", on(1, 9)).await;
    reply(&db, "c1", "a1", "transport", march().to, true).await;

    let feb = scorecard(&db, "transport", february()).await;
    assert_eq!((feb.assigned, feb.accepted, feb.replied), (1, 0, 0));
    let mar = scorecard(&db, "transport", march()).await;
    assert_eq!(
        (
            mar.assigned,
            mar.accepted,
            mar.accepted_in_time,
            mar.replied
        ),
        (0, 1, 1, 0),
        "the reply at April's first instant is not March's"
    );
}

async fn scorecard_of_one_department_or_of_all(db: Db) {
    join(&db, "housing", "住建局", on(1, 0)).await;
    join(&db, "city-center", "市信访超市", on(1, 0)).await;
    join(&db, "environment", "生态环境局", on(1, 0)).await;
    join(&db, "education", "教育局", on(1, 0)).await;
    assign(&db, "c1", "a1", "environment", on(2, 9)).await;
    leave(&db, "environment", on(3, 9)).await;
    leave(&db, "education", on(3, 9)).await;
    assign(&db, "c2", "a2", "housing", on(4, 9)).await;

    let all = scorecards(&db, "", march()).await;
    let rows: Vec<(&str, &str, u64)> = all
        .iter()
        .map(|c| {
            (
                c.department.as_str(),
                c.department_name.as_str(),
                c.assigned,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("city-center", "市信访超市", 0),
            ("environment", "生态环境局", 1),
            ("housing", "住建局", 1),
        ],
        "active departments even with nothing to show, by code; a department that left only \
         while it has figures"
    );

    let housing = scorecard(&db, "housing", march()).await;
    assert_eq!(
        (housing.department.as_str(), housing.assigned),
        ("housing", 1)
    );
    // One that left is still known.
    assert_eq!(scorecard(&db, "education", march()).await.assigned, 0);

    let status = api(&db)
        .get_scorecard(Request::new(GetScorecardRequest {
            department: "nobody".into(),
            period: None,
        }))
        .await
        .expect_err("unknown department");
    assert_eq!(status.code(), Code::NotFound);
}

async fn replaying_an_assignments_events_does_not_double_count(db: Db) {
    // The same facts under new event ids (the inbox cannot tell them apart).
    for _ in 0..2 {
        assign(&db, "c1", "a1", "land", on(2, 9)).await;
        accept(&db, "c1", "a1", "land", on(3, 9)).await;
        reply(&db, "c1", "a1", "land", on(9, 9), true).await;
    }
    let card = scorecard(&db, "land", march()).await;
    assert_eq!(
        (
            card.assigned,
            card.accepted,
            card.accepted_in_time,
            card.replied,
            card.replied_in_time
        ),
        (1, 1, 1, 1, 1)
    );
}

async fn a_step_arriving_before_its_assignment_is_kept(db: Db) {
    accept(&db, "c1", "a1", "court", on(3, 9)).await;
    let early = scorecard(&db, "court", march()).await;
    assert_eq!(
        (early.assigned, early.accepted, early.accepted_in_time),
        (0, 1, 0),
        "not judged in time while the deadline is unknown"
    );
    assign(&db, "c1", "a1", "court", on(2, 9)).await;
    let card = scorecard(&db, "court", march()).await;
    assert_eq!(card.department_name, "court office");
    assert_eq!(
        (card.assigned, card.accepted, card.accepted_in_time),
        (1, 1, 1)
    );
}

async fn departments_follow_joins_and_leaves_in_event_time(db: Db) {
    join(&db, "health", "卫健局", on(10, 9)).await;
    // An older leave arriving late does not undo the newer join.
    leave(&db, "health", on(5, 9)).await;
    assert_eq!(scorecards(&db, "", march()).await.len(), 1);

    leave(&db, "health", on(20, 9)).await;
    assert!(scorecards(&db, "", march()).await.is_empty());
    let check_in = api(&db)
        .check_in(Request::new(CheckInRequest {
            staff_id: "S-001".into(),
            department: "health".into(),
        }))
        .await
        .expect_err("a department that left has no stationed staff");
    assert_eq!(check_in.code(), Code::InvalidArgument);
}

async fn negative_list_is_newest_first_and_filtered_by_department(db: Db) {
    register(&db, "c1", 6, on(1, 8)).await;
    assign(&db, "c1", "a1", "housing", on(1, 9)).await;
    assign(&db, "c2", "a2", "justice", on(2, 9)).await;
    escalate(
        &db,
        "c2",
        "a2",
        "justice",
        EscalationLevel::Supervision,
        on(8, 9),
    )
    .await;
    assign(&db, "c3", "a3", "housing", on(3, 9)).await;
    escalate(
        &db,
        "c3",
        "a3",
        "housing",
        EscalationLevel::Leader,
        on(9, 9),
    )
    .await;
    // February's escalation is not March's.
    assign(&db, "c4", "a4", "housing", february().from).await;
    escalate(
        &db,
        "c4",
        "a4",
        "housing",
        EscalationLevel::Leader,
        february().from + HOUR,
    )
    .await;

    let all = negative_list(&db, "", march()).await;
    let order: Vec<(&str, &str)> = all
        .iter()
        .map(|e| (e.case_id.as_str(), e.department.as_str()))
        .collect();
    assert_eq!(
        order,
        [("c3", "housing"), ("c2", "justice"), ("c1", "housing")]
    );

    let housing = negative_list(&db, "housing", march()).await;
    assert_eq!(housing.len(), 2);
    assert!(housing.iter().all(|e| e.department == "housing"));

    let status = api(&db)
        .list_negative_list(Request::new(ListNegativeListRequest {
            period: None,
            department: "nobody".into(),
        }))
        .await
        .expect_err("unknown department");
    assert_eq!(status.code(), Code::NotFound);
}

async fn monthly_bulletin_and_quarterly_assessment_use_the_same_scorecards(db: Db) {
    join(&db, "city-center", "市信访超市", on(1, 0)).await;
    join(&db, "housing", "住建局", on(1, 0)).await;
    register(&db, "c1", 19, on(2, 8)).await;
    assign(&db, "c1", "a1", "city-center", on(2, 9)).await;
    register(&db, "c2", 8, on(3, 8)).await;
    assign(&db, "c2", "a2", "city-center", on(3, 9)).await;
    evaluate(&db, "c3", "housing", Satisfaction::Satisfied, on(4, 9)).await;
    evaluate(&db, "c4", "housing", Satisfaction::Unsatisfied, on(4, 10)).await;
    // April's work is in the second quarter only.
    assign(&db, "c5", "a5", "housing", march().to + HOUR).await;
    let api = api(&db);
    let mut checked_in_at = None;
    for staff in ["S-001", "S-002"] {
        let answer = api
            .check_in(Request::new(CheckInRequest {
                staff_id: staff.into(),
                department: "housing".into(),
            }))
            .await
            .expect("check in")
            .into_inner();
        checked_in_at = answer.at;
    }

    let bulletin = api
        .get_monthly_bulletin(Request::new(GetMonthlyBulletinRequest {
            year: 2026,
            month: 3,
        }))
        .await
        .expect("bulletin")
        .into_inner();
    assert_eq!(bulletin.scorecards, scorecards(&db, "", march()).await);
    assert!(
        bulletin
            .notes
            .contains(&"city-center: 2 negative entries".to_string()),
        "{:?}",
        bulletin.notes
    );
    assert!(
        bulletin
            .notes
            .contains(&"housing: satisfaction 50% (1 of 2)".to_string()),
        "{:?}",
        bulletin.notes
    );
    // The check-ins happened now, not in March 2026: they are in the bulletin of their month.
    assert!(
        bulletin
            .notes
            .contains(&"attendance: 0 check-ins".to_string())
    );
    let checked_in_at = millis(checked_in_at.as_ref().expect("check-in time"));
    let (year, month) = china_month(checked_in_at);
    let now = api
        .get_monthly_bulletin(Request::new(GetMonthlyBulletinRequest { year, month }))
        .await
        .expect("bulletin")
        .into_inner();
    assert_eq!(
        now.notes.last().map(String::as_str),
        Some("attendance: 2 check-ins")
    );

    let q1 = quarterly(&api, 1).await;
    assert_eq!(
        q1,
        scorecards(&db, "", Period::quarter(2026, 1).expect("Q1")).await
    );
    let assigned: Vec<(&str, u64)> = q1
        .iter()
        .map(|c| (c.department.as_str(), c.assigned))
        .collect();
    assert_eq!(assigned, [("city-center", 2), ("housing", 0)]);
    let q2 = quarterly(&api, 2).await;
    let housing = q2
        .iter()
        .find(|c| c.department == "housing")
        .expect("housing");
    assert_eq!(housing.assigned, 1);
}

fn concluded(
    mediation_id: &str,
    committee: &str,
    outcome: MediationState,
    mediators: &[&str],
    difficulty: u32,
    at: i64,
) -> Event {
    let mut event = new_event(
        yimen_proto::event_type::MEDIATION_CONCLUDED,
        format!("case-of-{mediation_id}"),
        "mediation",
        Payload::MediationConcluded(MediationConcluded {
            mediation_id: mediation_id.into(),
            committee: committee.into(),
            linkage: Linkage::Petition as i32,
            outcome: outcome as i32,
            agreement: None,
            mediators: mediators.iter().map(|m| m.to_string()).collect(),
            difficulty,
        }),
    );
    event.occurred_at = Some(timestamp(at));
    event
}

fn grade(mediation_id: &str, grade: SubsidyGrade) -> MediationGrade {
    MediationGrade {
        mediation_id: mediation_id.into(),
        grade: grade as i32,
    }
}

/// The subsidies of a quarter of 2026.
async fn subsidies(api: &Api, quarter: u32) -> MediatorSubsidies {
    api.get_mediator_subsidies(Request::new(GetMediatorSubsidiesRequest {
        year: 2026,
        quarter,
    }))
    .await
    .expect("subsidies")
    .into_inner()
}

fn fen(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(-1, |m| m.fen)
}

async fn mediator_subsidies_pay_stipends_and_graded_awards_per_mediator_and_committee(db: Db) {
    let api = api(&db);
    // Q1 2026: two agreed civil-commercial files, one agreed labour file, one that failed;
    // and one agreed in April (Q2), which Q1 does not count.
    for e in [
        concluded(
            "m-expo",
            "civil-commercial",
            MediationState::Agreed,
            &["li", "wang"],
            8,
            on(10, 9),
        ),
        concluded(
            "m-grain",
            "civil-commercial",
            MediationState::Agreed,
            &["li"],
            3,
            on(12, 9),
        ),
        concluded(
            "m-plant",
            "labour",
            MediationState::Agreed,
            &["zhao"],
            5,
            on(14, 9),
        ),
        concluded(
            "m-noise",
            "labour",
            MediationState::Failed,
            &["zhao"],
            2,
            on(15, 9),
        ),
        concluded(
            "m-april",
            "labour",
            MediationState::Agreed,
            &["zhao"],
            2,
            on(40, 9),
        ),
    ] {
        deliver(&db, &e).await;
        deliver(&db, &e).await; // redelivered: counted once
    }
    let reviewed = api
        .set_subsidy_grades(Request::new(SetSubsidyGradesRequest {
            year: 2026,
            quarter: 1,
            grades: vec![
                grade("m-expo", SubsidyGrade::Major),
                grade("m-grain", SubsidyGrade::Ordinary),
            ],
            full_time_mediators: vec!["li".into(), "sun".into()],
        }))
        .await
        .expect("the review")
        .into_inner();
    assert_eq!((reviewed.graded, reviewed.ungraded), (2, 1));
    // A later grade replaces an earlier one.
    api.set_subsidy_grades(Request::new(SetSubsidyGradesRequest {
        year: 2026,
        quarter: 1,
        grades: vec![grade("m-grain", SubsidyGrade::Complex)],
        full_time_mediators: vec![],
    }))
    .await
    .expect("regraded");

    let report = subsidies(&api, 1).await;
    let rows: Vec<(&str, i64, i64, u32, u32, bool)> = report
        .subsidies
        .iter()
        .map(|s| {
            (
                s.mediator_id.as_str(),
                fen(&s.stipend),
                fen(&s.case_awards),
                s.successful,
                s.graded,
                s.full_time,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            // 3 × 2,000 yuan; 500 + 200 yuan.
            ("li", 600_000, 70_000, 2, 2, true),
            ("sun", 600_000, 0, 0, 0, true),
            ("wang", 0, 50_000, 1, 1, false),
            // The labour file is not graded yet; the failed one does not count.
            ("zhao", 0, 0, 1, 0, false),
        ]
    );
    let committees: Vec<(&str, u32, u32, i64)> = report
        .committees
        .iter()
        .map(|c| {
            (
                c.committee.as_str(),
                c.successful,
                c.graded,
                fen(&c.case_awards),
            )
        })
        .collect();
    assert_eq!(
        committees,
        [("civil-commercial", 2, 2, 120_000), ("labour", 1, 0, 0)]
    );
    assert_eq!(report.ungraded, 1);
    assert_eq!(
        fen(&report.fund),
        37_500_000,
        "a quarter of 1.5 million yuan"
    );
    assert_eq!(fen(&report.total), 1_320_000);
    assert_eq!(fen(&report.remaining), 37_500_000 - 1_320_000);

    // Q2 has the April file and nobody full-time.
    let q2 = subsidies(&api, 2).await;
    assert_eq!(q2.ungraded, 1);
    assert_eq!(fen(&q2.total), 0);
}

async fn grading_refuses_a_mediation_not_agreed_or_of_another_quarter_and_writes_nothing(db: Db) {
    let api = api(&db);
    deliver(
        &db,
        &concluded(
            "m-ok",
            "labour",
            MediationState::Agreed,
            &["zhao"],
            4,
            on(3, 9),
        ),
    )
    .await;
    deliver(
        &db,
        &concluded(
            "m-failed",
            "labour",
            MediationState::Failed,
            &["zhao"],
            4,
            on(3, 9),
        ),
    )
    .await;
    let review = |grades: Vec<MediationGrade>, quarter: u32| SetSubsidyGradesRequest {
        year: 2026,
        quarter,
        grades,
        full_time_mediators: vec!["zhao".into()],
    };

    let failed = api
        .set_subsidy_grades(Request::new(review(
            vec![
                grade("m-ok", SubsidyGrade::Simple),
                grade("m-failed", SubsidyGrade::Major),
            ],
            1,
        )))
        .await
        .expect_err("a failed mediation");
    assert_eq!(failed.code(), Code::FailedPrecondition);
    assert_eq!(
        failed.message(),
        "mediation m-failed cannot be graded for 2026 Q1: the mediation concluded FAILED: only an agreed mediation is graded"
    );
    let other_quarter = api
        .set_subsidy_grades(Request::new(review(
            vec![grade("m-ok", SubsidyGrade::Simple)],
            2,
        )))
        .await
        .expect_err("another quarter");
    assert_eq!(other_quarter.code(), Code::FailedPrecondition);
    let unknown = api
        .set_subsidy_grades(Request::new(review(
            vec![grade("m-nobody", SubsidyGrade::Simple)],
            1,
        )))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);

    // Nothing of the refused reviews was written: m-ok ungraded, nobody full-time.
    let report = subsidies(&api, 1).await;
    assert_eq!(report.ungraded, 1);
    assert_eq!(fen(&report.total), 0);
    assert!(report.subsidies.iter().all(|s| !s.full_time));
}

fn resumed_event(
    case_id: &str,
    assignment_id: &str,
    department: &str,
    at: i64,
    accept_by: i64,
) -> Event {
    let payload = Payload::CaseResumed(CaseResumed {
        assignment_id: assignment_id.into(),
        department: department.into(),
        paused: None,
        accept_by: Some(timestamp(accept_by)),
        handle_by: None,
    });
    event(format!("case.resumed.{department}"), case_id, at, payload)
}

async fn a_pause_for_a_supplement_is_not_held_against_the_acceptance(db: Db) {
    join(&db, "housing", "住建局", on(1, 0)).await;
    // Both accepted two days after the original deadline (the 17th), after a pause of 3 days
    // moved it to the 20th; a2's resumption arrives before its assignment.
    assign(&db, "c1", "a1", "housing", on(2, 9)).await;
    deliver(
        &db,
        &resumed_event("c1", "a1", "housing", on(8, 9), on(20, 9)),
    )
    .await;
    accept(&db, "c1", "a1", "housing", on(19, 9)).await;
    deliver(
        &db,
        &resumed_event("c2", "a2", "housing", on(8, 9), on(20, 9)),
    )
    .await;
    assign(&db, "c2", "a2", "housing", on(2, 9)).await;
    accept(&db, "c2", "a2", "housing", on(19, 9)).await;
    // a3 paused too, but accepted after even the moved deadline.
    assign(&db, "c3", "a3", "housing", on(2, 9)).await;
    deliver(
        &db,
        &resumed_event("c3", "a3", "housing", on(8, 9), on(20, 9)),
    )
    .await;
    accept(&db, "c3", "a3", "housing", on(21, 9)).await;

    let card = scorecard(&db, "housing", march()).await;
    assert_eq!(
        (card.assigned, card.accepted, card.accepted_in_time),
        (3, 3, 2)
    );
}

/// 撤回 and 提级: the town office's assignment that was taken over, and the city's that the
/// petitioner withdrew, are neither returns nor late steps; the collective entry follows the
/// case to the department that took it over.
async fn a_withdrawal_or_a_transfer_is_held_against_no_department(db: Db) {
    register(&db, "kiln", 12, on(3, 8)).await;
    assign(&db, "kiln", "a1", "town-justice", on(3, 9)).await;
    deliver(
        &db,
        &event(
            "case.transferred.town-justice".into(),
            "kiln",
            on(4, 9),
            Payload::CaseTransferred(CaseTransferred {
                assignment_id: "a1".into(),
                department: "town-justice".into(),
                to_department: "human-resources".into(),
                cause: AssignmentCause::TakenOver as i32,
                reason: "three towns".into(),
            }),
        ),
    )
    .await;
    deliver(
        &db,
        &assigned_event("kiln", "a2", "human-resources", on(4, 9), "town-justice"),
    )
    .await;
    deliver(
        &db,
        &event(
            "case.withdrawn".into(),
            "kiln",
            on(5, 9),
            Payload::CaseWithdrawn(CaseWithdrawn {
                department: "human-resources".into(),
                reason: "paid".into(),
            }),
        ),
    )
    .await;
    let town = scorecard(&db, "town-justice", march()).await;
    assert_eq!(
        (town.assigned, town.returned, town.negative_entries),
        (1, 0, 0)
    );
    let city = scorecard(&db, "human-resources", march()).await;
    assert_eq!(
        (city.assigned, city.returned, city.negative_entries),
        (1, 0, 1)
    );
}

fn overdue_event(
    case_id: &str,
    assignment_id: &str,
    department: &str,
    stage: OverdueStage,
    at: i64,
) -> Event {
    let payload = Payload::CaseOverdue(CaseOverdue {
        assignment_id: assignment_id.into(),
        department: department.into(),
        stage: stage as i32,
        deadline: Some(timestamp(at)),
        escalation: EscalationLevel::Reminder as i32,
    });
    event(format!("case.overdue.{department}"), case_id, at, payload)
}

async fn an_assignment_that_lets_a_deadline_pass_counts_once_as_overdue(db: Db) {
    assign(&db, "c1", "a1", "housing", on(1, 9)).await;
    assign(&db, "c2", "a2", "housing", on(1, 9)).await;
    // a1 passes both deadlines (and a redelivery comes); a2 none; a3's arrives before its
    // assignment, in February.
    let acceptance = overdue_event("c1", "a1", "housing", OverdueStage::Acceptance, on(17, 9));
    deliver(&db, &acceptance).await;
    deliver(&db, &acceptance).await;
    deliver(
        &db,
        &overdue_event("c1", "a1", "housing", OverdueStage::Handling, on(25, 9)),
    )
    .await;
    deliver(
        &db,
        &overdue_event("c3", "a3", "housing", OverdueStage::Acceptance, on(-10, 9)),
    )
    .await;
    assign(&db, "c3", "a3", "housing", on(-20, 9)).await;
    assert_eq!(scorecard(&db, "housing", march()).await.overdue, 1);
    assert_eq!(scorecard(&db, "housing", february()).await.overdue, 1);
}
