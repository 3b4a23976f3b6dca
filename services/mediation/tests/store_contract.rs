//! Mediation's contract over both stores (PostgreSQL and SQLite): committees, opening files by
//! request and by referral, sessions, outcomes with agreements, court confirmation and the
//! mediators' credit, driven through the gRPC trait and the consumer the way the server and the
//! consumer loop drive them, and checked through the answers and the events in the outbox.

use tonic::{Code, Request, Status};
use yimen_mediation::MediationConfig;
use yimen_mediation::api::Api;
use yimen_platform::auth::{Principal, Role};
use yimen_platform::db::Db;
use yimen_platform::time::timestamp;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::mediation_service_server::MediationService;
use yimen_proto::v1::*;
use yimen_testkit::as_caller;

yimen_testkit::store_contract!(
    yimen_mediation::SERVICE,
    yimen_mediation::MIGRATIONS,
    [
        committees_are_seeded_as_the_code_knows_them,
        open_by_category_picks_the_committee_and_emits_mediation_opened,
        committee_override_and_fallback_choose_the_committee,
        opening_twice_for_a_case_answers_the_same_file,
        invalid_open_names_every_field_and_writes_nothing,
        referral_opens_a_file_with_referred_by_and_linkage,
        referral_of_a_case_already_in_mediation_does_nothing,
        mediators_are_registered_and_listed_by_committee,
        sessions_need_registered_mediators_of_any_committee,
        agreement_installments_are_validated_naming_the_field,
        agreed_outcome_emits_concluded_with_amount_and_session_mediators,
        outcome_on_a_concluded_file_is_failed_precondition,
        court_confirmation_path,
        performance_points_are_credited_once_per_file,
        mediations_are_listed_oldest_first_page_by_page,
        unknown_and_malformed_mediation_ids_are_refused,
        a_direct_file_knows_the_case_number_whether_registered_before_or_after,
        a_mediator_lists_and_sees_only_its_committees_files,
        agreement_parties_are_sealed_at_rest_and_reseal_keeps_them_readable,
        a_mediator_acts_only_on_its_committees_files_and_nothing_is_written_when_refused,
        a_withdrawn_case_withdraws_its_open_mediation_once,
    ]
);

// --- helpers -------------------------------------------------------------------------------

const JAN_2026: i64 = 1_767_225_600_000;
const YEAR: i64 = 365 * 24 * 60 * 60 * 1000;

fn api(db: &Db) -> Api {
    Api::new(
        db.clone(),
        &MediationConfig::default(),
        yimen_testkit::keyring(),
    )
}

fn new_case() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn fields(status: &Status) -> Vec<String> {
    yimen_testkit::harness::violated_fields(status)
}

fn open_request(case_id: &str, linkage: Linkage, category: Category) -> OpenMediationRequest {
    OpenMediationRequest {
        case_id: case_id.into(),
        linkage: linkage as i32,
        category: category as i32,
        summary: "dispute summary".into(),
        committee: String::new(),
    }
}

async fn open(api: &Api, case_id: &str, category: Category) -> MediationFile {
    api.open_mediation(Request::new(open_request(
        case_id,
        Linkage::Court,
        category,
    )))
    .await
    .expect("open mediation")
    .into_inner()
}

async fn register(api: &Api, name: &str, committee: &str) -> Mediator {
    api.register_mediator(Request::new(RegisterMediatorRequest {
        name: name.into(),
        committee: committee.into(),
    }))
    .await
    .expect("register mediator")
    .into_inner()
}

fn session_request(mediation_id: &str, at: i64, mediators: &[&str]) -> ScheduleSessionRequest {
    ScheduleSessionRequest {
        mediation_id: mediation_id.into(),
        at: Some(timestamp(at)),
        mediators: mediators.iter().map(|m| m.to_string()).collect(),
        room: "视频调解室".into(),
    }
}

async fn schedule(api: &Api, mediation_id: &str, at: i64, mediators: &[&str]) -> MediationFile {
    api.schedule_session(Request::new(session_request(mediation_id, at, mediators)))
        .await
        .expect("schedule session")
        .into_inner()
}

fn money(fen: i64) -> Option<Money> {
    Some(Money { fen })
}

/// The grain money (scenario 2): repaid in three yearly installments.
fn grain_agreement() -> Agreement {
    Agreement {
        amount: money(210_000_000),
        payer: "the rice mill".into(),
        payee: "74 households".into(),
        terms: "repaid over three years".into(),
        installments: (0..3)
            .map(|year| Installment {
                due: Some(timestamp(JAN_2026 + year * YEAR)),
                amount: money(70_000_000),
            })
            .collect(),
    }
}

fn outcome_request(
    mediation_id: &str,
    outcome: MediationState,
    agreement: Option<Agreement>,
) -> RecordOutcomeRequest {
    RecordOutcomeRequest {
        mediation_id: mediation_id.into(),
        outcome: outcome as i32,
        agreement,
        difficulty: 0,
    }
}

async fn conclude(
    api: &Api,
    mediation_id: &str,
    outcome: MediationState,
    agreement: Option<Agreement>,
) -> Result<MediationFile, Status> {
    api.record_outcome(Request::new(outcome_request(
        mediation_id,
        outcome,
        agreement,
    )))
    .await
    .map(|r| r.into_inner())
}

