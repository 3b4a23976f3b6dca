//! Intake's contract over both stores (PostgreSQL and SQLite): registration, numbering,
//! idempotency, reading and listing cases, and the consumer keeping status and timeline
//! current from dispatch's, mediation's and analysis's events — driven the way the gRPC
//! server and the consumer loop drive them.

mod support;

use std::collections::BTreeSet;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use support::*;
use tonic::{Code, Status};
use yimen_intake::store;
use yimen_platform::auth::{Principal, Role, Scope};
use yimen_platform::bus::{Acker, BusError, Delivery, Message};
use yimen_platform::calendar;
use yimen_platform::consumer::{self, Outcome};
use yimen_platform::db::{Db, now_millis};
use yimen_platform::time::timestamp;
use yimen_platform::{events, outbox};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::intake_service_server::IntakeService;
use yimen_proto::v1::*;
use yimen_testkit::harness::next_item;

yimen_testkit::store_contract!(
    yimen_intake::SERVICE,
    yimen_intake::MIGRATIONS,
    [
        registering_writes_case_timeline_and_event_in_one_transaction,
        registered_event_carries_keyed_fingerprints_and_no_personal_data,
        petitioners_are_sealed_at_rest_and_reseal_moves_every_row_to_the_current_key,
        fingerprints_use_the_key_files_lookup_key_unless_petitioner_key_is_set,
        case_numbers_are_sequential_per_year,
        resubmission_with_same_request_id_returns_the_same_case,
        get_case_by_number_and_by_id,
        list_filters_by_status_category_town_and_date,
        list_paginates_without_gaps_or_repeats,
        dispatch_events_update_status_and_timeline,
        older_event_does_not_roll_status_back,
        duplicate_event_is_absorbed_by_the_inbox,
        event_for_unknown_case_is_refused_and_left_for_retry,
        events_that_do_not_move_a_case_are_ignored,
        mediation_opened_sets_in_mediation_and_adds_its_line,
        failed_or_withdrawn_mediation_returns_the_case_to_accepted,
        agreement_leaves_the_status_to_dispatchs_reply,
        escalation_extension_and_alert_add_lines_without_moving_the_case,
        event_about_no_case_is_ignored,
        a_department_reads_the_cases_it_holds_or_held_and_no_other,
        a_department_keeps_a_case_it_was_given_whatever_order_events_arrive_in,
        a_system_reads_only_its_own_submissions,
        a_system_cannot_learn_of_a_case_through_another_systems_request_id,
        a_committee_reads_no_case_and_everything_sees_every_case,
        each_role_sees_the_petitioners_in_full_or_masked,
        the_complained_about_department_sees_the_petitioners_masked_while_it_holds_the_case,
        a_confidential_case_is_masked_to_its_handling_department,
        listing_answers_no_identity_to_any_caller,
        the_query_code_shows_the_petitioner_the_status_timeline_and_reply,
        a_wrong_code_and_an_unknown_number_answer_the_same_not_found,
        a_replayed_request_answers_no_query_code_and_the_first_code_still_works,
        status_queries_past_the_rate_answer_resource_exhausted,
        submissions_past_the_outbox_backlog_answer_resource_exhausted_then_pass_once_it_drains,
        watching_a_case_resumes_after_a_position_missing_nothing_and_nothing_twice,
        a_line_added_twice_is_kept_once_and_leaves_no_gap_in_the_positions,
        a_case_is_watched_only_by_a_caller_who_may_read_it,
        a_refusal_sets_refused_and_tells_the_channel_in_the_timeline,
        a_forward_sets_forwarded,
        a_supplement_request_awaits_the_material_and_the_resumption_restores_the_status,
        a_supplement_is_added_only_to_a_case_awaiting_one_that_the_caller_sees,
        a_refusal_notice_goes_to_the_sms_gateway_once_and_shows_in_the_timeline,
        a_notice_the_gateway_refuses_stays_unsent_and_is_tried_again_later,
        the_log_notifier_sends_acceptance_forward_and_reply_notices,
        a_review_then_a_re_review_each_of_the_latest_answer_and_then_no_more,
        a_review_is_refused_past_the_window_and_before_any_answer,
        a_matter_closed_for_good_is_refused_again_unless_new_facts_are_stated,
        a_withdrawal_ends_an_open_case_once_and_later_events_do_not_move_it,
        a_case_settled_at_the_desk_is_registered_replied_and_never_held,
    ]
);

// --- helpers -------------------------------------------------------------------------------

/// Moves a case's registration instant, so listing tests control time.
async fn register_at(db: &Db, case_id: &str, at: i64) {
    sqlx::query("UPDATE cases SET registered_at = $1, status_at = $1 WHERE case_id = $2")
        .bind(at)
        .bind(case_id)
        .execute(db.pool())
        .await
        .expect("move registration");
}

async fn list_ids(db: &Db, request: ListCasesRequest) -> Vec<String> {
    app(db)
        .list(&request, &Scope::Everything)
        .await
        .expect("list")
        .cases
        .into_iter()
        .map(|c| c.case_id)
        .collect()
}

struct NoAck;

#[async_trait]
impl Acker for NoAck {
    async fn ack(&self) -> Result<(), BusError> {
        Ok(())
    }
    async fn nack(&self, _requeue: bool) -> Result<(), BusError> {
        Ok(())
    }
}

/// Delivers `event` through the platform's consumer path (decode, inbox claim, handler,
/// commit), as the consumer loop does for every delivery.
async fn deliver(db: &Db, event: &Event) -> Outcome {
    let message = Message {
        id: event.id.clone(),
        routing_key: event.r#type.clone(),
        body: events::encode(event),
        headers: Default::default(),
    };
    let handler = std::sync::Arc::new(yimen_intake::consumers::IntakeHandler);
    consumer::process(
        db,
        handler.as_ref(),
        "yimen.intake",
        Delivery::new(message, false, Box::new(NoAck)),
    )
    .await
}

// --- registration --------------------------------------------------------------------------

async fn registering_writes_case_timeline_and_event_in_one_transaction(db: Db) {
    let submitted = submit(
        &db,
        submission(Category::SocialAssistance, "洋梓镇", "allowance stopped"),
    )
    .await;

    assert_eq!(
        outbox::unsent_routing_keys(&db).await.expect("outbox"),
        ["case.registered"]
    );
    let events = outbox_events(&db).await;
    let event = &events[0];
    assert_eq!(
        (event.producer.as_str(), event.case_id.as_str()),
        ("intake", submitted.case_id.as_str())
    );

    let case = get(&db, &submitted.case_id).await;
    assert_eq!(case.status, CaseStatus::Registered as i32);
    assert_eq!(kinds(&case), ["case.registered"]);
    let first = &case.timeline[0];
    assert_eq!(first.event_id, event.id, "the timeline line is the event's");
    assert_eq!(
        first.at, event.occurred_at,
        "registered at the instant announced"
    );
    assert_eq!(case.registered_at, event.occurred_at);
    assert!(
        first.summary.contains(&case.case_number),
        "{}",
        first.summary
    );
}

async fn registered_event_carries_keyed_fingerprints_and_no_personal_data(db: Db) {
    let mut request = submission(
        Category::CivilCommercial,
        "郢中街道",
        "expo cancelled, deposits kept",
    );
    request.headcount = 19;
    request.amount_claimed = Some(Money { fen: 30_000_000 });
    request.petitioners.push(Person {
        name: "李某".into(),
        id_number: String::new(),
        phone: "0724-4221234".into(),
    });
    let submitted = submit(&db, request).await;

    let event = outbox_events(&db).await.remove(0);
    let Some(Payload::CaseRegistered(registered)) = &event.payload else {
        panic!("not a case.registered payload");
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("key");
    mac.update(ID_NUMBER.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        registered.petitioner_keys,
        [expected],
        "one key: only one petitioner gave a number"
    );
    assert_eq!(registered.case_number, submitted.case_number);
    assert_eq!(registered.headcount, 19);
    assert_eq!(registered.category, Category::CivilCommercial as i32);
    assert_eq!(registered.amount_claimed, Some(Money { fen: 30_000_000 }));
    assert_eq!(
        registered.location.as_ref().map(|l| l.town.as_str()),
        Some("郢中街道")
    );

    let body = String::from_utf8_lossy(&events::encode(&event)).to_string();
    for personal in ["王某", "李某", ID_NUMBER, "13800000000", "0724-4221234"] {
        assert!(!body.contains(personal), "the event carries {personal}");
    }
}

/// The number `intake` gives a new case.
async fn register(intake: &yimen_intake::app::Intake, subject: &str) -> String {
    let request = submission(Category::Land, "柴湖镇", subject);
    intake
        .submit(&request, &Scope::Everything)
        .await
        .expect("submit")
        .case_number
}

async fn case_numbers_are_sequential_per_year(db: Db) {
    let year = calendar::year(now_millis());
    let number = |n: i64| format!("YM-{year}-{n:06}");
    let intake = |block: u32| {
        let config = yimen_intake::IntakeConfig {
            case_number_block: block,
            ..yimen_intake::IntakeConfig::default()
        };
        yimen_intake::app::Intake::new(db.clone(), &config, yimen_testkit::keyring())
    };
    // One process hands out its reserved block in turn; a second (a replica) reserves the
    // next block, so the two never share a number.
    let first = intake(5);
    let second = intake(5);
    assert_eq!(register(&first, "one").await, number(1));
    assert_eq!(register(&first, "two").await, number(2));
    assert_eq!(register(&second, "three").await, number(6));
    assert_eq!(register(&first, "four").await, number(3));
    // Without reserving ahead each registration takes the next number in its own transaction.
    let gapless = intake(0);
    assert_eq!(register(&gapless, "five").await, number(11));
    assert_eq!(register(&gapless, "six").await, number(12));
    assert_eq!(register(&second, "seven").await, number(7));

    // Each year counts from one; a year's count goes on where it stopped.
    let mut tx = db.begin().await.expect("begin");
    assert_eq!(
        store::advance_case_seq(&mut tx, 2030, 1)
            .await
            .expect("seq"),
        1
    );
    assert_eq!(
        store::advance_case_seq(&mut tx, 2031, 1)
            .await
            .expect("seq"),
        1
    );
    assert_eq!(
        store::advance_case_seq(&mut tx, 2030, 20)
            .await
            .expect("seq"),
        21
    );
    assert_eq!(
        store::advance_case_seq(&mut tx, year, 1)
            .await
            .expect("seq"),
        13
    );
    db.commit(tx).await.expect("commit");
}

async fn resubmission_with_same_request_id_returns_the_same_case(db: Db) {
    let mut request = submission(Category::Transport, "石牌镇", "bus route cut");
    request.request_id = "desk-3-20260105-0007".into();
    let first = submit(&db, request.clone()).await;
    let again = submit(&db, request.clone()).await;
    assert_eq!(
        (&again.case_id, &again.case_number),
        (&first.case_id, &first.case_number)
    );
    assert_eq!(
        outbox::unsent_routing_keys(&db)
            .await
            .expect("outbox")
            .len(),
        1
    );

    request.request_id = "desk-3-20260105-0008".into();
    let other = submit(&db, request.clone()).await;
    assert_ne!(other.case_id, first.case_id);

    // Without a request id every submission is a new case.
    request.request_id = String::new();
    let a = submit(&db, request.clone()).await;
    let b = submit(&db, request).await;
    assert_ne!(a.case_id, b.case_id);
    assert_eq!(
        outbox::unsent_routing_keys(&db)
            .await
            .expect("outbox")
            .len(),
        4
    );
}

// --- reading -------------------------------------------------------------------------------

async fn get_case_by_number_and_by_id(db: Db) {
    let mut request = submission(Category::LabourWages, "胡集镇", "wages unpaid");
    request.headcount = 6;
    request.petitioners.push(Person {
        name: "李某".into(),
        id_number: String::new(),
        phone: String::new(),
    });
    request.amount_claimed = Some(Money { fen: 5_400_000 });
    let submitted = submit(&db, request).await;

    let by_id = get(&db, &submitted.case_id).await;
    let by_number = get(&db, &submitted.case_number).await;
    let by_lowercase_number = get(&db, &submitted.case_number.to_lowercase()).await;
    assert_eq!(by_id, by_number);
    assert_eq!(by_id, by_lowercase_number);

    assert_eq!(by_id.case_id, submitted.case_id);
    assert_eq!(by_id.case_number, submitted.case_number);
    assert_eq!(by_id.status, CaseStatus::Registered as i32);
    assert_eq!(by_id.department, "");
    assert!(by_id.collective, "six people make a collective petition");
    assert_eq!(by_id.headcount, 6);
    assert_eq!(by_id.channel, Channel::Visit as i32);
    assert_eq!(by_id.category, Category::LabourWages as i32);
    assert_eq!(by_id.amount_claimed, Some(Money { fen: 5_400_000 }));
    let names: Vec<&str> = by_id.petitioners.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["王某", "李某"], "in the order given");
    assert_eq!(by_id.petitioners[0].id_number, ID_NUMBER);

    for unknown in [
        uuid::Uuid::now_v7().to_string(),
        "YM-1999-000001".to_string(),
    ] {
        let err = app(&db)
            .get(
                &GetCaseRequest {
                    case_ref: unknown,
                    after_position: 0,
                },
                &Scope::Everything,
            )
            .await
            .expect_err("unknown");
        assert!(
            matches!(err, yimen_platform::error::Error::NotFound(_)),
            "{err}"
        );
    }
}

