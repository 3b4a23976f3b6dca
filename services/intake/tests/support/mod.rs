//! What intake's test suites share: a valid submission, the API over a store, the events of
//! dispatch, mediation and analysis built the way those services build them, and a look into
//! the outbox.
#![allow(dead_code)] // each suite uses a part

use yimen_intake::IntakeConfig;
use yimen_intake::api::Api;
use yimen_intake::app::Intake;
use yimen_platform::auth::Scope;
use yimen_platform::db::Db;
use yimen_platform::time::{millis, timestamp};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;

pub const KEY: &str = "test-petitioner-key";
pub const ID_NUMBER: &str = "11010519491231002X";

fn config() -> IntakeConfig {
    IntakeConfig {
        petitioner_key: KEY.into(),
        ..IntakeConfig::default()
    }
}

/// The gRPC API over `db`.
pub fn api(db: &Db) -> Api {
    Api::new(db.clone(), &config(), yimen_testkit::keyring())
}

/// The use cases over `db`.
pub fn app(db: &Db) -> Intake {
    Intake::new(db.clone(), &config(), yimen_testkit::keyring())
}

/// A valid submission in `category` at `town`.
pub fn submission(category: Category, town: &str, subject: &str) -> SubmitCaseRequest {
    SubmitCaseRequest {
        channel: Channel::Visit as i32,
        headcount: 1,
        petitioners: vec![Person {
            name: "王某".into(),
            id_number: ID_NUMBER.into(),
            phone: "13800000000".into(),
        }],
        subject: subject.into(),
        description: "details of the matter".into(),
        category: category as i32,
        location: Some(Location {
            town: town.into(),
            village: String::new(),
        }),
        amount_claimed: None,
        request_id: String::new(),
        ..Default::default()
    }
}

pub async fn submit(db: &Db, request: SubmitCaseRequest) -> SubmitCaseResponse {
    app(db)
        .submit(&request, &Scope::Everything)
        .await
        .expect("submit")
}

pub async fn get(db: &Db, case_ref: &str) -> Case {
    app(db)
        .get(
            &GetCaseRequest {
                case_ref: case_ref.into(),
                after_position: 0,
            },
            &Scope::Everything,
        )
        .await
        .expect("get")
}

/// A dispatch event about `case_id`, occurred at `at` (millis).
pub fn event(kind: &str, department: &str, case_id: &str, at: i64, payload: Payload) -> Event {
    event_of(
        &format!("{kind}.{department}"),
        "dispatch",
        case_id,
        at,
        payload,
    )
}

/// An event of type `event_type` from `producer` about `case_id`, occurred at `at` (millis).
pub fn event_of(
    event_type: &str,
    producer: &str,
    case_id: &str,
    at: i64,
    payload: Payload,
) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.into(),
        occurred_at: Some(timestamp(at)),
        case_id: case_id.into(),
        producer: producer.into(),
        payload: Some(payload),
    }
}

pub fn assigned(case_id: &str, department: &str, at: i64) -> Event {
    event(
        "case.assigned",
        department,
        case_id,
        at,
        Payload::CaseAssigned(CaseAssigned {
            assignment_id: uuid::Uuid::now_v7().to_string(),
            department: department.into(),
            department_name: format!("{department} office"),
            cause: AssignmentCause::Routed as i32,
            reason: "owns the category".into(),
            ..Default::default()
        }),
    )
}

pub fn accepted(case_id: &str, department: &str, at: i64, handle_by: i64) -> Event {
    event(
        "case.accepted",
        department,
        case_id,
        at,
        Payload::CaseAccepted(CaseAccepted {
            department_name: String::new(),
            assignment_id: String::new(),
            department: department.into(),
            handle_by: Some(timestamp(handle_by)),
            co_handling: false,
        }),
    )
}

pub fn returned(case_id: &str, department: &str, at: i64, reason: &str) -> Event {
    event(
        "case.returned",
        department,
        case_id,
        at,
        Payload::CaseReturned(CaseReturned {
            assignment_id: String::new(),
            department: department.into(),
            reason: reason.into(),
        }),
    )
}

pub fn replied(case_id: &str, department: &str, at: i64, reply: &str) -> Event {
    event(
        "case.replied",
        department,
        case_id,
        at,
        Payload::CaseReplied(CaseReplied {
            department_name: String::new(),
            assignment_id: String::new(),
            department: department.into(),
            reply: reply.into(),
            within_deadline: true,
        }),
    )
}

/// Applies `event` with intake's handler in a transaction of its own, as the loop does.
pub async fn apply(db: &Db, event: &Event) -> anyhow::Result<()> {
    yimen_testkit::harness::deliver(db, &yimen_intake::consumers::IntakeHandler, event).await
}

pub fn referred(case_id: &str, department: &str, at: i64) -> Event {
    event(
        "case.referred",
        department,
        case_id,
        at,
        Payload::CaseReferred(CaseReferred {
            assignment_id: String::new(),
            department: department.into(),
            linkage: Linkage::Petition as i32,
            summary: "deposits kept after a cancelled expo".into(),
            ..Default::default()
        }),
    )
}

/// Mediation's `mediation.opened` at the civil and commercial committee, referred by
/// `referred_by`.
pub fn mediation_opened(case_id: &str, referred_by: &str, at: i64) -> Event {
    event_of(
        "mediation.opened",
        "mediation",
        case_id,
        at,
        Payload::MediationOpened(MediationOpened {
            mediation_id: "m-1".into(),
            committee: "civil-commercial".into(),
            committee_name: "民商事纠纷调解委员会".into(),
            linkage: Linkage::Petition as i32,
            category: Category::CivilCommercial as i32,
            referred_by: referred_by.into(),
        }),
    )
}

pub fn mediation_concluded(
    case_id: &str,
    at: i64,
    outcome: MediationState,
    agreement: Option<Agreement>,
) -> Event {
    event_of(
        "mediation.concluded",
        "mediation",
        case_id,
        at,
        Payload::MediationConcluded(MediationConcluded {
            mediation_id: "m-1".into(),
            committee: "civil-commercial".into(),
            linkage: Linkage::Petition as i32,
            outcome: outcome as i32,
            agreement,
            mediators: vec!["mediator-1".into()],
            difficulty: 0,
        }),
    )
}

/// Dispatch's events that take a new case to REPLIED by `department`, at `at`, `at + 10` and
/// `at + 20`; answers the instant of the reply.
pub async fn reply(db: &Db, case_id: &str, department: &str, at: i64) -> i64 {
    apply(db, &assigned(case_id, department, at))
        .await
        .expect("assigned");
    apply(db, &accepted(case_id, department, at + 10, at + 1_000))
        .await
        .expect("accepted");
    apply(
        db,
        &replied(case_id, department, at + 20, "the matter is settled"),
    )
    .await
    .expect("replied");
    at + 20
}

/// When a case was registered.
pub fn registered_at(case: &Case) -> i64 {
    millis(case.registered_at.as_ref().expect("registered_at"))
}

pub fn kinds(case: &Case) -> Vec<&str> {
    case.timeline.iter().map(|t| t.kind.as_str()).collect()
}

/// The events waiting in the outbox, oldest first.
pub async fn outbox_events(db: &Db) -> Vec<Event> {
    yimen_testkit::harness::published(db).await
}