/// An OPEN file of a new case with one session of a new mediator, concluded AGREED.
async fn agreed_file(api: &Api) -> (MediationFile, Mediator) {
    let file = open(api, &new_case(), Category::Agriculture).await;
    let mediator = register(api, "老李", "civil-commercial").await;
    schedule(api, &file.mediation_id, JAN_2026, &[&mediator.mediator_id]).await;
    let file = conclude(
        api,
        &file.mediation_id,
        MediationState::Agreed,
        Some(grain_agreement()),
    )
    .await
    .expect("agreed");
    (file, mediator)
}

async fn get(api: &Api, mediation_id: &str) -> MediationFile {
    api.get_mediation(Request::new(GetMediationRequest {
        mediation_id: mediation_id.into(),
    }))
    .await
    .expect("get mediation")
    .into_inner()
}

async fn list(api: &Api, request: ListMediationsRequest) -> ListMediationsResponse {
    api.list_mediations(Request::new(request))
        .await
        .expect("list mediations")
        .into_inner()
}

fn referral(case_id: &str, department: &str, linkage: Linkage, category: Category) -> Event {
    yimen_platform::events::new_event(
        format!("case.referred.{department}"),
        case_id,
        "dispatch",
        Payload::CaseReferred(CaseReferred {
            assignment_id: uuid::Uuid::now_v7().to_string(),
            case_number: "YM-2026-000074".into(),
            department: department.into(),
            category: category as i32,
            linkage: linkage as i32,
            summary: "grain money owed to 74 households".into(),
            location: Some(Location {
                town: "石牌镇".into(),
                village: String::new(),
            }),
        }),
    )
}

fn registration(case_id: &str, case_number: &str) -> Event {
    yimen_platform::events::new_event(
        "case.registered",
        case_id,
        "intake",
        Payload::CaseRegistered(CaseRegistered {
            case_number: case_number.into(),
            category: Category::Agriculture as i32,
            headcount: 74,
            ..Default::default()
        }),
    )
}

/// Delivers an event the way the consumer loop does: in a transaction that commits after.
async fn deliver(db: &Db, event: &Event) {
    let handler = std::sync::Arc::new(yimen_mediation::consumers::Handler::new(
        db.clone(),
        &MediationConfig::default(),
        yimen_testkit::keyring(),
    ));
    yimen_testkit::harness::deliver(db, &*handler, event)
        .await
        .expect("handle");
}

async fn keys(db: &Db) -> Vec<String> {
    yimen_platform::outbox::unsent_routing_keys(db)
        .await
        .expect("outbox keys")
}

async fn events(db: &Db) -> Vec<Event> {
    yimen_testkit::harness::published(db).await
}

async fn opened_events(db: &Db) -> Vec<(Event, MediationOpened)> {
    events(db)
        .await
        .into_iter()
        .filter_map(|e| match e.payload.clone() {
            Some(Payload::MediationOpened(p)) => Some((e, p)),
            _ => None,
        })
        .collect()
}

async fn file_count(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM mediations")
        .fetch_one(db.pool())
        .await
        .expect("count")
}

fn caller(role: Role, committee: Option<&str>) -> Principal {
    Principal {
        subject: format!("{role}-1"),
        role,
        department: None,
        committee: committee.map(str::to_string),
    }
}

fn mediator_of(committee: &str) -> Principal {
    caller(Role::Mediator, Some(committee))
}

// --- committees ----------------------------------------------------------------------------

async fn committees_are_seeded_as_the_code_knows_them(db: Db) {
    let committees = api(&db)
        .list_committees(Request::new(ListCommitteesRequest {}))
        .await
        .expect("list committees")
        .into_inner()
        .committees;
    assert_eq!(committees.len(), 8);
    let known: Vec<Committee> = yimen_mediation::domain::COMMITTEES
        .iter()
        .map(|c| c.to_proto())
        .collect();
    assert_eq!(committees, known);
    assert_eq!(committees[0].code, "medical");
    assert_eq!(committees[7].name, "民商事纠纷调解委员会");
}

// --- opening -------------------------------------------------------------------------------

async fn open_by_category_picks_the_committee_and_emits_mediation_opened(db: Db) {
    let api = api(&db);
    let case_id = new_case();
    let file = open(&api, &case_id, Category::LabourWages).await;

    assert_eq!(file.case_id, case_id);
    assert_eq!(file.committee, "labour");
    assert_eq!(file.state, MediationState::Open as i32);
    assert_eq!(file.linkage, Linkage::Court as i32);
    assert_eq!(file.category, Category::LabourWages as i32);
    assert_eq!(file.referred_by, "");
    assert!(file.opened_at.is_some() && file.concluded_at.is_none());
    assert!(uuid::Uuid::parse_str(&file.mediation_id).is_ok());

    assert_eq!(keys(&db).await, ["mediation.opened"]);
    let opened = opened_events(&db).await;
    let (event, payload) = &opened[0];
    assert_eq!(event.case_id, case_id);
    assert_eq!(event.producer, "mediation");
    assert_eq!(
        payload,
        &MediationOpened {
            mediation_id: file.mediation_id.clone(),
            committee: "labour".into(),
            committee_name: "劳动争议人民调解委员会".into(),
            linkage: Linkage::Court as i32,
            category: Category::LabourWages as i32,
            referred_by: String::new(),
        }
    );
    assert_eq!(get(&api, &file.mediation_id).await, file);
}

