//! Analysis's contract over both stores (PostgreSQL and SQLite): events fed to the handler the
//! way the consumer loop feeds them (in a transaction that commits after), then the
//! AnalysisService called directly, and the outbox read for the events analysis published.

use futures::StreamExt;
use tonic::{Code, Request, Status};
use yimen_analysis::api::Api;
use yimen_analysis::store::{self, CaseRow};
use yimen_analysis::{AnalysisConfig, sweep_overdue};
use yimen_platform::db::{Db, now_millis};
use yimen_platform::time::{DAY_MILLIS, millis, timestamp};
use yimen_proto::v1::analysis_service_server::AnalysisService;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;

yimen_testkit::store_contract!(
    yimen_analysis::SERVICE,
    yimen_analysis::MIGRATIONS,
    [
        collective_case_raises_one_alert_with_its_facts_and_publishes_it,
        repeat_petitioner_of_the_same_category_is_alerted_and_of_another_is_not,
        repeat_petitioner_heard_out_of_order_is_alerted_on_the_later_case,
        no_owner_assignment_raises_an_alert_even_before_the_registration,
        situation_counts_the_period_against_the_previous_one,
        overdue_counts_open_cases_past_a_running_deadline,
        a_paused_case_is_not_overdue_and_a_refused_one_is_no_longer_open,
        acknowledging_hides_an_alert_from_the_default_list_and_is_idempotent,
        events_out_of_order_converge_to_the_same_case,
        alerts_are_listed_newest_first_page_by_page_and_filtered,
        case_risk_sums_its_factors,
        trends_count_cases_per_china_day_with_empty_days,
        hotspots_are_towns_by_cases,
        recommendations_name_a_rising_category_and_its_handler,
        invalid_requests_name_the_bad_field,
        own_alerts_and_events_without_payload_are_ignored,
        watch_sends_alerts_raised_after_the_call,
        a_case_past_its_acceptance_deadline_gets_one_overdue_alert_and_its_event,
        a_case_past_its_handling_deadline_gets_an_overdue_alert_unless_extended,
        the_sweeper_sweeps_on_start_and_stops_when_shut_down,
        a_withdrawn_case_is_done_and_never_overdue_and_a_transferred_one_follows_its_new_holder,
        the_situation_counts_the_cases_settled_at_the_desk,
        dispatchs_overdue_event_raises_one_overdue_alert_per_case,
        a_problem_case_escalation_raises_the_problem_case_alert_and_a_persons_does_not,
        a_closed_case_swept_for_handling_again_is_open_again,
    ]
);

// --- helpers -------------------------------------------------------------------------------

fn api(db: &Db) -> Api {
    Api::new(db.clone(), &AnalysisConfig::default())
}

/// Delivers an event the way the consumer loop does: in a transaction that commits after.
async fn deliver(db: &Db, event: &Event) {
    let handler = std::sync::Arc::new(yimen_analysis::consumers::Handler::new(
        db.clone(),
        &AnalysisConfig::default(),
    ));
    yimen_testkit::harness::deliver(db, &*handler, event)
        .await
        .expect("handle");
}

/// An event of `event_type` about `case_id` that occurred at `at`.
fn event(event_type: &str, case_id: &str, at: i64, payload: Payload) -> Event {
    let mut event = yimen_platform::events::new_event(event_type, case_id, "test", payload);
    event.occurred_at = Some(timestamp(at));
    event
}

fn number(case_id: &str) -> String {
    format!("YM-2026-{case_id}")
}

/// One petitioner, by visit, no amount: tests change what they need.
fn registration(case_id: &str, category: Category, town: &str) -> CaseRegistered {
    CaseRegistered {
        case_number: number(case_id),
        channel: Channel::Visit as i32,
        category: category as i32,
        location: Some(Location {
            town: town.into(),
            village: String::new(),
        }),
        headcount: 1,
        subject: "a matter".into(),
        amount_claimed: None,
        petitioner_keys: vec![],
        ..Default::default()
    }
}

async fn register(db: &Db, case_id: &str, at: i64, registered: CaseRegistered) {
    deliver(
        db,
        &event(
            "case.registered",
            case_id,
            at,
            Payload::CaseRegistered(registered),
        ),
    )
    .await;
}

async fn register_simple(db: &Db, case_id: &str, category: Category, town: &str, at: i64) {
    register(db, case_id, at, registration(case_id, category, town)).await;
}

/// What dispatch calls a department in its events.
fn department_name(code: &str) -> &'static str {
    match code {
        "human-resources" => "人社局",
        "city-center" => "市信访超市",
        _ => "",
    }
}

fn assigned(
    case_id: &str,
    assignment: &str,
    department: &str,
    cause: AssignmentCause,
    accept_by: i64,
    at: i64,
) -> Event {
    event(
        &format!("case.assigned.{department}"),
        case_id,
        at,
        Payload::CaseAssigned(CaseAssigned {
            assignment_id: assignment.into(),
            case_number: number(case_id),
            department: department.into(),
            department_name: department_name(department).into(),
            cause: cause as i32,
            reason: String::new(),
            previous_department: String::new(),
            accept_by: Some(timestamp(accept_by)),
            category: Category::Other as i32,
            location: Some(Location {
                town: "洋梓镇".into(),
                village: String::new(),
            }),
            subject: "a matter".into(),
            routing_rule: String::new(),
            routing_rules_version: 0,
        }),
    )
}

fn accepted(case_id: &str, assignment: &str, department: &str, handle_by: i64, at: i64) -> Event {
    event(
        &format!("case.accepted.{department}"),
        case_id,
        at,
        Payload::CaseAccepted(CaseAccepted {
            department_name: String::new(),
            assignment_id: assignment.into(),
            department: department.into(),
            handle_by: Some(timestamp(handle_by)),
            co_handling: false,
        }),
    )
}

fn replied(case_id: &str, assignment: &str, department: &str, at: i64) -> Event {
    event(
        &format!("case.replied.{department}"),
        case_id,
        at,
        Payload::CaseReplied(CaseReplied {
            department_name: String::new(),
            assignment_id: assignment.into(),
            department: department.into(),
            reply: "done".into(),
            within_deadline: true,
        }),
    )
}

fn returned(case_id: &str, assignment: &str, department: &str, at: i64) -> Event {
    event(
        &format!("case.returned.{department}"),
        case_id,
        at,
        Payload::CaseReturned(CaseReturned {
            assignment_id: assignment.into(),
            department: department.into(),
            reason: "not ours".into(),
        }),
    )
}

