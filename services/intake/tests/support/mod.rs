//! What intake's test suites share: a valid submission, the API over a store, and dispatch's
//! events built the way dispatch builds them.
#![allow(dead_code)] // each suite uses a part

use yimen_intake::IntakeConfig;
use yimen_intake::api::IntakeApi;
use yimen_platform::db::Db;
use yimen_platform::time::timestamp;
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;

pub const KEY: &str = "test-petitioner-key";
pub const ID_NUMBER: &str = "11010519491231002X";

pub fn api(db: &Db) -> IntakeApi {
    IntakeApi::new(
        db.clone(),
        &IntakeConfig {
            petitioner_key: KEY.into(),
            ..IntakeConfig::default()
        },
    )
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
    }
}

pub async fn submit(db: &Db, request: SubmitCaseRequest) -> SubmitCaseResponse {
    api(db).submit(&request).await.expect("submit")
}

pub async fn get(db: &Db, case_ref: &str) -> Case {
    api(db)
        .get(&GetCaseRequest {
            case_ref: case_ref.into(),
        })
        .await
        .expect("get")
}

/// A dispatch event about `case_id`, occurred at `at` (millis).
pub fn event(kind: &str, department: &str, case_id: &str, at: i64, payload: Payload) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: format!("{kind}.{department}"),
        occurred_at: Some(timestamp(at)),
        case_id: case_id.into(),
        producer: "dispatch".into(),
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
            assignment_id: String::new(),
            department: department.into(),
            handle_by: Some(timestamp(handle_by)),
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
            assignment_id: String::new(),
            department: department.into(),
            reply: reply.into(),
            within_deadline: true,
        }),
    )
}

/// Applies `event` with intake's handler in a transaction of its own, as the loop does.
pub async fn apply(db: &Db, event: &Event) -> anyhow::Result<()> {
    let handler = yimen_intake::handler(db.clone());
    let mut tx = db.begin().await?;
    handler.handle(&mut tx, event).await?;
    db.commit(tx).await?;
    Ok(())
}