async fn committee_override_and_fallback_choose_the_committee(db: Db) {
    let api = api(&db);
    // Medical insurance withholding (scenario 3): no committee lists it.
    let fallback = open(&api, &new_case(), Category::MedicalInsurance).await;
    assert_eq!(fallback.committee, "civil-commercial");

    let mut request = open_request(&new_case(), Linkage::Guidance, Category::Agriculture);
    request.committee = "housing".into();
    let overridden = api
        .open_mediation(Request::new(request))
        .await
        .expect("open with override")
        .into_inner();
    assert_eq!(overridden.committee, "housing");
    assert_eq!(overridden.category, Category::Agriculture as i32);

    let mut request = open_request(&new_case(), Linkage::Guidance, Category::Agriculture);
    request.committee = "weather".into();
    let status = api
        .open_mediation(Request::new(request))
        .await
        .expect_err("unknown committee");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["committee"]);
    assert_eq!(file_count(&db).await, 2);
}

async fn opening_twice_for_a_case_answers_the_same_file(db: Db) {
    let api = api(&db);
    let case_id = new_case();
    let first = open(&api, &case_id, Category::Transport).await;
    // Again, even with other details: the OPEN file answers.
    let again = api
        .open_mediation(Request::new(open_request(
            &case_id,
            Linkage::Petition,
            Category::Environment,
        )))
        .await
        .expect("open again")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(keys(&db).await, ["mediation.opened"]);
    assert_eq!(file_count(&db).await, 1);

    // Once that file is concluded, the case may come to mediation again.
    conclude(&api, &first.mediation_id, MediationState::Failed, None)
        .await
        .expect("failed");
    let second = open(&api, &case_id, Category::Transport).await;
    assert_ne!(second.mediation_id, first.mediation_id);
    assert_eq!(
        keys(&db).await,
        [
            "mediation.opened",
            "mediation.concluded",
            "mediation.opened"
        ]
    );
}

async fn invalid_open_names_every_field_and_writes_nothing(db: Db) {
    let api = api(&db);
    let status = api
        .open_mediation(Request::new(OpenMediationRequest {
            case_id: "YM-2026-000001".into(),
            linkage: Linkage::Unspecified as i32,
            category: Category::Unspecified as i32,
            summary: "概".repeat(501),
            committee: String::new(),
        }))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&status),
        ["case_id", "linkage", "category", "summary"]
    );
    assert_eq!(file_count(&db).await, 0);
    assert!(keys(&db).await.is_empty());
}

// --- referrals -----------------------------------------------------------------------------

async fn referral_opens_a_file_with_referred_by_and_linkage(db: Db) {
    let api = api(&db);
    let case_id = new_case();
    deliver(
        &db,
        &referral(
            &case_id,
            "agriculture",
            Linkage::Unspecified,
            Category::Agriculture,
        ),
    )
    .await;

    let files = list(
        &api,
        ListMediationsRequest {
            case_id: case_id.clone(),
            ..Default::default()
        },
    )
    .await
    .mediations;
    assert_eq!(files.len(), 1);
    let file = &files[0];
    assert_eq!(file.referred_by, "agriculture");
    assert_eq!(file.linkage, Linkage::Petition as i32);
    assert_eq!(file.case_number, "YM-2026-000074");
    assert_eq!(file.committee, "civil-commercial");
    assert_eq!(file.summary, "grain money owed to 74 households");
    assert_eq!(file.state, MediationState::Open as i32);

    let opened = opened_events(&db).await;
    assert_eq!(opened.len(), 1);
    let (event, payload) = &opened[0];
    assert_eq!(event.case_id, case_id);
    assert_eq!(payload.mediation_id, file.mediation_id);
    assert_eq!(payload.referred_by, "agriculture");
    assert_eq!(payload.linkage, Linkage::Petition as i32);

    // A referral with its own linkage keeps it.
    let court_case = new_case();
    deliver(
        &db,
        &referral(
            &court_case,
            "court",
            Linkage::Court,
            Category::HealthMedical,
        ),
    )
    .await;
    let (_, court) = &opened_events(&db).await[1];
    assert_eq!(court.linkage, Linkage::Court as i32);
    assert_eq!(court.committee, "medical");
}

async fn referral_of_a_case_already_in_mediation_does_nothing(db: Db) {
    let api = api(&db);
    let case_id = new_case();
    let file = open(&api, &case_id, Category::Agriculture).await;
    deliver(
        &db,
        &referral(
            &case_id,
            "agriculture",
            Linkage::Petition,
            Category::Agriculture,
        ),
    )
    .await;
    // The same referral announced again (another event id) changes nothing either.
    deliver(
        &db,
        &referral(
            &case_id,
            "agriculture",
            Linkage::Petition,
            Category::Agriculture,
        ),
    )
    .await;
    assert_eq!(file_count(&db).await, 1);
    assert_eq!(keys(&db).await, ["mediation.opened"]);
    assert_eq!(get(&api, &file.mediation_id).await, file);
}

// --- mediators and sessions ----------------------------------------------------------------