// --- listing -------------------------------------------------------------------------------

async fn list_filters_by_status_category_town_and_date(db: Db) {
    let a = submit(&db, submission(Category::SocialAssistance, "洋梓镇", "a"))
        .await
        .case_id;
    let b = submit(&db, submission(Category::Transport, "洋梓镇", "b"))
        .await
        .case_id;
    let c = submit(&db, submission(Category::SocialAssistance, "胡集镇", "c"))
        .await
        .case_id;
    let d = submit(&db, submission(Category::Land, "胡集镇", "d"))
        .await
        .case_id;
    for (id, at) in [(&a, 1_000), (&b, 2_000), (&c, 3_000), (&d, 4_000)] {
        register_at(&db, id, at).await;
    }
    apply(&db, &assigned(&b, "transport", 5_000))
        .await
        .expect("assign b");

    let all = list_ids(&db, ListCasesRequest::default()).await;
    assert_eq!(
        all,
        [d.as_str(), c.as_str(), b.as_str(), a.as_str()],
        "newest first"
    );
    let by_status = |s: CaseStatus| ListCasesRequest {
        status: s as i32,
        ..Default::default()
    };
    assert_eq!(
        list_ids(&db, by_status(CaseStatus::Assigned)).await,
        [b.as_str()]
    );
    assert_eq!(
        list_ids(&db, by_status(CaseStatus::Registered)).await,
        [d.as_str(), c.as_str(), a.as_str()]
    );
    let social = ListCasesRequest {
        category: Category::SocialAssistance as i32,
        ..Default::default()
    };
    assert_eq!(
        list_ids(&db, social.clone()).await,
        [c.as_str(), a.as_str()]
    );
    let town = ListCasesRequest {
        town: "洋梓镇".into(),
        ..Default::default()
    };
    assert_eq!(list_ids(&db, town).await, [b.as_str(), a.as_str()]);
    let period = ListCasesRequest {
        registered_from: Some(timestamp(2_000)),
        registered_to: Some(timestamp(4_000)),
        ..Default::default()
    };
    assert_eq!(
        list_ids(&db, period).await,
        [c.as_str(), b.as_str()],
        "from inclusive, to exclusive"
    );
    let combined = ListCasesRequest {
        town: "胡集镇".into(),
        ..social
    };
    assert_eq!(list_ids(&db, combined).await, [c.as_str()]);

    let listed = app(&db)
        .list(&by_status(CaseStatus::Assigned), &Scope::Everything)
        .await
        .expect("list")
        .cases;
    assert_eq!(listed[0].department, "transport");
    assert_eq!(listed[0].registered_at, Some(timestamp(2_000)));
}

async fn list_paginates_without_gaps_or_repeats(db: Db) {
    let mut ids = Vec::new();
    // Ties on the registration instant must neither drop nor repeat a case across pages.
    for (n, at) in [1_000, 1_000, 1_000, 2_000, 2_000, 3_000, 4_000]
        .into_iter()
        .enumerate()
    {
        let id = submit(
            &db,
            submission(Category::Other, "郢中街道", &format!("case {n}")),
        )
        .await
        .case_id;
        register_at(&db, &id, at).await;
        ids.push(id);
    }
    let everything = list_ids(&db, ListCasesRequest::default()).await;
    assert_eq!(everything.len(), 7);

    let page = |token: String| ListCasesRequest {
        page: Some(PageRequest {
            page_size: 3,
            page_token: token,
        }),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let answer = app(&db)
            .list(&page(token), &Scope::Everything)
            .await
            .expect("page");
        pages += 1;
        seen.extend(answer.cases.into_iter().map(|c| c.case_id));
        if pages == 1 {
            // A case registered while the caller pages is newer than every page still to come.
            submit(&db, submission(Category::Other, "郢中街道", "meanwhile")).await;
        }
        if answer.next_page_token.is_empty() {
            break;
        }
        token = answer.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen, everything,
        "the pages together are the whole list, in order"
    );
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 7, "no repeats");
}

// --- consuming dispatch's events -------------------------------------------------------------

async fn dispatch_events_update_status_and_timeline(db: Db) {
    let submitted = submit(
        &db,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    let id = submitted.case_id.as_str();
    let r = registered_at(&get(&db, id).await);
    let status = |case: &Case| {
        (
            CaseStatus::try_from(case.status).expect("status"),
            case.department.clone(),
        )
    };

    apply(&db, &assigned(id, "transport", r + 10))
        .await
        .expect("assigned");
    assert_eq!(
        status(&get(&db, id).await),
        (CaseStatus::Assigned, "transport".into())
    );

    apply(
        &db,
        &returned(id, "transport", r + 20, "a road matter for the town"),
    )
    .await
    .expect("returned");
    assert_eq!(
        status(&get(&db, id).await),
        (CaseStatus::Assigned, "transport".into()),
        "a return alone changes no status"
    );

    apply(&db, &assigned(id, "shipai-town", r + 21))
        .await
        .expect("assigned again");
    assert_eq!(
        status(&get(&db, id).await),
        (CaseStatus::Assigned, "shipai-town".into())
    );

    let handle_by = r + 60 * yimen_platform::time::DAY_MILLIS;
    apply(&db, &accepted(id, "shipai-town", r + 30, handle_by))
        .await
        .expect("accepted");
    assert_eq!(
        status(&get(&db, id).await),
        (CaseStatus::Accepted, "shipai-town".into())
    );

    apply(
        &db,
        &replied(id, "shipai-town", r + 40, "route restored on weekdays"),
    )
    .await
    .expect("replied");
    let case = get(&db, id).await;
    assert_eq!(status(&case), (CaseStatus::Replied, "shipai-town".into()));

    assert_eq!(
        kinds(&case),
        [
            "case.registered",
            "case.assigned",
            "case.returned",
            "case.assigned",
            "case.accepted",
            "case.replied"
        ]
    );
    let summaries: Vec<&str> = case.timeline.iter().map(|t| t.summary.as_str()).collect();
    assert_eq!(
        summaries[1],
        "assigned to transport office (transport): owns the category"
    );
    assert_eq!(
        summaries[2],
        "returned by transport: a road matter for the town"
    );
    assert_eq!(
        summaries[4],
        format!(
            "accepted by shipai-town; to be handled by {}",
            calendar::date(handle_by)
        )
    );
    assert_eq!(
        summaries[5],
        "replied by shipai-town: route restored on weekdays"
    );
    let departments: Vec<&str> = case
        .timeline
        .iter()
        .map(|t| t.department.as_str())
        .collect();
    assert_eq!(
        departments,
        [
            "",
            "transport",
            "transport",
            "shipai-town",
            "shipai-town",
            "shipai-town"
        ]
    );
    // Dispatch's events enter no outbox of intake's.
    assert_eq!(
        outbox::unsent_routing_keys(&db).await.expect("outbox"),
        ["case.registered"]
    );
}

async fn older_event_does_not_roll_status_back(db: Db) {
    let id = submit(
        &db,
        submission(Category::SocialAssistance, "洋梓镇", "allowance"),
    )
    .await
    .case_id;
    let r = registered_at(&get(&db, &id).await);
    // Delivered newest first.
    apply(&db, &replied(&id, "civil-affairs", r + 30, "restored"))
        .await
        .expect("replied");
    apply(&db, &accepted(&id, "civil-affairs", r + 20, r + 1_000))
        .await
        .expect("accepted");
    apply(&db, &assigned(&id, "civil-affairs", r + 10))
        .await
        .expect("assigned");

    let case = get(&db, &id).await;
    assert_eq!(case.status, CaseStatus::Replied as i32);
    assert_eq!(case.department, "civil-affairs");
    assert_eq!(
        kinds(&case),
        [
            "case.registered",
            "case.assigned",
            "case.accepted",
            "case.replied"
        ],
        "every event has its line, in the order things happened"
    );
}

async fn duplicate_event_is_absorbed_by_the_inbox(db: Db) {
    let id = submit(&db, submission(Category::Land, "柴湖镇", "boundary"))
        .await
        .case_id;
    let r = registered_at(&get(&db, &id).await);
    let event = assigned(&id, "natural-resources", r + 10);

    assert_eq!(deliver(&db, &event).await, Outcome::Applied);
    assert_eq!(deliver(&db, &event).await, Outcome::Duplicate);

    let case = get(&db, &id).await;
    assert_eq!(
        kinds(&case),
        ["case.registered", "case.assigned"],
        "one line per event"
    );
    assert_eq!(case.status, CaseStatus::Assigned as i32);
}

async fn event_for_unknown_case_is_refused_and_left_for_retry(db: Db) {
    let unknown = uuid::Uuid::now_v7().to_string();
    let event = assigned(&unknown, "transport", now_millis());
    assert!(apply(&db, &event).await.is_err());
    assert_eq!(deliver(&db, &event).await, Outcome::Rejected);

    // Not claimed in the inbox, so a redelivery is applied once the case exists.
    let claimed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox")
        .fetch_one(db.pool())
        .await
        .expect("count inbox");
    assert_eq!(claimed, 0);
    let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM timeline")
        .fetch_one(db.pool())
        .await
        .expect("count timeline");
    assert_eq!(lines, 0);
}

async fn events_that_do_not_move_a_case_are_ignored(db: Db) {
    let id = submit(&db, submission(Category::Land, "柴湖镇", "boundary"))
        .await
        .case_id;
    let event = support::event(
        "department.left",
        "transport",
        &id,
        now_millis(),
        Payload::DepartmentLeft(DepartmentLeft {
            code: "transport".into(),
            reason: "merged".into(),
            handed_over: 0,
        }),
    );
    apply(&db, &event).await.expect("ignored, not refused");
    let case = get(&db, &id).await;
    assert_eq!(kinds(&case), ["case.registered"]);
    assert_eq!(case.status, CaseStatus::Registered as i32);
}

// --- consuming mediation's and analysis's events ----------------------------------------------

/// A new case accepted by `department`; answers its id and the instant of the acceptance.
async fn accepted_case(db: &Db, department: &str) -> (String, i64) {
    let id = submit(
        db,
        submission(Category::CivilCommercial, "郢中街道", "expo deposits kept"),
    )
    .await
    .case_id;
    let r = registered_at(&get(db, &id).await);
    apply(db, &assigned(&id, department, r + 10))
        .await
        .expect("assigned");
    apply(db, &accepted(&id, department, r + 20, r + 1_000))
        .await
        .expect("accepted");
    (id, r + 20)
}

fn status(case: &Case) -> (CaseStatus, &str) {
    (
        CaseStatus::try_from(case.status).expect("status"),
        case.department.as_str(),
    )
}

fn last_line(case: &Case) -> (&str, &str, &str) {
    let line = case.timeline.last().expect("a line");
    (
        line.kind.as_str(),
        line.summary.as_str(),
        line.department.as_str(),
    )
}

async fn mediation_opened_sets_in_mediation_and_adds_its_line(db: Db) {
    let (id, at) = accepted_case(&db, "civil-affairs").await;

    assert_eq!(
        deliver(&db, &referred(&id, "civil-affairs", at + 10)).await,
        Outcome::Applied
    );
    let case = get(&db, &id).await;
    assert_eq!(
        status(&case),
        (CaseStatus::Accepted, "civil-affairs"),
        "a referral moves nothing"
    );
    assert_eq!(
        last_line(&case),
        (
            "case.referred",
            "referred to mediation by civil-affairs",
            "civil-affairs"
        )
    );

    assert_eq!(
        deliver(&db, &mediation_opened(&id, "civil-affairs", at + 20)).await,
        Outcome::Applied
    );
    let case = get(&db, &id).await;
    assert_eq!(
        status(&case),
        (CaseStatus::InMediation, "civil-affairs"),
        "the department keeps the case while it is mediated"
    );
    assert_eq!(
        last_line(&case),
        (
            "mediation.opened",
            "mediation opened at 民商事纠纷调解委员会 (petition 访调)",
            "civil-affairs"
        )
    );
    let listed = app(&db)
        .list(
            &ListCasesRequest {
                status: CaseStatus::InMediation as i32,
                ..Default::default()
            },
            &Scope::Everything,
        )
        .await
        .expect("list")
        .cases;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].case_id, id);
}

