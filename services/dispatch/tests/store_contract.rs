//! Dispatch's contract over both stores (PostgreSQL and SQLite): routing, the assignment
//! process and the department registry, driven the way the consumer loop and the gRPC server
//! drive them, checked through the records and the events left in the outbox.

use std::sync::Arc;

use tonic::{Code, Request};
use yimen_dispatch::DispatchConfig;
use yimen_dispatch::api::Api;
use yimen_platform::auth::{Principal, Role};
use yimen_platform::bus::{Bus, MemoryBus};
use yimen_platform::calendar::Holidays;
use yimen_platform::db::Db;
use yimen_platform::time::{DAY_MILLIS, millis};
use yimen_proto::v1::dispatch_service_server::DispatchService;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;
use yimen_testkit::as_caller;
use yimen_testkit::harness::next_item;

yimen_testkit::store_contract!(
    yimen_dispatch::SERVICE,
    yimen_dispatch::MIGRATIONS,
    [
        registered_case_is_assigned_to_category_owner_with_deadline,
        town_unit_owns_matters_of_its_town_before_the_city,
        unowned_category_goes_to_city_center_and_says_so,
        accept_then_reply_emits_events_in_order,
        returned_case_is_rerouted_never_back_to_same_department,
        leaving_department_hands_open_cases_to_new_owner,
        leaving_department_with_no_successor_hands_cases_to_city_center,
        joined_department_receives_new_cases_of_its_category,
        routing_keeps_the_departments_in_memory_until_their_stamp_moves,
        duplicate_registration_creates_one_assignment,
        rejoining_a_left_department_reactivates_it,
        city_center_cannot_leave_or_return,
        unknown_or_malformed_assignment_ids_are_refused,
        invalid_department_is_refused_naming_every_field,
        assignments_are_listed_oldest_first_page_by_page,
        departments_are_listed_with_open_assignment_counts,
        seeding_joins_only_departments_not_registered,
        referral_marks_in_mediation_and_emits_case_referred_with_linkage,
        referral_of_a_pending_assignment_is_refused,
        mediation_agreement_replies_the_open_assignment_accepting_a_pending_one_first,
        failed_or_withdrawn_mediation_only_clears_in_mediation,
        reopened_case_is_assigned_again_with_cause_reopened,
        granted_extension_moves_handle_by_and_emits_case_extended,
        a_second_extension_is_refused,
        escalation_and_leader_emit_case_escalated_and_show_on_the_assignment,
        a_department_lists_only_its_own_assignments,
        a_department_acts_only_on_assignments_it_holds_and_nothing_is_written_when_refused,
        supervisors_and_admins_act_on_any_departments_assignment,
        routing_rules_come_before_the_category_owner_and_each_assignment_names_its_rule,
        routing_rules_naming_a_department_not_at_the_center_are_refused_and_change_nothing,
        watching_assignments_resumes_after_a_position_missing_nothing_and_nothing_twice,
        a_department_watches_only_its_own_assignments,
        an_acceptance_deadline_on_a_holiday_ends_on_the_next_working_day,
        refusal_names_the_channel_closes_the_assignment_and_emits_case_refused,
        only_a_pending_assignment_is_refused_or_forwarded_and_only_by_its_department,
        forward_goes_out_of_the_system_and_emits_case_forwarded,
        a_supplement_request_stops_the_clock_and_the_supplement_moves_the_deadline_by_the_pause,
        a_pending_assignments_pause_moves_its_acceptance_deadline,
        while_waiting_for_a_supplement_it_is_neither_accepted_nor_replied_nor_overdue,
        a_change_reaches_the_feed_when_it_is_read_and_one_in_flight_comes_after_its_commit,
        changes_committed_while_two_watchers_stamp_reach_each_once_in_position_order,
        a_review_goes_to_the_review_body_and_a_re_review_to_the_body_above_it,
        a_review_decided_rehandle_gives_the_case_back_to_the_department_that_answered,
        a_withdrawal_ends_the_open_assignment_out_of_the_departments_work,
        a_case_settled_at_the_desk_is_not_assigned_until_the_petitioner_is_unsatisfied,
        the_city_takes_over_a_town_case_and_hands_a_city_case_down_with_a_fresh_deadline,
        a_transfer_within_a_level_to_an_unknown_or_departed_department_or_of_a_closed_assignment_is_refused,
        only_the_center_transfers_and_nothing_is_written_when_refused,
        the_third_return_makes_a_problem_case_under_supervision,
        passed_deadlines_remind_then_supervise_once_each_and_a_stopped_clock_never,
        two_watchers_at_once_announce_each_passed_deadline_once,
        a_similar_case_sweep_sends_the_answered_cases_back_and_a_dry_run_changes_nothing,
        only_the_center_sweeps_and_a_bad_sweep_names_every_field,
        co_handlers_get_assignments_of_their_own_and_the_case_stays_with_the_lead,
        a_co_handler_is_never_the_lead_a_department_on_the_case_or_one_that_left,
        the_lead_replies_once_every_part_is_in_and_each_part_is_announced_to_the_lead,
        a_co_handler_neither_returns_refuses_forwards_nor_refers_the_case,
        a_co_handler_that_leaves_is_no_longer_awaited_and_nobody_inherits_its_part,
        an_instruction_has_its_deadline_and_the_leads_reply_reports_it_back,
        an_instruction_needs_a_department_holding_the_case,
    ]
);

// --- helpers -------------------------------------------------------------------------------

fn bus() -> Arc<dyn Bus> {
    Arc::new(MemoryBus::new(Default::default()))
}

fn config() -> DispatchConfig {
    DispatchConfig {
        // The in-memory bus has nobody reading department queues.
        department_queues: false,
        // Plain day counting, so deadlines are exact whatever today is; the calendar's own
        // tests move them.
        holidays: Holidays::none(),
        ..DispatchConfig::default()
    }
}

fn api(db: &Db) -> Api {
    Api::new(db.clone(), bus(), &config())
}

async fn join(
    api: &Api,
    code: &str,
    level: DepartmentLevel,
    area: (&str, &str),
    categories: &[Category],
) -> Department {
    api.join_department(Request::new(JoinDepartmentRequest {
        code: code.into(),
        name: format!("{code} office"),
        level: level as i32,
        area: Some(Location {
            town: area.0.into(),
            village: area.1.into(),
        }),
        categories: categories.iter().map(|c| *c as i32).collect(),
        review_body: String::new(),
    }))
    .await
    .expect("join department")
    .into_inner()
}

async fn join_city(api: &Api, code: &str, categories: &[Category]) -> Department {
    join(api, code, DepartmentLevel::City, ("", ""), categories).await
}

fn registered(case_id: &str, category: Category, town: &str, village: &str) -> Event {
    yimen_platform::events::new_event(
        "case.registered",
        case_id,
        "intake",
        Payload::CaseRegistered(CaseRegistered {
            case_number: format!("YM-2026-{case_id}"),
            channel: Channel::Visit as i32,
            category: category as i32,
            location: Some(Location {
                town: town.into(),
                village: village.into(),
            }),
            headcount: 1,
            subject: format!("subject of {case_id}"),
            amount_claimed: None,
            petitioner_keys: vec![],
            ..Default::default()
        }),
    )
}

/// Delivers an event the way the consumer loop does: in a transaction that commits after.
async fn deliver(db: &Db, event: &Event) {
    try_deliver(db, event).await.expect("handle");
}

/// Delivers an event as the consumer loop does and answers what the handler said; on an error
/// nothing it did is committed (the loop would retry).
async fn try_deliver(db: &Db, event: &Event) -> anyhow::Result<()> {
    let handler = std::sync::Arc::new(yimen_dispatch::consumers::DispatchHandler::new(
        yimen_dispatch::app::Deadlines::new(&config()),
    ));
    yimen_testkit::harness::deliver(db, &*handler, event).await
}

fn mediation_opened(case_id: &str) -> Event {
    yimen_platform::events::new_event(
        "mediation.opened",
        case_id,
        "mediation",
        Payload::MediationOpened(MediationOpened {
            mediation_id: uuid::Uuid::now_v7().to_string(),
            committee: "civil-commercial".into(),
            committee_name: "民商事纠纷调解委员会".into(),
            linkage: Linkage::Court as i32,
            category: Category::CivilCommercial as i32,
            referred_by: String::new(),
        }),
    )
}

fn mediation_concluded(
    case_id: &str,
    outcome: MediationState,
    agreement: Option<Agreement>,
) -> Event {
    yimen_platform::events::new_event(
        "mediation.concluded",
        case_id,
        "mediation",
        Payload::MediationConcluded(MediationConcluded {
            mediation_id: uuid::Uuid::now_v7().to_string(),
            committee: "civil-commercial".into(),
            linkage: Linkage::Petition as i32,
            outcome: outcome as i32,
            agreement,
            mediators: vec!["mediator-1".into()],
            difficulty: 0,
        }),
    )
}

/// The expo merchants' settlement: 54,000 yuan within the day.
fn expo_agreement() -> Agreement {
    Agreement {
        amount: Some(Money { fen: 5_400_000 }),
        payer: "the two organisers".into(),
        payee: "38 exhibitors".into(),
        terms: "paid at once; the exhibitors go home".into(),
        installments: vec![],
    }
}

const EXPO_REPLY: &str = "mediation agreement at the civil-commercial committee: 54,000.00 yuan, paid at once; the exhibitors go home";

fn reopened(case_id: &str, department: &str) -> Event {
    yimen_platform::events::new_event(
        "case.reopened",
        case_id,
        "intake",
        Payload::CaseReopened(CaseReopened {
            department: department.into(),
            reason: "the allowance was not restored".into(),
        }),
    )
}

async fn register(db: &Db, case_id: &str, category: Category, town: &str) {
    deliver(db, &registered(case_id, category, town, "")).await;
}

async fn keys(db: &Db) -> Vec<String> {
    yimen_platform::outbox::unsent_routing_keys(db)
        .await
        .expect("outbox keys")
}

async fn events(db: &Db) -> Vec<Event> {
    yimen_testkit::harness::published(db).await
}

/// The CaseAssigned payloads in the outbox, in order.
async fn assigned_events(db: &Db) -> Vec<CaseAssigned> {
    events(db)
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::CaseAssigned(a)) => Some(a),
            _ => None,
        })
        .collect()
}

async fn assignments(api: &Api, department: &str, states: &[AssignmentState]) -> Vec<Assignment> {
    api.list_assignments(Request::new(ListAssignmentsRequest {
        department: department.into(),
        states: states.iter().map(|s| *s as i32).collect(),
        after_position: 0,
        page: None,
    }))
    .await
    .expect("list assignments")
    .into_inner()
    .assignments
}

async fn only_assignment(api: &Api, department: &str, case_id: &str) -> Assignment {
    let mut found: Vec<Assignment> = assignments(api, department, &[])
        .await
        .into_iter()
        .filter(|a| a.case_id == case_id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one assignment of {case_id} at {department}: {found:?}"
    );
    found.remove(0)
}

/// The one assignment of `case_id` at `department`, accepted.
async fn accepted(api: &Api, department: &str, case_id: &str) -> Assignment {
    let a = only_assignment(api, department, case_id).await;
    api.accept_assignment(Request::new(AcceptAssignmentRequest {
        assignment_id: a.assignment_id,
        handler: String::new(),
    }))
    .await
    .expect("accept")
    .into_inner()
}

/// Events with keys after the first `skip`, as (routing key, payload).
async fn events_after(db: &Db, skip: usize) -> Vec<(String, Option<Payload>)> {
    events(db)
        .await
        .into_iter()
        .skip(skip)
        .map(|e| (e.r#type, e.payload))
        .collect()
}

/// Moves the handling deadline as if time had passed: `millis` from now.
async fn set_handle_by(db: &Db, assignment_id: &str, millis: i64) {
    sqlx::query("UPDATE assignments SET handle_by = $1 WHERE assignment_id = $2")
        .bind(yimen_platform::db::now_millis() + millis)
        .bind(assignment_id)
        .execute(db.pool())
        .await
        .expect("move the deadline");
}

fn ms(ts: &Option<prost_types::Timestamp>) -> i64 {
    millis(ts.as_ref().expect("timestamp set"))
}

fn caller(role: Role, department: Option<&str>) -> Principal {
    Principal {
        subject: format!("{role}-1"),
        role,
        department: department.map(str::to_string),
        committee: None,
    }
}

fn department_caller(code: &str) -> Principal {
    caller(Role::Department, Some(code))
}

// --- the contract ----------------------------------------------------------------------------

async fn registered_case_is_assigned_to_category_owner_with_deadline(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    join_city(&api, "human-resources", &[Category::LabourWages]).await;

    register(&db, "case-1", Category::SocialAssistance, "洋梓镇").await;

    let a = only_assignment(&api, "civil-affairs", "case-1").await;
    assert_eq!(a.state, AssignmentState::Pending as i32);
    assert_eq!(a.case_number, "YM-2026-case-1");
    assert_eq!(a.category, Category::SocialAssistance as i32);
    assert_eq!(a.location.as_ref().map(|l| l.town.as_str()), Some("洋梓镇"));
    assert_eq!(a.subject, "subject of case-1");
    assert_eq!(ms(&a.accept_by) - ms(&a.assigned_at), 15 * DAY_MILLIS);
    assert!(
        a.handle_by.is_none(),
        "the handling deadline starts at acceptance"
    );
    assert!(assignments(&api, "human-resources", &[]).await.is_empty());

    assert!(
        keys(&db)
            .await
            .contains(&"case.assigned.civil-affairs".to_string())
    );
    let sent = assigned_events(&db).await;
    assert_eq!(sent.len(), 1);
    let e = &sent[0];
    assert_eq!(e.assignment_id, a.assignment_id);
    assert_eq!(e.department, "civil-affairs");
    assert_eq!(e.department_name, "civil-affairs office");
    assert_eq!(e.cause, AssignmentCause::Routed as i32);
    assert!(e.reason.contains("social_assistance"), "{}", e.reason);
    assert_eq!(e.accept_by, a.accept_by);
    assert_eq!(e.case_number, "YM-2026-case-1");
    assert_eq!(e.category, Category::SocialAssistance as i32);
    assert_eq!(e.subject, "subject of case-1");
    assert_eq!(e.location.as_ref().map(|l| l.town.as_str()), Some("洋梓镇"));
}

async fn town_unit_owns_matters_of_its_town_before_the_city(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    join(
        &api,
        "yingzhong-justice",
        DepartmentLevel::Town,
        ("郢中街道", ""),
        &[Category::LabourWages],
    )
    .await;
    join(
        &api,
        "longshan-mediation",
        DepartmentLevel::Village,
        ("郢中街道", "龙山社区"),
        &[Category::LabourWages],
    )
    .await;

    deliver(
        &db,
        &registered("in-village", Category::LabourWages, "郢中街道", "龙山社区"),
    )
    .await;
    register(&db, "in-town", Category::LabourWages, "郢中街道").await;
    register(&db, "elsewhere", Category::LabourWages, "洋梓镇").await;

    only_assignment(&api, "longshan-mediation", "in-village").await;
    only_assignment(&api, "yingzhong-justice", "in-town").await;
    only_assignment(&api, "human-resources", "elsewhere").await;
}

async fn unowned_category_goes_to_city_center_and_says_so(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;

    register(&db, "custody", Category::MarriageFamily, "胡集镇").await;

    let a = only_assignment(&api, "city-center", "custody").await;
    assert_eq!(a.state, AssignmentState::Pending as i32);
    assert!(
        a.reason.contains("no department owns marriage_family"),
        "{}",
        a.reason
    );
    assert_eq!(
        keys(&db).await.last().map(String::as_str),
        Some("case.assigned.city-center")
    );
    let e = assigned_events(&db).await.pop().expect("case.assigned");
    assert_eq!(e.cause, AssignmentCause::NoOwner as i32);
    assert_eq!(e.department_name, "市信访超市");
}

async fn accept_then_reply_emits_events_in_order(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "allowance", Category::SocialAssistance, "洋梓镇").await;
    let a = only_assignment(&api, "civil-affairs", "allowance").await;

    let early = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            reply: "too soon".into(),
        }))
        .await
        .expect_err("no reply before acceptance");
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("PENDING"), "{}", early.message());

    let accepted = api
        .accept_assignment(Request::new(AcceptAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            handler: "staff-17".into(),
        }))
        .await
        .expect("accept")
        .into_inner();
    assert_eq!(accepted.state, AssignmentState::Accepted as i32);
    assert_eq!(
        ms(&accepted.handle_by) - ms(&accepted.accepted_at),
        60 * DAY_MILLIS
    );

    let again = api
        .accept_assignment(Request::new(AcceptAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            handler: String::new(),
        }))
        .await
        .expect_err("accepted once");
    assert_eq!(again.code(), Code::FailedPrecondition);

    let empty = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            reply: " ".into(),
        }))
        .await
        .expect_err("an empty reply is refused");
    assert_eq!(empty.code(), Code::InvalidArgument);

    let replied = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            reply: "allowance restored from next month".into(),
        }))
        .await
        .expect("reply")
        .into_inner();
    assert_eq!(replied.state, AssignmentState::Replied as i32);
    assert_eq!(replied.reply, "allowance restored from next month");
    assert!(replied.replied_at.is_some());

    assert_eq!(
        keys(&db).await,
        [
            "department.joined",
            "case.assigned.civil-affairs",
            "case.accepted.civil-affairs",
            "case.replied.civil-affairs",
        ]
    );
    let all = events(&db).await;
    assert!(
        all[1..]
            .iter()
            .all(|e| e.case_id == "allowance" && e.producer == "dispatch")
    );
    match &all[2].payload {
        Some(Payload::CaseAccepted(e)) => {
            assert_eq!(e.assignment_id, a.assignment_id);
            assert_eq!(e.handle_by, accepted.handle_by);
        }
        other => panic!("expected CaseAccepted, got {other:?}"),
    }
    match &all[3].payload {
        Some(Payload::CaseReplied(e)) => {
            assert_eq!(e.department, "civil-affairs");
            assert!(e.within_deadline);
        }
        other => panic!("expected CaseReplied, got {other:?}"),
    }
}

