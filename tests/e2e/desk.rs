//! More ways a case moves, end to end: the petitioner withdraws it (撤回), the desk settles it
//! on the spot (当场答复 / 当场调处) so it closes after evaluation without dispatch, and the
//! center takes a town's case over (提级) or hands a city case down (交办).

use tonic::Code;
use yimen_e2e::*;
use yimen_proto::v1::*;

use super::{assignment_of, kinds, submit, violated_fields};

/// Every assignment `department` has or had of `case_id`.
async fn assignments_of(clients: &Clients, department: &str, case_id: &str) -> Vec<Assignment> {
    clients
        .dispatch
        .clone()
        .list_assignments(ListAssignmentsRequest {
            department: department.into(),
            states: vec![],
            page: None,
            after_position: 0,
        })
        .await
        .expect("list assignments")
        .into_inner()
        .assignments
        .into_iter()
        .filter(|a| a.case_id == case_id)
        .collect()
}

/// The petitioner withdraws a case its department holds: the case is WITHDRAWN, the
/// assignment ends WITHDRAWN (out of the department's open work), and a second withdrawal is
/// FAILED_PRECONDITION naming the status.
pub async fn a_withdrawn_case_leaves_its_department(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::LabourWages, "洋梓镇", "wages of May unpaid"),
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let assignment = assignment_of(clients, &assigned.department, &case.case_id).await;
    let mut intake = clients.intake.clone();
    let invalid = intake
        .withdraw_case(WithdrawCaseRequest {
            case_ref: case.case_number.clone(),
            reason: " ".into(),
        })
        .await
        .expect_err("a withdrawal needs its reason");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), ["reason"]);

    let withdrawn = intake
        .withdraw_case(WithdrawCaseRequest {
            case_ref: case.case_number.clone(),
            reason: "the employer paid the wages".into(),
        })
        .await
        .expect("withdraw")
        .into_inner();
    assert_eq!(withdrawn.status, CaseStatus::Withdrawn as i32);
    assert!(kinds(&withdrawn).iter().any(|k| k == "case.withdrawn"));

    let ended = until("the assignment ends withdrawn", || async {
        assignments_of(clients, &assigned.department, &case.case_id)
            .await
            .into_iter()
            .find(|a| {
                a.assignment_id == assignment.assignment_id
                    && a.state == AssignmentState::Withdrawn as i32
            })
    })
    .await;
    assert_eq!(ended.decision_note, "the employer paid the wages");

    let again = intake
        .withdraw_case(WithdrawCaseRequest {
            case_ref: case.case_number.clone(),
            reason: "twice".into(),
        })
        .await
        .expect_err("withdrawn once");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("withdrawn"), "{}", again.message());
}

/// A submission settled at the desk.
fn settled(subject: &str, mediated: bool) -> SubmitCaseRequest {
    SubmitCaseRequest {
        settled_at_desk: Some(DeskSettlement {
            reply: "the subsidy rules were explained and the form filled in".into(),
            mediated,
        }),
        ..submission(Category::SocialAssistance, "洋梓镇", subject)
    }
}