fn extended(case_id: &str, assignment: &str, department: &str, handle_by: i64, at: i64) -> Event {
    event(
        &format!("case.extended.{department}"),
        case_id,
        at,
        Payload::CaseExtended(CaseExtended {
            assignment_id: assignment.into(),
            department: department.into(),
            days: 30,
            handle_by: Some(timestamp(handle_by)),
        }),
    )
}

fn closed(case_id: &str, at: i64) -> Event {
    event(
        "case.closed",
        case_id,
        at,
        Payload::CaseClosed(CaseClosed {
            department: String::new(),
            satisfaction: Satisfaction::Satisfied as i32,
        }),
    )
}

fn reopened(case_id: &str, at: i64) -> Event {
    event(
        "case.reopened",
        case_id,
        at,
        Payload::CaseReopened(CaseReopened {
            department: String::new(),
            reason: "unsatisfied".into(),
        }),
    )
}

fn mediation_opened(case_id: &str, at: i64) -> Event {
    event(
        "mediation.opened",
        case_id,
        at,
        Payload::MediationOpened(MediationOpened {
            mediation_id: uuid::Uuid::now_v7().to_string(),
            committee: "civil-commercial".into(),
            ..Default::default()
        }),
    )
}

async fn alerts(api: &Api, request: ListAlertsRequest) -> Vec<Alert> {
    api.list_alerts(Request::new(request))
        .await
        .expect("list alerts")
        .into_inner()
        .alerts
}

async fn all_alerts(api: &Api) -> Vec<Alert> {
    alerts(
        api,
        ListAlertsRequest {
            include_acknowledged: true,
            ..Default::default()
        },
    )
    .await
}

async fn alerts_of(api: &Api, case_id: &str) -> Vec<Alert> {
    alerts(
        api,
        ListAlertsRequest {
            include_acknowledged: true,
            case_id: case_id.into(),
            ..Default::default()
        },
    )
    .await
}

async fn situation(api: &Api, period: Option<Period>) -> Situation {
    api.get_situation(Request::new(GetSituationRequest { period }))
        .await
        .expect("situation")
        .into_inner()
}

async fn risk(api: &Api, case_id: &str) -> CaseRisk {
    api.get_case_risk(Request::new(GetCaseRiskRequest {
        case_id: case_id.into(),
    }))
    .await
    .expect("case risk")
    .into_inner()
}

async fn case_row(db: &Db, case_id: &str) -> CaseRow {
    let mut conn = db.pool().acquire().await.expect("connection");
    store::case(&mut conn, case_id)
        .await
        .expect("read case")
        .expect("case known")
}

/// Every event analysis published, in order.
async fn published(db: &Db) -> Vec<Event> {
    yimen_testkit::harness::published(db).await
}

fn fields(status: &Status) -> Vec<String> {
    yimen_testkit::harness::violated_fields(status)
}

/// The alert.raised events analysis published about `case_id`.
async fn raised_about(db: &Db, case_id: &str) -> Vec<Event> {
    published(db)
        .await
        .into_iter()
        .filter(|e| e.r#type == "alert.raised" && e.case_id == case_id)
        .collect()
}

fn kinds(alerts: &[Alert]) -> Vec<i32> {
    alerts.iter().map(|a| a.kind).collect()
}

fn ms(ts: &Option<prost_types::Timestamp>) -> i64 {
    millis(ts.as_ref().expect("timestamp set"))
}

// --- the contract ----------------------------------------------------------------------------

async fn collective_case_raises_one_alert_with_its_facts_and_publishes_it(db: Db) {
    let api = api(&db);
    let mut expo = registration("expo", Category::CivilCommercial, "郢中街道");
    expo.headcount = 19;
    expo.amount_claimed = Some(Money { fen: 30_000_000 });
    register(&db, "expo", now_millis(), expo.clone()).await;
    // The same case announced again (another event id) raises nothing more.
    register(&db, "expo", now_millis(), expo).await;
    // Four people are not a collective petition.
    let mut four = registration("four", Category::CivilCommercial, "郢中街道");
    four.headcount = 4;
    register(&db, "four", now_millis(), four).await;

    let listed = all_alerts(&api).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let alert = &listed[0];
    assert_eq!(alert.kind, AlertKind::Collective as i32);
    assert_eq!(alert.case_id, "expo");
    assert_eq!(alert.case_number, "YM-2026-expo");
    assert_eq!(alert.category, Category::CivilCommercial as i32);
    assert!(!alert.acknowledged);
    assert_eq!(
        alert.facts,
        [
            "19 petitioners came together (collective petition: 5 or more)",
            "category: civil and commercial",
            "town: 郢中街道",
            "amount claimed: 300,000.00 yuan",
        ]
    );

    let raised: Vec<Event> = published(&db)
        .await
        .into_iter()
        .filter(|e| e.r#type == "alert.raised")
        .collect();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].case_id, "expo");
    assert_eq!(raised[0].producer, "analysis");
    match &raised[0].payload {
        Some(Payload::AlertRaised(AlertRaised { alert: Some(a) })) => assert_eq!(a, alert),
        other => panic!("not an AlertRaised: {other:?}"),
    }
}

async fn repeat_petitioner_of_the_same_category_is_alerted_and_of_another_is_not(db: Db) {
    let api = api(&db);
    let key = "5f3a9c0e1d2b4a6f8e7d6c5b4a3928171615141312111009080706050403020100";
    let now = now_millis();
    let with_key = |case_id: &str, category: Category| {
        let mut r = registration(case_id, category, "洋梓镇");
        r.petitioner_keys = vec![key.into(), format!("other-{case_id}")];
        r
    };
    register(
        &db,
        "w1",
        now - 3 * DAY_MILLIS,
        with_key("w1", Category::LabourWages),
    )
    .await;
    register(
        &db,
        "w2",
        now - 2 * DAY_MILLIS,
        with_key("w2", Category::LabourWages),
    )
    .await;
    register(
        &db,
        "land",
        now - DAY_MILLIS,
        with_key("land", Category::Land),
    )
    .await;
    register(&db, "w3", now, with_key("w3", Category::LabourWages)).await;

    assert!(
        alerts_of(&api, "w1").await.is_empty(),
        "the first case repeats nothing"
    );
    assert!(
        alerts_of(&api, "land").await.is_empty(),
        "another category is not a repeat"
    );
    let second = alerts_of(&api, "w2").await;
    assert_eq!(kinds(&second), [AlertKind::RepeatPetitioner as i32]);
    assert_eq!(
        second[0].facts,
        [
            "the same petitioner's 2nd case on labour wages",
            "earlier cases: YM-2026-w1",
        ]
    );
    let third = alerts_of(&api, "w3").await;
    assert_eq!(
        third[0].facts,
        [
            "the same petitioner's 3rd case on labour wages",
            "earlier cases: YM-2026-w1, YM-2026-w2",
        ]
    );
    for alert in all_alerts(&api).await {
        assert!(alert.facts.iter().all(|f| !f.contains(key)), "{alert:?}");
    }
    for event in published(&db).await {
        let text = format!("{event:?}");
        assert!(!text.contains(key), "the key left analysis: {text}");
    }
}