async fn failed_or_withdrawn_mediation_returns_the_case_to_accepted(db: Db) {
    for (outcome, line) in [
        (MediationState::Failed, "mediation failed"),
        (MediationState::Withdrawn, "mediation withdrawn"),
    ] {
        let (id, at) = accepted_case(&db, "civil-affairs").await;
        apply(&db, &mediation_opened(&id, "civil-affairs", at + 10))
            .await
            .expect("opened");
        apply(&db, &mediation_concluded(&id, at + 20, outcome, None))
            .await
            .expect("concluded");
        let case = get(&db, &id).await;
        assert_eq!(
            status(&case),
            (CaseStatus::Accepted, "civil-affairs"),
            "the department still handles it"
        );
        assert_eq!(last_line(&case), ("mediation.concluded", line, ""));
    }
}

async fn agreement_leaves_the_status_to_dispatchs_reply(db: Db) {
    let (id, at) = accepted_case(&db, "civil-affairs").await;
    apply(&db, &mediation_opened(&id, "civil-affairs", at + 10))
        .await
        .expect("opened");
    let agreement = Agreement {
        amount: Some(Money { fen: 5_400_000 }),
        payer: "the expo company".into(),
        payee: "the exhibitors".into(),
        terms: "paid at once".into(),
        installments: vec![],
    };
    apply(
        &db,
        &mediation_concluded(&id, at + 20, MediationState::Agreed, Some(agreement)),
    )
    .await
    .expect("agreed");
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::InMediation, "civil-affairs"));
    assert_eq!(
        last_line(&case),
        (
            "mediation.concluded",
            "mediation agreement: 54,000.00 yuan, the expo company → the exhibitors",
            ""
        )
    );

    apply(
        &db,
        &replied(&id, "civil-affairs", at + 30, "settled by mediation"),
    )
    .await
    .expect("replied");
    let confirmed = event_of(
        "mediation.court_confirmed",
        "mediation",
        &id,
        at + 40,
        Payload::MediationCourtConfirmed(MediationCourtConfirmed {
            mediation_id: "m-1".into(),
            confirmed: true,
        }),
    );
    apply(&db, &confirmed).await.expect("confirmed");
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Replied, "civil-affairs"));
    assert_eq!(
        last_line(&case),
        (
            "mediation.court_confirmed",
            "court confirmed the agreement (司法确认)",
            ""
        )
    );
}

async fn escalation_extension_and_alert_add_lines_without_moving_the_case(db: Db) {
    let (id, at) = accepted_case(&db, "medical-insurance").await;
    let escalated = |level: EscalationLevel, leader: &str, after: i64| {
        event(
            "case.escalated",
            "medical-insurance",
            &id,
            at + after,
            Payload::CaseEscalated(CaseEscalated {
                assignment_id: String::new(),
                department: "medical-insurance".into(),
                level: level as i32,
                reason: "no progress".into(),
                leader: leader.into(),
                ..Default::default()
            }),
        )
    };
    let handle_by = at + 90 * yimen_platform::time::DAY_MILLIS;
    let extended = event(
        "case.extended",
        "medical-insurance",
        &id,
        at + 40,
        Payload::CaseExtended(CaseExtended {
            assignment_id: String::new(),
            department: "medical-insurance".into(),
            days: 30,
            handle_by: Some(timestamp(handle_by)),
        }),
    );
    let alert = event_of(
        "alert.raised",
        "analysis",
        &id,
        at + 50,
        Payload::AlertRaised(AlertRaised {
            alert: Some(Alert {
                alert_id: "a-1".into(),
                kind: AlertKind::Overdue as i32,
                case_id: id.clone(),
                ..Default::default()
            }),
        }),
    );
    for event in [
        escalated(EscalationLevel::Reminder, "", 10),
        escalated(EscalationLevel::Supervision, "", 20),
        escalated(EscalationLevel::Leader, "executive vice mayor", 30),
        extended,
        alert,
    ] {
        assert_eq!(
            deliver(&db, &event).await,
            Outcome::Applied,
            "{}",
            event.r#type
        );
    }

    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Accepted, "medical-insurance"));
    let lines: Vec<(&str, &str, &str)> = case.timeline[3..]
        .iter()
        .map(|l| (l.kind.as_str(), l.summary.as_str(), l.department.as_str()))
        .collect();
    let extension = format!(
        "handling deadline extended by 30 days; to be handled by {}",
        calendar::date(handle_by)
    );
    assert_eq!(
        lines,
        [
            ("case.escalated", "reminder (催办)", "medical-insurance"),
            ("case.escalated", "supervision (督办)", "medical-insurance"),
            (
                "case.escalated",
                "a leader took the case (包案): executive vice mayor",
                "medical-insurance"
            ),
            ("case.extended", extension.as_str(), "medical-insurance"),
            ("alert.raised", "alert: overdue", ""),
        ]
    );
}

async fn event_about_no_case_is_ignored(db: Db) {
    let alert = event_of(
        "alert.raised",
        "analysis",
        "",
        now_millis(),
        Payload::AlertRaised(AlertRaised {
            alert: Some(Alert {
                alert_id: "a-2".into(),
                kind: AlertKind::NoOwner as i32,
                ..Default::default()
            }),
        }),
    );
    // Applied (and claimed), not refused: a retry could never find it a case.
    assert_eq!(deliver(&db, &alert).await, Outcome::Applied);
    let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM timeline")
        .fetch_one(db.pool())
        .await
        .expect("count timeline");
    assert_eq!(lines, 0);
}

// --- who reads which cases -------------------------------------------------------------------

fn principal(role: Role, subject: &str) -> Principal {
    Principal {
        subject: subject.into(),
        role,
        department: None,
        committee: None,
    }
}

fn department(code: &str) -> Principal {
    Principal {
        department: Some(code.into()),
        ..principal(Role::Department, &format!("clerk-of-{code}"))
    }
}

fn system(subject: &str) -> Principal {
    principal(Role::System, subject)
}

/// A call as the auth layer hands it on: carrying its caller, or none (an in-process call).
fn call<T>(message: T, caller: Option<&Principal>) -> tonic::Request<T> {
    match caller {
        Some(caller) => yimen_testkit::as_caller(caller, message),
        None => tonic::Request::new(message),
    }
}

async fn get_as(db: &Db, caller: Option<&Principal>, case_ref: &str) -> Result<Case, Status> {
    let request = GetCaseRequest {
        case_ref: case_ref.into(),
        after_position: 0,
    };
    api(db)
        .get_case(call(request, caller))
        .await
        .map(tonic::Response::into_inner)
}

async fn list_as(db: &Db, caller: Option<&Principal>, request: ListCasesRequest) -> Vec<String> {
    api(db)
        .list_cases(call(request, caller))
        .await
        .expect("list")
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.case_id)
        .collect()
}

