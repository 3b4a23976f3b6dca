//! The legal clock end to end: a refusal (不予受理) reaches the petitioner as a notice, and a
//! supplement the department asked for moves its deadline by the time it waited.

use yimen_e2e::*;
use yimen_platform::time::{duration_millis, millis};
use yimen_proto::v1::*;

use super::{assignment_of, kinds, submit};

/// A department refuses a wage dispute as a matter for labour arbitration (诉访分离): the case
/// is REFUSED with the channel in its timeline, the petitioner's own view shows it, and the
/// refusal notice (不予受理告知书) is sent.
pub async fn refusal_names_the_channel_and_the_petitioner_is_sent_a_notice(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::LabourWages, "洋梓镇", "wages of March unpaid"),
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let assignment = assignment_of(clients, &assigned.department, &case.case_id).await;
    let refused = clients
        .dispatch
        .clone()
        .refuse_assignment(RefuseAssignmentRequest {
            assignment_id: assignment.assignment_id,
            reason: RefusalReason::Arbitration as i32,
            channel: "钟祥市劳动人事争议仲裁委员会".into(),
            explanation: "labour arbitration comes first".into(),
        })
        .await
        .expect("refuse")
        .into_inner();
    assert_eq!(refused.state, AssignmentState::Refused as i32);

    let noticed = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Refused as i32 && kinds(c).iter().any(|k| k == "notice.sent")
    })
    .await;
    assert_eq!(
        noticed.status,
        CaseStatus::Refused as i32,
        "{:?}",
        kinds(&noticed)
    );
    let refusal = noticed
        .timeline
        .iter()
        .find(|t| t.kind == "case.refused")
        .expect("the refusal in the timeline");
    assert!(
        refusal.summary.contains("钟祥市劳动人事争议仲裁委员会"),
        "{}",
        refusal.summary
    );
    let notice = noticed
        .timeline
        .iter()
        .find(|t| t.kind == "notice.sent")
        .unwrap_or_else(|| panic!("no notice in {:?}", kinds(&noticed)));
    assert_eq!(
        notice.summary,
        "notice sent to the petitioner: 不予受理告知书"
    );

    let view = clients
        .intake
        .clone()
        .get_case_status(GetCaseStatusRequest {
            case_number: case.case_number.clone(),
            query_code: case.query_code.clone(),
        })
        .await
        .expect("the petitioner's view")
        .into_inner();
    assert_eq!(view.status, CaseStatus::Refused as i32);
    assert!(view.timeline.iter().any(|l| l.kind == "notice.sent"));
}

/// The department asks for material on a case it accepted: the case awaits it, the
/// supplement added at reception starts the clock again, and the handling deadline moved by
/// the pause.
pub async fn a_supplement_pause_moves_the_handling_deadline(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::LabourWages, "洋梓镇", "wages of April unpaid"),
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let assignment = assignment_of(clients, &assigned.department, &case.case_id).await;
    let mut dispatch = clients.dispatch.clone();
    let accepted = dispatch
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept")
        .into_inner();
    let paused = dispatch
        .request_supplement(RequestSupplementRequest {
            assignment_id: assignment.assignment_id.clone(),
            requested: "the wage slips of April".into(),
        })
        .await
        .expect("request a supplement")
        .into_inner();
    assert!(paused.paused_since.is_some());

    let awaiting = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::AwaitingSupplement as i32
    })
    .await;
    assert_eq!(
        awaiting.status,
        CaseStatus::AwaitingSupplement as i32,
        "{:?}",
        kinds(&awaiting)
    );
    clients
        .intake
        .clone()
        .add_supplement(AddSupplementRequest {
            case_ref: case.case_number.clone(),
            text: "工资条四张".into(),
        })
        .await
        .expect("add the supplement");

    let resumed = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Accepted as i32 && kinds(c).iter().any(|k| k == "case.resumed")
    })
    .await;
    assert_eq!(
        resumed.status,
        CaseStatus::Accepted as i32,
        "{:?}",
        kinds(&resumed)
    );

    let running = until("the clock runs again", || async {
        dispatch
            .clone()
            .list_assignments(ListAssignmentsRequest {
                department: assigned.department.clone(),
                states: vec![AssignmentState::Accepted as i32],
                page: None,
                after_position: 0,
            })
            .await
            .expect("list")
            .into_inner()
            .assignments
            .into_iter()
            .find(|a| a.assignment_id == assignment.assignment_id && a.paused_since.is_none())
    })
    .await;
    let pause = duration_millis(running.paused.as_ref().expect("the pause"));
    assert!(pause > 0, "the pause is counted");
    let before = millis(accepted.handle_by.as_ref().expect("handling deadline"));
    let after = millis(running.handle_by.as_ref().expect("handling deadline"));
    assert!(
        after >= before + pause,
        "the deadline moved by the pause: {before} + {pause} > {after}"
    );
}