async fn repeat_petitioner_heard_out_of_order_is_alerted_on_the_later_case(db: Db) {
    let api = api(&db);
    let now = now_millis();
    let with_key = |case_id: &str| {
        let mut r = registration(case_id, Category::Land, "石牌镇");
        r.petitioner_keys = vec!["shared-key".into()];
        r
    };
    // The later case's registration arrives first.
    register(&db, "later", now, with_key("later")).await;
    register(&db, "earlier", now - DAY_MILLIS, with_key("earlier")).await;

    assert!(alerts_of(&api, "earlier").await.is_empty());
    let later = alerts_of(&api, "later").await;
    assert_eq!(kinds(&later), [AlertKind::RepeatPetitioner as i32]);
    assert_eq!(later[0].facts[1], "earlier cases: YM-2026-earlier");
}

async fn no_owner_assignment_raises_an_alert_even_before_the_registration(db: Db) {
    let api = api(&db);
    let now = now_millis();
    deliver(
        &db,
        &assigned(
            "family",
            "a-family",
            "city-center",
            AssignmentCause::NoOwner,
            now + 15 * DAY_MILLIS,
            now,
        ),
    )
    .await;
    // A routed assignment raises nothing.
    deliver(
        &db,
        &assigned(
            "routed",
            "a-routed",
            "civil-affairs",
            AssignmentCause::Routed,
            now + 15 * DAY_MILLIS,
            now,
        ),
    )
    .await;

    let listed = all_alerts(&api).await;
    assert_eq!(kinds(&listed), [AlertKind::NoOwner as i32]);
    let alert = &listed[0];
    assert_eq!(alert.case_id, "family");
    // Known from the assignment, before the registration arrives.
    assert_eq!(alert.case_number, "YM-2026-family");
    assert_eq!(alert.category, Category::Other as i32);
    assert_eq!(
        alert.facts,
        [
            "no department owns other matters; the city center took it",
            "department: city-center",
        ]
    );
    assert_eq!(
        published(&db)
            .await
            .iter()
            .filter(|e| e.r#type == "alert.raised" && e.case_id == "family")
            .count(),
        1
    );
}

async fn situation_counts_the_period_against_the_previous_one(db: Db) {
    let api = api(&db);
    let now = now_millis();
    let ago = |days: i64| now - days * DAY_MILLIS;
    let later = now + 10 * DAY_MILLIS;

    // This period (the last 30 days).
    register_simple(&db, "c1", Category::LabourWages, "洋梓镇", ago(1)).await;
    let mut c2 = registration("c2", Category::LabourWages, "洋梓镇");
    c2.channel = Channel::Phone as i32;
    c2.headcount = 6;
    register(&db, "c2", ago(2), c2).await;
    register_simple(&db, "c3", Category::Land, "郢中街道", ago(3)).await;
    // The previous 30 days.
    register_simple(&db, "p1", Category::Land, "郢中街道", ago(35)).await;
    let mut p2 = registration("p2", Category::Land, "石牌镇");
    p2.channel = Channel::Letter as i32;
    register(&db, "p2", ago(36), p2).await;
    // Before both.
    register_simple(&db, "o1", Category::Education, "胡集镇", ago(90)).await;

    for e in [
        assigned(
            "c1",
            "a-c1",
            "human-resources",
            AssignmentCause::Routed,
            later,
            ago(1),
        ),
        assigned(
            "c3",
            "a-c3",
            "natural-resources",
            AssignmentCause::Routed,
            later,
            ago(3),
        ),
        assigned(
            "p1",
            "a-p1",
            "natural-resources",
            AssignmentCause::Routed,
            later,
            ago(35),
        ),
        closed("c1", ago(1) + 1000),
        closed("p2", ago(31)),
    ] {
        deliver(&db, &e).await;
    }

    let s = situation(&api, None).await;
    let period = s.period.expect("the period answered");
    assert_eq!(ms(&period.to) - ms(&period.from), 30 * DAY_MILLIS);
    assert_eq!((s.cases, s.change), (3, 1));
    let categories: Vec<(i32, u64, i64)> = s
        .categories
        .iter()
        .map(|c| (c.category, c.cases, c.change))
        .collect();
    assert_eq!(
        categories,
        [
            (Category::LabourWages as i32, 2, 2),
            (Category::Land as i32, 1, -1),
        ]
    );
    let figures = |f: &[Figure]| -> Vec<(String, u64, i64)> {
        f.iter()
            .map(|f| (f.key.clone(), f.cases, f.change))
            .collect()
    };
    let owned = |v: &[(&str, u64, i64)]| -> Vec<(String, u64, i64)> {
        v.iter().map(|(k, n, c)| (k.to_string(), *n, *c)).collect()
    };
    assert_eq!(
        figures(&s.towns),
        owned(&[("洋梓镇", 2, 2), ("郢中街道", 1, 0), ("石牌镇", 0, -1)])
    );
    assert_eq!(
        figures(&s.channels),
        owned(&[("visit", 2, 1), ("phone", 1, 1), ("letter", 0, -1)])
    );
    assert_eq!(
        figures(&s.departments),
        owned(&[("human-resources", 1, 1), ("natural-resources", 1, 0)])
    );
    assert_eq!(s.collective, 1);
    assert_eq!(s.closed, 1, "c1 closed in the period; p2 before it");
    assert_eq!(s.alerts, 1, "the collective alert of c2");
    assert_eq!(s.open, 4, "c2, c3, p1 and o1");
    assert_eq!(s.overdue, 0);
}

async fn overdue_counts_open_cases_past_a_running_deadline(db: Db) {
    let api = api(&db);
    let now = now_millis();
    let past = now - DAY_MILLIS;
    let future = now + DAY_MILLIS;
    let routed = AssignmentCause::Routed;
    for case in [
        "late-accept",
        "late-reply",
        "replied",
        "in-time",
        "closed-late",
    ] {
        register_simple(&db, case, Category::Land, "洋梓镇", now - 20 * DAY_MILLIS).await;
    }
    for e in [
        // Not accepted, acceptance deadline passed.
        assigned(
            "late-accept",
            "a1",
            "land",
            routed,
            past,
            now - 20 * DAY_MILLIS,
        ),
        // Accepted, handling deadline passed.
        assigned(
            "late-reply",
            "a2",
            "land",
            routed,
            past,
            now - 20 * DAY_MILLIS,
        ),
        accepted("late-reply", "a2", "land", past, now - 19 * DAY_MILLIS),
        // Replied: no deadline runs.
        assigned("replied", "a3", "land", routed, past, now - 20 * DAY_MILLIS),
        accepted("replied", "a3", "land", past, now - 19 * DAY_MILLIS),
        replied("replied", "a3", "land", now - 18 * DAY_MILLIS),
        // Accepted with time left (the acceptance deadline passed, but it was accepted).
        assigned("in-time", "a4", "land", routed, past, now - 20 * DAY_MILLIS),
        accepted("in-time", "a4", "land", future, now - 19 * DAY_MILLIS),
        // Past its deadline but closed.
        assigned(
            "closed-late",
            "a5",
            "land",
            routed,
            past,
            now - 20 * DAY_MILLIS,
        ),
        closed("closed-late", now - 2 * DAY_MILLIS),
    ] {
        deliver(&db, &e).await;
    }

    let s = situation(&api, None).await;
    assert_eq!((s.open, s.overdue), (4, 2));
    assert!(
        risk(&api, "late-accept")
            .await
            .factors
            .contains(&"past its deadline (+20)".to_string())
    );
    assert!(risk(&api, "in-time").await.factors.is_empty());
}

async fn acknowledging_hides_an_alert_from_the_default_list_and_is_idempotent(db: Db) {
    let api = api(&db);
    let mut group = registration("group", Category::HousingProperty, "郢中街道");
    group.headcount = 168;
    register(&db, "group", now_millis(), group).await;
    let alert = all_alerts(&api).await.remove(0);

    let acknowledge = |id: String| {
        let api = &api;
        async move {
            api.acknowledge_alert(Request::new(AcknowledgeAlertRequest { alert_id: id }))
                .await
        }
    };
    let first = acknowledge(alert.alert_id.clone())
        .await
        .expect("ack")
        .into_inner();
    assert!(first.acknowledged);
    assert_eq!(first.alert_id, alert.alert_id);
    let again = acknowledge(alert.alert_id.clone())
        .await
        .expect("ack again")
        .into_inner();
    assert_eq!(again, first);

    assert!(alerts(&api, ListAlertsRequest::default()).await.is_empty());
    assert_eq!(all_alerts(&api).await, [first]);

    let unknown = acknowledge(uuid::Uuid::now_v7().to_string())
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = acknowledge("not-an-id".into()).await.unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(fields(&malformed), ["alert_id"]);
}

/// A case's events in the order they happened: registered, assigned, returned, assigned
/// again, accepted, extended, mediation opened, closed, reopened.
fn life_of(case_id: &str, t: i64) -> (Vec<Event>, i64) {
    let handle_by = t + 70 * DAY_MILLIS;
    let mut registered = registration(case_id, Category::CivilCommercial, "郢中街道");
    registered.headcount = 2;
    let events = vec![
        event(
            "case.registered",
            case_id,
            t,
            Payload::CaseRegistered(registered),
        ),
        assigned(
            case_id,
            &format!("{case_id}-1"),
            "justice",
            AssignmentCause::Routed,
            t + 15 * DAY_MILLIS,
            t + 1,
        ),
        returned(case_id, &format!("{case_id}-1"), "justice", t + 2),
        assigned(
            case_id,
            &format!("{case_id}-2"),
            "city-center",
            AssignmentCause::Returned,
            t + 16 * DAY_MILLIS,
            t + 3,
        ),
        accepted(
            case_id,
            &format!("{case_id}-2"),
            "city-center",
            t + 60 * DAY_MILLIS,
            t + 4,
        ),
        event(
            "case.extended.city-center",
            case_id,
            t + 5,
            Payload::CaseExtended(CaseExtended {
                assignment_id: format!("{case_id}-2"),
                department: "city-center".into(),
                days: 10,
                handle_by: Some(timestamp(handle_by)),
            }),
        ),
        mediation_opened(case_id, t + 6),
        closed(case_id, t + 7),
        reopened(case_id, t + 8),
    ];
    (events, handle_by)
}

async fn events_out_of_order_converge_to_the_same_case(db: Db) {
    let t = now_millis() - DAY_MILLIS;
    let (in_order, handle_by) = life_of("ordered", t);
    let (mut shuffled, _) = life_of("shuffled", t);
    // Assigned, accepted and the rest before the registration; the reopening before the close.
    shuffled.reverse();
    for e in in_order.iter().chain(&shuffled) {
        deliver(&db, e).await;
    }

    let ordered = case_row(&db, "ordered").await;
    let shuffled = case_row(&db, "shuffled").await;
    let essence = |c: &CaseRow| {
        (
            c.category,
            c.headcount,
            c.registered_at,
            c.department.clone(),
            c.accept_by,
            c.handle_by,
            c.returns,
            c.reopened,
            c.closed,
            c.in_mediation,
        )
    };
    assert_eq!(essence(&shuffled), essence(&ordered));
    assert_eq!(shuffled.case_number, "YM-2026-shuffled");
    assert_eq!(
        essence(&ordered),
        (
            Category::CivilCommercial as i64,
            2,
            Some(t),
            "city-center".to_string(),
            None,
            Some(handle_by),
            1,
            1,
            false,
            true,
        )
    );
    // Both count in the department figures of the period, once per assignment.
    let s = situation(&api(&db), None).await;
    let departments: Vec<(String, u64)> = s
        .departments
        .iter()
        .map(|f| (f.key.clone(), f.cases))
        .collect();
    assert_eq!(
        departments,
        [("city-center".to_string(), 2), ("justice".to_string(), 2)]
    );
    assert_eq!((s.cases, s.open), (2, 2));
}

async fn alerts_are_listed_newest_first_page_by_page_and_filtered(db: Db) {
    let api = api(&db);
    for i in 0..5 {
        let case_id = format!("g{i}");
        let mut r = registration(&case_id, Category::Land, "洋梓镇");
        r.headcount = 5 + i;
        register(&db, &case_id, now_millis(), r).await;
    }
    deliver(
        &db,
        &assigned(
            "g0",
            "a-g0",
            "city-center",
            AssignmentCause::NoOwner,
            now_millis(),
            now_millis(),
        ),
    )
    .await;

    let everything = all_alerts(&api).await;
    assert_eq!(everything.len(), 6);
    let key = |a: &Alert| (ms(&a.raised_at), a.alert_id.clone());
    assert!(
        everything.windows(2).all(|w| key(&w[0]) > key(&w[1])),
        "newest first"
    );

    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = api
            .list_alerts(Request::new(ListAlertsRequest {
                include_acknowledged: true,
                page: Some(PageRequest {
                    page_size: 4,
                    page_token: token.clone(),
                }),
                ..Default::default()
            }))
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        paged.extend(page.alerts);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 2);
    assert_eq!(paged, everything);

    let no_owner = alerts(
        &api,
        ListAlertsRequest {
            kind: AlertKind::NoOwner as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(no_owner.len(), 1);
    assert_eq!(no_owner[0].case_id, "g0");
    assert_eq!(alerts_of(&api, "g0").await.len(), 2);
}

async fn case_risk_sums_its_factors(db: Db) {
    let api = api(&db);
    let now = now_millis();
    let mut r = registration("risky", Category::CivilCommercial, "郢中街道");
    r.headcount = 38;
    register(&db, "risky", now - DAY_MILLIS, r).await;
    let later = now + 10 * DAY_MILLIS;
    for e in [
        assigned(
            "risky",
            "r1",
            "commerce",
            AssignmentCause::Routed,
            later,
            now - DAY_MILLIS + 1,
        ),
        returned("risky", "r1", "commerce", now - DAY_MILLIS + 2),
        assigned(
            "risky",
            "r2",
            "city-center",
            AssignmentCause::NoOwner,
            later,
            now - DAY_MILLIS + 3,
        ),
        mediation_opened("risky", now - DAY_MILLIS + 4),
        reopened("risky", now - DAY_MILLIS + 5),
    ] {
        deliver(&db, &e).await;
    }

    let risk_of = risk(&api, "risky").await;
    assert_eq!(risk_of.case_id, "risky");
    assert_eq!(risk_of.score, 30 + 15 + 10 + 15);
    assert_eq!(
        risk_of.factors,
        [
            "collective petition (+30)",
            "no department owns the matter (+15)",
            "returned by departments 1 time (+10)",
            "reopened 1 time after an unsatisfying reply (+15)",
            "in mediation (+0)",
        ]
    );

    let unknown = api
        .get_case_risk(Request::new(GetCaseRiskRequest {
            case_id: "nobody".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn trends_count_cases_per_china_day_with_empty_days(db: Db) {
    let api = api(&db);
    // 2026-03-01T00:00:00+08:00.
    let day0 = 1_772_294_400_000;
    register_simple(&db, "t1", Category::Land, "洋梓镇", day0 + 1000).await;
    register_simple(&db, "t2", Category::Land, "洋梓镇", day0 + DAY_MILLIS - 1).await;
    register_simple(
        &db,
        "t3",
        Category::Education,
        "洋梓镇",
        day0 + 2 * DAY_MILLIS,
    )
    .await;
    register_simple(&db, "t4", Category::Land, "洋梓镇", day0 + 3 * DAY_MILLIS).await;

    let trends = |category: Category| {
        let api = &api;
        async move {
            api.get_trends(Request::new(GetTrendsRequest {
                period: Some(Period {
                    from: Some(timestamp(day0)),
                    to: Some(timestamp(day0 + 3 * DAY_MILLIS)),
                }),
                category: category as i32,
            }))
            .await
            .expect("trends")
            .into_inner()
            .points
            .iter()
            .map(|p| (ms(&p.day), p.cases))
            .collect::<Vec<_>>()
        }
    };
    let day = |n: i64| day0 + n * DAY_MILLIS;
    assert_eq!(
        trends(Category::Unspecified).await,
        [(day(0), 2), (day(1), 0), (day(2), 1)]
    );
    assert_eq!(
        trends(Category::Land).await,
        [(day(0), 2), (day(1), 0), (day(2), 0)]
    );
}

async fn hotspots_are_towns_by_cases(db: Db) {
    let api = api(&db);
    let now = now_millis();
    for (i, town) in [
        "石牌镇",
        "郢中街道",
        "石牌镇",
        "洋梓镇",
        "石牌镇",
        "郢中街道",
    ]
    .into_iter()
    .enumerate()
    {
        register_simple(
            &db,
            &format!("h{i}"),
            Category::Land,
            town,
            now - DAY_MILLIS,
        )
        .await;
    }
    let hotspots = api
        .get_hotspots(Request::new(GetHotspotsRequest {
            period: None,
            limit: 2,
        }))
        .await
        .expect("hotspots")
        .into_inner()
        .hotspots;
    let got: Vec<(String, u64)> = hotspots
        .iter()
        .map(|h| (h.location.clone().unwrap_or_default().town, h.cases))
        .collect();
    assert_eq!(
        got,
        [("石牌镇".to_string(), 3), ("郢中街道".to_string(), 2)]
    );
}

async fn recommendations_name_a_rising_category_and_its_handler(db: Db) {
    let api = api(&db);
    let quiet = api
        .get_recommendations(Request::new(GetRecommendationsRequest { period: None }))
        .await
        .expect("recommendations")
        .into_inner();
    assert!(quiet.items.is_empty(), "{quiet:?}");

    let now = now_millis();
    deliver(
        &db,
        &event(
            "department.joined",
            "",
            now - 90 * DAY_MILLIS,
            Payload::DepartmentJoined(DepartmentJoined {
                department: Some(Department {
                    code: "human-resources".into(),
                    name: "人社局".into(),
                    ..Default::default()
                }),
            }),
        ),
    )
    .await;
    for (i, days_ago) in [40, 45, 1, 2, 3, 4].into_iter().enumerate() {
        let case_id = format!("w{i}");
        let at = now - days_ago * DAY_MILLIS;
        register_simple(&db, &case_id, Category::LabourWages, "洋梓镇", at).await;
        let accept_by = at + 15 * DAY_MILLIS;
        deliver(
            &db,
            &assigned(
                &case_id,
                &format!("a-{case_id}"),
                "human-resources",
                AssignmentCause::Routed,
                accept_by,
                at + 1,
            ),
        )
        .await;
    }

    let items = api
        .get_recommendations(Request::new(GetRecommendationsRequest { period: None }))
        .await
        .expect("recommendations")
        .into_inner()
        .items;
    assert_eq!(
        items[0],
        "labour wages rose from 2 to 4: consider a joint visit by 人社局"
    );
    assert!(
        items
            .iter()
            .any(|i| i.starts_with("洋梓镇 had the most cases")),
        "{items:?}"
    );
}

async fn invalid_requests_name_the_bad_field(db: Db) {
    let api = api(&db);
    let backwards = Some(Period {
        from: Some(timestamp(2_000)),
        to: Some(timestamp(1_000)),
    });
    let status = api
        .get_situation(Request::new(GetSituationRequest { period: backwards }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["period"]);

    let status = api
        .get_trends(Request::new(GetTrendsRequest {
            period: backwards,
            category: 99,
        }))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["period", "category"]);

    let status = api
        .list_alerts(Request::new(ListAlertsRequest {
            kind: 9,
            page: Some(PageRequest {
                page_size: 0,
                page_token: "nonsense".into(),
            }),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["kind", "page.page_token"]);

    let status = api
        .get_case_risk(Request::new(GetCaseRiskRequest {
            case_id: " ".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(fields(&status), ["case_id"]);
}

async fn own_alerts_and_events_without_payload_are_ignored(db: Db) {
    let api = api(&db);
    let mut own = event(
        "alert.raised",
        "some-case",
        now_millis(),
        Payload::AlertRaised(AlertRaised {
            alert: Some(Alert {
                alert_id: uuid::Uuid::now_v7().to_string(),
                kind: AlertKind::Collective as i32,
                case_id: "some-case".into(),
                ..Default::default()
            }),
        }),
    );
    deliver(&db, &own).await;
    own.payload = None;
    own.r#type = "something.new".into();
    deliver(&db, &own).await;

    assert!(all_alerts(&api).await.is_empty());
    assert!(published(&db).await.is_empty());
    let unknown = api
        .get_case_risk(Request::new(GetCaseRiskRequest {
            case_id: "some-case".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn watch_sends_alerts_raised_after_the_call(db: Db) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let api = api(&db).ending_on(shutdown.clone());
    let mut before = registration("before", Category::Land, "洋梓镇");
    before.headcount = 7;
    register(&db, "before", now_millis(), before).await;
    // The watch starts on a later millisecond than the alert above was raised.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let mut stream = api
        .watch_alerts(Request::new(ListAlertsRequest::default()))
        .await
        .expect("watch")
        .into_inner();
    let mut after = registration("after", Category::Land, "洋梓镇");
    after.headcount = 9;
    register(&db, "after", now_millis(), after).await;

    // A bound so a broken watch fails instead of hanging; not a timing assertion.
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), stream.next())
        .await
        .expect("an alert within the bound")
        .expect("the stream goes on")
        .expect("an alert, not an error");
    assert_eq!(first.case_id, "after");
    assert_eq!(first.kind, AlertKind::Collective as i32);

    // The process stops: the stream ends.
    shutdown.cancel();
    assert!(
        yimen_testkit::harness::next_item(&mut stream)
            .await
            .is_none(),
        "the watch ended"
    );
}

/// 2026-12-12T12:00:00+08:00: the deadline the overdue tests let pass.
const DEADLINE: i64 = 1_797_048_000_000;

async fn a_case_past_its_acceptance_deadline_gets_one_overdue_alert_and_its_event(db: Db) {
    let api = api(&db);
    let routed = AssignmentCause::Routed;
    let at = DEADLINE - 15 * DAY_MILLIS;
    let later = DEADLINE + 30 * DAY_MILLIS;
    for case in [
        "late", "accepted", "replied", "closed", "returned", "not-yet",
    ] {
        register_simple(&db, case, Category::SocialAssistance, "郢中街道", at).await;
    }
    for e in [
        // Not accepted by the deadline.
        assigned("late", "a1", "civil-affairs", routed, DEADLINE, at),
        // Accepted in time, with its handling deadline well ahead.
        assigned("accepted", "a2", "civil-affairs", routed, DEADLINE, at),
        accepted("accepted", "a2", "civil-affairs", later, at + DAY_MILLIS),
        // Replied.
        assigned("replied", "a3", "civil-affairs", routed, DEADLINE, at),
        accepted("replied", "a3", "civil-affairs", DEADLINE, at + DAY_MILLIS),
        replied("replied", "a3", "civil-affairs", at + 2 * DAY_MILLIS),
        // Past the deadline but closed.
        assigned("closed", "a4", "civil-affairs", routed, DEADLINE, at),
        closed("closed", at + 2 * DAY_MILLIS),
        // Returned: no deadline runs until the next assignment.
        assigned("returned", "a5", "civil-affairs", routed, DEADLINE, at),
        returned("returned", "a5", "civil-affairs", at + DAY_MILLIS),
        // Its acceptance deadline is still ahead.
        assigned("not-yet", "a6", "civil-affairs", routed, later, at),
    ] {
        deliver(&db, &e).await;
    }

    let now = DEADLINE + 3 * DAY_MILLIS + 1;
    assert_eq!(sweep_overdue(&db, now).await.expect("sweep"), 1);

    let listed = all_alerts(&api).await;
    assert_eq!(kinds(&listed), [AlertKind::Overdue as i32], "{listed:?}");
    let alert = &listed[0];
    assert_eq!(alert.case_id, "late");
    assert_eq!(alert.case_number, "YM-2026-late");
    assert_eq!(alert.category, Category::SocialAssistance as i32);
    assert_eq!(
        alert.facts,
        [
            "not accepted by civil-affairs within the acceptance deadline (2026-12-12)",
            "3 days overdue",
        ]
    );
    let raised = raised_about(&db, "late").await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].producer, "analysis");
    match &raised[0].payload {
        Some(Payload::AlertRaised(AlertRaised { alert: Some(a) })) => assert_eq!(a, alert),
        other => panic!("not an AlertRaised: {other:?}"),
    }

    // A second sweep, even days later, raises nothing more.
    assert_eq!(
        sweep_overdue(&db, now + 5 * DAY_MILLIS)
            .await
            .expect("sweep again"),
        0
    );
    assert_eq!(all_alerts(&api).await.len(), 1);
    assert_eq!(published(&db).await.len(), 1);
}

async fn a_case_past_its_handling_deadline_gets_an_overdue_alert_unless_extended(db: Db) {
    let api = api(&db);
    let routed = AssignmentCause::Routed;
    let at = DEADLINE - 60 * DAY_MILLIS;
    for case in ["late-reply", "extended"] {
        register_simple(&db, case, Category::HousingProperty, "洋梓镇", at).await;
    }
    for e in [
        assigned("late-reply", "h1", "housing", routed, at + DAY_MILLIS, at),
        accepted("late-reply", "h1", "housing", DEADLINE, at + DAY_MILLIS),
        // The one extension moves the handling deadline past now.
        assigned("extended", "h2", "housing", routed, at + DAY_MILLIS, at),
        accepted("extended", "h2", "housing", DEADLINE, at + DAY_MILLIS),
        extended(
            "extended",
            "h2",
            "housing",
            DEADLINE + 30 * DAY_MILLIS,
            DEADLINE - DAY_MILLIS,
        ),
    ] {
        deliver(&db, &e).await;
    }

    let now = DEADLINE + DAY_MILLIS;
    assert_eq!(sweep_overdue(&db, now).await.expect("sweep"), 1);
    let alerts = alerts_of(&api, "late-reply").await;
    assert_eq!(kinds(&alerts), [AlertKind::Overdue as i32]);
    assert_eq!(
        alerts[0].facts,
        [
            "not replied by housing within the handling deadline (2026-12-12)",
            "1 day overdue",
        ]
    );
    assert_eq!(raised_about(&db, "late-reply").await.len(), 1);
    assert!(alerts_of(&api, "extended").await.is_empty());
    assert!(raised_about(&db, "extended").await.is_empty());
}

async fn the_sweeper_sweeps_on_start_and_stops_when_shut_down(db: Db) {
    let api = api(&db);
    let now = now_millis();
    register_simple(&db, "late", Category::Land, "石牌镇", now - 20 * DAY_MILLIS).await;
    let assignment = assigned(
        "late",
        "a1",
        "natural-resources",
        AssignmentCause::Routed,
        now - 5 * DAY_MILLIS,
        now - 20 * DAY_MILLIS,
    );
    deliver(&db, &assignment).await;

    // An hour between sweeps: the alert can only come from the sweep at start.
    let config = AnalysisConfig {
        overdue_sweep_secs: 3600,
        ..AnalysisConfig::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn(yimen_analysis::run_overdue_sweeper(
        db.clone(),
        config,
        shutdown.clone(),
    ));
    // A bound so a broken sweeper fails instead of hanging; not a timing assertion.
    let alerted = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let alerts = alerts_of(&api, "late").await;
            if !alerts.is_empty() {
                return alerts;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the first sweep runs at start");
    assert_eq!(kinds(&alerted), [AlertKind::Overdue as i32]);
    assert_eq!(alerted[0].facts[1], "5 days overdue");

    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(30), sweeper)
        .await
        .expect("the sweeper returns once shut down")
        .expect("the sweeper does not panic");
}

async fn a_paused_case_is_not_overdue_and_a_refused_one_is_no_longer_open(db: Db) {
    let api = api(&db);
    let now = now_millis();
    let past = now - DAY_MILLIS;
    let routed = AssignmentCause::Routed;
    for case in ["paused", "resumed", "refused"] {
        register_simple(&db, case, Category::Land, "洋梓镇", now - 20 * DAY_MILLIS).await;
    }
    let requested = |case: &str, assignment: &str, at: i64| {
        event(
            "case.supplement_requested.land",
            case,
            at,
            Payload::CaseSupplementRequested(CaseSupplementRequested {
                assignment_id: assignment.into(),
                department: "land".into(),
                requested: "the land certificate".into(),
            }),
        )
    };
    for e in [
        // Past its acceptance deadline, but its clock stopped: not overdue.
        assigned("paused", "a1", "land", routed, past, now - 20 * DAY_MILLIS),
        requested("paused", "a1", now - 10 * DAY_MILLIS),
        // Resumed (delivered before its request) with the deadline moved into the future.
        assigned("resumed", "a2", "land", routed, past, now - 20 * DAY_MILLIS),
        event(
            "case.resumed.land",
            "resumed",
            now - 2 * DAY_MILLIS,
            Payload::CaseResumed(CaseResumed {
                assignment_id: "a2".into(),
                department: "land".into(),
                paused: None,
                accept_by: Some(timestamp(now + 5 * DAY_MILLIS)),
                handle_by: None,
            }),
        ),
        requested("resumed", "a2", now - 10 * DAY_MILLIS),
        // Past its deadline, but refused: the center is done with it.
        assigned("refused", "a3", "land", routed, past, now - 20 * DAY_MILLIS),
        event(
            "case.refused.land",
            "refused",
            now - 19 * DAY_MILLIS,
            Payload::CaseRefused(CaseRefused {
                department_name: String::new(),
                assignment_id: "a3".into(),
                department: "land".into(),
                reason: RefusalReason::Litigation as i32,
                channel: "钟祥市人民法院".into(),
                explanation: "a contract dispute".into(),
            }),
        ),
    ] {
        deliver(&db, &e).await;
    }
    let s = situation(&api, None).await;
    assert_eq!((s.open, s.overdue), (2, 0));
    assert_eq!(case_row(&db, "paused").await.accept_by, None);
    assert_eq!(
        case_row(&db, "resumed").await.accept_by,
        Some(now + 5 * DAY_MILLIS)
    );
    assert!(case_row(&db, "refused").await.closed);
}

async fn a_withdrawn_case_is_done_and_never_overdue_and_a_transferred_one_follows_its_new_holder(
    db: Db,
) {
    let api = api(&db);
    let now = now_millis();
    let past = now - DAY_MILLIS;
    let routed = AssignmentCause::Routed;
    for case in ["withdrawn", "moved"] {
        register_simple(&db, case, Category::Land, "洋梓镇", now - 20 * DAY_MILLIS).await;
    }
    for e in [
        // Past its deadline, but withdrawn (撤回): the center is done with it.
        assigned(
            "withdrawn",
            "w1",
            "land",
            routed,
            past,
            now - 20 * DAY_MILLIS,
        ),
        event(
            "case.withdrawn",
            "withdrawn",
            now - 19 * DAY_MILLIS,
            Payload::CaseWithdrawn(CaseWithdrawn {
                department: "land".into(),
                reason: "settled".into(),
            }),
        ),
        // Taken over (提级) with a fresh deadline: the new holder's deadline runs.
        assigned(
            "moved",
            "m1",
            "town-land",
            routed,
            past,
            now - 20 * DAY_MILLIS,
        ),
        event(
            "case.transferred.town-land",
            "moved",
            now - 3 * DAY_MILLIS,
            Payload::CaseTransferred(CaseTransferred {
                assignment_id: "m1".into(),
                department: "town-land".into(),
                to_department: "land".into(),
                cause: AssignmentCause::TakenOver as i32,
                reason: "three towns".into(),
            }),
        ),
        assigned(
            "moved",
            "m2",
            "land",
            AssignmentCause::TakenOver,
            now + 10 * DAY_MILLIS,
            now - 3 * DAY_MILLIS,
        ),
    ] {
        deliver(&db, &e).await;
    }
    let s = situation(&api, None).await;
    assert_eq!((s.open, s.overdue), (1, 0));
    assert!(case_row(&db, "withdrawn").await.closed);
    assert_eq!(
        case_row(&db, "moved").await.accept_by,
        Some(now + 10 * DAY_MILLIS)
    );
}

async fn the_situation_counts_the_cases_settled_at_the_desk(db: Db) {
    let api = api(&db);
    let at = now_millis() - DAY_MILLIS;
    for (case, desk) in [("desk-1", true), ("desk-2", true), ("routed", false)] {
        let registered = CaseRegistered {
            settled_at_desk: desk,
            mediated_at_desk: desk,
            ..registration(case, Category::SocialAssistance, "洋梓镇")
        };
        register(&db, case, at, registered).await;
    }
    let s = situation(&api, None).await;
    assert_eq!((s.cases, s.settled_at_desk), (3, 2));
}

fn overdue(case_id: &str, department: &str, stage: OverdueStage, deadline: i64, at: i64) -> Event {
    let payload = Payload::CaseOverdue(CaseOverdue {
        assignment_id: format!("{case_id}-a"),
        department: department.into(),
        stage: stage as i32,
        deadline: Some(timestamp(deadline)),
        escalation: EscalationLevel::Reminder as i32,
    });
    event(&format!("case.overdue.{department}"), case_id, at, payload)
}

async fn dispatchs_overdue_event_raises_one_overdue_alert_per_case(db: Db) {
    let api = api(&db);
    let at = now_millis() - 20 * DAY_MILLIS;
    register_simple(&db, "late", Category::SocialAssistance, "郢中街道", at).await;
    let deadline = at + 15 * DAY_MILLIS;
    let acceptance = overdue(
        "late",
        "civil-affairs",
        OverdueStage::Acceptance,
        deadline,
        deadline + 1,
    );
    deliver(&db, &acceptance).await;
    deliver(
        &db,
        &overdue(
            "late",
            "civil-affairs",
            OverdueStage::Handling,
            deadline,
            deadline + 2,
        ),
    )
    .await;
    let listed = alerts_of(&api, "late").await;
    assert_eq!(kinds(&listed), [AlertKind::Overdue as i32], "{listed:?}");
    assert!(
        listed[0].facts[0]
            .starts_with("not accepted by civil-affairs within the acceptance deadline"),
        "{:?}",
        listed[0].facts
    );
    assert_eq!(raised_about(&db, "late").await.len(), 1);
}

async fn a_problem_case_escalation_raises_the_problem_case_alert_and_a_persons_does_not(db: Db) {
    let api = api(&db);
    let at = now_millis();
    register_simple(&db, "passed-on", Category::MedicalInsurance, "郢中街道", at).await;
    let escalated = |cause: EscalationCause| {
        let payload = Payload::CaseEscalated(CaseEscalated {
            assignment_id: "a4".into(),
            department: "d-bank".into(),
            level: EscalationLevel::Supervision as i32,
            reason: "problem case (问题件): returned 3 times, by a, b, c; under supervision (督办)"
                .into(),
            leader: String::new(),
            cause: cause as i32,
        });
        event("case.escalated.d-bank", "passed-on", at + 1, payload)
    };
    deliver(&db, &escalated(EscalationCause::Unspecified)).await;
    assert!(alerts_of(&api, "passed-on").await.is_empty());
    deliver(&db, &escalated(EscalationCause::ProblemCase)).await;
    let listed = alerts_of(&api, "passed-on").await;
    assert_eq!(
        kinds(&listed),
        [AlertKind::ProblemCase as i32],
        "{listed:?}"
    );
    assert!(
        listed[0].facts[1].contains("returned 3 times"),
        "{:?}",
        listed[0].facts
    );
    assert_eq!(listed[0].case_number, number("passed-on"));
}

async fn a_closed_case_swept_for_handling_again_is_open_again(db: Db) {
    let at = now_millis() - 3 * DAY_MILLIS;
    let routed = AssignmentCause::Routed;
    register_simple(&db, "swept", Category::MedicalInsurance, "郢中街道", at).await;
    deliver(
        &db,
        &assigned(
            "swept",
            "a1",
            "civil-affairs",
            routed,
            at + 15 * DAY_MILLIS,
            at,
        ),
    )
    .await;
    deliver(&db, &closed("swept", at + DAY_MILLIS)).await;
    assert!(case_row(&db, "swept").await.closed);
    let sweep = AssignmentCause::Sweep;
    let again = at + 2 * DAY_MILLIS;
    deliver(
        &db,
        &assigned(
            "swept",
            "a2",
            "civil-affairs",
            sweep,
            again + 15 * DAY_MILLIS,
            again,
        ),
    )
    .await;
    assert!(!case_row(&db, "swept").await.closed, "handled again: open");
}