async fn submit_as(
    db: &Db,
    caller: Option<&Principal>,
    request: SubmitCaseRequest,
) -> Result<SubmitCaseResponse, Status> {
    api(db)
        .submit_case(call(request, caller))
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts `caller` is answered for `case_ref` exactly as for a case that does not exist.
async fn assert_unseen(db: &Db, caller: &Principal, case_ref: &str) {
    let status = get_as(db, Some(caller), case_ref)
        .await
        .expect_err("not for this caller");
    assert_eq!(status.code(), Code::NotFound, "{caller:?}: {status:?}");
    assert_eq!(
        status.message(),
        format!("no case `{case_ref}`"),
        "no hint that the case exists"
    );
}

fn ids<const N: usize>(cases: [&SubmitCaseResponse; N]) -> BTreeSet<String> {
    cases.iter().map(|c| c.case_id.clone()).collect()
}

fn set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

async fn a_department_reads_the_cases_it_holds_or_held_and_no_other(db: Db) {
    let road = submit(&db, submission(Category::Transport, "石牌镇", "road")).await;
    let allowance = submit(
        &db,
        submission(Category::SocialAssistance, "洋梓镇", "allowance"),
    )
    .await;
    let never = submit(&db, submission(Category::Transport, "石牌镇", "bus")).await;
    let r = registered_at(&get(&db, &road.case_id).await);
    // transport returns the road case; the town takes it.
    apply(&db, &assigned(&road.case_id, "transport", r + 10))
        .await
        .expect("assigned");
    apply(
        &db,
        &returned(&road.case_id, "transport", r + 20, "a town road"),
    )
    .await
    .expect("returned");
    apply(&db, &assigned(&road.case_id, "shipai-town", r + 30))
        .await
        .expect("assigned again");
    // civil-affairs leaves; its allowance case is handed over to the city center.
    apply(&db, &assigned(&allowance.case_id, "civil-affairs", r + 10))
        .await
        .expect("assigned");
    let mut handed_over = assigned(&allowance.case_id, "city-center", r + 20);
    if let Some(Payload::CaseAssigned(a)) = handed_over.payload.as_mut() {
        a.cause = AssignmentCause::DepartmentLeft as i32;
    }
    apply(&db, &handed_over).await.expect("handed over");

    let (transport, town) = (department("transport"), department("shipai-town"));
    let (civil, center) = (department("civil-affairs"), department("city-center"));
    for (caller, case) in [
        (&transport, &road),
        (&town, &road),
        (&civil, &allowance),
        (&center, &allowance),
    ] {
        for case_ref in [&case.case_id, &case.case_number] {
            let got = get_as(&db, Some(caller), case_ref)
                .await
                .unwrap_or_else(|e| panic!("{caller:?} reads {case_ref}: {e:?}"));
            assert_eq!(got.case_id, case.case_id);
        }
    }
    for (caller, case) in [
        (&transport, &allowance),
        (&center, &road),
        (&town, &never),
        (&department("housing"), &road),
    ] {
        assert_unseen(&db, caller, &case.case_id).await;
        assert_unseen(&db, caller, &case.case_number).await;
    }

    let everything = ListCasesRequest::default();
    assert_eq!(
        set(list_as(&db, Some(&transport), everything.clone()).await),
        ids([&road])
    );
    assert_eq!(
        set(list_as(&db, Some(&civil), everything.clone()).await),
        ids([&allowance])
    );
    assert!(
        list_as(&db, Some(&department("housing")), everything)
            .await
            .is_empty()
    );
    // The filters still apply, within the department's cases.
    let registered_only = ListCasesRequest {
        status: CaseStatus::Registered as i32,
        ..Default::default()
    };
    assert!(
        list_as(&db, Some(&transport), registered_only)
            .await
            .is_empty(),
        "the road case is assigned, and transport sees no registered one"
    );
    let transport_cases = ListCasesRequest {
        category: Category::Transport as i32,
        ..Default::default()
    };
    assert_eq!(
        set(list_as(&db, Some(&town), transport_cases).await),
        ids([&road])
    );
}

async fn a_department_keeps_a_case_it_was_given_whatever_order_events_arrive_in(db: Db) {
    let case = submit(&db, submission(Category::Transport, "石牌镇", "road")).await;
    let id = case.case_id.as_str();
    let r = registered_at(&get(&db, id).await);
    // The town's later assignment arrives first; transport's earlier one late, twice.
    apply(&db, &assigned(id, "shipai-town", r + 30))
        .await
        .expect("assigned");
    let late = assigned(id, "transport", r + 10);
    apply(&db, &late).await.expect("late assignment");
    apply(&db, &assigned(id, "transport", r + 10))
        .await
        .expect("the same assignment announced again");

    let now = get(&db, id).await;
    assert_eq!(
        now.department, "shipai-town",
        "the late event moved nothing"
    );
    for code in ["shipai-town", "transport"] {
        let got = get_as(&db, Some(&department(code)), id).await;
        assert_eq!(got.expect(code).case_id, id);
    }
    let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM case_holders WHERE case_id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .expect("holders");
    assert_eq!(
        holders, 2,
        "one row per department, however often announced"
    );
}

async fn a_system_reads_only_its_own_submissions(db: Db) {
    let (hotline, portal) = (system("hotline-12345"), system("gov-portal"));
    let from_hotline = submit_as(
        &db,
        Some(&hotline),
        submission(Category::Transport, "石牌镇", "bus route"),
    )
    .await
    .expect("hotline submits");
    let from_portal = submit_as(
        &db,
        Some(&portal),
        submission(Category::Transport, "石牌镇", "bus stop"),
    )
    .await
    .expect("portal submits");
    let at_the_door = submit(&db, submission(Category::Transport, "石牌镇", "road")).await;

    let got = get_as(&db, Some(&hotline), &from_hotline.case_number).await;
    assert_eq!(got.expect("own submission").case_id, from_hotline.case_id);
    for case in [&from_portal, &at_the_door] {
        assert_unseen(&db, &hotline, &case.case_id).await;
        assert_unseen(&db, &hotline, &case.case_number).await;
    }
    assert_eq!(
        set(list_as(&db, Some(&hotline), ListCasesRequest::default()).await),
        ids([&from_hotline])
    );
    assert_eq!(
        set(list_as(&db, Some(&portal), ListCasesRequest::default()).await),
        ids([&from_portal])
    );
    // A department given the system's case reads it too; the system still reads it.
    apply(
        &db,
        &assigned(&from_hotline.case_id, "transport", now_millis()),
    )
    .await
    .expect("assigned");
    for caller in [&hotline, &department("transport")] {
        let got = get_as(&db, Some(caller), &from_hotline.case_id).await;
        assert_eq!(got.expect("held").case_id, from_hotline.case_id);
    }
}

async fn a_system_cannot_learn_of_a_case_through_another_systems_request_id(db: Db) {
    let (hotline, portal) = (system("hotline-12345"), system("gov-portal"));
    let mut request = submission(Category::Transport, "石牌镇", "bus route");
    request.request_id = "req-1".into();
    let first = submit_as(&db, Some(&hotline), request.clone())
        .await
        .expect("submitted");
    let again = submit_as(&db, Some(&hotline), request.clone())
        .await
        .expect("own retry");
    assert_eq!(
        again,
        SubmitCaseResponse {
            query_code: String::new(),
            ..first.clone()
        },
        "a system's own retry answers its case, without the code only its hash keeps"
    );

    let refused = submit_as(&db, Some(&portal), request)
        .await
        .expect_err("another system's request id");
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert!(
        !refused.message().contains(&first.case_number)
            && !refused.message().contains(&first.case_id),
        "{refused:?}"
    );
    assert!(
        list_as(&db, Some(&portal), ListCasesRequest::default())
            .await
            .is_empty()
    );
}

async fn a_committee_reads_no_case_and_everything_sees_every_case(db: Db) {
    let from_hotline = submit_as(
        &db,
        Some(&system("hotline-12345")),
        submission(Category::Transport, "石牌镇", "bus route"),
    )
    .await
    .expect("hotline submits");
    let held = submit(
        &db,
        submission(Category::CivilCommercial, "洋梓镇", "deposit"),
    )
    .await;
    let r = registered_at(&get(&db, &held.case_id).await);
    apply(&db, &assigned(&held.case_id, "market-regulation", r + 10))
        .await
        .expect("assigned");
    apply(&db, &referred(&held.case_id, "market-regulation", r + 20))
        .await
        .expect("referred");
    apply(
        &db,
        &mediation_opened(&held.case_id, "market-regulation", r + 30),
    )
    .await
    .expect("mediation opened");

    // A mediator may not call intake's case RPCs at all; should one get through, it holds
    // nothing here, not even the case its committee mediates.
    let mediator = Principal {
        committee: Some("civil-commercial".into()),
        ..principal(Role::Mediator, "mediator-1")
    };
    assert_unseen(&db, &mediator, &held.case_id).await;
    assert!(
        list_as(&db, Some(&mediator), ListCasesRequest::default())
            .await
            .is_empty()
    );

    let all = ids([&from_hotline, &held]);
    for caller in [
        None,
        Some(principal(Role::Reception, "window-3")),
        Some(principal(Role::Supervisor, "supervisor-1")),
    ] {
        assert_eq!(
            set(list_as(&db, caller.as_ref(), ListCasesRequest::default()).await),
            all,
            "{caller:?}"
        );
        for case in [&from_hotline, &held] {
            let got = get_as(&db, caller.as_ref(), &case.case_number).await;
            assert_eq!(got.expect("everything").case_id, case.case_id);
        }
    }
}

// --- how much of the petitioners each caller sees --------------------------------------------

/// The petitioner of [`submission`] as registered.
fn in_full() -> Vec<Person> {
    vec![Person {
        name: "王某".into(),
        id_number: ID_NUMBER.into(),
        phone: "13800000000".into(),
    }]
}

/// The petitioner of [`submission`] masked.
fn masked() -> Vec<Person> {
    vec![Person {
        name: "王*".into(),
        id_number: "110105**********2X".into(),
        phone: "138****0000".into(),
    }]
}

/// The petitioners `caller` is shown on `case_ref`.
async fn petitioners_as(db: &Db, caller: Option<&Principal>, case_ref: &str) -> Vec<Person> {
    get_as(db, caller, case_ref)
        .await
        .unwrap_or_else(|e| panic!("{caller:?} reads {case_ref}: {e:?}"))
        .petitioners
}

/// A case registered at the door with `complained_about` and `confidential`, given to
/// `department`.
async fn held_case(
    db: &Db,
    department: &str,
    complained_about: &str,
    confidential: bool,
) -> SubmitCaseResponse {
    let case = submit(
        db,
        SubmitCaseRequest {
            complained_about: complained_about.into(),
            confidential,
            ..submission(Category::Transport, "石牌镇", "road")
        },
    )
    .await;
    let r = registered_at(&get(db, &case.case_id).await);
    apply(db, &assigned(&case.case_id, department, r + 10))
        .await
        .expect("assigned");
    case
}

async fn each_role_sees_the_petitioners_in_full_or_masked(db: Db) {
    let case = held_case(&db, "transport", "", false).await;
    let number = case.case_number.as_str();
    for caller in [
        None,
        Some(principal(Role::Reception, "window-3")),
        Some(principal(Role::Supervisor, "supervisor-1")),
        Some(principal(Role::Admin, "admin")),
        Some(department("transport")),
    ] {
        assert_eq!(
            petitioners_as(&db, caller.as_ref(), number).await,
            in_full(),
            "{caller:?}"
        );
    }
    for role in [Role::Analyst, Role::Auditor, Role::Leader] {
        let caller = principal(role, "someone");
        assert_eq!(
            petitioners_as(&db, Some(&caller), number).await,
            masked(),
            "{role}"
        );
    }
    // A system reads its own submissions, yet only masked.
    let hotline = system("hotline-12345");
    let own = submit_as(
        &db,
        Some(&hotline),
        submission(Category::Transport, "石牌镇", "bus route"),
    )
    .await
    .expect("hotline submits");
    assert_eq!(
        petitioners_as(&db, Some(&hotline), &own.case_id).await,
        masked()
    );
    // A department that handed the case on still reads it, masked; its new holder in full.
    let r = registered_at(&get(&db, number).await);
    apply(
        &db,
        &returned(&case.case_id, "transport", r + 20, "a town road"),
    )
    .await
    .expect("returned");
    apply(&db, &assigned(&case.case_id, "shipai-town", r + 30))
        .await
        .expect("assigned again");
    assert_eq!(
        petitioners_as(&db, Some(&department("transport")), number).await,
        masked()
    );
    assert_eq!(
        petitioners_as(&db, Some(&department("shipai-town")), number).await,
        in_full()
    );
}

async fn the_complained_about_department_sees_the_petitioners_masked_while_it_holds_the_case(
    db: Db,
) {
    let case = held_case(&db, "transport", "transport", false).await;
    let got = get_as(&db, Some(&department("transport")), &case.case_id)
        .await
        .expect("transport holds it");
    assert_eq!(got.department, "transport");
    assert_eq!(
        (got.complained_about.as_str(), got.confidential),
        ("transport", false)
    );
    assert_eq!(got.petitioners, masked());
    assert_eq!(
        petitioners_as(
            &db,
            Some(&principal(Role::Reception, "window-3")),
            &case.case_id
        )
        .await,
        in_full()
    );
    // Complaining about another department leaves the handler's view whole.
    let other = held_case(&db, "transport", "civil-affairs", false).await;
    assert_eq!(
        petitioners_as(&db, Some(&department("transport")), &other.case_id).await,
        in_full()
    );
}

async fn a_confidential_case_is_masked_to_its_handling_department(db: Db) {
    let case = held_case(&db, "transport", "", true).await;
    let got = get_as(&db, Some(&department("transport")), &case.case_number)
        .await
        .expect("transport holds it");
    assert_eq!(
        (got.complained_about.as_str(), got.confidential),
        ("", true)
    );
    assert_eq!(got.petitioners, masked());
    for role in [Role::Reception, Role::Supervisor, Role::Admin] {
        let caller = principal(role, "someone");
        assert_eq!(
            petitioners_as(&db, Some(&caller), &case.case_number).await,
            in_full(),
            "{role}"
        );
    }
}

/// ListCases answers summaries, which carry no petitioner: no caller learns an identity
/// from it, so there is nothing to mask.
async fn listing_answers_no_identity_to_any_caller(db: Db) {
    let case = held_case(&db, "transport", "transport", true).await;
    for caller in [
        None,
        Some(principal(Role::Reception, "window-3")),
        Some(principal(Role::Analyst, "analyst-1")),
        Some(department("transport")),
    ] {
        let listed = api(&db)
            .list_cases(call(ListCasesRequest::default(), caller.as_ref()))
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.cases.len(), 1, "{caller:?}");
        assert_eq!(listed.cases[0].case_id, case.case_id);
        let shown = format!("{listed:?}");
        for identity in ["王", ID_NUMBER, "13800000000"] {
            assert!(!shown.contains(identity), "{caller:?} listed {identity}");
        }
    }
}