/// 当场答复: a case answered at the desk is REPLIED as it is registered and closes on a
/// satisfied evaluation with no assignment; 当场调处 left unsatisfied goes to dispatch, which
/// routes it like a new matter (one assignment, caused by the reopening).
pub async fn a_case_settled_at_the_desk_closes_after_evaluation_without_dispatch(
    clients: &Clients,
) {
    let case = submit(clients, settled("how to apply for the subsidy", false)).await;
    let mut intake = clients.intake.clone();
    let replied = intake
        .get_case(GetCaseRequest {
            case_ref: case.case_id.clone(),
            after_position: 0,
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(replied.status, CaseStatus::Replied as i32);
    assert_eq!(kinds(&replied)[..2], ["case.registered", "case.replied"]);
    assert!(replied.timeline[1].summary.contains("当场答复"));
    let closed = intake
        .submit_evaluation(SubmitEvaluationRequest {
            case_ref: case.case_number.clone(),
            satisfaction: Satisfaction::Satisfied as i32,
            comment: String::new(),
        })
        .await
        .expect("evaluate")
        .into_inner();
    assert_eq!(closed.status, CaseStatus::Closed as i32);
    assert!(!kinds(&closed).iter().any(|k| k == "case.assigned"));

    let unsatisfied = submit(clients, settled("the allowance was stopped", true)).await;
    intake
        .submit_evaluation(SubmitEvaluationRequest {
            case_ref: unsatisfied.case_number.clone(),
            satisfaction: Satisfaction::Unsatisfied as i32,
            comment: String::new(),
        })
        .await
        .expect("evaluate");
    let assigned = wait_for_case(clients, &unsatisfied.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    assert_eq!(
        assigned.status,
        CaseStatus::Assigned as i32,
        "{:?}",
        kinds(&assigned)
    );
    assert_eq!(assigned.department, "civil-affairs");
    let given = assignments_of(clients, "civil-affairs", &unsatisfied.case_id).await;
    assert_eq!(given.len(), 1, "{given:?}");
    assert!(
        given[0].reason.starts_with("reopened"),
        "{}",
        given[0].reason
    );
}

/// 提级 then 交办: the city's human-resources bureau takes over a labour case the town's
/// justice office holds, then hands it back down; each ends the assignment TRANSFERRED, starts
/// a new one with a fresh acceptance deadline, and shows in the timeline with its reason. A
/// move within a level is FAILED_PRECONDITION; a request without its fields INVALID_ARGUMENT.
pub async fn the_city_takes_over_a_town_case_and_hands_it_down(clients: &Clients) {
    let case = submit(
        clients,
        submission(
            Category::LabourWages,
            "郢中街道",
            "wages of the brick kiln unpaid",
        ),
    )
    .await;
    let town = assignment_of(clients, "yingzhong-justice", &case.case_id).await;
    let mut dispatch = clients.dispatch.clone();
    let invalid = dispatch
        .transfer_assignment(TransferAssignmentRequest {
            assignment_id: town.assignment_id.clone(),
            to_department: String::new(),
            reason: String::new(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), ["to_department", "reason"]);
    let sideways = dispatch
        .transfer_assignment(TransferAssignmentRequest {
            assignment_id: town.assignment_id.clone(),
            to_department: "linkuang-5x".into(),
            reason: "another town".into(),
        })
        .await
        .expect_err("same level");
    assert_eq!(sideways.code(), Code::FailedPrecondition);

    let up = dispatch
        .transfer_assignment(TransferAssignmentRequest {
            assignment_id: town.assignment_id.clone(),
            to_department: "human-resources".into(),
            reason: "sixty workers of three towns".into(),
        })
        .await
        .expect("take over")
        .into_inner();
    let ended = up.transferred.expect("the ended assignment");
    let city = up.assigned.expect("the new assignment");
    assert_eq!(ended.state, AssignmentState::Transferred as i32);
    assert_eq!(ended.decision_note, "sixty workers of three towns");
    assert_eq!(city.state, AssignmentState::Pending as i32);
    assert_eq!(city.department, "human-resources");
    assert!(
        city.reason.starts_with("taken over (提级)"),
        "{}",
        city.reason
    );
    assert!(city.accept_by.is_some());

    let down = dispatch
        .transfer_assignment(TransferAssignmentRequest {
            assignment_id: city.assignment_id.clone(),
            to_department: "yingzhong-justice".into(),
            reason: "the town office knows the employer".into(),
        })
        .await
        .expect("hand down")
        .into_inner()
        .assigned
        .expect("the new assignment");
    assert_eq!(down.department, "yingzhong-justice");
    assert!(
        down.reason.starts_with("handed down (交办)"),
        "{}",
        down.reason
    );

    let moved = wait_for_case(clients, &case.case_id, |c| {
        c.department == "yingzhong-justice"
            && c.timeline
                .iter()
                .filter(|t| t.kind == "case.transferred")
                .count()
                == 2
            && c.timeline
                .iter()
                .filter(|t| t.kind == "case.assigned")
                .count()
                == 3
    })
    .await;
    let transfers: Vec<_> = moved
        .timeline
        .iter()
        .filter(|t| t.kind == "case.transferred")
        .map(|t| t.summary.clone())
        .collect();
    assert_eq!(transfers.len(), 2, "{:?}", kinds(&moved));
    assert!(transfers[0].contains("sixty workers"), "{transfers:?}");
    assert!(transfers[1].starts_with("handed down"), "{transfers:?}");
    assert_eq!(moved.status, CaseStatus::Assigned as i32);
}
