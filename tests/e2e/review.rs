//! Review and re-review (复查 / 复核) end to end: the petitioner contests the reply, the city
//! center reviews it, the petitioner contests the review, the center re-reviews it and the
//! matter is closed for good — each decision told in a notice — and the same matter submitted
//! again is refused with the earlier case number (不再受理) unless new facts are stated.

use tonic::Code;
use tonic_types::StatusExt;
use yimen_e2e::*;
use yimen_proto::v1::*;

use super::{accept_and_reply, assignment_of, kinds, submit};

/// The case's REVIEWING assignment of `stage` at `body`, once dispatch has made it.
async fn review_at(clients: &Clients, body: &str, case_id: &str, stage: ReviewStage) -> Assignment {
    until(
        &format!("the {stage:?} of {case_id} reaches {body}"),
        || async {
            clients
                .dispatch
                .clone()
                .list_assignments(ListAssignmentsRequest {
                    department: body.into(),
                    states: vec![AssignmentState::Reviewing as i32],
                    after_position: 0,
                    page: None,
                })
                .await
                .expect("list assignments")
                .into_inner()
                .assignments
                .into_iter()
                .find(|a| a.case_id == case_id && a.review_stage == stage as i32)
        },
    )
    .await
}

/// Decides `review` with `outcome` and waits until intake has sent its notice, titled `title`.
async fn decide(
    clients: &Clients,
    review: &Assignment,
    outcome: ReviewOutcome,
    title: &str,
) -> Case {
    let decided = clients
        .dispatch
        .clone()
        .decide_review(DecideReviewRequest {
            assignment_id: review.assignment_id.clone(),
            outcome: outcome as i32,
            decision: "原答复依据政策，事实清楚".into(),
        })
        .await
        .expect("decide the review")
        .into_inner();
    assert_eq!(decided.state, AssignmentState::Reviewed as i32);
    let notice = format!("notice sent to the petitioner: {title}");
    wait_for_case(clients, &review.case_id, |c| {
        c.status == CaseStatus::Closed as i32 && c.timeline.iter().any(|l| l.summary == notice)
    })
    .await
}

fn review_request(case_number: &str) -> RequestReviewRequest {
    RequestReviewRequest {
        case_ref: case_number.into(),
        reason: "the allowance was stopped without a hearing".into(),
    }
}

pub async fn review_then_re_review_then_the_same_matter_is_not_taken_again(clients: &Clients) {
    let subject = "低保被取消后一直未恢复";
    let case = submit(
        clients,
        submission(Category::SocialAssistance, "洋梓镇", subject),
    )
    .await;
    let first = assignment_of(clients, "civil-affairs", &case.case_id).await;
    accept_and_reply(clients, &first, "the household income is above the line").await;
    wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Replied as i32
    })
    .await;

    // 复查: the city center reviews civil-affairs's reply and upholds it.
    let mut intake = clients.intake.clone();
    let asked = intake
        .request_review(review_request(&case.case_number))
        .await
        .expect("ask for a review")
        .into_inner();
    assert_eq!(asked.status(), CaseStatus::UnderReview);
    let review = review_at(clients, "city-center", &case.case_id, ReviewStage::Review).await;
    assert_eq!(review.contested_department, "civil-affairs");
    let reviewed = decide(clients, &review, ReviewOutcome::Uphold, "复查意见书").await;
    assert!(!reviewed.finally_closed, "{:?}", kinds(&reviewed));

    // 复核: the petitioner contests the review; the center re-reviews it: closed for good.
    intake
        .request_review(review_request(&case.case_number))
        .await
        .expect("ask for a re-review");
    let re_review = review_at(clients, "city-center", &case.case_id, ReviewStage::ReReview).await;
    let last = decide(clients, &re_review, ReviewOutcome::Change, "复核意见书").await;
    assert!(last.finally_closed, "{:?}", kinds(&last));
    let no_more = intake
        .request_review(review_request(&case.case_number))
        .await
        .expect_err("no third stage");
    assert_eq!(no_more.code(), Code::FailedPrecondition);

    // 不再受理: the same matter again is refused naming the earlier case ...
    let again = submission(Category::SocialAssistance, "洋梓镇", "低保被取消后仍未恢复");
    let refused = intake
        .submit_case(again.clone())
        .await
        .expect_err("the same matter");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&case.case_number),
        "{}",
        refused.message()
    );
    let detail = refused
        .get_details_precondition_failure()
        .expect("a PreconditionFailure detail");
    assert_eq!(detail.violations[0].subject, case.case_number);

    // ... and taken with new facts, its timeline naming the earlier case.
    let taken = submit(
        clients,
        SubmitCaseRequest {
            new_facts: "家中主要劳动力2026年因病失去劳动能力".into(),
            ..again
        },
    )
    .await;
    let line = wait_for_case(clients, &taken.case_id, |c| {
        c.timeline.iter().any(|l| l.kind == "case.new_facts")
    })
    .await
    .timeline
    .into_iter()
    .find(|l| l.kind == "case.new_facts")
    .expect("the new facts line");
    assert!(line.summary.contains(&case.case_number), "{}", line.summary);
}