// --- the petitioner's own view -------------------------------------------------------------

async fn status_of(db: &Db, case_number: &str, code: &str) -> Result<CaseStatusView, Status> {
    let request = GetCaseStatusRequest {
        case_number: case_number.into(),
        query_code: code.into(),
    };
    // As the auth layer hands a public call on: no principal.
    api(db)
        .get_case_status(call(request, None))
        .await
        .map(tonic::Response::into_inner)
}

async fn the_query_code_shows_the_petitioner_the_status_timeline_and_reply(db: Db) {
    let submitted = submit(
        &db,
        submission(Category::SocialAssistance, "洋梓镇", "allowance stopped"),
    )
    .await;
    assert_eq!(submitted.query_code.len(), 12, "{submitted:?}");
    let id = submitted.case_id.as_str();
    let at = registered_at(&get(&db, id).await);
    let view = status_of(&db, &submitted.case_number, &submitted.query_code)
        .await
        .expect("the code works");
    assert_eq!(view.status, CaseStatus::Registered as i32);
    assert_eq!(view.reply, "");
    assert_eq!(view.replied_at, None);

    let replied_at = reply(&db, id, "civil-affairs", at + 10).await;
    let leader = event(
        "case.escalated",
        "civil-affairs",
        id,
        replied_at + 1,
        Payload::CaseEscalated(CaseEscalated {
            assignment_id: String::new(),
            department: "civil-affairs".into(),
            level: EscalationLevel::Leader as i32,
            reason: "no progress".into(),
            leader: "张副县长".into(),
            ..Default::default()
        }),
    );
    apply(&db, &leader).await.expect("escalated");
    // Typed back in lower case with a space, as people do.
    let typed = format!(
        "{} {}",
        &submitted.query_code[..6].to_lowercase(),
        &submitted.query_code[6..]
    );
    let view = status_of(&db, &submitted.case_number, &typed)
        .await
        .expect("the code works");
    assert_eq!(view.case_number, submitted.case_number);
    assert_eq!(view.status, CaseStatus::Replied as i32);
    assert_eq!(
        view.timeline
            .iter()
            .map(|l| l.kind.as_str())
            .collect::<Vec<_>>(),
        [
            "case.registered",
            "case.assigned",
            "case.accepted",
            "case.replied",
            "case.escalated"
        ]
    );
    assert!(view.reply.contains("the matter is settled"), "{view:?}");
    assert_eq!(view.replied_at, Some(timestamp(replied_at)));
    assert_eq!(view.registered_at, Some(timestamp(at)));
    // Nothing about people: no petitioner, identity number, phone or the leader's name.
    let shown = format!("{view:?}");
    for personal in ["王", ID_NUMBER, "13800000000", "张副县长", "petitioner"] {
        assert!(!shown.contains(personal), "{personal} in {shown}");
    }
}

async fn a_wrong_code_and_an_unknown_number_answer_the_same_not_found(db: Db) {
    let submitted = submit(
        &db,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    let other = submit(
        &db,
        submission(Category::Transport, "石牌镇", "another matter"),
    )
    .await;
    let wrong = status_of(&db, &submitted.case_number, "ABCDEFGHJKMN")
        .await
        .expect_err("a wrong code");
    let swapped = status_of(&db, &submitted.case_number, &other.query_code)
        .await
        .expect_err("another case's code");
    let unknown = status_of(&db, "YM-1999-999999", &submitted.query_code)
        .await
        .expect_err("an unknown number");
    let empty = status_of(&db, &submitted.case_number, "")
        .await
        .expect_err("no code");
    let by_id = status_of(&db, &submitted.case_id, &submitted.query_code)
        .await
        .expect_err("the id is not the number");
    for status in [&wrong, &swapped, &unknown, &empty, &by_id] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert_eq!(status.message(), wrong.message());
        assert!(!status.message().contains(&submitted.case_number));
    }
}

async fn a_replayed_request_answers_no_query_code_and_the_first_code_still_works(db: Db) {
    let mut request = submission(Category::Transport, "石牌镇", "bus route cut");
    request.request_id = "desk-9-0001".into();
    let first = submit(&db, request.clone()).await;
    let again = submit(&db, request).await;
    assert_eq!(again.case_id, first.case_id);
    assert_eq!(again.query_code, "", "only the code's hash is kept");
    status_of(&db, &first.case_number, &first.query_code)
        .await
        .expect("the first code works");
    // The store keeps the hash, never the code.
    let stored: String = sqlx::query_scalar("SELECT query_code_hash FROM cases WHERE case_id = $1")
        .bind(&first.case_id)
        .fetch_one(db.pool())
        .await
        .expect("hash");
    assert_eq!(stored.len(), 64);
    assert_ne!(stored, first.query_code);
}

async fn status_queries_past_the_rate_answer_resource_exhausted(db: Db) {
    let submitted = submit(
        &db,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    let api = yimen_intake::api::Api::new(
        db.clone(),
        &yimen_intake::IntakeConfig {
            status_rate_per_min: 1,
            status_rate_burst: 2,
            ..Default::default()
        },
        yimen_testkit::keyring(),
    );
    let ask = || {
        api.get_case_status(call(
            GetCaseStatusRequest {
                case_number: submitted.case_number.clone(),
                query_code: submitted.query_code.clone(),
            },
            None,
        ))
    };
    ask().await.expect("first");
    ask().await.expect("second");
    let refused = ask().await.expect_err("past the burst");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
}

async fn submissions_past_the_outbox_backlog_answer_resource_exhausted_then_pass_once_it_drains(
    db: Db,
) {
    use std::sync::Arc;
    use tonic_types::StatusExt;
    use yimen_platform::overload::{Limits, Overload};
    let overload = Arc::new(Overload::new(Limits {
        max_outbox_backlog: 2,
        max_pool_wait: std::time::Duration::ZERO,
    }));
    let api = api(&db).with_overload(overload.clone());
    let submit_one = |subject: &'static str| {
        api.submit_case(call(
            submission(Category::Transport, "石牌镇", subject),
            None,
        ))
    };
    // Up to the bound and one past it: the last look saw no more than the bound.
    for subject in ["first", "second", "third"] {
        submit_one(subject).await.expect("accepted below the bound");
        overload.look(&db).await.expect("look");
    }
    let refused = submit_one("fourth")
        .await
        .expect_err("three unsent events, past the bound of two");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let retry = refused
        .get_details_retry_info()
        .expect("retry advice (google.rpc.RetryInfo)");
    assert!(retry.retry_delay.is_some(), "{retry:?}");
    assert!(refused.message().contains("events wait"), "{refused:?}");
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(cases, 3, "a refused submission writes nothing");

    // The relay publishes the backlog; the next look sees it gone.
    let bus = yimen_platform::bus::MemoryBus::new(Default::default());
    while outbox::relay_once(&db, &bus).await.expect("relay").claimed > 0 {}
    overload.look(&db).await.expect("look");
    submit_one("fourth")
        .await
        .expect("accepted again once the backlog drained");
}

/// The petitioners' columns as stored, in case and ordinal order.
async fn stored_petitioners(db: &Db) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT name, id_number, phone FROM petitioners ORDER BY case_id, ordinal")
        .fetch_all(db.pool())
        .await
        .expect("read petitioners")
}

async fn petitioners_are_sealed_at_rest_and_reseal_moves_every_row_to_the_current_key(db: Db) {
    use std::sync::Arc;
    use yimen_platform::seal::{Algorithm, KeyFile, Keyring, reseal};
    let mut file = KeyFile::generate(Algorithm::Aes256Gcm).expect("keys");
    let first = Arc::new(Keyring::of(&file).expect("keyring"));
    let config = yimen_intake::IntakeConfig::default();
    let intake = yimen_intake::app::Intake::new(db.clone(), &config, first);
    let mut cases = Vec::new();
    for subject in ["one", "two", "three"] {
        let request = submission(Category::Transport, "城关镇", subject);
        cases.push(
            intake
                .submit(&request, &Scope::Everything)
                .await
                .expect("submit"),
        );
    }
    let stored = stored_petitioners(&db).await;
    assert_eq!(stored.len(), 3);
    for (name, id_number, phone) in &stored {
        for (value, clear) in [
            (name, "王某"),
            (id_number, ID_NUMBER),
            (phone, "13800000000"),
        ] {
            assert!(value.starts_with("v1:"), "not sealed: {value}");
            assert!(!value.contains(clear), "the table holds {clear}");
        }
    }
    // A row from before sealing: legacy clear text, still read as it is.
    sqlx::query("UPDATE petitioners SET name = '王某', phone = '13800000000' WHERE case_id = $1")
        .bind(&cases[0].case_id)
        .execute(db.pool())
        .await
        .expect("a legacy row");

    file.rotate().expect("rotate");
    let second = Arc::new(Keyring::of(&file).expect("keyring"));
    assert_eq!(
        reseal::pending(&db, &second, store::SEALED)
            .await
            .expect("pending"),
        3
    );
    let mut seen = Vec::new();
    let done = reseal::reseal_all(&db, &second, store::SEALED, 2, |done, total| {
        seen.push((done, total))
    })
    .await
    .expect("reseal");
    assert_eq!(done, 3);
    assert_eq!(seen.first(), Some(&(0, 3)));
    assert_eq!(seen.last(), Some(&(3, 3)), "batches of 2: {seen:?}");
    assert_eq!(
        reseal::pending(&db, &second, store::SEALED)
            .await
            .expect("pending"),
        0
    );
    for (name, id_number, phone) in stored_petitioners(&db).await {
        for value in [name, id_number, phone] {
            assert!(value.starts_with("v2:"), "not at the new version: {value}");
        }
    }
    let after = yimen_intake::app::Intake::new(db.clone(), &config, second);
    for case in &cases {
        let read = after
            .get(
                &GetCaseRequest {
                    case_ref: case.case_number.clone(),
                    after_position: 0,
                },
                &Scope::Everything,
            )
            .await
            .expect("get");
        assert_eq!(
            read.petitioners,
            [Person {
                name: "王某".into(),
                id_number: ID_NUMBER.into(),
                phone: "13800000000".into(),
            }]
        );
    }
}