async fn mediators_are_registered_and_listed_by_committee(db: Db) {
    let api = api(&db);
    let li = register(&api, "老李", "labour").await;
    let wang = register(&api, "王调解", "medical").await;
    assert_eq!(li.committee, "labour");
    assert_eq!(li.difficulty_points, 0);
    assert!(uuid::Uuid::parse_str(&li.mediator_id).is_ok());

    let all = api
        .list_mediators(Request::new(ListMediatorsRequest::default()))
        .await
        .expect("list all")
        .into_inner()
        .mediators;
    assert_eq!(all, [li.clone(), wang]);
    let labour = api
        .list_mediators(Request::new(ListMediatorsRequest {
            committee: "labour".into(),
        }))
        .await
        .expect("list labour")
        .into_inner()
        .mediators;
    assert_eq!(labour, [li]);

    for (name, committee, bad) in [
        ("", "labour", vec!["name"]),
        ("名".repeat(51).as_str(), "labour", vec!["name"]),
        ("老张", "court", vec!["committee"]),
        ("老张", "", vec!["committee"]),
    ] {
        let status = api
            .register_mediator(Request::new(RegisterMediatorRequest {
                name: name.into(),
                committee: committee.into(),
            }))
            .await
            .expect_err("invalid mediator");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(fields(&status), bad);
    }
    let status = api
        .list_mediators(Request::new(ListMediatorsRequest {
            committee: "court".into(),
        }))
        .await
        .expect_err("unknown committee");
    assert_eq!(fields(&status), ["committee"]);
}

async fn sessions_need_registered_mediators_of_any_committee(db: Db) {
    let api = api(&db);
    let file = open(&api, &new_case(), Category::HousingProperty).await;
    let housing = register(&api, "物业调解员", "housing").await;
    let lawyer = register(&api, "驻点律师", "civil-commercial").await;
    let stranger = uuid::Uuid::now_v7().to_string();

    let status = api
        .schedule_session(Request::new(session_request(
            &file.mediation_id,
            JAN_2026,
            &[&housing.mediator_id, &stranger],
        )))
        .await
        .expect_err("unknown mediator");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["mediators[1]"]);
    assert!(get(&api, &file.mediation_id).await.sessions.is_empty());

    // Mediators of two committees sit together; sessions are listed by time.
    schedule(
        &api,
        &file.mediation_id,
        JAN_2026 + 2000,
        &[&lawyer.mediator_id],
    )
    .await;
    let scheduled = schedule(
        &api,
        &file.mediation_id,
        JAN_2026,
        &[&housing.mediator_id, &lawyer.mediator_id],
    )
    .await;
    assert_eq!(scheduled.sessions.len(), 2);
    assert_eq!(scheduled.sessions[0].at, Some(timestamp(JAN_2026)));
    assert_eq!(
        scheduled.sessions[0].mediators,
        [housing.mediator_id.clone(), lawyer.mediator_id.clone()]
    );
    assert_eq!(scheduled.sessions[0].room, "视频调解室");
    assert_eq!(
        scheduled.mediators,
        [housing.mediator_id.clone(), lawyer.mediator_id.clone()]
    );
    // No event: sessions are the center's own business.
    assert_eq!(keys(&db).await, ["mediation.opened"]);

    let unknown_file = uuid::Uuid::now_v7().to_string();
    let status = api
        .schedule_session(Request::new(session_request(
            &unknown_file,
            JAN_2026,
            &[&housing.mediator_id],
        )))
        .await
        .expect_err("unknown file");
    assert_eq!(status.code(), Code::NotFound);
}

// --- outcomes ------------------------------------------------------------------------------

async fn agreement_installments_are_validated_naming_the_field(db: Db) {
    let api = api(&db);
    let file = open(&api, &new_case(), Category::Agriculture).await;

    let mut mismatched = grain_agreement();
    mismatched.installments[2].amount = money(69_999_999);
    let status = conclude(
        &api,
        &file.mediation_id,
        MediationState::Agreed,
        Some(mismatched),
    )
    .await
    .expect_err("sum mismatch");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["agreement.installments"]);

    let mut unordered = grain_agreement();
    unordered.installments[2].due = unordered.installments[1].due;
    unordered.payer = String::new();
    let status = conclude(
        &api,
        &file.mediation_id,
        MediationState::Agreed,
        Some(unordered),
    )
    .await
    .expect_err("bad installments");
    assert_eq!(
        fields(&status),
        ["agreement.payer", "agreement.installments[2].due"]
    );

    let status = conclude(&api, &file.mediation_id, MediationState::Agreed, None)
        .await
        .expect_err("agreement missing");
    assert_eq!(fields(&status), ["agreement"]);
    let status = conclude(
        &api,
        &file.mediation_id,
        MediationState::Withdrawn,
        Some(grain_agreement()),
    )
    .await
    .expect_err("withdrawal with an agreement");
    assert_eq!(fields(&status), ["agreement"]);

    // Nothing was written.
    let unchanged = get(&api, &file.mediation_id).await;
    assert_eq!(unchanged.state, MediationState::Open as i32);
    assert!(unchanged.agreement.is_none());
    assert_eq!(keys(&db).await, ["mediation.opened"]);
}

