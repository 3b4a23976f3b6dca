//! Joint handling (主办 / 协办) and a leader's instruction (批示) end to end: two co-handlers
//! reply their parts before the lead may answer the case, which is replied once; and an
//! instruction is tracked by the supervision office until the case is reported back.

use tonic::Code;
use yimen_e2e::*;
use yimen_proto::v1::*;

use super::{accept_and_reply, assignment_of, kinds, submit, violated_fields};

/// The lead's reply while parts are missing: FAILED_PRECONDITION naming exactly `missing`.
async fn lead_reply_refused(clients: &Clients, lead: &Assignment, missing: &[&str], not: &[&str]) {
    let refused = clients
        .dispatch
        .clone()
        .reply_assignment(ReplyAssignmentRequest {
            assignment_id: lead.assignment_id.clone(),
            reply: "答复".into(),
        })
        .await
        .expect_err("the lead waits for the parts");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    for d in missing {
        assert!(refused.message().contains(d), "{refused:?}");
    }
    for d in not {
        assert!(!refused.message().contains(d), "{refused:?}");
    }
}

/// The lead enlists two co-handlers; its reply is refused until both parts are in, naming the
/// missing ones; then it answers the case, which is REPLIED once, held by the lead.
pub async fn joint_handling_the_lead_replies_once_every_part_is_in(clients: &Clients) {
    let case = submit(
        clients,
        submission(
            Category::SocialAssistance,
            "郢中街道",
            "subsistence allowance stopped; no work",
        ),
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let lead = assignment_of(clients, &assigned.department, &case.case_id).await;
    let [first, second]: [&str; 2] = ["civil-affairs", "human-resources", "housing"]
        .into_iter()
        .filter(|d| *d != lead.department)
        .take(2)
        .collect::<Vec<_>>()
        .try_into()
        .expect("two co-handlers");
    let mut dispatch = clients.dispatch.clone();
    dispatch
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: lead.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("the lead accepts");

    let invalid = dispatch
        .add_co_handlers(AddCoHandlersRequest {
            assignment_id: lead.assignment_id.clone(),
            departments: vec!["Not A Code".into()],
            note: String::new(),
        })
        .await
        .expect_err("a bad code");
    assert_eq!(violated_fields(&invalid), ["departments[0]"]);
    let itself = dispatch
        .add_co_handlers(AddCoHandlersRequest {
            assignment_id: lead.assignment_id.clone(),
            departments: vec![lead.department.clone()],
            note: String::new(),
        })
        .await
        .expect_err("the lead is no co-handler");
    assert_eq!(itself.code(), Code::FailedPrecondition, "{itself:?}");

    let enlisted = dispatch
        .add_co_handlers(AddCoHandlersRequest {
            assignment_id: lead.assignment_id.clone(),
            departments: vec![first.into(), second.into()],
            note: "各自办理职责范围内的部分".into(),
        })
        .await
        .expect("co-handlers enlisted")
        .into_inner();
    let lead = enlisted.lead.expect("the lead");
    assert_eq!(lead.role(), AssignmentRole::Lead);
    assert_eq!(lead.parts.len(), 2, "{lead:?}");
    assert_eq!(enlisted.co_handlers.len(), 2);
    for co in &enlisted.co_handlers {
        assert_eq!(co.role(), AssignmentRole::CoHandler);
        assert_eq!(co.lead_assignment_id, lead.assignment_id);
        assert_eq!(co.state(), AssignmentState::Pending);
    }
    // The co-handlers' own work lists have their parts; the case stays with the lead.
    let part_one = assignment_of(clients, first, &case.case_id).await;
    let part_two = assignment_of(clients, second, &case.case_id).await;
    lead_reply_refused(clients, &lead, &[first, second], &[]).await;

    accept_and_reply(clients, &part_one, "part one done").await;
    lead_reply_refused(clients, &lead, &[second], &[first]).await;
    let part = accept_and_reply(clients, &part_two, "part two done").await;
    assert_eq!(part.state(), AssignmentState::Replied);

    let replied = dispatch
        .reply_assignment(ReplyAssignmentRequest {
            assignment_id: lead.assignment_id.clone(),
            reply: "低保已恢复,并介绍了工作".into(),
        })
        .await
        .expect("the lead answers the case")
        .into_inner();
    assert_eq!(replied.state(), AssignmentState::Replied);
    assert!(
        replied
            .parts
            .iter()
            .all(|p| p.state == AssignmentState::Replied as i32 && p.replied_at.is_some()),
        "{replied:?}"
    );

    let done = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Replied as i32
            && kinds(c)
                .iter()
                .filter(|k| *k == "case.part_replied")
                .count()
                == 2
    })
    .await;
    let kinds = kinds(&done);
    assert_eq!(
        kinds.iter().filter(|k| *k == "case.replied").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(done.department, lead.department, "the lead holds the case");
}