async fn fingerprints_use_the_key_files_lookup_key_unless_petitioner_key_is_set(db: Db) {
    let keyring = yimen_testkit::keyring();
    let from_file = yimen_intake::app::Intake::new(
        db.clone(),
        &yimen_intake::IntakeConfig::default(),
        keyring.clone(),
    );
    let request = submission(Category::Transport, "城关镇", "fingerprint");
    from_file
        .submit(&request, &Scope::Everything)
        .await
        .expect("submit");
    let event = outbox_events(&db).await.remove(0);
    let Some(Payload::CaseRegistered(registered)) = &event.payload else {
        panic!("not a case.registered payload");
    };
    assert_eq!(
        registered.petitioner_keys,
        [keyring.keyed_hash().hex(ID_NUMBER.as_bytes())]
    );
}

/// A line whose id is already in the timeline (a notice's or the new facts' line written
/// again) is not kept twice, and gives its position back: the next line takes the one after
/// the last line kept, so a watcher's positions have no gap.
async fn a_line_added_twice_is_kept_once_and_leaves_no_gap_in_the_positions(db: Db) {
    let case = submit(
        &db,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    let id = case.case_id.as_str();
    let line = yimen_intake::domain::progress::TimelineLine {
        kind: "notice.sent".into(),
        summary: "notice sent".into(),
        department: String::new(),
    };
    let mut tx = db.begin().await.expect("begin");
    let first = store::add_timeline(&mut tx, id, "line-1", now_millis(), &line).await;
    let again = store::add_timeline(&mut tx, id, "line-1", now_millis(), &line).await;
    let next = store::add_timeline(&mut tx, id, "line-2", now_millis(), &line).await;
    db.commit(tx).await.expect("commit");
    assert_eq!(
        (
            first.expect("first"),
            again.expect("again"),
            next.expect("next")
        ),
        (true, false, true)
    );
    let positions: Vec<(String, u64)> = get(&db, id)
        .await
        .timeline
        .iter()
        .map(|l| (l.event_id.clone(), l.position))
        .collect();
    assert_eq!(positions.len(), 3, "{positions:?}");
    assert_eq!(
        positions.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        [1, 2, 3],
        "{positions:?}"
    );
    assert_eq!(positions[2].0, "line-2");
}

fn watch_request(case_ref: &str, after_position: u64) -> GetCaseRequest {
    GetCaseRequest {
        case_ref: case_ref.into(),
        after_position,
    }
}

async fn watching_a_case_resumes_after_a_position_missing_nothing_and_nothing_twice(db: Db) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let api = api(&db).ending_on(shutdown.clone());
    let case = submit(
        &db,
        submission(Category::Transport, "石牌镇", "bus route cut"),
    )
    .await;
    let id = case.case_id.as_str();
    let r = registered_at(&get(&db, id).await);

    // From the start: the whole timeline so far, then each line as it commits.
    let mut watch = api
        .watch_case(tonic::Request::new(watch_request(&case.case_number, 0)))
        .await
        .expect("watch")
        .into_inner();
    let first = next_item(&mut watch).await.expect("registered");
    assert_eq!(
        (first.kind.as_str(), first.position),
        ("case.registered", 1)
    );
    apply(&db, &assigned(id, "transport", r + 10))
        .await
        .expect("assigned");
    let second = next_item(&mut watch).await.expect("assigned");
    assert_eq!(
        (second.kind.as_str(), second.position),
        ("case.assigned", 2)
    );
    drop(watch); // the client goes away

    // While it is away: accepted and replied, and the reply delivered twice.
    let reply = replied(id, "transport", r + 40, "route restored");
    apply(
        &db,
        &accepted(
            id,
            "transport",
            r + 30,
            r + 60 * yimen_platform::time::DAY_MILLIS,
        ),
    )
    .await
    .expect("accepted");
    apply(&db, &reply).await.expect("replied");
    apply(&db, &reply).await.expect("the same event again");

    let mut resumed = api
        .watch_case(tonic::Request::new(watch_request(id, second.position)))
        .await
        .expect("watch again")
        .into_inner();
    let missed = [
        next_item(&mut resumed).await.expect("accepted"),
        next_item(&mut resumed).await.expect("replied"),
    ];
    assert_eq!(
        missed
            .iter()
            .map(|l| (l.kind.as_str(), l.position))
            .collect::<Vec<_>>(),
        [("case.accepted", 3), ("case.replied", 4)]
    );
    // Nothing else was waiting: the next line is the next event's.
    apply(&db, &returned(id, "transport", r + 50, "wrong office"))
        .await
        .expect("returned");
    let next = next_item(&mut resumed).await.expect("returned");
    assert_eq!((next.kind.as_str(), next.position), ("case.returned", 5));
    // GetCase shows the same positions.
    let positions: Vec<u64> = get(&db, id)
        .await
        .timeline
        .iter()
        .map(|l| l.position)
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);

    // The process stops: the stream ends.
    shutdown.cancel();
    assert!(next_item(&mut resumed).await.is_none(), "the watch ended");
}

async fn a_case_is_watched_only_by_a_caller_who_may_read_it(db: Db) {
    let api = api(&db);
    let case = submit(&db, submission(Category::Transport, "石牌镇", "road")).await;
    let r = registered_at(&get(&db, &case.case_id).await);
    apply(&db, &assigned(&case.case_id, "transport", r + 10))
        .await
        .expect("assigned");
    let watch = |caller: Principal, case_ref: &str| {
        api.watch_case(yimen_testkit::as_caller(
            &caller,
            watch_request(case_ref, 0),
        ))
    };
    let mut holder = watch(department("transport"), &case.case_id)
        .await
        .expect("the holder watches")
        .into_inner();
    assert_eq!(
        next_item(&mut holder).await.expect("a line").kind,
        "case.registered"
    );
    let other = watch(department("police"), &case.case_id)
        .await
        .err()
        .expect("not its case");
    let unknown = watch(department("police"), "YM-2026-999999")
        .await
        .err()
        .expect("no such case");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(
        other.message().replace(&case.case_id, "?"),
        unknown.message().replace("YM-2026-999999", "?"),
        "a case the caller may not read is answered as an unknown one"
    );
    let malformed = watch(department("transport"), "")
        .await
        .err()
        .expect("no case named");
    assert_eq!(malformed.code(), Code::InvalidArgument);
}

// --- the legal clock: refusal, forward, supplements ------------------------------------------

/// A new case assigned to `department` (pending); answers its id and the assignment instant.
async fn pending_case(db: &Db, department: &str) -> (String, i64) {
    let id = submit(
        db,
        submission(Category::LabourWages, "洋梓镇", "wages unpaid"),
    )
    .await
    .case_id;
    let r = registered_at(&get(db, &id).await);
    apply(db, &assigned(&id, department, r + 10))
        .await
        .expect("assigned");
    (id, r + 10)
}

async fn a_refusal_sets_refused_and_tells_the_channel_in_the_timeline(db: Db) {
    let (id, at) = pending_case(&db, "human-resources").await;
    let refused = event(
        "case.refused",
        "human-resources",
        &id,
        at + 10,
        Payload::CaseRefused(CaseRefused {
            department_name: String::new(),
            assignment_id: String::new(),
            department: "human-resources".into(),
            reason: RefusalReason::Arbitration as i32,
            channel: "钟祥市劳动人事争议仲裁委员会".into(),
            explanation: "labour arbitration first".into(),
        }),
    );
    apply(&db, &refused).await.expect("refused");
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Refused, "human-resources"));
    let (kind, summary, department) = last_line(&case);
    assert_eq!((kind, department), ("case.refused", "human-resources"));
    assert_eq!(
        summary,
        "not accepted (不予受理) by human-resources: a matter for arbitration (仲裁); \
         take it to 钟祥市劳动人事争议仲裁委员会: labour arbitration first"
    );
}

async fn a_forward_sets_forwarded(db: Db) {
    let (id, at) = pending_case(&db, "natural-resources").await;
    let forwarded = event(
        "case.forwarded",
        "natural-resources",
        &id,
        at + 10,
        Payload::CaseForwarded(CaseForwarded {
            department_name: String::new(),
            assignment_id: String::new(),
            department: "natural-resources".into(),
            authority: "湖北省自然资源厅".into(),
            reason: "a provincial approval".into(),
        }),
    );
    apply(&db, &forwarded).await.expect("forwarded");
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Forwarded, "natural-resources"));
    assert_eq!(
        last_line(&case).1,
        "forwarded (转送) by natural-resources to 湖北省自然资源厅: a provincial approval"
    );
}

fn supplement_requested(id: &str, department: &str, at: i64) -> Event {
    event(
        "case.supplement_requested",
        department,
        id,
        at,
        Payload::CaseSupplementRequested(CaseSupplementRequested {
            assignment_id: String::new(),
            department: department.into(),
            requested: "the wage slips of March".into(),
        }),
    )
}

/// Material with personal data in it, as a petitioner may well give it.
const PERSONAL_SUPPLEMENT: &str = "王某的工资条，电话13800000000";

fn add_supplement(case_ref: &str, text: &str) -> AddSupplementRequest {
    AddSupplementRequest {
        case_ref: case_ref.into(),
        text: text.into(),
    }
}