async fn returned_case_is_rerouted_never_back_to_same_department(db: Db) {
    let api = api(&db);
    join_city(&api, "commerce-a", &[Category::CivilCommercial]).await;
    join_city(&api, "commerce-b", &[Category::CivilCommercial]).await;
    register(&db, "expo", Category::CivilCommercial, "郢中街道").await;
    let first = only_assignment(&api, "commerce-a", "expo").await;

    let no_reason = api
        .return_assignment(Request::new(ReturnAssignmentRequest {
            assignment_id: first.assignment_id.clone(),
            reason: String::new(),
        }))
        .await
        .expect_err("a return needs a reason");
    assert_eq!(no_reason.code(), Code::InvalidArgument);

    let answer = api
        .return_assignment(Request::new(ReturnAssignmentRequest {
            assignment_id: first.assignment_id.clone(),
            reason: "a contract matter for commerce-b".into(),
        }))
        .await
        .expect("return")
        .into_inner();
    let returned = answer.returned.expect("returned");
    let second = answer.reassigned.expect("reassigned");
    assert_eq!(returned.state, AssignmentState::Returned as i32);
    assert_eq!(returned.return_reason, "a contract matter for commerce-b");
    assert_eq!(second.department, "commerce-b");
    assert_eq!(second.state, AssignmentState::Pending as i32);

    // commerce-b returns it too: nobody who returned it gets it back; the city center does.
    let answer = api
        .return_assignment(Request::new(ReturnAssignmentRequest {
            assignment_id: second.assignment_id.clone(),
            reason: "not ours either".into(),
        }))
        .await
        .expect("second return")
        .into_inner();
    let third = answer.reassigned.expect("reassigned");
    assert_eq!(third.department, "city-center");
    assert!(
        third
            .reason
            .contains("every owner of civil_commercial returned it"),
        "{}",
        third.reason
    );
    assert!(
        assignments(&api, "commerce-a", &[AssignmentState::Pending])
            .await
            .is_empty()
    );

    let keys = keys(&db).await;
    let tail: Vec<&str> = keys.iter().skip(2).map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "case.assigned.commerce-a",
            "case.returned.commerce-a",
            "case.assigned.commerce-b",
            "case.returned.commerce-b",
            "case.assigned.city-center",
        ]
    );
    let sent = assigned_events(&db).await;
    assert_eq!(sent[1].cause, AssignmentCause::Returned as i32);
    assert_eq!(sent[1].previous_department, "commerce-a");
    assert_eq!(sent[2].cause, AssignmentCause::Returned as i32);
    assert_eq!(sent[2].previous_department, "commerce-b");
}

async fn leaving_department_hands_open_cases_to_new_owner(db: Db) {
    let api = api(&db);
    join_city(&api, "commerce-a", &[Category::CivilCommercial]).await;
    join_city(&api, "commerce-b", &[Category::CivilCommercial]).await;
    register(&db, "pending-case", Category::CivilCommercial, "郢中街道").await;
    register(&db, "accepted-case", Category::CivilCommercial, "郢中街道").await;
    register(&db, "replied-case", Category::CivilCommercial, "郢中街道").await;
    let accepted = only_assignment(&api, "commerce-a", "accepted-case").await;
    api.accept_assignment(Request::new(AcceptAssignmentRequest {
        assignment_id: accepted.assignment_id.clone(),
        handler: String::new(),
    }))
    .await
    .expect("accept");
    let replied = only_assignment(&api, "commerce-a", "replied-case").await;
    api.accept_assignment(Request::new(AcceptAssignmentRequest {
        assignment_id: replied.assignment_id.clone(),
        handler: String::new(),
    }))
    .await
    .expect("accept");
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: replied.assignment_id.clone(),
        reply: "settled".into(),
    }))
    .await
    .expect("reply");

    let left = api
        .leave_department(Request::new(LeaveDepartmentRequest {
            code: "commerce-a".into(),
            reason: "merged".into(),
        }))
        .await
        .expect("leave")
        .into_inner();
    let department = left.department.expect("department");
    assert!(!department.active);
    let mut moved: Vec<(&str, &str, &str)> = left
        .handovers
        .iter()
        .map(|h| {
            (
                h.case_id.as_str(),
                h.from_department.as_str(),
                h.to_department.as_str(),
            )
        })
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        [
            ("accepted-case", "commerce-a", "commerce-b"),
            ("pending-case", "commerce-a", "commerce-b"),
        ]
    );

    let old = assignments(&api, "commerce-a", &[]).await;
    let states: Vec<(String, i32)> = old.iter().map(|a| (a.case_id.clone(), a.state)).collect();
    assert!(states.contains(&("pending-case".into(), AssignmentState::HandedOver as i32)));
    assert!(states.contains(&("accepted-case".into(), AssignmentState::HandedOver as i32)));
    assert!(states.contains(&("replied-case".into(), AssignmentState::Replied as i32)));
    for case in ["pending-case", "accepted-case"] {
        let new = only_assignment(&api, "commerce-b", case).await;
        assert_eq!(new.state, AssignmentState::Pending as i32);
        assert!(new.reason.contains("commerce-a left"), "{}", new.reason);
        assert!(
            left.handovers
                .iter()
                .any(|h| h.assignment_id == new.assignment_id)
        );
    }

    let sent = assigned_events(&db).await;
    let handed: Vec<&CaseAssigned> = sent
        .iter()
        .filter(|e| e.cause == AssignmentCause::DepartmentLeft as i32)
        .collect();
    assert_eq!(handed.len(), 2);
    assert!(
        handed
            .iter()
            .all(|e| e.department == "commerce-b" && e.previous_department == "commerce-a")
    );
    match events(&db).await.pop().and_then(|e| e.payload) {
        Some(Payload::DepartmentLeft(e)) => {
            assert_eq!(e.code, "commerce-a");
            assert_eq!(e.reason, "merged");
            assert_eq!(e.handed_over, 2);
        }
        other => panic!("expected DepartmentLeft last, got {other:?}"),
    }

    // New cases of the category go to the new owner too.
    register(&db, "after-leaving", Category::CivilCommercial, "郢中街道").await;
    only_assignment(&api, "commerce-b", "after-leaving").await;

    let again = api
        .leave_department(Request::new(LeaveDepartmentRequest {
            code: "commerce-a".into(),
            reason: String::new(),
        }))
        .await
        .expect_err("it left already");
    assert_eq!(again.code(), Code::FailedPrecondition);
    let unknown = api
        .leave_department(Request::new(LeaveDepartmentRequest {
            code: "nobody".into(),
            reason: String::new(),
        }))
        .await
        .expect_err("unknown department");
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn leaving_department_with_no_successor_hands_cases_to_city_center(db: Db) {
    let api = api(&db);
    join_city(&api, "environment", &[Category::Environment]).await;
    register(&db, "smoke", Category::Environment, "石牌镇").await;

    let left = api
        .leave_department(Request::new(LeaveDepartmentRequest {
            code: "environment".into(),
            reason: "clean-up year over".into(),
        }))
        .await
        .expect("leave")
        .into_inner();
    assert_eq!(left.handovers.len(), 1);
    assert_eq!(left.handovers[0].to_department, "city-center");

    let a = only_assignment(&api, "city-center", "smoke").await;
    assert_eq!(a.state, AssignmentState::Pending as i32);
    assert!(a.reason.contains("environment left"), "{}", a.reason);
    assert!(
        a.reason.contains("no other department owns environment"),
        "{}",
        a.reason
    );
    let e = assigned_events(&db).await.pop().expect("case.assigned");
    assert_eq!(e.department, "city-center");
    assert_eq!(e.cause, AssignmentCause::DepartmentLeft as i32);
    assert_eq!(
        keys(&db)
            .await
            .iter()
            .rev()
            .take(2)
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["department.left", "case.assigned.city-center"]
    );
}

async fn joined_department_receives_new_cases_of_its_category(db: Db) {
    let api = api(&db);
    register(&db, "before", Category::MarriageFamily, "胡集镇").await;
    only_assignment(&api, "city-center", "before").await;

    let joined = join_city(&api, "family-office", &[Category::MarriageFamily]).await;
    assert!(joined.active);
    assert_eq!(joined.categories, [Category::MarriageFamily as i32]);
    match events(&db).await.pop().and_then(|e| e.payload) {
        Some(Payload::DepartmentJoined(e)) => {
            assert_eq!(e.department.map(|d| d.code), Some("family-office".into()))
        }
        other => panic!("expected DepartmentJoined, got {other:?}"),
    }

    register(&db, "after", Category::MarriageFamily, "胡集镇").await;
    let a = only_assignment(&api, "family-office", "after").await;
    assert_eq!(a.state, AssignmentState::Pending as i32);
    // The earlier case stays where it was: joining takes new work, it does not grab old work.
    only_assignment(&api, "city-center", "before").await;
}

/// Routing reads the departments and rules again only when `routing_stamp` moved: a change
/// made behind the stamp's back is not seen, the same change with the stamp moved (as any
/// change through dispatch, in whichever process, moves it) is seen by the next case.
async fn routing_keeps_the_departments_in_memory_until_their_stamp_moves(db: Db) {
    let api = api(&db);
    join_city(&api, "family-office", &[Category::MarriageFamily]).await;
    register(&db, "first", Category::MarriageFamily, "胡集镇").await;
    only_assignment(&api, "family-office", "first").await;

    sqlx::query("UPDATE departments SET categories = '' WHERE code = 'family-office'")
        .execute(db.pool())
        .await
        .expect("change the department behind the stamp's back");
    register(&db, "second", Category::MarriageFamily, "胡集镇").await;
    only_assignment(&api, "family-office", "second").await;

    sqlx::query("UPDATE routing_stamp SET stamp = $1")
        .bind(uuid::Uuid::now_v7().to_string())
        .execute(db.pool())
        .await
        .expect("move the stamp");
    register(&db, "third", Category::MarriageFamily, "胡集镇").await;
    only_assignment(&api, "city-center", "third").await;
}

async fn duplicate_registration_creates_one_assignment(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    let first = registered("twice", Category::SocialAssistance, "洋梓镇", "");
    let second = registered("twice", Category::SocialAssistance, "洋梓镇", "");
    assert_ne!(first.id, second.id);
    deliver(&db, &first).await;
    deliver(&db, &second).await;

    only_assignment(&api, "civil-affairs", "twice").await;
    let assigned: Vec<String> = keys(&db)
        .await
        .into_iter()
        .filter(|k| k.starts_with("case.assigned."))
        .collect();
    assert_eq!(assigned, ["case.assigned.civil-affairs"]);
}

async fn rejoining_a_left_department_reactivates_it(db: Db) {
    let api = api(&db);
    join_city(&api, "health", &[Category::HealthMedical]).await;
    let twice = api
        .join_department(Request::new(JoinDepartmentRequest {
            code: "health".into(),
            name: "卫健局".into(),
            level: DepartmentLevel::City as i32,
            area: None,
            categories: vec![],
            review_body: String::new(),
        }))
        .await
        .expect_err("already a member");
    assert_eq!(twice.code(), Code::AlreadyExists);

    api.leave_department(Request::new(LeaveDepartmentRequest {
        code: "health".into(),
        reason: "reorganised".into(),
    }))
    .await
    .expect("leave");
    let back = join_city(
        &api,
        "health",
        &[Category::HealthMedical, Category::FoodDrug],
    )
    .await;
    assert!(back.active);
    assert_eq!(
        back.categories,
        [Category::HealthMedical as i32, Category::FoodDrug as i32]
    );

    let listed = api
        .list_departments(Request::new(ListDepartmentsRequest {
            include_inactive: false,
        }))
        .await
        .expect("list")
        .into_inner();
    let health = listed
        .departments
        .iter()
        .find(|d| d.code == "health")
        .expect("listed as active again");
    assert_eq!(health.categories, back.categories);

    register(&db, "clinic", Category::FoodDrug, "郢中街道").await;
    only_assignment(&api, "health", "clinic").await;
    assert_eq!(
        keys(&db)
            .await
            .iter()
            .filter(|k| *k == "department.joined")
            .count(),
        2
    );
}

async fn city_center_cannot_leave_or_return(db: Db) {
    let api = api(&db);
    let leave = api
        .leave_department(Request::new(LeaveDepartmentRequest {
            code: "city-center".into(),
            reason: "tired".into(),
        }))
        .await
        .expect_err("the terminus stays");
    assert_eq!(leave.code(), Code::FailedPrecondition);

    register(&db, "orphan", Category::Other, "胡集镇").await;
    let a = only_assignment(&api, "city-center", "orphan").await;
    let returned = api
        .return_assignment(Request::new(ReturnAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            reason: "not ours".into(),
        }))
        .await
        .expect_err("the terminus owns it to the end");
    assert_eq!(returned.code(), Code::FailedPrecondition);

    let still = only_assignment(&api, "city-center", "orphan").await;
    assert_eq!(still.state, AssignmentState::Pending as i32);
    let listed = api
        .list_departments(Request::new(ListDepartmentsRequest {
            include_inactive: false,
        }))
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed
            .departments
            .iter()
            .any(|d| d.code == "city-center" && d.active)
    );
    assert!(
        !keys(&db)
            .await
            .iter()
            .any(|k| k.starts_with("case.returned") || k == "department.left")
    );
}

async fn unknown_or_malformed_assignment_ids_are_refused(db: Db) {
    let api = api(&db);
    let unknown = api
        .accept_assignment(Request::new(AcceptAssignmentRequest {
            assignment_id: uuid::Uuid::now_v7().to_string(),
            handler: String::new(),
        }))
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: "not-an-id".into(),
            reply: "done".into(),
        }))
        .await
        .expect_err("malformed");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    let malformed = api
        .return_assignment(Request::new(ReturnAssignmentRequest {
            assignment_id: "42".into(),
            reason: "wrong".into(),
        }))
        .await
        .expect_err("malformed");
    assert_eq!(malformed.code(), Code::InvalidArgument);
}

async fn invalid_department_is_refused_naming_every_field(db: Db) {
    let api = api(&db);
    let status = api
        .join_department(Request::new(JoinDepartmentRequest {
            code: "Bad Code".into(),
            name: String::new(),
            level: DepartmentLevel::Town as i32,
            area: None,
            categories: vec![Category::Land as i32, Category::Land as i32],
            review_body: String::new(),
        }))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&status);
    assert_eq!(fields, ["code", "name", "area.town", "categories[1]"]);
    assert!(keys(&db).await.is_empty(), "nothing was written");
}