async fn agreed_outcome_emits_concluded_with_amount_and_session_mediators(db: Db) {
    let api = api(&db);
    let case_id = new_case();
    let file = open(&api, &case_id, Category::Agriculture).await;
    let li = register(&api, "老李", "civil-commercial").await;
    let zhang = register(&api, "张法官", "labour").await;
    schedule(&api, &file.mediation_id, JAN_2026, &[&li.mediator_id]).await;
    schedule(
        &api,
        &file.mediation_id,
        JAN_2026 + 1000,
        &[&zhang.mediator_id, &li.mediator_id],
    )
    .await;

    let agreed = conclude(
        &api,
        &file.mediation_id,
        MediationState::Agreed,
        Some(grain_agreement()),
    )
    .await
    .expect("agreed");
    assert_eq!(agreed.state, MediationState::Agreed as i32);
    assert!(agreed.concluded_at.is_some());
    assert_eq!(agreed.agreement, Some(grain_agreement()));
    assert_eq!(
        agreed.mediators,
        [li.mediator_id.clone(), zhang.mediator_id.clone()]
    );
    assert_eq!(get(&api, &file.mediation_id).await, agreed);

    assert_eq!(keys(&db).await, ["mediation.opened", "mediation.concluded"]);
    let event = events(&db).await.pop().expect("concluded event");
    assert_eq!(event.case_id, case_id);
    assert_eq!(event.producer, "mediation");
    let Some(Payload::MediationConcluded(concluded)) = event.payload else {
        panic!("not MediationConcluded: {event:?}");
    };
    assert_eq!(concluded.mediation_id, file.mediation_id);
    assert_eq!(concluded.committee, "civil-commercial");
    assert_eq!(concluded.linkage, Linkage::Court as i32);
    assert_eq!(concluded.outcome, MediationState::Agreed as i32);
    let agreement = concluded.agreement.expect("agreement");
    assert_eq!(agreement.amount, money(210_000_000));
    assert_eq!(agreement.installments.len(), 3);
    assert_eq!(agreement.terms, grain_agreement().terms);
    assert!(
        agreement.payer.is_empty() && agreement.payee.is_empty(),
        "the parties may be petitioners: they stay out of the event"
    );
    assert_eq!(concluded.mediators, [li.mediator_id, zhang.mediator_id]);
}

async fn outcome_on_a_concluded_file_is_failed_precondition(db: Db) {
    let api = api(&db);
    let (agreed, mediator) = agreed_file(&api).await;
    let withdrawn = open(&api, &new_case(), Category::MarriageFamily).await;
    conclude(
        &api,
        &withdrawn.mediation_id,
        MediationState::Withdrawn,
        None,
    )
    .await
    .expect("withdrawn");

    for file in [&agreed, &withdrawn] {
        let status = conclude(&api, &file.mediation_id, MediationState::Failed, None)
            .await
            .expect_err("second outcome");
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status.message().contains("only an OPEN mediation"),
            "{}",
            status.message()
        );

        let status = api
            .schedule_session(Request::new(session_request(
                &file.mediation_id,
                JAN_2026,
                &[&mediator.mediator_id],
            )))
            .await
            .expect_err("session on a concluded file");
        assert_eq!(status.code(), Code::FailedPrecondition);
    }
    let status = api
        .request_court_confirmation(Request::new(RequestCourtConfirmationRequest {
            mediation_id: withdrawn.mediation_id.clone(),
        }))
        .await
        .expect_err("a withdrawal goes to no court");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        get(&api, &agreed.mediation_id).await.state,
        MediationState::Agreed as i32
    );
    assert_eq!(
        keys(&db).await,
        [
            "mediation.opened",
            "mediation.concluded",
            "mediation.opened",
            "mediation.concluded"
        ]
    );
}

// --- court confirmation --------------------------------------------------------------------

async fn court_confirmation_path(db: Db) {
    let api = api(&db);
    let (file, _) = agreed_file(&api).await;
    let id = file.mediation_id.clone();
    let decide = |confirmed: bool| {
        api.record_court_decision(Request::new(RecordCourtDecisionRequest {
            mediation_id: id.clone(),
            confirmed,
        }))
    };
    let request = || {
        api.request_court_confirmation(Request::new(RequestCourtConfirmationRequest {
            mediation_id: id.clone(),
        }))
    };

    let status = decide(true).await.expect_err("decision before a request");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let requested = request().await.expect("requested").into_inner();
    assert_eq!(requested.state, MediationState::Agreed as i32);
    let status = request().await.expect_err("requested twice");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // Not confirmed: the file stays AGREED and may be sent again.
    let refused = decide(false).await.expect("not confirmed").into_inner();
    assert_eq!(refused.state, MediationState::Agreed as i32);
    request().await.expect("requested again");
    let confirmed = decide(true).await.expect("confirmed").into_inner();
    assert_eq!(confirmed.state, MediationState::CourtConfirmed as i32);
    assert_eq!(confirmed.agreement, Some(grain_agreement()));
    let status = request().await.expect_err("already confirmed");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let decisions: Vec<(String, MediationCourtConfirmed)> = events(&db)
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(Payload::MediationCourtConfirmed(p)) => Some((e.case_id, p)),
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (
                file.case_id.clone(),
                MediationCourtConfirmed {
                    mediation_id: id.clone(),
                    confirmed: false,
                }
            ),
            (
                file.case_id.clone(),
                MediationCourtConfirmed {
                    mediation_id: id.clone(),
                    confirmed: true,
                }
            ),
        ]
    );
    assert_eq!(
        keys(&db).await,
        [
            "mediation.opened",
            "mediation.concluded",
            "mediation.court_confirmed",
            "mediation.court_confirmed"
        ]
    );
}

// --- performance ---------------------------------------------------------------------------