/// The supervision office records the party secretary's instruction on a referral with its
/// deadline; it is listed open, the petitioner sees the deadline but not the leader, and the
/// lead's reply reports it back.
pub async fn an_instruction_is_tracked_until_the_case_is_reported_back(clients: &Clients) {
    let case = submit(
        clients,
        SubmitCaseRequest {
            channel: Channel::GovernmentReferral as i32,
            ..submission(
                Category::SocialAssistance,
                "郢中街道",
                "letter to the secretary",
            )
        },
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let lead = assignment_of(clients, &assigned.department, &case.case_id).await;
    let mut dispatch = clients.dispatch.clone();
    let invalid = dispatch
        .record_instruction(RecordInstructionRequest {
            assignment_id: lead.assignment_id.clone(),
            leader: " ".into(),
            instruction: "办理".into(),
            due_days: 0,
        })
        .await
        .expect_err("no leader, no days");
    assert_eq!(violated_fields(&invalid), ["leader", "due_days"]);

    let instruction = dispatch
        .record_instruction(RecordInstructionRequest {
            assignment_id: lead.assignment_id.clone(),
            leader: "市委书记".into(),
            instruction: "责成郢中街道会同民政、人社部门迅速办理".into(),
            due_days: 10,
        })
        .await
        .expect("the instruction")
        .into_inner();
    assert_eq!(instruction.department, lead.department);
    assert!(instruction.reported_at.is_none() && !instruction.overdue);
    let listed = |overdue_only: bool| {
        let mut dispatch = clients.dispatch.clone();
        async move {
            dispatch
                .list_instructions(ListInstructionsRequest {
                    overdue_only,
                    page: None,
                })
                .await
                .expect("list instructions")
                .into_inner()
                .instructions
        }
    };
    let open = listed(false).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].case_number, case.case_number);
    assert!(listed(true).await.is_empty(), "not overdue yet");

    let instructed = wait_for_case(clients, &case.case_id, |c| {
        kinds(c).iter().any(|k| k == "case.instructed")
    })
    .await;
    assert_eq!(instructed.status, CaseStatus::Assigned as i32);
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
    let line = view
        .timeline
        .iter()
        .find(|l| l.kind == "case.instructed")
        .expect("the instruction in the petitioner's view");
    assert!(line.summary.contains("to be reported back by"), "{line:?}");
    assert!(!line.summary.contains("市委书记"), "{line:?}");

    accept_and_reply(clients, &lead, "低保已恢复").await;
    let reported = listed(false).await;
    assert!(reported[0].reported_at.is_some(), "{reported:?}");
    assert!(!reported[0].overdue);
    let on_lead = dispatch
        .list_assignments(ListAssignmentsRequest {
            department: lead.department.clone(),
            states: vec![AssignmentState::Replied as i32],
            page: None,
            after_position: 0,
        })
        .await
        .expect("list")
        .into_inner()
        .assignments
        .into_iter()
        .find(|a| a.case_id == case.case_id)
        .expect("the replied lead");
    assert_eq!(
        on_lead.instruction.map(|i| i.instruction_id),
        Some(instruction.instruction_id)
    );
}