async fn assignments_are_listed_oldest_first_page_by_page(db: Db) {
    let api = api(&db);
    join_city(&api, "tax", &[Category::Taxation]).await;
    let cases: Vec<String> = (0..5).map(|i| format!("tax-{i}")).collect();
    for case in &cases {
        register(&db, case, Category::Taxation, "洋梓镇").await;
    }
    let first = only_assignment(&api, "tax", "tax-0").await;
    api.accept_assignment(Request::new(AcceptAssignmentRequest {
        assignment_id: first.assignment_id,
        handler: String::new(),
    }))
    .await
    .expect("accept");

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = api
            .list_assignments(Request::new(ListAssignmentsRequest {
                department: "tax".into(),
                states: vec![],
                after_position: 0,
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token.clone(),
                }),
            }))
            .await
            .expect("page")
            .into_inner();
        assert!(page.assignments.len() <= 2);
        seen.extend(page.assignments.into_iter().map(|a| a.case_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, cases, "every assignment once, oldest first");

    let pending = assignments(&api, "tax", &[AssignmentState::Pending]).await;
    assert_eq!(pending.len(), 4);
    let accepted = assignments(&api, "tax", &[AssignmentState::Accepted]).await;
    assert_eq!(
        accepted
            .iter()
            .map(|a| a.case_id.as_str())
            .collect::<Vec<_>>(),
        ["tax-0"]
    );

    let bad_token = api
        .list_assignments(Request::new(ListAssignmentsRequest {
            department: "tax".into(),
            states: vec![],
            after_position: 0,
            page: Some(PageRequest {
                page_size: 2,
                page_token: "yesterday".into(),
            }),
        }))
        .await
        .expect_err("bad token");
    assert_eq!(bad_token.code(), Code::InvalidArgument);
    let unknown = api
        .list_assignments(Request::new(ListAssignmentsRequest {
            department: "nobody".into(),
            states: vec![],
            after_position: 0,
            page: None,
        }))
        .await
        .expect_err("unknown department");
    assert_eq!(unknown.code(), Code::NotFound);
    let missing = api
        .list_assignments(Request::new(ListAssignmentsRequest::default()))
        .await
        .expect_err("department required");
    assert_eq!(missing.code(), Code::InvalidArgument);
}

async fn departments_are_listed_with_open_assignment_counts(db: Db) {
    let api = api(&db);
    join_city(&api, "court", &[Category::Litigation]).await;
    join_city(&api, "justice", &[Category::LegalAid]).await;
    register(&db, "grain-1", Category::Litigation, "石牌镇").await;
    register(&db, "grain-2", Category::Litigation, "石牌镇").await;
    api.leave_department(Request::new(LeaveDepartmentRequest {
        code: "justice".into(),
        reason: String::new(),
    }))
    .await
    .expect("leave");

    let active = api
        .list_departments(Request::new(ListDepartmentsRequest {
            include_inactive: false,
        }))
        .await
        .expect("list")
        .into_inner()
        .departments;
    let codes: Vec<&str> = active.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["city-center", "court"]);
    assert_eq!(active[1].open_assignments, 2);
    assert_eq!(active[0].open_assignments, 0);

    let all = api
        .list_departments(Request::new(ListDepartmentsRequest {
            include_inactive: true,
        }))
        .await
        .expect("list")
        .into_inner()
        .departments;
    assert!(all.iter().any(|d| d.code == "justice" && !d.active));
}

async fn seeding_joins_only_departments_not_registered(db: Db) {
    let seed = yimen_dispatch::parse_seed(include_str!("../../../deploy/departments.toml"))
        .expect("the deployed seed parses");
    let bus = bus();
    let joined = yimen_dispatch::seed_departments(&db, &bus, &config(), &seed)
        .await
        .expect("seed");
    assert_eq!(joined, seed.len());
    assert_eq!(
        yimen_dispatch::seed_departments(&db, &bus, &config(), &seed)
            .await
            .expect("seed again"),
        0
    );

    let api = api(&db);
    api.leave_department(Request::new(LeaveDepartmentRequest {
        code: "environment".into(),
        reason: String::new(),
    }))
    .await
    .expect("leave");
    assert_eq!(
        yimen_dispatch::seed_departments(&db, &bus, &config(), &seed)
            .await
            .expect("seed after a leave"),
        0,
        "a department that left is not brought back by a restart"
    );

    register(&db, "wages", Category::LabourWages, "郢中街道").await;
    only_assignment(&api, "yingzhong-justice", "wages").await;
    register(&db, "allowance", Category::SocialAssistance, "洋梓镇").await;
    only_assignment(&api, "civil-affairs", "allowance").await;
}

async fn referral_marks_in_mediation_and_emits_case_referred_with_linkage(db: Db) {
    let api = api(&db);
    register(&db, "expo", Category::CivilCommercial, "郢中街道").await;
    let a = accepted(&api, "city-center", "expo").await;
    assert!(!a.in_mediation);
    let before = keys(&db).await.len();

    let referred = api
        .refer_to_mediation(Request::new(ReferToMediationRequest {
            assignment_id: a.assignment_id.clone(),
            linkage: Linkage::Court as i32,
            summary: " exhibitors' losses from the cancelled expo ".into(),
        }))
        .await
        .expect("refer")
        .into_inner();
    assert!(referred.in_mediation);
    assert_eq!(
        referred.state,
        AssignmentState::Accepted as i32,
        "the department keeps it"
    );
    assert!(
        only_assignment(&api, "city-center", "expo")
            .await
            .in_mediation
    );

    let all = events(&db).await;
    assert_eq!(all.len(), before + 1);
    let event = all.last().expect("case.referred");
    assert_eq!(event.r#type, "case.referred.city-center");
    assert_eq!(
        (event.case_id.as_str(), event.producer.as_str()),
        ("expo", "dispatch")
    );
    match &event.payload {
        Some(Payload::CaseReferred(e)) => {
            assert_eq!(e.assignment_id, a.assignment_id);
            assert_eq!(e.case_number, "YM-2026-expo");
            assert_eq!(e.department, "city-center");
            assert_eq!(e.category, Category::CivilCommercial as i32);
            assert_eq!(e.linkage, Linkage::Court as i32);
            assert_eq!(e.summary, "exhibitors' losses from the cancelled expo");
            assert_eq!(
                e.location.as_ref().map(|l| l.town.as_str()),
                Some("郢中街道")
            );
        }
        other => panic!("expected CaseReferred, got {other:?}"),
    }

    let twice = api
        .refer_to_mediation(Request::new(ReferToMediationRequest {
            assignment_id: a.assignment_id.clone(),
            linkage: Linkage::Petition as i32,
            summary: String::new(),
        }))
        .await
        .expect_err("already in mediation");
    assert_eq!(twice.code(), Code::FailedPrecondition);

    // Unspecified linkage is a petition referral (访调); the summary is optional.
    register(&db, "stalls", Category::CivilCommercial, "郢中街道").await;
    let b = accepted(&api, "city-center", "stalls").await;
    api.refer_to_mediation(Request::new(ReferToMediationRequest {
        assignment_id: b.assignment_id.clone(),
        linkage: Linkage::Unspecified as i32,
        summary: String::new(),
    }))
    .await
    .expect("refer without linkage");
    match events(&db).await.pop().and_then(|e| e.payload) {
        Some(Payload::CaseReferred(e)) => {
            assert_eq!(e.linkage, Linkage::Petition as i32);
            assert_eq!(e.summary, "");
        }
        other => panic!("expected CaseReferred, got {other:?}"),
    }

    let invalid = api
        .refer_to_mediation(Request::new(ReferToMediationRequest {
            assignment_id: "nope".into(),
            linkage: 99,
            summary: "x".repeat(501),
        }))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&invalid);
    assert_eq!(fields, ["assignment_id", "linkage", "summary"]);
}

async fn referral_of_a_pending_assignment_is_refused(db: Db) {
    let api = api(&db);
    register(&db, "expo", Category::CivilCommercial, "郢中街道").await;
    let a = only_assignment(&api, "city-center", "expo").await;
    let before = keys(&db).await;

    let refused = api
        .refer_to_mediation(Request::new(ReferToMediationRequest {
            assignment_id: a.assignment_id.clone(),
            linkage: Linkage::Petition as i32,
            summary: String::new(),
        }))
        .await
        .expect_err("not accepted yet");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("PENDING"),
        "{}",
        refused.message()
    );
    assert!(
        !only_assignment(&api, "city-center", "expo")
            .await
            .in_mediation
    );
    assert_eq!(keys(&db).await, before, "nothing announced");
}

async fn mediation_agreement_replies_the_open_assignment_accepting_a_pending_one_first(db: Db) {
    let api = api(&db);

    // Referred by the department that accepted it.
    register(&db, "expo", Category::CivilCommercial, "郢中街道").await;
    let a = accepted(&api, "city-center", "expo").await;
    api.refer_to_mediation(Request::new(ReferToMediationRequest {
        assignment_id: a.assignment_id.clone(),
        linkage: Linkage::Petition as i32,
        summary: String::new(),
    }))
    .await
    .expect("refer");
    let before = keys(&db).await.len();
    deliver(
        &db,
        &mediation_concluded("expo", MediationState::Agreed, Some(expo_agreement())),
    )
    .await;

    let replied = only_assignment(&api, "city-center", "expo").await;
    assert_eq!(replied.state, AssignmentState::Replied as i32);
    assert_eq!(replied.reply, EXPO_REPLY);
    assert!(!replied.in_mediation);
    let after = events_after(&db, before).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, "case.replied.city-center");
    match &after[0].1 {
        Some(Payload::CaseReplied(e)) => {
            assert_eq!(e.assignment_id, a.assignment_id);
            assert_eq!(e.department, "city-center");
            assert_eq!(e.reply, EXPO_REPLY);
            assert!(e.within_deadline);
        }
        other => panic!("expected CaseReplied, got {other:?}"),
    }

    // Entrusted by the court before the department accepted it: accepted, then replied.
    register(&db, "grain", Category::CivilCommercial, "东桥镇").await;
    let b = only_assignment(&api, "city-center", "grain").await;
    deliver(&db, &mediation_opened("grain")).await;
    let opened = only_assignment(&api, "city-center", "grain").await;
    assert!(opened.in_mediation);
    assert_eq!(opened.state, AssignmentState::Pending as i32);
    let before = keys(&db).await.len();
    deliver(
        &db,
        &mediation_concluded("grain", MediationState::Agreed, Some(expo_agreement())),
    )
    .await;

    let replied = only_assignment(&api, "city-center", "grain").await;
    assert_eq!(replied.state, AssignmentState::Replied as i32);
    assert!(replied.accepted_at.is_some());
    assert!(!replied.in_mediation);
    let after = events_after(&db, before).await;
    let keys_after: Vec<&str> = after.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys_after,
        ["case.accepted.city-center", "case.replied.city-center"]
    );
    match &after[0].1 {
        Some(Payload::CaseAccepted(e)) => {
            assert_eq!(e.assignment_id, b.assignment_id);
            assert_eq!(e.handle_by, replied.handle_by);
        }
        other => panic!("expected CaseAccepted, got {other:?}"),
    }

    // Nobody holds the case any more: a late conclusion changes nothing.
    let before = keys(&db).await;
    deliver(
        &db,
        &mediation_concluded("grain", MediationState::Agreed, Some(expo_agreement())),
    )
    .await;
    deliver(&db, &mediation_opened("no-such-case")).await;
    assert_eq!(keys(&db).await, before);
}

async fn failed_or_withdrawn_mediation_only_clears_in_mediation(db: Db) {
    let api = api(&db);
    register(&db, "expo", Category::CivilCommercial, "郢中街道").await;
    let a = accepted(&api, "city-center", "expo").await;
    api.refer_to_mediation(Request::new(ReferToMediationRequest {
        assignment_id: a.assignment_id.clone(),
        linkage: Linkage::Petition as i32,
        summary: String::new(),
    }))
    .await
    .expect("refer");
    register(&db, "stalls", Category::CivilCommercial, "郢中街道").await;
    deliver(&db, &mediation_opened("stalls")).await;
    assert!(
        only_assignment(&api, "city-center", "stalls")
            .await
            .in_mediation
    );
    let before = keys(&db).await;

    deliver(
        &db,
        &mediation_concluded("expo", MediationState::Failed, None),
    )
    .await;
    deliver(
        &db,
        &mediation_concluded("stalls", MediationState::Withdrawn, None),
    )
    .await;

    let expo = only_assignment(&api, "city-center", "expo").await;
    assert_eq!(
        expo.state,
        AssignmentState::Accepted as i32,
        "the department goes on"
    );
    assert!(!expo.in_mediation);
    let stalls = only_assignment(&api, "city-center", "stalls").await;
    assert_eq!(stalls.state, AssignmentState::Pending as i32);
    assert!(!stalls.in_mediation);
    assert_eq!(keys(&db).await, before, "no event");

    // The department may refer it again.
    api.refer_to_mediation(Request::new(ReferToMediationRequest {
        assignment_id: a.assignment_id.clone(),
        linkage: Linkage::Petition as i32,
        summary: String::new(),
    }))
    .await
    .expect("refer again after a failed mediation");
}

async fn reopened_case_is_assigned_again_with_cause_reopened(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "allowance", Category::SocialAssistance, "洋梓镇").await;
    let first = accepted(&api, "civil-affairs", "allowance").await;
    let replied = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: first.assignment_id.clone(),
            reply: "allowance restored".into(),
        }))
        .await
        .expect("reply")
        .into_inner();
    let before = keys(&db).await.len();

    deliver(&db, &reopened("allowance", "civil-affairs")).await;

    let again: Vec<Assignment> =
        assignments(&api, "civil-affairs", &[AssignmentState::Pending]).await;
    assert_eq!(again.len(), 1);
    let again = &again[0];
    assert_ne!(again.assignment_id, first.assignment_id);
    assert_eq!(
        again.reason,
        "reopened: the petitioner was unsatisfied with civil-affairs's reply"
    );
    assert!(ms(&again.assigned_at) >= ms(&replied.replied_at));
    assert_eq!(
        ms(&again.accept_by) - ms(&again.assigned_at),
        15 * DAY_MILLIS,
        "a fresh deadline"
    );
    let after = events_after(&db, before).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, "case.assigned.civil-affairs");
    match &after[0].1 {
        Some(Payload::CaseAssigned(e)) => {
            assert_eq!(e.assignment_id, again.assignment_id);
            assert_eq!(e.cause, AssignmentCause::Reopened as i32);
            assert_eq!(e.previous_department, "civil-affairs");
            assert_eq!(e.reason, again.reason);
            assert_eq!(e.accept_by, again.accept_by);
        }
        other => panic!("expected CaseAssigned, got {other:?}"),
    }

    // Still held: reopening it again does not give the case a second owner.
    let before = keys(&db).await;
    deliver(&db, &reopened("allowance", "civil-affairs")).await;
    assert_eq!(keys(&db).await, before);

    // The department that replied has left: routed as a new case, saying why.
    join_city(&api, "health", &[Category::HealthMedical]).await;
    register(&db, "clinic", Category::HealthMedical, "郢中街道").await;
    let clinic = accepted(&api, "health", "clinic").await;
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: clinic.assignment_id,
        reply: "the clinic refunds the fee".into(),
    }))
    .await
    .expect("reply");
    api.leave_department(Request::new(LeaveDepartmentRequest {
        code: "health".into(),
        reason: String::new(),
    }))
    .await
    .expect("leave");
    deliver(&db, &reopened("clinic", "health")).await;
    let routed = only_assignment(&api, "city-center", "clinic").await;
    assert!(
        routed
            .reason
            .starts_with("reopened: the petitioner was unsatisfied with health's reply; "),
        "{}",
        routed.reason
    );
    let e = assigned_events(&db).await.pop().expect("case.assigned");
    assert_eq!(e.cause, AssignmentCause::Reopened as i32);
    assert_eq!(e.department, "city-center");

    // An unknown case is retried (its registration may still be on the way).
    let before = keys(&db).await;
    assert!(
        try_deliver(&db, &reopened("never-registered", "health"))
            .await
            .is_err()
    );
    assert_eq!(keys(&db).await, before);
}