async fn performance_points_are_credited_once_per_file(db: Db) {
    let api = api(&db);
    let credit = |mediator_id: &str, mediation_id: &str, points: u32| {
        api.record_performance(Request::new(RecordPerformanceRequest {
            mediator_id: mediator_id.into(),
            mediation_id: mediation_id.into(),
            difficulty_points: points,
        }))
    };

    // Not for an OPEN file.
    let open_file = open(&api, &new_case(), Category::Transport).await;
    let sitter = register(&api, "交调员", "traffic").await;
    schedule(
        &api,
        &open_file.mediation_id,
        JAN_2026,
        &[&sitter.mediator_id],
    )
    .await;
    let status = credit(&sitter.mediator_id, &open_file.mediation_id, 5)
        .await
        .expect_err("open file");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let (file, mediator) = agreed_file(&api).await;
    // Not for a mediator who never sat.
    let status = credit(&sitter.mediator_id, &file.mediation_id, 5)
        .await
        .expect_err("did not sit");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let credited = credit(&mediator.mediator_id, &file.mediation_id, 7)
        .await
        .expect("credited")
        .into_inner();
    assert_eq!(credited.difficulty_points, 7);
    let status = credit(&mediator.mediator_id, &file.mediation_id, 7)
        .await
        .expect_err("credited twice");
    assert_eq!(status.code(), Code::AlreadyExists);

    // A second agreement of the same mediator adds up, also once confirmed by the court.
    let second = open(&api, &new_case(), Category::Other).await;
    schedule(
        &api,
        &second.mediation_id,
        JAN_2026,
        &[&mediator.mediator_id],
    )
    .await;
    conclude(
        &api,
        &second.mediation_id,
        MediationState::Agreed,
        Some(grain_agreement()),
    )
    .await
    .expect("agreed");
    api.request_court_confirmation(Request::new(RequestCourtConfirmationRequest {
        mediation_id: second.mediation_id.clone(),
    }))
    .await
    .expect("requested");
    api.record_court_decision(Request::new(RecordCourtDecisionRequest {
        mediation_id: second.mediation_id.clone(),
        confirmed: true,
    }))
    .await
    .expect("confirmed");
    let credited = credit(&mediator.mediator_id, &second.mediation_id, 3)
        .await
        .expect("credited")
        .into_inner();
    assert_eq!(credited.difficulty_points, 10);

    let status = credit(&mediator.mediator_id, &file.mediation_id, 11)
        .await
        .expect_err("too many points");
    assert_eq!(fields(&status), ["difficulty_points"]);
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = credit(&unknown, &file.mediation_id, 5)
        .await
        .expect_err("unknown mediator");
    assert_eq!(status.code(), Code::NotFound);
    let status = credit(&mediator.mediator_id, &unknown, 5)
        .await
        .expect_err("unknown file");
    assert_eq!(status.code(), Code::NotFound);
}

// --- reading -------------------------------------------------------------------------------

async fn mediations_are_listed_oldest_first_page_by_page(db: Db) {
    let api = api(&db);
    let mut opened = Vec::new();
    for category in [
        Category::LabourWages,
        Category::Agriculture,
        Category::WorkSafety,
        Category::Other,
        Category::SocialInsurance,
    ] {
        opened.push(open(&api, &new_case(), category).await);
    }
    conclude(&api, &opened[2].mediation_id, MediationState::Failed, None)
        .await
        .expect("failed");

    let everything = list(&api, ListMediationsRequest::default()).await;
    assert_eq!(everything.next_page_token, "");
    let key = |f: &MediationFile| {
        (
            f.opened_at.map(|t| (t.seconds, t.nanos)),
            f.mediation_id.clone(),
        )
    };
    let mut expected = opened.clone();
    expected.sort_by_key(key);
    let ids = |files: &[MediationFile]| -> Vec<String> {
        files.iter().map(|f| f.mediation_id.clone()).collect()
    };
    assert_eq!(ids(&everything.mediations), ids(&expected));

    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(
            &api,
            ListMediationsRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token.clone(),
                }),
                ..Default::default()
            },
        )
        .await;
        assert!(page.mediations.len() <= 2);
        paged.extend(page.mediations);
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(ids(&paged), ids(&expected));

    let labour = list(
        &api,
        ListMediationsRequest {
            committee: "labour".into(),
            ..Default::default()
        },
    )
    .await
    .mediations;
    assert_eq!(labour.len(), 3);
    let open_labour = list(
        &api,
        ListMediationsRequest {
            committee: "labour".into(),
            state: MediationState::Open as i32,
            ..Default::default()
        },
    )
    .await
    .mediations;
    assert_eq!(open_labour.len(), 2);
    let failed = list(
        &api,
        ListMediationsRequest {
            state: MediationState::Failed as i32,
            ..Default::default()
        },
    )
    .await
    .mediations;
    assert_eq!(ids(&failed), [opened[2].mediation_id.clone()]);
    let of_case = list(
        &api,
        ListMediationsRequest {
            case_id: opened[1].case_id.clone(),
            ..Default::default()
        },
    )
    .await
    .mediations;
    assert_eq!(of_case, [opened[1].clone()]);

    let status = api
        .list_mediations(Request::new(ListMediationsRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: "nonsense".into(),
            }),
            ..Default::default()
        }))
        .await
        .expect_err("bad token");
    assert_eq!(fields(&status), ["page.page_token"]);
}