async fn a_supplement_request_awaits_the_material_and_the_resumption_restores_the_status(db: Db) {
    let (id, at) = accepted_case(&db, "human-resources").await;
    apply(&db, &supplement_requested(&id, "human-resources", at + 10))
        .await
        .expect("supplement requested");
    let case = get(&db, &id).await;
    assert_eq!(
        status(&case),
        (CaseStatus::AwaitingSupplement, "human-resources")
    );
    assert_eq!(
        last_line(&case).1,
        "human-resources asked for material: the wage slips of March; \
         the deadline is stopped until it is added"
    );

    let reception = principal(Role::Reception, "window-1");
    let answered = api(&db)
        .add_supplement(call(
            add_supplement(&case.case_number, PERSONAL_SUPPLEMENT),
            Some(&reception),
        ))
        .await
        .expect("add supplement")
        .into_inner();
    assert_eq!(
        last_line(&answered),
        ("case.supplemented", "material added", "human-resources")
    );
    let published = outbox_events(&db).await;
    let sent = published
        .iter()
        .find(|e| e.r#type == "case.supplemented")
        .expect("case.supplemented published");
    assert_eq!(sent.case_id, id);
    assert!(matches!(
        &sent.payload,
        Some(Payload::CaseSupplemented(s)) if s.department == "human-resources"
    ));
    for e in &published {
        let bytes = events::encode(e);
        assert!(
            !String::from_utf8_lossy(&bytes).contains("13800000000"),
            "{} carries the supplement",
            e.r#type
        );
    }
    let stored: String = sqlx::query_scalar("SELECT text FROM supplements WHERE case_id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await
        .expect("the supplement is kept");
    assert_eq!(stored, PERSONAL_SUPPLEMENT);

    let handle_by = at + 63 * yimen_platform::time::DAY_MILLIS;
    let resumed = event(
        "case.resumed",
        "human-resources",
        &id,
        // After the supplement's own line, whatever the test's pace.
        now_millis().max(at + 100) + 10,
        Payload::CaseResumed(CaseResumed {
            assignment_id: String::new(),
            department: "human-resources".into(),
            paused: Some(prost_types::Duration {
                seconds: 3 * 24 * 60 * 60,
                nanos: 0,
            }),
            accept_by: Some(timestamp(at)),
            handle_by: Some(timestamp(handle_by)),
        }),
    );
    apply(&db, &resumed).await.expect("resumed");
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Accepted, "human-resources"));
    assert_eq!(
        last_line(&case).1,
        format!(
            "the deadline runs again after a pause of 3.0 days; to be handled by {}",
            calendar::date(handle_by)
        )
    );
}

async fn a_supplement_is_added_only_to_a_case_awaiting_one_that_the_caller_sees(db: Db) {
    let (id, at) = pending_case(&db, "human-resources").await;
    let number = get(&db, &id).await.case_number;
    let reception = principal(Role::Reception, "window-1");

    let invalid = api(&db)
        .add_supplement(call(add_supplement("", " "), Some(&reception)))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&invalid);
    assert_eq!(fields, ["case_ref", "text"]);

    let early = api(&db)
        .add_supplement(call(add_supplement(&number, "slips"), Some(&reception)))
        .await
        .expect_err("nobody asked");
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("assigned"), "{}", early.message());

    apply(&db, &supplement_requested(&id, "human-resources", at + 10))
        .await
        .expect("supplement requested");
    let before = outbox_events(&db).await.len();
    let stranger = department("civil-affairs");
    let unseen = api(&db)
        .add_supplement(call(add_supplement(&number, "slips"), Some(&stranger)))
        .await
        .expect_err("not its case");
    assert_eq!(unseen.code(), Code::NotFound);
    assert_eq!(outbox_events(&db).await.len(), before, "nothing written");

    // A system adds material only to the cases it submitted.
    let hotline = system("hotline-12345");
    let theirs = api(&db)
        .add_supplement(call(add_supplement(&number, "slips"), Some(&hotline)))
        .await
        .expect_err("not its submission");
    assert_eq!(theirs.code(), Code::NotFound);
    let own = submit_as(
        &db,
        Some(&hotline),
        submission(Category::LabourWages, "洋梓镇", "wages by phone"),
    )
    .await
    .expect("hotline submits");
    let own_at = registered_at(&get(&db, &own.case_id).await);
    apply(&db, &assigned(&own.case_id, "human-resources", own_at + 10))
        .await
        .expect("assigned");
    apply(
        &db,
        &supplement_requested(&own.case_id, "human-resources", own_at + 20),
    )
    .await
    .expect("supplement requested");
    api(&db)
        .add_supplement(call(
            add_supplement(&own.case_number, "slips"),
            Some(&hotline),
        ))
        .await
        .expect("its own submission");
    let kinds_sent: Vec<String> = outbox_events(&db)
        .await
        .into_iter()
        .skip(before)
        .map(|e| e.r#type)
        .collect();
    assert_eq!(kinds_sent, ["case.registered", "case.supplemented"]);

    let unknown = api(&db)
        .add_supplement(call(
            add_supplement("YM-2020-999999", "slips"),
            Some(&reception),
        ))
        .await
        .expect_err("no such case");
    assert_eq!(unknown.code(), Code::NotFound);
}

// --- notices (告知书) -------------------------------------------------------------------------

/// An SMS gateway on a free port of 127.0.0.1: keeps every body posted to it and answers
/// `status` (e.g. "200 OK").
struct Gateway {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn gateway(status: &'static str) -> Gateway {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sms/send", listener.local_addr().expect("addr"));
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then as many bytes as Content-Length says.
            let body = loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break Some(String::from_utf8_lossy(&request[end + 4..]).to_string());
                    }
                }
            };
            if let Some(body) = body {
                kept.lock().unwrap().push(body);
            }
            let answer =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    Gateway { url, bodies, task }
}

async fn refused_case(db: &Db) -> (String, String) {
    let (id, at) = pending_case(db, "human-resources").await;
    let refused = event(
        "case.refused",
        "human-resources",
        &id,
        at + 10,
        Payload::CaseRefused(CaseRefused {
            department_name: String::new(),
            assignment_id: String::new(),
            department: "human-resources".into(),
            reason: RefusalReason::Arbitration as i32,
            channel: "钟祥市劳动人事争议仲裁委员会".into(),
            explanation: String::new(),
        }),
    );
    apply(db, &refused).await.expect("refused");
    // Delivered again: still one notice.
    apply(db, &refused).await.expect("refused again");
    let number = get(db, &id).await.case_number;
    (id, number)
}

async fn notice_rows(db: &Db) -> Vec<(String, String, Option<i64>, i64)> {
    sqlx::query_as("SELECT case_id, kind, sent_at, attempts FROM notices ORDER BY created_at")
        .fetch_all(db.pool())
        .await
        .expect("notices")
}

async fn a_refusal_notice_goes_to_the_sms_gateway_once_and_shows_in_the_timeline(db: Db) {
    let (id, number) = refused_case(&db).await;
    let gateway = gateway("200 OK").await;
    let sms = yimen_intake::notifier::SmsGateway::new(&gateway.url).expect("gateway url");
    let keyring = yimen_testkit::keyring();

    let sent = yimen_intake::notices::send_due(&db, &keyring, &sms, now_millis())
        .await
        .expect("send");
    assert_eq!(sent, 1);
    let bodies = gateway.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).expect("json");
    assert_eq!(body["to"], serde_json::json!(["13800000000"]));
    assert_eq!(body["template"], "refused");
    assert_eq!(body["reference"], number.as_str());
    let text = body["text"].as_str().expect("text");
    assert!(text.starts_with("【钟祥市信访超市】"), "{text}");
    assert!(text.contains("不予受理"), "{text}");
    assert!(
        text.contains("请向钟祥市劳动人事争议仲裁委员会提出"),
        "{text}"
    );

    let case = get(&db, &id).await;
    assert_eq!(
        last_line(&case),
        (
            "notice.sent",
            "notice sent to the petitioner: 不予受理告知书",
            ""
        )
    );
    // Sent once: nothing is due any more.
    let again = yimen_intake::notices::send_due(&db, &keyring, &sms, now_millis())
        .await
        .expect("send");
    assert_eq!(again, 0);
    assert_eq!(gateway.bodies.lock().unwrap().len(), 1);
    let rows = notice_rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].1.as_str(), rows[0].2.is_some()), ("refused", true));
}

async fn a_notice_the_gateway_refuses_stays_unsent_and_is_tried_again_later(db: Db) {
    let (id, _) = refused_case(&db).await;
    let broken = gateway("503 Service Unavailable").await;
    let sms = yimen_intake::notifier::SmsGateway::new(&broken.url).expect("gateway url");
    let keyring = yimen_testkit::keyring();
    let now = now_millis();
    let sent = yimen_intake::notices::send_due(&db, &keyring, &sms, now)
        .await
        .expect("send");
    assert_eq!(sent, 0);
    assert_eq!(broken.bodies.lock().unwrap().len(), 1, "it was tried");
    let rows = notice_rows(&db).await;
    assert_eq!((rows[0].2, rows[0].3), (None, 1), "unsent, one attempt");
    assert!(!kinds(&get(&db, &id).await).contains(&"notice.sent"));

    // Not again right away; a minute on, the working gateway takes it.
    let working = gateway("200 OK").await;
    let sms = yimen_intake::notifier::SmsGateway::new(&working.url).expect("gateway url");
    let soon = yimen_intake::notices::send_due(&db, &keyring, &sms, now + 1_000)
        .await
        .expect("send");
    assert_eq!(soon, 0);
    let later = yimen_intake::notices::send_due(&db, &keyring, &sms, now + 200_000)
        .await
        .expect("send");
    assert_eq!(later, 1);
    assert_eq!(working.bodies.lock().unwrap().len(), 1);
}

async fn the_log_notifier_sends_acceptance_forward_and_reply_notices(db: Db) {
    let (accepted_id, at) = accepted_case(&db, "civil-affairs").await;
    apply(
        &db,
        &replied(&accepted_id, "civil-affairs", at + 10, "paid"),
    )
    .await
    .expect("replied");
    let (forwarded_id, at) = pending_case(&db, "natural-resources").await;
    apply(
        &db,
        &event(
            "case.forwarded",
            "natural-resources",
            &forwarded_id,
            at + 10,
            Payload::CaseForwarded(CaseForwarded {
                department_name: String::new(),
                assignment_id: String::new(),
                department: "natural-resources".into(),
                authority: "湖北省自然资源厅".into(),
                reason: "provincial".into(),
            }),
        ),
    )
    .await
    .expect("forwarded");
    let mut kinds_written: Vec<String> = notice_rows(&db).await.into_iter().map(|r| r.1).collect();
    kinds_written.sort();
    assert_eq!(kinds_written, ["accepted", "forwarded", "replied"]);
    let sent = yimen_intake::notices::send_due(
        &db,
        &yimen_testkit::keyring(),
        &yimen_intake::notifier::LogNotifier,
        now_millis(),
    )
    .await
    .expect("send");
    assert_eq!(sent, 3);
    assert!(notice_rows(&db).await.iter().all(|r| r.2.is_some()));
}

// --- review and re-review (复查 / 复核), 不再受理 ----------------------------------------------

fn review_request(case_ref: &str) -> RequestReviewRequest {
    RequestReviewRequest {
        case_ref: case_ref.into(),
        reason: "王某不服答复，电话13800000000".into(),
    }
}

async fn request_review(db: &Db, case_ref: &str) -> Result<Case, yimen_platform::error::Error> {
    app(db)
        .request_review(&review_request(case_ref), &Scope::Everything)
        .await
}

fn review_started(case_id: &str, body: &str, stage: ReviewStage, at: i64) -> Event {
    event(
        "case.review_started",
        body,
        case_id,
        at,
        Payload::CaseReviewStarted(CaseReviewStarted {
            department: body.into(),
            stage: stage as i32,
            ..Default::default()
        }),
    )
}