async fn granted_extension_moves_handle_by_and_emits_case_extended(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "late", Category::SocialAssistance, "洋梓镇").await;
    register(&db, "extended", Category::SocialAssistance, "洋梓镇").await;

    let pending = only_assignment(&api, "civil-affairs", "extended").await;
    let early = api
        .request_extension(Request::new(RequestExtensionRequest {
            assignment_id: pending.assignment_id.clone(),
            days: 10,
            reason: "waiting for the bank".into(),
        }))
        .await
        .expect_err("no handling deadline before acceptance");
    assert_eq!(early.code(), Code::FailedPrecondition);

    let late = accepted(&api, "civil-affairs", "late").await;
    let a = accepted(&api, "civil-affairs", "extended").await;
    let invalid = api
        .request_extension(Request::new(RequestExtensionRequest {
            assignment_id: a.assignment_id.clone(),
            days: 31,
            reason: " ".into(),
        }))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&invalid);
    assert_eq!(fields, ["days", "reason"]);
    let zero = api
        .request_extension(Request::new(RequestExtensionRequest {
            assignment_id: a.assignment_id.clone(),
            days: 0,
            reason: "waiting for the bank".into(),
        }))
        .await
        .expect_err("zero days");
    assert_eq!(zero.code(), Code::InvalidArgument);

    // Ten days past the 60-day deadline of both cases.
    set_handle_by(&db, &late.assignment_id, -10 * DAY_MILLIS).await;
    set_handle_by(&db, &a.assignment_id, -10 * DAY_MILLIS).await;
    let overdue = ms(&only_assignment(&api, "civil-affairs", "extended")
        .await
        .handle_by);
    let before = keys(&db).await.len();

    let requested = api
        .request_extension(Request::new(RequestExtensionRequest {
            assignment_id: a.assignment_id.clone(),
            days: 30,
            reason: "the bank re-runs the withholding next month".into(),
        }))
        .await
        .expect("request")
        .into_inner();
    assert_eq!(requested.extension, ExtensionState::Requested as i32);
    assert_eq!(requested.extension_days, 30);
    assert_eq!(
        ms(&requested.handle_by),
        overdue,
        "not moved before approval"
    );
    assert_eq!(keys(&db).await.len(), before, "a request announces nothing");

    let granted = api
        .decide_extension(Request::new(DecideExtensionRequest {
            assignment_id: a.assignment_id.clone(),
            approved: true,
        }))
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(granted.extension, ExtensionState::Granted as i32);
    assert_eq!(granted.extension_days, 30);
    assert_eq!(ms(&granted.handle_by), overdue + 30 * DAY_MILLIS);
    let listed = only_assignment(&api, "civil-affairs", "extended").await;
    assert_eq!(listed.handle_by, granted.handle_by);
    assert_eq!(listed.extension, ExtensionState::Granted as i32);

    let after = events_after(&db, before).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, "case.extended.civil-affairs");
    match &after[0].1 {
        Some(Payload::CaseExtended(e)) => {
            assert_eq!(e.assignment_id, a.assignment_id);
            assert_eq!(e.department, "civil-affairs");
            assert_eq!(e.days, 30);
            assert_eq!(e.handle_by, granted.handle_by);
        }
        other => panic!("expected CaseExtended, got {other:?}"),
    }

    // The replies: the extended case is on time, the other one late.
    for (id, on_time) in [(&a.assignment_id, true), (&late.assignment_id, false)] {
        api.reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: id.clone(),
            reply: "allowance restored".into(),
        }))
        .await
        .expect("reply");
        match events(&db).await.pop().and_then(|e| e.payload) {
            Some(Payload::CaseReplied(e)) => assert_eq!(e.within_deadline, on_time, "{id}"),
            other => panic!("expected CaseReplied, got {other:?}"),
        }
    }
}

async fn a_second_extension_is_refused(db: Db) {
    let api = api(&db);
    join_city(&api, "tax", &[Category::Taxation]).await;
    register(&db, "refund", Category::Taxation, "洋梓镇").await;
    let a = accepted(&api, "tax", "refund").await;
    let request = |days: u32| RequestExtensionRequest {
        assignment_id: a.assignment_id.clone(),
        days,
        reason: "the audit takes longer".into(),
    };
    let decide = |approved: bool| DecideExtensionRequest {
        assignment_id: a.assignment_id.clone(),
        approved,
    };

    let nothing = api
        .decide_extension(Request::new(decide(true)))
        .await
        .expect_err("nothing requested");
    assert_eq!(nothing.code(), Code::FailedPrecondition);

    api.request_extension(Request::new(request(15)))
        .await
        .expect("first request");
    let pending_twice = api
        .request_extension(Request::new(request(5)))
        .await
        .expect_err("one request at a time, and only one");
    assert_eq!(pending_twice.code(), Code::FailedPrecondition);

    let before = keys(&db).await;
    let refused = api
        .decide_extension(Request::new(decide(false)))
        .await
        .expect("refuse")
        .into_inner();
    assert_eq!(refused.extension, ExtensionState::Refused as i32);
    assert_eq!(refused.handle_by, a.handle_by, "the deadline stays");
    assert_eq!(keys(&db).await, before, "a refusal announces nothing");

    let second = api
        .request_extension(Request::new(request(10)))
        .await
        .expect_err("the one extension was used");
    assert_eq!(second.code(), Code::FailedPrecondition);
    assert!(second.message().contains("refused"), "{}", second.message());
    let again = api
        .decide_extension(Request::new(decide(true)))
        .await
        .expect_err("decided already");
    assert_eq!(again.code(), Code::FailedPrecondition);
    let still = only_assignment(&api, "tax", "refund").await;
    assert_eq!(still.extension, ExtensionState::Refused as i32);
    assert_eq!(still.handle_by, a.handle_by);
}

async fn escalation_and_leader_emit_case_escalated_and_show_on_the_assignment(db: Db) {
    let api = api(&db);
    join_city(&api, "medical-insurance", &[Category::MedicalInsurance]).await;
    register(&db, "withholding", Category::MedicalInsurance, "郢中街道").await;
    let a = only_assignment(&api, "medical-insurance", "withholding").await;
    assert_eq!(a.escalation, EscalationLevel::Unspecified as i32);
    let before = keys(&db).await.len();
    let escalate = |level: EscalationLevel, reason: &str| EscalateRequest {
        assignment_id: a.assignment_id.clone(),
        level: level as i32,
        reason: reason.into(),
    };

    // Pending: a reminder (催办).
    let reminded = api
        .escalate(Request::new(escalate(
            EscalationLevel::Reminder,
            "not accepted yet",
        )))
        .await
        .expect("remind")
        .into_inner();
    assert_eq!(reminded.escalation, EscalationLevel::Reminder as i32);
    accepted(&api, "medical-insurance", "withholding").await;
    let supervised = api
        .escalate(Request::new(escalate(
            EscalationLevel::Supervision,
            "three units pass it on",
        )))
        .await
        .expect("supervise")
        .into_inner();
    assert_eq!(supervised.escalation, EscalationLevel::Supervision as i32);
    let reminded_again = api
        .escalate(Request::new(escalate(EscalationLevel::Reminder, "")))
        .await
        .expect("remind again")
        .into_inner();
    assert_eq!(
        reminded_again.escalation,
        EscalationLevel::Supervision as i32,
        "the highest level stays"
    );

    let invalid = api
        .escalate(Request::new(EscalateRequest {
            assignment_id: a.assignment_id.clone(),
            level: EscalationLevel::Unspecified as i32,
            reason: "x".repeat(501),
        }))
        .await
        .expect_err("invalid");
    let fields = yimen_testkit::harness::violated_fields(&invalid);
    assert_eq!(fields, ["level", "reason"]);
    let no_leader = api
        .assign_leader(Request::new(AssignLeaderRequest {
            assignment_id: a.assignment_id.clone(),
            leader: " ".into(),
        }))
        .await
        .expect_err("a leader is named");
    assert_eq!(no_leader.code(), Code::InvalidArgument);

    let led = api
        .assign_leader(Request::new(AssignLeaderRequest {
            assignment_id: a.assignment_id.clone(),
            leader: "executive vice mayor".into(),
        }))
        .await
        .expect("a leader takes the case")
        .into_inner();
    assert_eq!(led.escalation, EscalationLevel::Leader as i32);
    assert_eq!(led.leader, "executive vice mayor");
    let listed = only_assignment(&api, "medical-insurance", "withholding").await;
    assert_eq!(listed.escalation, EscalationLevel::Leader as i32);
    assert_eq!(listed.leader, "executive vice mayor");

    let after = events_after(&db, before).await;
    let escalations: Vec<(EscalationLevel, String, String)> = after
        .iter()
        .filter_map(|(key, payload)| match payload {
            Some(Payload::CaseEscalated(e)) => {
                assert_eq!(key, "case.escalated.medical-insurance");
                assert_eq!(e.assignment_id, a.assignment_id);
                assert_eq!(e.department, "medical-insurance");
                Some((e.level(), e.reason.clone(), e.leader.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        escalations,
        [
            (
                EscalationLevel::Reminder,
                "not accepted yet".into(),
                String::new()
            ),
            (
                EscalationLevel::Supervision,
                "three units pass it on".into(),
                String::new()
            ),
            (EscalationLevel::Reminder, String::new(), String::new()),
            (
                EscalationLevel::Leader,
                String::new(),
                "executive vice mayor".into()
            ),
        ]
    );

    // A replied case is no longer pressed.
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: a.assignment_id.clone(),
        reply: "the three units settled it at once".into(),
    }))
    .await
    .expect("reply");
    let closed = api
        .escalate(Request::new(escalate(EscalationLevel::Supervision, "")))
        .await
        .expect_err("closed");
    assert_eq!(closed.code(), Code::FailedPrecondition);
    let closed = api
        .assign_leader(Request::new(AssignLeaderRequest {
            assignment_id: a.assignment_id.clone(),
            leader: "mayor".into(),
        }))
        .await
        .expect_err("closed");
    assert_eq!(closed.code(), Code::FailedPrecondition);
}

async fn a_department_lists_only_its_own_assignments(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "allowance", Category::SocialAssistance, "洋梓镇").await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let civil = department_caller("civil-affairs");
    let list = |department: &str| ListAssignmentsRequest {
        department: department.into(),
        states: vec![],
        after_position: 0,
        page: None,
    };
    let case_ids = |r: ListAssignmentsResponse| -> Vec<String> {
        r.assignments.into_iter().map(|a| a.case_id).collect()
    };

    for named in ["", "civil-affairs", " civil-affairs "] {
        let own = api
            .list_assignments(as_caller(&civil, list(named)))
            .await
            .expect("its own list")
            .into_inner();
        assert_eq!(case_ids(own), ["allowance"], "named {named:?}");
    }
    let refused = api
        .list_assignments(as_caller(&civil, list("human-resources")))
        .await
        .expect_err("another department's list");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        refused.message(),
        "department `civil-affairs` may only list its own assignments"
    );

    // A supervisor lists any department's, and must say which.
    let supervisor = caller(Role::Supervisor, None);
    let theirs = api
        .list_assignments(as_caller(&supervisor, list("human-resources")))
        .await
        .expect("any list")
        .into_inner();
    assert_eq!(case_ids(theirs), ["wages"]);
    let unnamed = api
        .list_assignments(as_caller(&supervisor, list(" ")))
        .await
        .expect_err("no department named");
    assert_eq!(unnamed.code(), Code::InvalidArgument);
}

async fn a_department_acts_only_on_assignments_it_holds_and_nothing_is_written_when_refused(
    db: Db,
) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "pending", Category::LabourWages, "洋梓镇").await;
    register(&db, "accepted", Category::LabourWages, "洋梓镇").await;
    let pending = only_assignment(&api, "human-resources", "pending").await;
    let accepted = accepted(&api, "human-resources", "accepted").await;
    let civil = department_caller("civil-affairs");
    let before = events(&db).await.len();

    let refusals = [
        (
            "accept",
            api.accept_assignment(as_caller(
                &civil,
                AcceptAssignmentRequest {
                    assignment_id: pending.assignment_id.clone(),
                    handler: "clerk".into(),
                },
            ))
            .await
            .map(drop),
        ),
        (
            "return",
            api.return_assignment(as_caller(
                &civil,
                ReturnAssignmentRequest {
                    assignment_id: pending.assignment_id.clone(),
                    reason: "not ours".into(),
                },
            ))
            .await
            .map(drop),
        ),
        (
            "reply",
            api.reply_assignment(as_caller(
                &civil,
                ReplyAssignmentRequest {
                    assignment_id: accepted.assignment_id.clone(),
                    reply: "paid".into(),
                },
            ))
            .await
            .map(drop),
        ),
        (
            "extension",
            api.request_extension(as_caller(
                &civil,
                RequestExtensionRequest {
                    assignment_id: accepted.assignment_id.clone(),
                    days: 10,
                    reason: "waiting for the bank".into(),
                },
            ))
            .await
            .map(drop),
        ),
        (
            "referral",
            api.refer_to_mediation(as_caller(
                &civil,
                ReferToMediationRequest {
                    assignment_id: accepted.assignment_id.clone(),
                    linkage: Linkage::Petition as i32,
                    summary: "unpaid wages".into(),
                },
            ))
            .await
            .map(drop),
        ),
    ];
    for (what, result) in refusals {
        let status = result.expect_err(what);
        assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
        assert_eq!(
            status.message(),
            "this assignment belongs to another department",
            "{what}: names neither the holder nor the case"
        );
    }

    assert_eq!(events(&db).await.len(), before, "no event was written");
    let pending_now = only_assignment(&api, "human-resources", "pending").await;
    assert_eq!(pending_now, pending, "the pending assignment is untouched");
    let accepted_now = only_assignment(&api, "human-resources", "accepted").await;
    assert_eq!(
        accepted_now, accepted,
        "the accepted assignment is untouched"
    );

    // The holder itself acts as before.
    let own = department_caller("human-resources");
    let taken = api
        .accept_assignment(as_caller(
            &own,
            AcceptAssignmentRequest {
                assignment_id: pending.assignment_id.clone(),
                handler: String::new(),
            },
        ))
        .await
        .expect("its own")
        .into_inner();
    assert_eq!(taken.state, AssignmentState::Accepted as i32);
    let replied = api
        .reply_assignment(as_caller(
            &own,
            ReplyAssignmentRequest {
                assignment_id: accepted.assignment_id.clone(),
                reply: "paid".into(),
            },
        ))
        .await
        .expect("its own")
        .into_inner();
    assert_eq!(replied.state, AssignmentState::Replied as i32);
}

async fn supervisors_and_admins_act_on_any_departments_assignment(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let a = only_assignment(&api, "human-resources", "wages").await;

    let escalated = api
        .escalate(as_caller(
            &caller(Role::Supervisor, None),
            EscalateRequest {
                assignment_id: a.assignment_id.clone(),
                level: EscalationLevel::Reminder as i32,
                reason: "not accepted yet".into(),
            },
        ))
        .await
        .expect("a supervisor presses any department")
        .into_inner();
    assert_eq!(escalated.escalation, EscalationLevel::Reminder as i32);
    let taken = api
        .accept_assignment(as_caller(
            &caller(Role::Admin, None),
            AcceptAssignmentRequest {
                assignment_id: a.assignment_id.clone(),
                handler: String::new(),
            },
        ))
        .await
        .expect("an admin acts for any department")
        .into_inner();
    assert_eq!(taken.state, AssignmentState::Accepted as i32);
}

fn keyword_rule(department: &str, keyword: &str) -> RoutingRule {
    RoutingRule {
        department: department.into(),
        keyword: keyword.into(),
        ..Default::default()
    }
}

async fn set_rules(
    api: &Api,
    rules: Vec<RoutingRule>,
) -> Result<SetRoutingRulesResponse, tonic::Status> {
    api.set_routing_rules(Request::new(SetRoutingRulesRequest { rules }))
        .await
        .map(|r| r.into_inner())
}