async fn unknown_and_malformed_mediation_ids_are_refused(db: Db) {
    let api = api(&db);
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = api
        .get_mediation(Request::new(GetMediationRequest {
            mediation_id: unknown.clone(),
        }))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = api
        .get_mediation(Request::new(GetMediationRequest {
            mediation_id: "M-1".into(),
        }))
        .await
        .expect_err("malformed");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(fields(&status), ["mediation_id"]);

    let status = conclude(&api, &unknown, MediationState::Failed, None)
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = api
        .request_court_confirmation(Request::new(RequestCourtConfirmationRequest {
            mediation_id: unknown.clone(),
        }))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = api
        .record_court_decision(Request::new(RecordCourtDecisionRequest {
            mediation_id: String::new(),
            confirmed: true,
        }))
        .await
        .expect_err("empty");
    assert_eq!(fields(&status), ["mediation_id"]);
}

async fn a_direct_file_knows_the_case_number_whether_registered_before_or_after(db: Db) {
    let api = api(&db);
    let known = new_case();
    deliver(&db, &registration(&known, "YM-2026-000002")).await;
    let file = open(&api, &known, Category::Agriculture).await;
    assert_eq!(file.case_number, "YM-2026-000002");

    // Opened before mediation heard of the registration: the registration fills it in.
    let late = new_case();
    let file = open(&api, &late, Category::Agriculture).await;
    assert_eq!(file.case_number, "");
    deliver(&db, &registration(&late, "YM-2026-000003")).await;
    assert_eq!(
        get(&api, &file.mediation_id).await.case_number,
        "YM-2026-000003"
    );
}

// --- who sees and acts on which file ---------------------------------------------------------

async fn a_mediator_lists_and_sees_only_its_committees_files(db: Db) {
    let api = api(&db);
    let labour = open(&api, &new_case(), Category::LabourWages).await;
    let other = open(&api, &new_case(), Category::MedicalInsurance).await;
    assert_eq!(
        (labour.committee.as_str(), other.committee.as_str()),
        ("labour", "civil-commercial")
    );
    let mediator = mediator_of("labour");
    let listed = |committee: &str, case_id: &str| ListMediationsRequest {
        case_id: case_id.into(),
        committee: committee.into(),
        ..Default::default()
    };
    let ids = |r: ListMediationsResponse| -> Vec<String> {
        r.mediations.into_iter().map(|f| f.mediation_id).collect()
    };

    for named in ["", "labour"] {
        let own = api
            .list_mediations(as_caller(&mediator, listed(named, "")))
            .await
            .expect("its committee's files")
            .into_inner();
        assert_eq!(ids(own), [labour.mediation_id.as_str()], "named {named:?}");
    }
    let by_case = api
        .list_mediations(as_caller(&mediator, listed("", &other.case_id)))
        .await
        .expect("filtered by another committee's case")
        .into_inner();
    assert!(by_case.mediations.is_empty(), "{by_case:?}");
    let refused = api
        .list_mediations(as_caller(&mediator, listed("civil-commercial", "")))
        .await
        .expect_err("another committee's files");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        refused.message(),
        "a mediator of committee `labour` may only list its own committee's files"
    );

    let get_as = |caller: Principal, id: &str| {
        api.get_mediation(as_caller(
            &caller,
            GetMediationRequest {
                mediation_id: id.into(),
            },
        ))
    };
    let own = get_as(mediator.clone(), &labour.mediation_id)
        .await
        .expect("its own file")
        .into_inner();
    assert_eq!(own, labour);
    let hidden = get_as(mediator.clone(), &other.mediation_id)
        .await
        .expect_err("another committee's file");
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(
        hidden.message(),
        format!("mediation {} not found", other.mediation_id),
        "answered exactly as a file that does not exist"
    );

    // A supervisor sees every committee's files.
    let supervisor = caller(Role::Supervisor, None);
    let all = api
        .list_mediations(as_caller(&supervisor, listed("", "")))
        .await
        .expect("all files")
        .into_inner();
    assert_eq!(
        ids(all),
        [labour.mediation_id.clone(), other.mediation_id.clone()]
    );
    assert_eq!(
        get_as(supervisor, &other.mediation_id)
            .await
            .expect("any file")
            .into_inner(),
        other
    );
}