fn reviewed(
    case_id: &str,
    body: &str,
    stage: ReviewStage,
    outcome: ReviewOutcome,
    at: i64,
) -> Event {
    event(
        "case.reviewed",
        body,
        case_id,
        at,
        Payload::CaseReviewed(CaseReviewed {
            department: body.into(),
            stage: stage as i32,
            outcome: outcome as i32,
            decision: "the reply stands".into(),
            ..Default::default()
        }),
    )
}

/// The (stage, contested department) of the case.review_requested events in the outbox.
async fn review_requests_published(db: &Db) -> Vec<(i32, String)> {
    outbox_events(db)
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::CaseReviewRequested(r)) => Some((r.stage, r.department)),
            _ => None,
        })
        .collect()
}

fn refused_because(result: Result<Case, yimen_platform::error::Error>) -> String {
    match result {
        Err(yimen_platform::error::Error::FailedPrecondition(m)) => m,
        other => panic!("should be refused: {other:?}"),
    }
}

async fn a_review_then_a_re_review_each_of_the_latest_answer_and_then_no_more(db: Db) {
    let id = submit(
        &db,
        submission(
            Category::HousingProperty,
            "郢中街道",
            "rent subsidy refused",
        ),
    )
    .await
    .case_id;
    let at = reply(&db, &id, "housing", registered_at(&get(&db, &id).await)).await;

    let asked = request_review(&db, &id).await.expect("review");
    assert_eq!(asked.status, CaseStatus::UnderReview as i32);
    assert_eq!(asked.review_stage, ReviewStage::Review as i32);
    assert_eq!(
        review_requests_published(&db).await,
        [(ReviewStage::Review as i32, "housing".to_string())]
    );
    let twice = refused_because(request_review(&db, &id).await);
    assert!(twice.contains("under review"), "{twice}");
    // The reason stays in the store, never in an event.
    for e in outbox_events(&db).await {
        let body = String::from_utf8_lossy(&events::encode(&e)).to_string();
        assert!(!body.contains("13800000000"), "{}", e.r#type);
    }

    let later = now_millis().max(at) + 1_000;
    apply(
        &db,
        &review_started(&id, "city-center", ReviewStage::Review, later),
    )
    .await
    .expect("started");
    assert_eq!(
        status(&get(&db, &id).await),
        (CaseStatus::UnderReview, "city-center")
    );
    apply(
        &db,
        &reviewed(
            &id,
            "city-center",
            ReviewStage::Review,
            ReviewOutcome::Uphold,
            later + 10,
        ),
    )
    .await
    .expect("reviewed");
    let decided = get(&db, &id).await;
    assert_eq!(status(&decided), (CaseStatus::Closed, "city-center"));
    assert!(!decided.finally_closed);

    let again = request_review(&db, &id).await.expect("re-review");
    assert_eq!(again.review_stage, ReviewStage::ReReview as i32);
    assert_eq!(
        review_requests_published(&db).await[1],
        (ReviewStage::ReReview as i32, "city-center".to_string()),
        "the re-review contests the review decision"
    );
    apply(
        &db,
        &reviewed(
            &id,
            "city-center",
            ReviewStage::ReReview,
            ReviewOutcome::Change,
            later + 20,
        ),
    )
    .await
    .expect("re-reviewed");
    let last = get(&db, &id).await;
    assert_eq!(last.status, CaseStatus::Closed as i32);
    assert!(last.finally_closed);
    let m = refused_because(request_review(&db, &id).await);
    assert!(m.contains("closed for good"), "{m}");

    let mut written: Vec<String> = notice_rows(&db).await.into_iter().map(|r| r.1).collect();
    written.sort();
    assert_eq!(written, ["accepted", "re_reviewed", "replied", "reviewed"]);
}

async fn a_review_is_refused_past_the_window_and_before_any_answer(db: Db) {
    let id = submit(
        &db,
        submission(
            Category::HousingProperty,
            "郢中街道",
            "rent subsidy refused",
        ),
    )
    .await
    .case_id;
    let m = refused_because(request_review(&db, &id).await);
    assert!(m.contains("registered"), "{m}");
    let long_ago = now_millis() - 40 * 86_400_000;
    register_at(&db, &id, long_ago).await;
    reply(&db, &id, "housing", long_ago + 10).await;
    let m = refused_because(request_review(&db, &id).await);
    assert!(m.contains("could be asked for until"), "{m}");
    assert!(review_requests_published(&db).await.is_empty());
    match request_review(&db, "").await {
        Err(yimen_platform::error::Error::InvalidArgument(v)) => assert_eq!(v[0].field, "case_ref"),
        other => panic!("{other:?}"),
    }
}

async fn a_matter_closed_for_good_is_refused_again_unless_new_facts_are_stated(db: Db) {
    let first = submit(
        &db,
        submission(Category::HousingProperty, "郢中街道", "城南小区物业费纠纷"),
    )
    .await;
    let at = reply(
        &db,
        &first.case_id,
        "housing",
        registered_at(&get(&db, &first.case_id).await),
    )
    .await;
    apply(
        &db,
        &reviewed(
            &first.case_id,
            "city-center",
            ReviewStage::ReReview,
            ReviewOutcome::Uphold,
            at + 10,
        ),
    )
    .await
    .expect("re-reviewed");

    let again = submission(
        Category::HousingProperty,
        "郢中街道",
        "城南小区物业费又起纠纷",
    );
    let refused = api(&db)
        .submit_case(tonic::Request::new(again.clone()))
        .await
        .expect_err("不再受理");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&first.case_number),
        "{}",
        refused.message()
    );
    let detail = tonic_types::StatusExt::get_details_precondition_failure(&refused)
        .expect("a PreconditionFailure detail");
    assert_eq!(detail.violations[0].subject, first.case_number);
    assert_eq!(detail.violations[0].r#type, "SAME_MATTER_CLOSED");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(count, 1, "nothing registered");

    // Another matter of the same petitioner, or the same words in another category, is taken.
    submit(
        &db,
        submission(Category::HousingProperty, "郢中街道", "拆迁补偿款未发放"),
    )
    .await;
    submit(
        &db,
        submission(Category::Land, "郢中街道", "城南小区物业费纠纷"),
    )
    .await;

    let with_facts = SubmitCaseRequest {
        new_facts: "物业公司2026年又新增收费项目".into(),
        ..again
    };
    let taken = submit(&db, with_facts).await;
    let case = get(&db, &taken.case_id).await;
    let line = case
        .timeline
        .iter()
        .find(|l| l.kind == "case.new_facts")
        .expect("the timeline says it was taken again");
    assert!(
        line.summary.contains(&first.case_number),
        "{}",
        line.summary
    );
    assert!(
        !line.summary.contains("物业公司"),
        "the facts stay in the store"
    );
}

// --- withdrawal (撤回) and settlement at the desk (当场答复 / 当场调处) ------------------------

fn withdraw(case_ref: &str, reason: &str) -> WithdrawCaseRequest {
    WithdrawCaseRequest {
        case_ref: case_ref.into(),
        reason: reason.into(),
    }
}

async fn a_withdrawal_ends_an_open_case_once_and_later_events_do_not_move_it(db: Db) {
    let (id, _) = pending_case(&db, "human-resources").await;
    let number = get(&db, &id).await.case_number;
    let reception = principal(Role::Reception, "window-1");

    let invalid = api(&db)
        .withdraw_case(call(withdraw(" ", ""), Some(&reception)))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&invalid);
    assert_eq!(fields, ["case_ref", "reason"]);
    let before = outbox_events(&db).await.len();
    let stranger = department("civil-affairs");
    let unseen = api(&db)
        .withdraw_case(call(withdraw(&number, "paid"), Some(&stranger)))
        .await
        .expect_err("not its case");
    assert_eq!(unseen.code(), Code::NotFound);
    assert_eq!(outbox_events(&db).await.len(), before, "nothing written");

    let withdrawn = api(&db)
        .withdraw_case(call(
            withdraw(&number, "the wages were paid"),
            Some(&reception),
        ))
        .await
        .expect("withdraw")
        .into_inner();
    assert_eq!(
        status(&withdrawn),
        (CaseStatus::Withdrawn, "human-resources")
    );
    assert_eq!(
        last_line(&withdrawn),
        (
            "case.withdrawn",
            "withdrawn by the petitioner (撤回): the wages were paid",
            "human-resources"
        )
    );
    let sent = outbox_events(&db).await;
    let event = sent.last().expect("case.withdrawn");
    assert_eq!(event.r#type, "case.withdrawn");
    assert_eq!(
        event.payload,
        Some(Payload::CaseWithdrawn(CaseWithdrawn {
            department: "human-resources".into(),
            reason: "the wages were paid".into(),
        }))
    );

    // What the withdrawal ended shows, but moves the case no more.
    let later = registered_at(&withdrawn) + 600_000;
    apply(
        &db,
        &mediation_concluded(&id, later, MediationState::Withdrawn, None),
    )
    .await
    .expect("concluded");
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Withdrawn, "human-resources"));
    assert_eq!(last_line(&case).0, "mediation.concluded");

    let again = api(&db)
        .withdraw_case(call(withdraw(&number, "twice"), Some(&reception)))
        .await
        .expect_err("once");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("withdrawn"), "{}", again.message());
}

async fn a_case_settled_at_the_desk_is_registered_replied_and_never_held(db: Db) {
    let mut request = submission(
        Category::SocialAssistance,
        "洋梓镇",
        "the allowance stopped",
    );
    request.settled_at_desk = Some(DeskSettlement {
        reply: " ".into(),
        mediated: true,
    });
    let invalid = api(&db)
        .submit_case(call(request.clone(), None))
        .await
        .expect_err("a settlement without its reply");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = yimen_testkit::harness::violated_fields(&invalid);
    assert_eq!(fields, ["settled_at_desk.reply"]);

    request.settled_at_desk = Some(DeskSettlement {
        reply: "both neighbours agreed to share the wall".into(),
        mediated: true,
    });
    let id = submit(&db, request).await.case_id;
    let case = get(&db, &id).await;
    assert_eq!(status(&case), (CaseStatus::Replied, ""));
    assert_eq!(kinds(&case), ["case.registered", "case.replied"]);
    assert_eq!(
        last_line(&case),
        (
            "case.replied",
            "mediated on the spot at the desk (当场调处): both neighbours agreed to share the wall",
            ""
        )
    );
    let registered = outbox_events(&db).await;
    match &registered.last().expect("case.registered").payload {
        Some(Payload::CaseRegistered(r)) => {
            assert!(r.settled_at_desk && r.mediated_at_desk, "{r:?}");
        }
        other => panic!("{other:?}"),
    }

    // Unsatisfied: reopened for dispatch, naming no department, so it routes as a new matter.
    app(&db)
        .evaluate(&SubmitEvaluationRequest {
            case_ref: id.clone(),
            satisfaction: Satisfaction::Unsatisfied as i32,
            comment: String::new(),
        })
        .await
        .expect("evaluate");
    let reopened = outbox_events(&db).await;
    match &reopened.last().expect("case.reopened").payload {
        Some(Payload::CaseReopened(r)) => assert_eq!(r.department, ""),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&get(&db, &id).await), (CaseStatus::Reopened, ""));
}