async fn routing_rules_come_before_the_category_owner_and_each_assignment_names_its_rule(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    join(
        &api,
        "yingzhong-justice",
        DepartmentLevel::Town,
        ("郢中街道", ""),
        &[],
    )
    .await;
    let first = set_rules(
        &api,
        vec![
            keyword_rule("human-resources", "nothing matches this"),
            RoutingRule {
                department: "yingzhong-justice".into(),
                town: "郢中街道".into(),
                rule_id: "yingzhong-town".into(),
                ..Default::default()
            },
        ],
    )
    .await
    .expect("rules set");
    assert_eq!(first.version, 1);
    assert_eq!(first.rules[0].rule_id, "rule-1");

    // A labour matter of the town goes to the town's justice office by the rule, not to the
    // labour owner; both the assignment and its event say which rule chose it.
    deliver(
        &db,
        &registered("wages", Category::LabourWages, "郢中街道", ""),
    )
    .await;
    let a = only_assignment(&api, "yingzhong-justice", "wages").await;
    assert_eq!(
        (a.routing_rule.as_str(), a.routing_rules_version),
        ("yingzhong-town", 1)
    );
    assert!(
        a.reason
            .starts_with("routing rule yingzhong-town (version 1) sends it to"),
        "{}",
        a.reason
    );
    let event = assigned_events(&db).await.pop().expect("case.assigned");
    assert_eq!(event.department, "yingzhong-justice");
    assert_eq!(
        (event.routing_rule.as_str(), event.routing_rules_version),
        ("yingzhong-town", 1)
    );

    // A new version replaces the set: with none left, the category owner has it again.
    let cleared = set_rules(&api, vec![]).await.expect("rules cleared");
    assert_eq!((cleared.version, cleared.rules.len()), (2, 0));
    deliver(
        &db,
        &registered("wages-2", Category::LabourWages, "郢中街道", ""),
    )
    .await;
    let b = only_assignment(&api, "human-resources", "wages-2").await;
    assert_eq!((b.routing_rule.as_str(), b.routing_rules_version), ("", 0));
    assert!(b.reason.contains("owns labour_wages"), "{}", b.reason);
    // The first decision keeps the rule and version that made it.
    let again = only_assignment(&api, "yingzhong-justice", "wages").await;
    assert_eq!(
        (again.routing_rule.as_str(), again.routing_rules_version),
        ("yingzhong-town", 1)
    );
}

async fn routing_rules_naming_a_department_not_at_the_center_are_refused_and_change_nothing(
    db: Db,
) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    set_rules(&api, vec![keyword_rule("human-resources", "wages")])
        .await
        .expect("first set");

    let unknown = set_rules(&api, vec![keyword_rule("nobody-here", "wages")])
        .await
        .expect_err("unknown department");
    assert_eq!(unknown.code(), Code::FailedPrecondition);
    assert_eq!(
        unknown.message(),
        "routing rule rule-1: department nobody-here is not at the center"
    );
    let mut wrong_level = keyword_rule("human-resources", "wages");
    wrong_level.level = DepartmentLevel::Town as i32;
    let level = set_rules(&api, vec![wrong_level])
        .await
        .expect_err("wrong level");
    assert_eq!(level.code(), Code::FailedPrecondition);
    assert_eq!(
        level.message(),
        "routing rule rule-1: department human-resources is at city level, not town"
    );
    let invalid = set_rules(&api, vec![keyword_rule("human-resources", "")])
        .await
        .expect_err("matches nothing");
    assert_eq!(invalid.code(), Code::InvalidArgument);

    // Still version 1: the next set is version 2.
    let next = set_rules(&api, vec![]).await.expect("cleared");
    assert_eq!(next.version, 2);
}

fn watch_request(department: &str, after_position: u64) -> ListAssignmentsRequest {
    ListAssignmentsRequest {
        department: department.into(),
        after_position,
        ..Default::default()
    }
}

async fn watching_assignments_resumes_after_a_position_missing_nothing_and_nothing_twice(db: Db) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let api = api(&db).ending_on(shutdown.clone());
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "wages-1", Category::LabourWages, "洋梓镇").await;
    register(&db, "allowance", Category::SocialAssistance, "洋梓镇").await;
    register(&db, "wages-2", Category::LabourWages, "洋梓镇").await;
    let hr = department_caller("human-resources");

    // From the start: the department's work so far, in the order it changed.
    let mut watch = api
        .watch_assignments(as_caller(&hr, watch_request("", 0)))
        .await
        .expect("watch")
        .into_inner();
    let first = next_item(&mut watch).await.expect("first");
    let second = next_item(&mut watch).await.expect("second");
    assert_eq!(
        (first.case_id.as_str(), second.case_id.as_str()),
        ("wages-1", "wages-2")
    );
    assert!(first.position < second.position);
    // Live: a change is pushed as it commits.
    register(&db, "wages-3", Category::LabourWages, "洋梓镇").await;
    let third = next_item(&mut watch).await.expect("third");
    assert_eq!(third.case_id, "wages-3");
    assert!(third.position > second.position);
    let received = third.position;
    drop(watch); // the client goes away

    // While it is away: wages-1 is accepted, wages-2 accepted then replied, a new case comes.
    accepted(&api, "human-resources", "wages-1").await;
    let two = accepted(&api, "human-resources", "wages-2").await;
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: two.assignment_id.clone(),
        reply: "paid".into(),
    }))
    .await
    .expect("reply");
    register(&db, "wages-4", Category::LabourWages, "洋梓镇").await;

    // Resuming from the last position received: each changed assignment once, as it stands,
    // in the order of its latest change; nothing from before the position.
    let mut resumed = api
        .watch_assignments(as_caller(&hr, watch_request("", received)))
        .await
        .expect("watch again")
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..3 {
        let a = next_item(&mut resumed).await.expect("a missed change");
        got.push((
            a.case_id,
            AssignmentState::try_from(a.state).expect("state"),
            a.position,
        ));
    }
    assert_eq!(
        got.iter()
            .map(|(c, s, _)| (c.as_str(), *s))
            .collect::<Vec<_>>(),
        [
            ("wages-1", AssignmentState::Accepted),
            ("wages-2", AssignmentState::Replied),
            ("wages-4", AssignmentState::Pending),
        ]
    );
    assert!(got.windows(2).all(|w| w[0].2 < w[1].2), "{got:?}");
    assert!(got[0].2 > received);
    // Nothing else was waiting: the next item is the next change.
    register(&db, "wages-5", Category::LabourWages, "洋梓镇").await;
    let fifth = next_item(&mut resumed).await.expect("the next change");
    assert_eq!(fifth.case_id, "wages-5");

    // The process stops: the stream ends.
    shutdown.cancel();
    assert!(next_item(&mut resumed).await.is_none(), "the watch ended");
}

async fn a_department_watches_only_its_own_assignments(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    let refusal = |who: Principal, request: ListAssignmentsRequest| {
        let call = api.watch_assignments(as_caller(&who, request));
        async move { call.await.err().expect("refused").code() }
    };
    let supervisor = || caller(Role::Supervisor, None);
    assert_eq!(
        refusal(
            department_caller("civil-affairs"),
            watch_request("human-resources", 0)
        )
        .await,
        Code::PermissionDenied,
        "another department's work"
    );
    assert_eq!(
        refusal(supervisor(), watch_request("nobody", 0)).await,
        Code::NotFound,
        "an unknown department"
    );
    let paged = ListAssignmentsRequest {
        page: Some(PageRequest::default()),
        ..watch_request("human-resources", 0)
    };
    assert_eq!(
        refusal(supervisor(), paged).await,
        Code::InvalidArgument,
        "a page"
    );
}

async fn an_acceptance_deadline_on_a_holiday_ends_on_the_next_working_day(db: Db) {
    use yimen_platform::calendar;
    // A calendar in which the day 15 days from now, and the day after, are public holidays.
    let now = yimen_platform::db::now_millis();
    let (first, second) = (
        calendar::date(now + 15 * DAY_MILLIS),
        calendar::date(now + 16 * DAY_MILLIS),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("holidays.toml");
    let mut text = String::new();
    for day in [&first, &second] {
        text.push_str(&format!(
            "[[year]]\nyear = {}\nholidays = [\"{day}\"]\n",
            &day[..4]
        ));
    }
    std::fs::write(&file, text).expect("write holidays");
    let holidays = Holidays::load(file.to_str().expect("utf-8 path")).expect("holidays file");
    let config = DispatchConfig {
        holidays: holidays.clone(),
        ..config()
    };
    let api = Api::new(db.clone(), bus(), &config);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    let handler = yimen_dispatch::consumers::DispatchHandler::new(
        yimen_dispatch::app::Deadlines::new(&config),
    );
    let event = registered("case-h", Category::SocialAssistance, "洋梓镇", "");
    yimen_testkit::harness::deliver(&db, &handler, &event)
        .await
        .expect("handle");

    let a = only_assignment(&api, "civil-affairs", "case-h").await;
    let nominal = ms(&a.assigned_at) + 15 * DAY_MILLIS;
    assert!(!holidays.is_working_at(nominal));
    assert!(ms(&a.accept_by) > nominal, "moved past the holiday");
    assert!(holidays.is_working_at(ms(&a.accept_by)));
    assert_eq!(
        (ms(&a.accept_by) - nominal) % DAY_MILLIS,
        0,
        "moved by whole days"
    );
    assert!(!holidays.is_working_at(ms(&a.accept_by) - DAY_MILLIS));
}

fn refusal_request(assignment_id: &str) -> RefuseAssignmentRequest {
    RefuseAssignmentRequest {
        assignment_id: assignment_id.into(),
        reason: RefusalReason::Arbitration as i32,
        channel: "钟祥市劳动人事争议仲裁委员会".into(),
        explanation: "a wage dispute with an employer goes to labour arbitration".into(),
    }
}

async fn refusal_names_the_channel_closes_the_assignment_and_emits_case_refused(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let a = only_assignment(&api, "human-resources", "wages").await;

    let no_channel = api
        .refuse_assignment(Request::new(RefuseAssignmentRequest {
            channel: " ".into(),
            explanation: String::new(),
            ..refusal_request(&a.assignment_id)
        }))
        .await
        .expect_err("the channel of an arbitration matter is required");
    assert_eq!(no_channel.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&no_channel);
    assert_eq!(fields, ["channel", "explanation"]);

    let before = keys(&db).await.len();
    let refused = api
        .refuse_assignment(Request::new(refusal_request(&a.assignment_id)))
        .await
        .expect("refuse")
        .into_inner();
    assert_eq!(refused.state, AssignmentState::Refused as i32);
    assert_eq!(refused.refusal_reason, RefusalReason::Arbitration as i32);
    assert_eq!(refused.refusal_channel, "钟祥市劳动人事争议仲裁委员会");
    assert!(refused.decision_note.contains("labour arbitration"));
    assert_eq!(
        assignments(&api, "human-resources", &[AssignmentState::Refused]).await,
        std::slice::from_ref(&refused)
    );
    let sent = events_after(&db, before).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "case.refused.human-resources");
    match &sent[0].1 {
        Some(Payload::CaseRefused(e)) => {
            assert_eq!(e.assignment_id, a.assignment_id);
            assert_eq!(e.reason, RefusalReason::Arbitration as i32);
            assert_eq!(e.channel, "钟祥市劳动人事争议仲裁委员会");
            assert_eq!(e.department_name, "human-resources office");
        }
        other => panic!("{other:?}"),
    }
    // Acceptance is decided once.
    let again = api
        .accept_assignment(Request::new(AcceptAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            handler: String::new(),
        }))
        .await
        .expect_err("refused already");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("REFUSED"), "{}", again.message());
}

async fn only_a_pending_assignment_is_refused_or_forwarded_and_only_by_its_department(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let pending = only_assignment(&api, "human-resources", "wages").await;

    let other = department_caller("civil-affairs");
    let before = keys(&db).await.len();
    let foreign = api
        .refuse_assignment(as_caller(&other, refusal_request(&pending.assignment_id)))
        .await
        .expect_err("not its assignment");
    assert_eq!(foreign.code(), Code::PermissionDenied);
    let foreign = api
        .request_supplement(as_caller(
            &other,
            RequestSupplementRequest {
                assignment_id: pending.assignment_id.clone(),
                requested: "the wage slips".into(),
            },
        ))
        .await
        .expect_err("not its assignment");
    assert_eq!(foreign.code(), Code::PermissionDenied);
    assert_eq!(
        keys(&db).await.len(),
        before,
        "nothing written when refused"
    );

    let a = accepted(&api, "human-resources", "wages").await;
    let own = department_caller("human-resources");
    let late = api
        .refuse_assignment(as_caller(&own, refusal_request(&a.assignment_id)))
        .await
        .expect_err("accepted already");
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("ACCEPTED"), "{}", late.message());
    let late = api
        .forward_assignment(as_caller(
            &own,
            ForwardAssignmentRequest {
                assignment_id: a.assignment_id.clone(),
                authority: "荆门市人力资源和社会保障局".into(),
                reason: "a provincial employer".into(),
            },
        ))
        .await
        .expect_err("accepted already");
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("ACCEPTED"), "{}", late.message());
}

async fn forward_goes_out_of_the_system_and_emits_case_forwarded(db: Db) {
    let api = api(&db);
    join_city(&api, "natural-resources", &[Category::Land]).await;
    register(&db, "land", Category::Land, "洋梓镇").await;
    let a = only_assignment(&api, "natural-resources", "land").await;
    let before = keys(&db).await.len();
    let forwarded = api
        .forward_assignment(Request::new(ForwardAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            authority: "湖北省自然资源厅".into(),
            reason: "a provincial land approval".into(),
        }))
        .await
        .expect("forward")
        .into_inner();
    assert_eq!(forwarded.state, AssignmentState::Forwarded as i32);
    assert_eq!(forwarded.forwarded_to, "湖北省自然资源厅");
    assert_eq!(forwarded.decision_note, "a provincial land approval");
    let sent = events_after(&db, before).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "case.forwarded.natural-resources");
    assert!(matches!(
        &sent[0].1,
        Some(Payload::CaseForwarded(e)) if e.authority == "湖北省自然资源厅"
    ));
}

fn supplemented(case_id: &str, at: i64) -> Event {
    let mut event = yimen_platform::events::new_event(
        "case.supplemented",
        case_id,
        "intake",
        Payload::CaseSupplemented(CaseSupplemented {
            department: String::new(),
        }),
    );
    event.occurred_at = Some(yimen_platform::time::timestamp(at));
    event
}

async fn request_supplement(api: &Api, assignment_id: &str) -> Assignment {
    api.request_supplement(Request::new(RequestSupplementRequest {
        assignment_id: assignment_id.into(),
        requested: "the wage slips of March".into(),
    }))
    .await
    .expect("request a supplement")
    .into_inner()
}

async fn a_supplement_request_stops_the_clock_and_the_supplement_moves_the_deadline_by_the_pause(
    db: Db,
) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let a = accepted(&api, "human-resources", "wages").await;
    let before = keys(&db).await.len();

    let paused = request_supplement(&api, &a.assignment_id).await;
    let since = ms(&paused.paused_since);
    assert_eq!(paused.supplement_requested, "the wage slips of March");
    assert_eq!(
        paused.handle_by, a.handle_by,
        "the deadline waits for the pause to end"
    );
    let sent = events_after(&db, before).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "case.supplement_requested.human-resources");

    let twice = api
        .request_supplement(Request::new(RequestSupplementRequest {
            assignment_id: a.assignment_id.clone(),
            requested: "more".into(),
        }))
        .await
        .expect_err("one pause at a time");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    assert!(
        twice.message().contains("AWAITING_SUPPLEMENT"),
        "{}",
        twice.message()
    );

    // The material comes three days after it was asked for.
    deliver(&db, &supplemented("wages", since + 3 * DAY_MILLIS)).await;
    let resumed = only_assignment(&api, "human-resources", "wages").await;
    assert_eq!(resumed.paused_since, None);
    assert_eq!(ms(&resumed.handle_by), ms(&a.handle_by) + 3 * DAY_MILLIS);
    assert_eq!(
        resumed.paused,
        Some(prost_types::Duration {
            seconds: 3 * 24 * 60 * 60,
            nanos: 0
        })
    );
    let sent = events_after(&db, before + 1).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "case.resumed.human-resources");
    match &sent[0].1 {
        Some(Payload::CaseResumed(e)) => {
            assert_eq!(e.handle_by, resumed.handle_by);
            assert_eq!(e.paused, resumed.paused);
        }
        other => panic!("{other:?}"),
    }

    // A supplement nobody waits for changes nothing.
    deliver(&db, &supplemented("wages", since + 4 * DAY_MILLIS)).await;
    assert_eq!(
        only_assignment(&api, "human-resources", "wages").await,
        resumed
    );
    assert_eq!(keys(&db).await.len(), before + 2);

    // A reply by the moved deadline is on time.
    let replied = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            reply: "the wages were paid".into(),
        }))
        .await
        .expect("reply")
        .into_inner();
    assert_eq!(replied.state, AssignmentState::Replied as i32);
}