async fn a_mediator_acts_only_on_its_committees_files_and_nothing_is_written_when_refused(db: Db) {
    let api = api(&db);
    let open_file = open(&api, &new_case(), Category::LabourWages).await;
    let (agreed, sat) = agreed_file(&api).await;
    assert_ne!(agreed.committee, "medical");
    let stranger = mediator_of("medical");
    let before = events(&db).await.len();

    let refusals = [
        (
            "schedule",
            api.schedule_session(as_caller(
                &stranger,
                session_request(&open_file.mediation_id, JAN_2026, &[&sat.mediator_id]),
            ))
            .await
            .map(drop),
        ),
        (
            "outcome",
            api.record_outcome(as_caller(
                &stranger,
                outcome_request(&open_file.mediation_id, MediationState::Failed, None),
            ))
            .await
            .map(drop),
        ),
        (
            "court request",
            api.request_court_confirmation(as_caller(
                &stranger,
                RequestCourtConfirmationRequest {
                    mediation_id: agreed.mediation_id.clone(),
                },
            ))
            .await
            .map(drop),
        ),
        (
            "court decision",
            api.record_court_decision(as_caller(
                &stranger,
                RecordCourtDecisionRequest {
                    mediation_id: agreed.mediation_id.clone(),
                    confirmed: true,
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
            "this mediation file belongs to another committee",
            "{what}: names nothing of the file"
        );
    }
    assert_eq!(events(&db).await.len(), before, "no event was written");
    assert_eq!(get(&api, &open_file.mediation_id).await, open_file);
    assert_eq!(get(&api, &agreed.mediation_id).await, agreed);

    // The file's own committee, and an admin, act as before.
    let scheduled = api
        .schedule_session(as_caller(
            &mediator_of("labour"),
            session_request(&open_file.mediation_id, JAN_2026, &[&sat.mediator_id]),
        ))
        .await
        .expect("its own committee's file")
        .into_inner();
    assert_eq!(scheduled.sessions.len(), 1);
    let requested = api
        .request_court_confirmation(as_caller(
            &mediator_of(&agreed.committee),
            RequestCourtConfirmationRequest {
                mediation_id: agreed.mediation_id.clone(),
            },
        ))
        .await
        .expect("its own committee's file")
        .into_inner();
    assert_eq!(requested.state, MediationState::Agreed as i32);
    let failed = api
        .record_outcome(as_caller(
            &caller(Role::Admin, None),
            outcome_request(&open_file.mediation_id, MediationState::Failed, None),
        ))
        .await
        .expect("an admin acts on any file")
        .into_inner();
    assert_eq!(failed.state, MediationState::Failed as i32);
}

async fn agreement_parties_are_sealed_at_rest_and_reseal_keeps_them_readable(db: Db) {
    use std::sync::Arc;
    use yimen_platform::seal::{Algorithm, KeyFile, Keyring, reseal};
    let mut keys = KeyFile::generate(Algorithm::Sm4Gcm).expect("keys");
    let first = Api::new(
        db.clone(),
        &MediationConfig::default(),
        Arc::new(Keyring::of(&keys).expect("keyring")),
    );
    let (file, _) = agreed_file(&first).await;
    let open_only = open(&first, &new_case(), Category::Agriculture).await;
    let stored: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT mediation_id, agreement_payer, agreement_payee FROM mediations \
         ORDER BY mediation_id",
    )
    .fetch_all(db.pool())
    .await
    .expect("read files");
    for (id, payer, payee) in &stored {
        if *id == open_only.mediation_id {
            assert_eq!(
                (payer.as_str(), payee.as_str()),
                ("", ""),
                "no agreement yet"
            );
            continue;
        }
        assert!(
            payer.starts_with("v1:") && !payer.contains("rice mill"),
            "{payer}"
        );
        assert!(
            payee.starts_with("v1:") && !payee.contains("households"),
            "{payee}"
        );
    }

    keys.rotate().expect("rotate");
    let second = Arc::new(Keyring::of(&keys).expect("keyring"));
    let done = reseal::reseal_all(&db, &second, yimen_mediation::store::SEALED, 500, |_, _| {})
        .await
        .expect("reseal");
    assert_eq!(done, 1, "only the agreed file holds parties");
    assert_eq!(
        reseal::pending(&db, &second, yimen_mediation::store::SEALED)
            .await
            .expect("pending"),
        0
    );
    let after = Api::new(db.clone(), &MediationConfig::default(), second);
    let read = get(&after, &file.mediation_id).await;
    let agreement = read.agreement.expect("agreement");
    assert_eq!(agreement.payer, "the rice mill");
    assert_eq!(agreement.payee, "74 households");
}

fn withdrawn(case_id: &str) -> Event {
    yimen_platform::events::new_event(
        "case.withdrawn",
        case_id,
        "intake",
        Payload::CaseWithdrawn(CaseWithdrawn {
            department: "civil-affairs".into(),
            reason: "settled between the parties".into(),
        }),
    )
}

/// 撤回: the case's OPEN file concludes WITHDRAWN with `mediation.concluded`; a case without
/// one, or withdrawn again, changes nothing.
async fn a_withdrawn_case_withdraws_its_open_mediation_once(db: Db) {
    let api = api(&db);
    let case_id = new_case();
    let file = open(&api, &case_id, Category::Agriculture).await;
    let mediator = register(&api, "老李", "civil-commercial").await;
    schedule(&api, &file.mediation_id, JAN_2026, &[&mediator.mediator_id]).await;
    let before = events(&db).await.len();
    deliver(&db, &withdrawn(&case_id)).await;
    let ended = get(&api, &file.mediation_id).await;
    assert_eq!(ended.state, MediationState::Withdrawn as i32);
    let sent = events(&db).await;
    assert_eq!(sent.len(), before + 1);
    let last = sent.last().expect("mediation.concluded");
    assert_eq!(last.r#type, "mediation.concluded");
    assert_eq!(last.case_id, case_id);
    match &last.payload {
        Some(Payload::MediationConcluded(c)) => {
            assert_eq!(c.mediation_id, file.mediation_id);
            assert_eq!(c.outcome, MediationState::Withdrawn as i32);
            assert_eq!(c.agreement, None);
            assert_eq!(c.mediators, std::slice::from_ref(&mediator.mediator_id));
        }
        other => panic!("{other:?}"),
    }

    let before = keys(&db).await;
    deliver(&db, &withdrawn(&case_id)).await;
    deliver(&db, &withdrawn(&new_case())).await;
    assert_eq!(keys(&db).await, before, "nothing more");
}