async fn a_pending_assignments_pause_moves_its_acceptance_deadline(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let a = only_assignment(&api, "human-resources", "wages").await;
    let since = ms(&request_supplement(&api, &a.assignment_id)
        .await
        .paused_since);
    deliver(&db, &supplemented("wages", since + 2 * DAY_MILLIS)).await;
    let resumed = only_assignment(&api, "human-resources", "wages").await;
    assert_eq!(ms(&resumed.accept_by), ms(&a.accept_by) + 2 * DAY_MILLIS);
    assert_eq!(resumed.handle_by, None);
    let e = events(&db)
        .await
        .into_iter()
        .find_map(|e| match e.payload {
            Some(Payload::CaseResumed(r)) => Some(r),
            _ => None,
        })
        .expect("case.resumed");
    assert_eq!(e.accept_by, resumed.accept_by);
    assert_eq!(e.handle_by, None);
}

async fn while_waiting_for_a_supplement_it_is_neither_accepted_nor_replied_nor_overdue(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "pending", Category::LabourWages, "洋梓镇").await;
    register(&db, "accepted", Category::LabourWages, "洋梓镇").await;
    let pending = only_assignment(&api, "human-resources", "pending").await;
    let a = accepted(&api, "human-resources", "accepted").await;
    request_supplement(&api, &pending.assignment_id).await;
    request_supplement(&api, &a.assignment_id).await;

    let accept = api
        .accept_assignment(Request::new(AcceptAssignmentRequest {
            assignment_id: pending.assignment_id.clone(),
            handler: String::new(),
        }))
        .await
        .expect_err("waiting");
    assert_eq!(accept.code(), Code::FailedPrecondition);
    assert!(
        accept.message().contains("AWAITING_SUPPLEMENT"),
        "{}",
        accept.message()
    );
    let reply = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: a.assignment_id.clone(),
            reply: "done".into(),
        }))
        .await
        .expect_err("waiting");
    assert_eq!(reply.code(), Code::FailedPrecondition);

    // Past both deadlines, but the clock is stopped: not overdue.
    set_handle_by(&db, &a.assignment_id, -DAY_MILLIS).await;
    let far = yimen_platform::db::now_millis() + 100 * DAY_MILLIS;
    let mut conn = db.pool().acquire().await.expect("connection");
    let workload = yimen_dispatch::store::workload(&mut conn, far)
        .await
        .expect("workload");
    let hr = workload
        .iter()
        .find(|w| w.department == "human-resources")
        .expect("human-resources");
    assert_eq!((hr.open, hr.overdue), (2, 0));
}

/// The positions the department's assignments have in ListAssignments, by case.
async fn listed_positions(api: &Api, department: &str) -> Vec<(String, u64)> {
    let mut listed: Vec<(String, u64)> = assignments(api, department, &[])
        .await
        .into_iter()
        .map(|a| (a.case_id, a.position))
        .collect();
    listed.sort();
    listed
}

async fn a_change_reaches_the_feed_when_it_is_read_and_one_in_flight_comes_after_its_commit(
    db: Db,
) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages-1", Category::LabourWages, "洋梓镇").await;
    register(&db, "wages-2", Category::LabourWages, "洋梓镇").await;
    // Committed, and no one has read the feed: no position taken yet (a change's transaction
    // takes none, so it waits on no other change of its department).
    assert_eq!(
        listed_positions(&api, "human-resources").await,
        [("wages-1".to_string(), 0), ("wages-2".to_string(), 0)]
    );
    let hr = department_caller("human-resources");
    let mut watch = api
        .watch_assignments(as_caller(&hr, watch_request("", 0)))
        .await
        .expect("watch")
        .into_inner();
    let first = next_item(&mut watch).await.expect("first");
    let second = next_item(&mut watch).await.expect("second");
    assert!(0 < first.position && first.position < second.position);
    drop(watch);
    // Reading stamped them for every later answer too.
    let listed = listed_positions(&api, "human-resources").await;
    assert_eq!(
        listed,
        [
            ("wages-1".to_string(), first.position),
            ("wages-2".to_string(), second.position)
        ]
    );
    if db.backend() != yimen_platform::db::Backend::Postgres {
        return; // SQLite has one writer: no change is ever in flight beside a reader.
    }

    // A change of wages-1 in flight (its row locked, not committed) does not hold up the feed:
    // wages-3, committed after it began, is read past it.
    let mut in_flight = db.pool().begin().await.expect("begin");
    sqlx::query("UPDATE assignments SET position = 0 WHERE case_id = 'wages-1'")
        .execute(&mut *in_flight)
        .await
        .expect("change wages-1");
    register(&db, "wages-3", Category::LabourWages, "洋梓镇").await;
    let mut watch = api
        .watch_assignments(as_caller(&hr, watch_request("", second.position)))
        .await
        .expect("watch again")
        .into_inner();
    let third = next_item(&mut watch)
        .await
        .expect("wages-3 past the change in flight");
    assert_eq!(third.case_id, "wages-3");
    // Once the change commits, it comes after everything read so far.
    in_flight.commit().await.expect("commit");
    let again = api.watch_assignments(as_caller(&hr, watch_request("", third.position)));
    let mut watch = again.await.expect("watch after the commit").into_inner();
    let changed = next_item(&mut watch).await.expect("the committed change");
    assert_eq!(changed.case_id, "wages-1");
    assert!(changed.position > third.position);
}

async fn changes_committed_while_two_watchers_stamp_reach_each_once_in_position_order(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    let hr = department_caller("human-resources");
    const CASES: usize = 30;
    // Two watchers (each stamps before it reads, as two replicas would) follow while the
    // cases are registered by four concurrent writers.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let stream = api
            .watch_assignments(as_caller(&hr, watch_request("", 0)))
            .await
            .expect("watch")
            .into_inner();
        streams.push(stream);
    }
    let watchers = futures::future::join_all(streams.into_iter().map(|mut stream| async move {
        let mut got = Vec::new();
        while got.len() < CASES {
            let a = next_item(&mut stream).await.expect("a change");
            got.push((a.case_id, a.position));
        }
        got
    }));
    let writers = futures::future::join_all((0..4).map(|w| {
        let db = db.clone();
        async move {
            for n in (w..CASES).step_by(4) {
                register(
                    &db,
                    &format!("wages-{n:02}"),
                    Category::LabourWages,
                    "洋梓镇",
                )
                .await;
            }
        }
    }));
    let (watched, _) = futures::join!(watchers, writers);
    let expected: Vec<String> = (0..CASES).map(|n| format!("wages-{n:02}")).collect();
    for got in watched {
        assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "{got:?}");
        let mut cases: Vec<String> = got.into_iter().map(|(case, _)| case).collect();
        cases.sort();
        assert_eq!(cases, expected, "each case once");
    }
}

// --- review and re-review (复查 / 复核) ------------------------------------------------------

fn review_requested(case_id: &str, stage: ReviewStage, contested: &str) -> Event {
    yimen_platform::events::new_event(
        "case.review_requested",
        case_id,
        "intake",
        Payload::CaseReviewRequested(CaseReviewRequested {
            stage: stage as i32,
            department: contested.into(),
        }),
    )
}

/// The case's one REVIEWING assignment at `body`.
async fn reviewing(api: &Api, body: &str, case_id: &str) -> Assignment {
    let found: Vec<Assignment> = assignments(api, body, &[AssignmentState::Reviewing])
        .await
        .into_iter()
        .filter(|a| a.case_id == case_id)
        .collect();
    assert_eq!(found.len(), 1, "one review at {body}: {found:?}");
    found[0].clone()
}

fn decision(assignment_id: &str, outcome: ReviewOutcome) -> DecideReviewRequest {
    DecideReviewRequest {
        assignment_id: assignment_id.into(),
        outcome: outcome as i32,
        decision: "原答复事实清楚，处理适当".into(),
    }
}

/// Accepts and replies the case's assignment at `department`.
async fn replied_by(api: &Api, department: &str, case_id: &str) {
    let a = accepted(api, department, case_id).await;
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: a.assignment_id,
        reply: "wages paid".into(),
    }))
    .await
    .expect("reply");
}

async fn a_review_goes_to_the_review_body_and_a_re_review_to_the_body_above_it(db: Db) {
    let api = api(&db);
    api.join_department(Request::new(JoinDepartmentRequest {
        code: "town-labour".into(),
        name: "洋梓镇劳动保障所".into(),
        level: DepartmentLevel::Town as i32,
        area: Some(Location {
            town: "洋梓镇".into(),
            village: String::new(),
        }),
        categories: vec![Category::LabourWages as i32],
        review_body: "town-petition".into(),
    }))
    .await
    .expect("join with a review body");
    join(
        &api,
        "town-petition",
        DepartmentLevel::Town,
        ("洋梓镇", ""),
        &[],
    )
    .await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    replied_by(&api, "town-labour", "wages").await;

    deliver(
        &db,
        &review_requested("wages", ReviewStage::Review, "town-labour"),
    )
    .await;
    let review = reviewing(&api, "town-petition", "wages").await;
    assert_eq!(review.review_stage, ReviewStage::Review as i32);
    assert_eq!(review.contested_department, "town-labour");
    assert_eq!(
        ms(&review.handle_by) - ms(&review.assigned_at),
        30 * DAY_MILLIS,
        "decided within 30 days"
    );
    let started = events(&db).await.pop().expect("an event");
    assert_eq!(started.r#type, "case.review_started.town-petition");
    // Asked again while undecided: still one review.
    deliver(
        &db,
        &review_requested("wages", ReviewStage::Review, "town-labour"),
    )
    .await;
    reviewing(&api, "town-petition", "wages").await;

    // Only the body holding the review decides it; nothing is written when refused.
    let before = events(&db).await.len();
    let refused = api
        .decide_review(as_caller(
            &department_caller("town-labour"),
            decision(&review.assignment_id, ReviewOutcome::Uphold),
        ))
        .await
        .expect_err("not its review");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(events(&db).await.len(), before);
    let decided = api
        .decide_review(as_caller(
            &department_caller("town-petition"),
            decision(&review.assignment_id, ReviewOutcome::Uphold),
        ))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(decided.state, AssignmentState::Reviewed as i32);
    assert_eq!(decided.review_outcome, ReviewOutcome::Uphold as i32);
    assert_eq!(decided.reply, "原答复事实清楚，处理适当");
    let reviewed = events(&db).await.pop().expect("an event");
    assert_eq!(reviewed.r#type, "case.reviewed.town-petition");
    match reviewed.payload {
        Some(Payload::CaseReviewed(r)) => {
            assert_eq!(r.stage, ReviewStage::Review as i32);
            assert_eq!(r.outcome, ReviewOutcome::Uphold as i32);
            assert_eq!(r.contested_department, "town-labour");
        }
        other => panic!("{other:?}"),
    }
    let again = api
        .decide_review(Request::new(decision(
            &review.assignment_id,
            ReviewOutcome::Change,
        )))
        .await
        .expect_err("decided once");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("REVIEWED"), "{}", again.message());

    // The re-review goes to the review body of the body that reviewed: the city center.
    deliver(
        &db,
        &review_requested("wages", ReviewStage::ReReview, "town-petition"),
    )
    .await;
    let re_review = reviewing(&api, "city-center", "wages").await;
    assert_eq!(re_review.review_stage, ReviewStage::ReReview as i32);
    assert_eq!(re_review.contested_department, "town-petition");
    let decided = api
        .decide_review(as_caller(
            &caller(Role::Supervisor, None),
            decision(&re_review.assignment_id, ReviewOutcome::Change),
        ))
        .await
        .expect("the center decides")
        .into_inner();
    assert_eq!(decided.review_outcome, ReviewOutcome::Change as i32);
    // A review is no handling: nothing is open at any department.
    assert!(
        assignments(
            &api,
            "town-labour",
            &[AssignmentState::Pending, AssignmentState::Accepted]
        )
        .await
        .is_empty()
    );
}

async fn a_review_decided_rehandle_gives_the_case_back_to_the_department_that_answered(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    replied_by(&api, "human-resources", "wages").await;
    deliver(
        &db,
        &review_requested("wages", ReviewStage::Review, "human-resources"),
    )
    .await;
    let review = reviewing(&api, "city-center", "wages").await;

    let invalid = api
        .decide_review(Request::new(DecideReviewRequest {
            assignment_id: "x".into(),
            outcome: 0,
            decision: String::new(),
        }))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields: Vec<String> = tonic_types::StatusExt::get_details_bad_request(&invalid)
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["assignment_id", "outcome", "decision"]);

    let before = events(&db).await.len();
    api.decide_review(Request::new(decision(
        &review.assignment_id,
        ReviewOutcome::Rehandle,
    )))
    .await
    .expect("rehandle");
    let after = events_after(&db, before).await;
    let kinds: Vec<&str> = after.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["case.reviewed.city-center", "case.assigned.human-resources"]
    );
    match &after[1].1 {
        Some(Payload::CaseAssigned(a)) => {
            assert_eq!(a.cause, AssignmentCause::Rehandle as i32);
            assert_eq!(a.previous_department, "city-center");
        }
        other => panic!("{other:?}"),
    }
    let pending = assignments(&api, "human-resources", &[AssignmentState::Pending]).await;
    assert_eq!(pending.len(), 1, "handled again");
}

// --- withdrawal (撤回), settlement at the desk, and moves between levels (提级 / 交办) ---------

fn withdrawn(case_id: &str) -> Event {
    yimen_platform::events::new_event(
        "case.withdrawn",
        case_id,
        "intake",
        Payload::CaseWithdrawn(CaseWithdrawn {
            department: String::new(),
            reason: "settled with the employer".into(),
        }),
    )
}

async fn a_withdrawal_ends_the_open_assignment_out_of_the_departments_work(db: Db) {
    let api = api(&db);
    join_city(&api, "human-resources", &[Category::LabourWages]).await;
    register(&db, "wages", Category::LabourWages, "洋梓镇").await;
    let held = accepted(&api, "human-resources", "wages").await;
    deliver(&db, &withdrawn("wages")).await;
    let ended = only_assignment(&api, "human-resources", "wages").await;
    assert_eq!(ended.assignment_id, held.assignment_id);
    assert_eq!(ended.state, AssignmentState::Withdrawn as i32);
    assert_eq!(ended.decision_note, "settled with the employer");
    assert!(
        assignments(
            &api,
            "human-resources",
            &[AssignmentState::Pending, AssignmentState::Accepted]
        )
        .await
        .is_empty(),
        "out of the department's open work"
    );
    let listed = api
        .list_departments(Request::new(ListDepartmentsRequest::default()))
        .await
        .expect("list")
        .into_inner();
    let hr = listed
        .departments
        .iter()
        .find(|d| d.code == "human-resources")
        .expect("listed");
    assert_eq!(hr.open_assignments, 0);
    let refused = api
        .reply_assignment(Request::new(ReplyAssignmentRequest {
            assignment_id: held.assignment_id.clone(),
            reply: "too late".into(),
        }))
        .await
        .expect_err("withdrawn");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("WITHDRAWN"),
        "{}",
        refused.message()
    );

    // Withdrawn again, or a case nobody holds: nothing to end.
    let before = keys(&db).await;
    deliver(&db, &withdrawn("wages")).await;
    assert_eq!(keys(&db).await, before);
}

async fn a_case_settled_at_the_desk_is_not_assigned_until_the_petitioner_is_unsatisfied(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    let mut desk = registered("desk", Category::SocialAssistance, "洋梓镇", "");
    if let Some(Payload::CaseRegistered(r)) = &mut desk.payload {
        r.settled_at_desk = true;
    }
    let before = keys(&db).await;
    deliver(&db, &desk).await;
    assert_eq!(keys(&db).await, before, "no assignment announced");
    assert!(assignments(&api, "civil-affairs", &[]).await.is_empty());
    assert!(assignments(&api, "city-center", &[]).await.is_empty());

    // Unsatisfied with the desk's reply: routed like a new matter.
    deliver(&db, &reopened("desk", "")).await;
    let routed = only_assignment(&api, "civil-affairs", "desk").await;
    assert_eq!(routed.state, AssignmentState::Pending as i32);
    assert!(
        routed
            .reason
            .starts_with("reopened: the petitioner was unsatisfied with the reply; "),
        "{}",
        routed.reason
    );
    let e = assigned_events(&db).await.pop().expect("case.assigned");
    assert_eq!(e.cause, AssignmentCause::Reopened as i32);
    assert_eq!(e.previous_department, "");
}

fn transfer_request(assignment_id: &str, to: &str, reason: &str) -> TransferAssignmentRequest {
    TransferAssignmentRequest {
        assignment_id: assignment_id.into(),
        to_department: to.into(),
        reason: reason.into(),
    }
}

/// A labour case of 郢中街道, held by the town's justice office, with the city's bureau there.
async fn town_case(api: &Api, db: &Db) -> Assignment {
    join_city(api, "human-resources", &[Category::LabourWages]).await;
    join(
        api,
        "yingzhong-justice",
        DepartmentLevel::Town,
        ("郢中街道", ""),
        &[Category::LabourWages],
    )
    .await;
    register(db, "kiln", Category::LabourWages, "郢中街道").await;
    only_assignment(api, "yingzhong-justice", "kiln").await
}

async fn the_city_takes_over_a_town_case_and_hands_a_city_case_down_with_a_fresh_deadline(db: Db) {
    let api = api(&db);
    let town = town_case(&api, &db).await;
    let before = keys(&db).await.len();
    let up = api
        .transfer_assignment(Request::new(transfer_request(
            &town.assignment_id,
            "human-resources",
            "workers of three towns",
        )))
        .await
        .expect("take over")
        .into_inner();
    let ended = up.transferred.expect("ended");
    let city = up.assigned.expect("assigned");
    assert_eq!(ended.state, AssignmentState::Transferred as i32);
    assert_eq!(ended.decision_note, "workers of three towns");
    assert_eq!(city.department, "human-resources");
    assert_eq!(city.state, AssignmentState::Pending as i32);
    assert_eq!(
        city.reason,
        "taken over (提级) from yingzhong-justice: workers of three towns"
    );
    assert_eq!(ms(&city.accept_by) - ms(&city.assigned_at), 15 * DAY_MILLIS);
    let after = events_after(&db, before).await;
    let kinds: Vec<&str> = after.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "case.transferred.yingzhong-justice",
            "case.assigned.human-resources"
        ]
    );
    match &after[0].1 {
        Some(Payload::CaseTransferred(t)) => {
            assert_eq!(t.assignment_id, town.assignment_id);
            assert_eq!(t.to_department, "human-resources");
            assert_eq!(t.cause, AssignmentCause::TakenOver as i32);
            assert_eq!(t.reason, "workers of three towns");
        }
        other => panic!("{other:?}"),
    }
    match &after[1].1 {
        Some(Payload::CaseAssigned(a)) => {
            assert_eq!(a.cause, AssignmentCause::TakenOver as i32);
            assert_eq!(a.previous_department, "yingzhong-justice");
        }
        other => panic!("{other:?}"),
    }

    let down = api
        .transfer_assignment(Request::new(transfer_request(
            &city.assignment_id,
            "yingzhong-justice",
            "the town knows the employer",
        )))
        .await
        .expect("hand down")
        .into_inner()
        .assigned
        .expect("assigned");
    assert_eq!(down.department, "yingzhong-justice");
    let e = assigned_events(&db).await.pop().expect("case.assigned");
    assert_eq!(e.cause, AssignmentCause::HandedDown as i32);
    assert_eq!(
        assignments(&api, "yingzhong-justice", &[AssignmentState::Pending])
            .await
            .len(),
        1,
        "one open assignment"
    );
}

async fn a_transfer_within_a_level_to_an_unknown_or_departed_department_or_of_a_closed_assignment_is_refused(
    db: Db,
) {
    let api = api(&db);
    let town = town_case(&api, &db).await;
    join(
        &api,
        "linkuang-5x",
        DepartmentLevel::Town,
        ("磷矿镇", ""),
        &[Category::WorkSafety],
    )
    .await;
    join_city(&api, "transport", &[Category::Transport]).await;
    api.leave_department(Request::new(LeaveDepartmentRequest {
        code: "transport".into(),
        reason: String::new(),
    }))
    .await
    .expect("leave");
    let before = keys(&db).await;
    for (to, words) in [
        ("linkuang-5x", "town level"),
        ("nowhere", "not at the center"),
        ("transport", "left"),
    ] {
        let refused = api
            .transfer_assignment(Request::new(transfer_request(
                &town.assignment_id,
                to,
                "why",
            )))
            .await
            .expect_err(to);
        assert_eq!(refused.code(), Code::FailedPrecondition, "{to}");
        assert!(
            refused.message().contains(words),
            "{to}: {}",
            refused.message()
        );
    }
    let invalid = api
        .transfer_assignment(Request::new(transfer_request("x", "Bad Code", " ")))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(
        yimen_testkit::harness::violated_fields(&invalid),
        ["assignment_id", "to_department", "reason"]
    );
    assert_eq!(keys(&db).await, before, "nothing written");

    api.return_assignment(Request::new(ReturnAssignmentRequest {
        assignment_id: town.assignment_id.clone(),
        reason: "not ours".into(),
    }))
    .await
    .expect("return");
    let closed = api
        .transfer_assignment(Request::new(transfer_request(
            &town.assignment_id,
            "human-resources",
            "why",
        )))
        .await
        .expect_err("returned");
    assert_eq!(closed.code(), Code::FailedPrecondition);
    assert!(
        closed.message().contains("RETURNED"),
        "{}",
        closed.message()
    );
}

async fn only_the_center_transfers_and_nothing_is_written_when_refused(db: Db) {
    let api = api(&db);
    let town = town_case(&api, &db).await;
    let before = keys(&db).await;
    for principal in [
        department_caller("yingzhong-justice"),
        department_caller("human-resources"),
    ] {
        let refused = api
            .transfer_assignment(as_caller(
                &principal,
                transfer_request(&town.assignment_id, "human-resources", "why"),
            ))
            .await
            .expect_err("a department");
        assert_eq!(refused.code(), Code::PermissionDenied);
    }
    assert_eq!(keys(&db).await, before, "nothing written");
    api.transfer_assignment(as_caller(
        &caller(Role::Supervisor, None),
        transfer_request(&town.assignment_id, "human-resources", "why"),
    ))
    .await
    .expect("a supervisor");
}

// --- supervision without anyone asking ------------------------------------------------------

/// The case.escalated payloads in the outbox, in order.
async fn escalated_events(db: &Db) -> Vec<CaseEscalated> {
    events(db)
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::CaseEscalated(x)) => Some(x),
            _ => None,
        })
        .collect()
}

/// The case.overdue events in the outbox, in order, with their routing keys.
async fn overdue_events(db: &Db) -> Vec<(String, CaseOverdue)> {
    events(db)
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::CaseOverdue(x)) => Some((e.r#type, x)),
            _ => None,
        })
        .collect()
}

async fn the_third_return_makes_a_problem_case_under_supervision(db: Db) {
    let api = api(&db);
    // Codes in joining order: departments joined in the same instant tie by code.
    for code in ["a-insurance", "b-tax", "c-bank", "d-bank"] {
        join_city(&api, code, &[Category::MedicalInsurance]).await;
    }
    register(&db, "withholding", Category::MedicalInsurance, "郢中街道").await;
    let mut held = only_assignment(&api, "a-insurance", "withholding").await;
    for round in 1..=3 {
        let returned = api
            .return_assignment(Request::new(ReturnAssignmentRequest {
                assignment_id: held.assignment_id.clone(),
                reason: "not ours".into(),
            }))
            .await
            .expect("return")
            .into_inner();
        held = returned.reassigned.expect("assigned again");
        let problem = round == 3;
        assert_eq!(
            held.escalation == EscalationLevel::Supervision as i32,
            problem,
            "return {round}: {held:?}"
        );
        assert_eq!(escalated_events(&db).await.len(), usize::from(problem));
    }
    assert_eq!(held.department, "d-bank");
    let escalated = escalated_events(&db).await.remove(0);
    assert_eq!(escalated.cause, EscalationCause::ProblemCase as i32);
    assert_eq!(escalated.level, EscalationLevel::Supervision as i32);
    assert_eq!(escalated.department, "d-bank");
    assert_eq!(
        escalated.reason,
        "problem case (问题件): returned 3 times, by a-insurance, b-tax, c-bank; under supervision (督办)"
    );
    let stored = only_assignment(&api, "d-bank", "withholding").await;
    assert_eq!(stored.escalation, EscalationLevel::Supervision as i32);
}

async fn passed_deadlines_remind_then_supervise_once_each_and_a_stopped_clock_never(db: Db) {
    use yimen_dispatch::supervision::check_deadlines;
    let api = api(&db);
    join_city(&api, "housing", &[Category::HousingProperty]).await;
    register(&db, "late", Category::HousingProperty, "郢中街道").await;
    register(&db, "waiting", Category::HousingProperty, "郢中街道").await;
    let waiting = only_assignment(&api, "housing", "waiting").await;
    request_supplement(&api, &waiting.assignment_id).await;
    let now = yimen_platform::db::now_millis();
    assert_eq!(
        check_deadlines(&db, now).await.expect("check"),
        0,
        "nothing due yet"
    );

    // 16 days on: the acceptance deadline (15 days) passed; the stopped clock did not run.
    let later = now + 16 * DAY_MILLIS;
    assert_eq!(check_deadlines(&db, later).await.expect("check"), 1);
    assert_eq!(check_deadlines(&db, later).await.expect("check"), 0, "once");
    let late = only_assignment(&api, "housing", "late").await;
    assert_eq!(late.escalation, EscalationLevel::Reminder as i32);
    assert_eq!(ms(&late.acceptance_overdue_at), later);
    assert!(late.handling_overdue_at.is_none());
    let overdue = overdue_events(&db).await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].0, "case.overdue.housing");
    assert_eq!(overdue[0].1.assignment_id, late.assignment_id);
    assert_eq!(overdue[0].1.stage, OverdueStage::Acceptance as i32);
    assert_eq!(overdue[0].1.escalation, EscalationLevel::Reminder as i32);
    assert_eq!(ms(&overdue[0].1.deadline), ms(&late.accept_by));
    assert!(
        escalated_events(&db).await.is_empty(),
        "a reminder is no supervision"
    );

    // Accepted, then 61 days past acceptance: the handling deadline passed: 督办.
    let accepted = accepted(&api, "housing", "late").await;
    let past_handling = ms(&accepted.handle_by) + 1;
    assert_eq!(check_deadlines(&db, past_handling).await.expect("check"), 1);
    assert_eq!(check_deadlines(&db, past_handling).await.expect("check"), 0);
    let overdue = overdue_events(&db).await;
    assert_eq!(overdue.len(), 2);
    assert_eq!(overdue[1].1.stage, OverdueStage::Handling as i32);
    assert_eq!(overdue[1].1.escalation, EscalationLevel::Supervision as i32);
    let escalated = escalated_events(&db).await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].cause, EscalationCause::Overdue as i32);
    assert_eq!(escalated[0].level, EscalationLevel::Supervision as i32);
    assert!(
        escalated[0].reason.contains("督办"),
        "{}",
        escalated[0].reason
    );
    let supervised = only_assignment(&api, "housing", "late").await;
    assert_eq!(supervised.escalation, EscalationLevel::Supervision as i32);
    assert_eq!(ms(&supervised.handling_overdue_at), past_handling);
    let still = only_assignment(&api, "housing", "waiting").await;
    assert_eq!(still.escalation, EscalationLevel::Unspecified as i32);
    assert!(
        still.acceptance_overdue_at.is_none(),
        "a stopped clock is never overdue"
    );
}

async fn two_watchers_at_once_announce_each_passed_deadline_once(db: Db) {
    use yimen_dispatch::supervision::check_deadlines;
    let api = api(&db);
    join_city(&api, "housing", &[Category::HousingProperty]).await;
    for i in 0..12 {
        register(
            &db,
            &format!("late-{i}"),
            Category::HousingProperty,
            "郢中街道",
        )
        .await;
    }
    let later = yimen_platform::db::now_millis() + 16 * DAY_MILLIS;
    let (a, b) = tokio::join!(check_deadlines(&db, later), check_deadlines(&db, later));
    assert_eq!(a.expect("one") + b.expect("other"), 12);
    let overdue = overdue_events(&db).await;
    let ids: std::collections::BTreeSet<String> = overdue
        .iter()
        .map(|(_, o)| o.assignment_id.clone())
        .collect();
    assert_eq!((overdue.len(), ids.len()), (12, 12), "each once");
}

/// Accepts and replies the case's one assignment at `department`.
async fn answer(api: &Api, department: &str, case_id: &str) -> Assignment {
    let a = accepted(api, department, case_id).await;
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: a.assignment_id,
        reply: "补缴完成".into(),
    }))
    .await
    .expect("reply")
    .into_inner()
}

fn sweep_request(dry_run: bool) -> SweepSimilarCasesRequest {
    SweepSimilarCasesRequest {
        category: Category::MedicalInsurance as i32,
        town: "郢中街道".into(),
        words: vec!["代扣".into()],
        reason: "代扣接口已修复".into(),
        dry_run,
        ..Default::default()
    }
}

async fn a_similar_case_sweep_sends_the_answered_cases_back_and_a_dry_run_changes_nothing(db: Db) {
    let api = api(&db);
    join_city(&api, "medical-insurance", &[Category::MedicalInsurance]).await;
    let subjects = [
        ("first", "医保代扣失败"),
        ("second", "代扣出错不能报销"),
        (PROMPTING, "医保代扣代缴出错"),
        ("other", "异地就医备案"),
        ("open", "代扣失败 still being handled"),
    ];
    for (id, subject) in subjects {
        let mut event = registered(id, Category::MedicalInsurance, "郢中街道", "");
        if let Some(Payload::CaseRegistered(r)) = event.payload.as_mut() {
            r.subject = subject.into();
        }
        deliver(&db, &event).await;
    }
    for id in ["first", "second", PROMPTING, "other"] {
        answer(&api, "medical-insurance", id).await;
    }
    let before = events(&db).await.len();
    let listed = api
        .sweep_similar_cases(Request::new(SweepSimilarCasesRequest {
            prompted_by: PROMPTING.into(),
            ..sweep_request(true)
        }))
        .await
        .expect("dry run")
        .into_inner();
    let ids: Vec<&str> = listed.cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ids, ["first", "second"], "never the case that prompted it");
    assert!(listed.dry_run && !listed.truncated);
    assert!(listed.cases.iter().all(|c| c.reassigned.is_none()));
    assert_eq!(events(&db).await.len(), before, "a dry run writes nothing");

    let swept = api
        .sweep_similar_cases(Request::new(sweep_request(false)))
        .await
        .expect("sweep")
        .into_inner();
    assert_eq!(swept.cases.len(), 3);
    for similar in &swept.cases {
        let again = similar.reassigned.as_ref().expect("sent again");
        assert_eq!(again.department, "medical-insurance");
        assert_eq!(again.state, AssignmentState::Pending as i32);
        assert!(again.reason.contains("代扣接口已修复"), "{}", again.reason);
    }
    let assigned = assigned_events(&db).await;
    let swept_causes = assigned
        .iter()
        .filter(|a| a.cause == AssignmentCause::Sweep as i32)
        .count();
    assert_eq!(swept_causes, 3);
    let again = api
        .sweep_similar_cases(Request::new(sweep_request(false)))
        .await
        .expect("sweep again")
        .into_inner();
    assert!(again.cases.is_empty(), "now handled again: {again:?}");
}

/// The case whose fix prompts the sweep (`prompted_by` is a case id: a uuid).
const PROMPTING: &str = "0190b7e8-6c3e-7000-8000-000000000000";

async fn only_the_center_sweeps_and_a_bad_sweep_names_every_field(db: Db) {
    let api = api(&db);
    join_city(&api, "medical-insurance", &[Category::MedicalInsurance]).await;
    let refused = api
        .sweep_similar_cases(as_caller(
            &department_caller("medical-insurance"),
            sweep_request(true),
        ))
        .await
        .expect_err("a department does not sweep");
    assert_eq!(refused.code(), Code::PermissionDenied);
    let supervisor = caller(Role::Supervisor, None);
    api.sweep_similar_cases(as_caller(&supervisor, sweep_request(true)))
        .await
        .expect("a supervisor sweeps");
    let invalid = api
        .sweep_similar_cases(Request::new(SweepSimilarCasesRequest {
            category: 0,
            words: vec![],
            reason: String::new(),
            ..Default::default()
        }))
        .await
        .expect_err("invalid");
    assert_eq!(
        yimen_testkit::harness::violated_fields(&invalid),
        ["words", "reason"]
    );
}

// --- joint handling (主办 / 协办) and leaders' instructions (批示) -----------------------------

/// A street office leading a social-assistance case of its town, civil affairs and human
/// resources at the center; answers the lead's accepted assignment.
async fn joint_case(api: &Api, db: &Db, case_id: &str) -> Assignment {
    join(
        api,
        "street",
        DepartmentLevel::Town,
        ("郢中街道", ""),
        &[Category::SocialAssistance],
    )
    .await;
    join_city(api, "civil-affairs", &[Category::HousingProperty]).await;
    join_city(api, "human-resources", &[Category::LabourWages]).await;
    register(db, case_id, Category::SocialAssistance, "郢中街道").await;
    accepted(api, "street", case_id).await
}

async fn add_co_handlers(
    api: &Api,
    by: &Principal,
    lead: &Assignment,
    departments: &[&str],
) -> Result<AddCoHandlersResponse, tonic::Status> {
    api.add_co_handlers(as_caller(
        by,
        AddCoHandlersRequest {
            assignment_id: lead.assignment_id.clone(),
            departments: departments.iter().map(|d| d.to_string()).collect(),
            note: "各自办理职责范围内的部分".into(),
        },
    ))
    .await
    .map(tonic::Response::into_inner)
}

async fn reply(api: &Api, assignment_id: &str, text: &str) -> Result<Assignment, tonic::Status> {
    api.reply_assignment(Request::new(ReplyAssignmentRequest {
        assignment_id: assignment_id.into(),
        reply: text.into(),
    }))
    .await
    .map(tonic::Response::into_inner)
}

async fn co_handlers_get_assignments_of_their_own_and_the_case_stays_with_the_lead(db: Db) {
    let api = api(&db);
    let lead = joint_case(&api, &db, "joint").await;
    let before = events(&db).await.len();

    // Another department may not enlist co-handlers on a case it does not lead.
    let refused = add_co_handlers(
        &api,
        &department_caller("civil-affairs"),
        &lead,
        &["human-resources"],
    )
    .await
    .expect_err("not the lead");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(events(&db).await.len(), before, "nothing written");

    let enlisted = add_co_handlers(
        &api,
        &department_caller("street"),
        &lead,
        &["civil-affairs", "human-resources"],
    )
    .await
    .expect("the lead enlists");
    let lead_now = enlisted.lead.expect("lead");
    assert_eq!(lead_now.role, AssignmentRole::Lead as i32);
    assert_eq!(
        lead_now
            .parts
            .iter()
            .map(|p| (p.department.as_str(), p.state))
            .collect::<Vec<_>>(),
        [
            ("civil-affairs", AssignmentState::Pending as i32),
            ("human-resources", AssignmentState::Pending as i32)
        ]
    );
    for (co, department) in enlisted
        .co_handlers
        .iter()
        .zip(["civil-affairs", "human-resources"])
    {
        assert_eq!(co.department, department);
        assert_eq!(co.role, AssignmentRole::CoHandler as i32);
        assert_eq!(co.lead_assignment_id, lead.assignment_id);
        assert_eq!(ms(&co.accept_by) - ms(&co.assigned_at), 15 * DAY_MILLIS);
        assert_eq!(only_assignment(&api, department, "joint").await, *co);
    }
    let sent = events_after(&db, before).await;
    let keys: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "case.assigned.civil-affairs",
            "case.assigned.human-resources"
        ]
    );
    for (_, payload) in &sent {
        match payload {
            Some(Payload::CaseAssigned(a)) => {
                assert_eq!(a.cause, AssignmentCause::CoHandling as i32);
                assert_eq!(a.previous_department, "street");
                assert!(a.reason.contains("协办"), "{}", a.reason);
            }
            other => panic!("{other:?}"),
        }
    }
    // The case's own deliveries (a supplement, a mediation) still reach the lead.
    deliver(&db, &mediation_opened("joint")).await;
    assert!(only_assignment(&api, "street", "joint").await.in_mediation);
}

async fn a_co_handler_is_never_the_lead_a_department_on_the_case_or_one_that_left(db: Db) {
    let api = api(&db);
    let lead = joint_case(&api, &db, "joint").await;
    join_city(&api, "housing", &[Category::Transport]).await;
    api.leave_department(Request::new(LeaveDepartmentRequest {
        code: "housing".into(),
        reason: "merged".into(),
    }))
    .await
    .expect("leave");
    let center = caller(Role::Supervisor, None);
    add_co_handlers(&api, &center, &lead, &["civil-affairs"])
        .await
        .expect("the center enlists");
    let before = events(&db).await.len();
    let refused = add_co_handlers(
        &api,
        &center,
        &lead,
        &["street", "civil-affairs", "housing", "nowhere"],
    )
    .await
    .expect_err("none of them");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    for told in [
        "street is the lead department",
        "civil-affairs already co-handles",
        "housing is not at the center",
        "nowhere is not at the center",
    ] {
        assert!(refused.message().contains(told), "{}", refused.message());
    }
    let invalid = add_co_handlers(&api, &center, &lead, &[])
        .await
        .expect_err("nobody named");
    assert_eq!(
        yimen_testkit::harness::violated_fields(&invalid),
        ["departments"]
    );
    assert_eq!(events(&db).await.len(), before, "nothing written");
    // A co-handler's own assignment enlists nobody.
    let part = only_assignment(&api, "civil-affairs", "joint").await;
    let by_part = add_co_handlers(&api, &center, &part, &["human-resources"])
        .await
        .expect_err("not a lead");
    assert_eq!(by_part.code(), Code::FailedPrecondition);
    assert!(
        by_part.message().contains("CO_HANDLER"),
        "{}",
        by_part.message()
    );
}

async fn the_lead_replies_once_every_part_is_in_and_each_part_is_announced_to_the_lead(db: Db) {
    let api = api(&db);
    let lead = joint_case(&api, &db, "joint").await;
    add_co_handlers(
        &api,
        &department_caller("street"),
        &lead,
        &["civil-affairs", "human-resources"],
    )
    .await
    .expect("enlisted");
    let missing = |e: tonic::Status| {
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        e.message().to_string()
    };
    let both = missing(
        reply(&api, &lead.assignment_id, "答复")
            .await
            .expect_err("parts"),
    );
    assert!(both.contains("civil-affairs, human-resources"), "{both}");

    let before = events(&db).await.len();
    let civil = accepted(&api, "civil-affairs", "joint").await;
    let part = reply(&api, &civil.assignment_id, "低保已恢复")
        .await
        .expect("the part");
    assert_eq!(part.state, AssignmentState::Replied as i32);
    let sent = events_after(&db, before).await;
    assert_eq!(
        sent.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["case.accepted.civil-affairs", "case.part_replied.street"]
    );
    match (&sent[0].1, &sent[1].1) {
        (Some(Payload::CaseAccepted(a)), Some(Payload::CasePartReplied(p))) => {
            assert!(a.co_handling);
            assert_eq!(p.department, "civil-affairs");
            assert_eq!(p.lead_department, "street");
            assert_eq!(p.lead_assignment_id, lead.assignment_id);
            assert_eq!(p.reply, "低保已恢复");
            assert!(p.within_deadline);
        }
        other => panic!("{other:?}"),
    }
    let one = missing(
        reply(&api, &lead.assignment_id, "答复")
            .await
            .expect_err("one part"),
    );
    assert!(
        one.contains("human-resources") && !one.contains("civil-affairs"),
        "{one}"
    );

    let labour = accepted(&api, "human-resources", "joint").await;
    reply(&api, &labour.assignment_id, "介绍了公益性岗位")
        .await
        .expect("the second part");
    let before = events(&db).await.len();
    let answered = reply(&api, &lead.assignment_id, "低保已恢复,丈夫已就业")
        .await
        .expect("the lead answers");
    assert_eq!(answered.state, AssignmentState::Replied as i32);
    assert!(
        answered
            .parts
            .iter()
            .all(|p| p.state == AssignmentState::Replied as i32 && p.replied_at.is_some()),
        "{answered:?}"
    );
    let sent = events_after(&db, before).await;
    assert_eq!(
        sent.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["case.replied.street"]
    );
}

async fn a_co_handler_neither_returns_refuses_forwards_nor_refers_the_case(db: Db) {
    let api = api(&db);
    let lead = joint_case(&api, &db, "joint").await;
    add_co_handlers(
        &api,
        &department_caller("street"),
        &lead,
        &["civil-affairs"],
    )
    .await
    .expect("enlisted");
    let part = only_assignment(&api, "civil-affairs", "joint").await;
    let id = part.assignment_id.clone();
    let before = events(&db).await.len();
    let refusals = [
        api.return_assignment(Request::new(ReturnAssignmentRequest {
            assignment_id: id.clone(),
            reason: "not ours".into(),
        }))
        .await
        .map(drop),
        api.refuse_assignment(Request::new(refusal_request(&id)))
            .await
            .map(drop),
        api.forward_assignment(Request::new(ForwardAssignmentRequest {
            assignment_id: id.clone(),
            authority: "省民政厅".into(),
            reason: "elsewhere".into(),
        }))
        .await
        .map(drop),
    ];
    for refused in refusals {
        let e = refused.expect_err("the lead decides");
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert!(e.message().contains("CO_HANDLER"), "{}", e.message());
    }
    let accepted_part = accepted(&api, "civil-affairs", "joint").await;
    let referral = api
        .refer_to_mediation(Request::new(ReferToMediationRequest {
            assignment_id: accepted_part.assignment_id.clone(),
            linkage: Linkage::Petition as i32,
            summary: String::new(),
        }))
        .await
        .expect_err("through the lead");
    assert!(
        referral.message().contains("CO_HANDLER"),
        "{}",
        referral.message()
    );
    assert_eq!(
        events(&db).await.len(),
        before + 1,
        "only the part's acceptance"
    );
}

async fn a_co_handler_that_leaves_is_no_longer_awaited_and_nobody_inherits_its_part(db: Db) {
    let api = api(&db);
    let lead = joint_case(&api, &db, "joint").await;
    add_co_handlers(
        &api,
        &department_caller("street"),
        &lead,
        &["civil-affairs"],
    )
    .await
    .expect("enlisted");
    let before = events(&db).await.len();
    let left = api
        .leave_department(Request::new(LeaveDepartmentRequest {
            code: "civil-affairs".into(),
            reason: "merged".into(),
        }))
        .await
        .expect("leave")
        .into_inner();
    assert!(left.handovers.is_empty(), "{left:?}");
    let keys: Vec<String> = events_after(&db, before)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["department.left"]);
    let answered = reply(&api, &lead.assignment_id, "答复")
        .await
        .expect("nothing awaited");
    assert_eq!(answered.parts[0].state, AssignmentState::HandedOver as i32);
}

fn instruction_request(assignment_id: &str) -> RecordInstructionRequest {
    RecordInstructionRequest {
        assignment_id: assignment_id.into(),
        leader: "市委书记".into(),
        instruction: "责成郢中街道会同民政、人社部门迅速办理".into(),
        due_days: 10,
    }
}

async fn instructions(api: &Api, overdue_only: bool) -> Vec<Instruction> {
    api.list_instructions(Request::new(ListInstructionsRequest {
        overdue_only,
        page: None,
    }))
    .await
    .expect("list instructions")
    .into_inner()
    .instructions
}

async fn an_instruction_has_its_deadline_and_the_leads_reply_reports_it_back(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "letter", Category::SocialAssistance, "郢中街道").await;
    register(&db, "other", Category::SocialAssistance, "郢中街道").await;
    let letter = only_assignment(&api, "civil-affairs", "letter").await;
    let other = only_assignment(&api, "civil-affairs", "other").await;

    let invalid = api
        .record_instruction(Request::new(RecordInstructionRequest {
            assignment_id: "nope".into(),
            leader: String::new(),
            instruction: " ".into(),
            due_days: 91,
        }))
        .await
        .expect_err("every field");
    assert_eq!(
        yimen_testkit::harness::violated_fields(&invalid),
        ["assignment_id", "leader", "instruction", "due_days"]
    );

    let before = events(&db).await.len();
    let recorded = api
        .record_instruction(Request::new(instruction_request(&letter.assignment_id)))
        .await
        .expect("recorded")
        .into_inner();
    assert_eq!(
        ms(&recorded.due_at) - ms(&recorded.recorded_at),
        10 * DAY_MILLIS
    );
    assert_eq!(
        (recorded.department.as_str(), recorded.case_number.as_str()),
        ("civil-affairs", "YM-2026-letter")
    );
    let sent = events_after(&db, before).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "case.instructed.civil-affairs");
    match &sent[0].1 {
        Some(Payload::CaseInstructed(i)) => {
            assert_eq!(i.leader, "市委书记");
            assert_eq!(i.instruction_id, recorded.instruction_id);
            assert_eq!(ms(&i.due_at), ms(&recorded.due_at));
        }
        other => panic!("{other:?}"),
    }
    let late = api
        .record_instruction(Request::new(instruction_request(&other.assignment_id)))
        .await
        .expect("recorded")
        .into_inner();
    // The second one's deadline has passed, as if ten days went by.
    sqlx::query("UPDATE instructions SET due_at = $1 WHERE instruction_id = $2")
        .bind(yimen_platform::db::now_millis() - DAY_MILLIS)
        .bind(&late.instruction_id)
        .execute(db.pool())
        .await
        .expect("move the deadline");

    let listed = instructions(&api, false).await;
    assert_eq!(
        listed
            .iter()
            .map(|i| (i.case_id.as_str(), i.reported_at.is_some(), i.overdue))
            .collect::<Vec<_>>(),
        [("letter", false, false), ("other", false, true)]
    );
    let overdue: Vec<String> = instructions(&api, true)
        .await
        .into_iter()
        .map(|i| i.case_id)
        .collect();
    assert_eq!(overdue, ["other"]);

    let on_assignment = only_assignment(&api, "civil-affairs", "letter").await;
    assert_eq!(
        on_assignment.instruction.map(|i| i.instruction_id),
        Some(recorded.instruction_id.clone())
    );
    let lead = accepted(&api, "civil-affairs", "letter").await;
    reply(&api, &lead.assignment_id, "低保已恢复")
        .await
        .expect("reply");
    let listed = instructions(&api, false).await;
    assert!(
        listed[0].reported_at.is_some() && !listed[0].overdue,
        "{listed:?}"
    );
    // Reported late is still overdue: the supervision office sees it was late.
    let other_lead = accepted(&api, "civil-affairs", "other").await;
    reply(&api, &other_lead.assignment_id, "已办理")
        .await
        .expect("reply");
    let overdue = instructions(&api, true).await;
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].reported_at.is_some() && overdue[0].overdue);
}

async fn an_instruction_needs_a_department_holding_the_case(db: Db) {
    let api = api(&db);
    join_city(&api, "civil-affairs", &[Category::SocialAssistance]).await;
    register(&db, "letter", Category::SocialAssistance, "郢中街道").await;
    let lead = accepted(&api, "civil-affairs", "letter").await;
    reply(&api, &lead.assignment_id, "已办理")
        .await
        .expect("reply");
    let refused = api
        .record_instruction(Request::new(instruction_request(&lead.assignment_id)))
        .await
        .expect_err("nobody holds it");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("REPLIED"),
        "{}",
        refused.message()
    );
    assert!(instructions(&api, false).await.is_empty());
}
