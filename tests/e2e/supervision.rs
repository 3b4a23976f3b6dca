//! Supervision without anyone asking, end to end: the third return makes a problem case under
//! supervision with an alert; a passed acceptance deadline reminds the department (催办) and a
//! passed handling deadline puts the case under supervision (督办), each seen by intake,
//! analysis and assessment; and a similar-case sweep (全面排查) sends the answered cases of a
//! fault for handling again in one step.

use std::collections::BTreeMap;

use yimen_e2e::*;
use yimen_proto::v1::*;

use super::{accept_and_reply, assignment_of, join, kinds, submit};

async fn alerts_of(clients: &Clients, case_id: &str, kind: AlertKind) -> Alert {
    until(&format!("a {kind:?} alert on {case_id}"), || async {
        clients
            .analysis
            .clone()
            .list_alerts(ListAlertsRequest {
                include_acknowledged: true,
                kind: kind as i32,
                case_id: case_id.into(),
                page: None,
            })
            .await
            .expect("list alerts")
            .into_inner()
            .alerts
            .into_iter()
            .next()
    })
    .await
}

/// Three departments each return a medical insurance case: the fourth holder has it under
/// supervision (督办) as a problem case, analysis raises the PROBLEM_CASE alert, and the
/// timeline says why.
pub async fn the_third_return_makes_a_problem_case_under_supervision_and_alerted(
    clients: &Clients,
) {
    // Owners of medical insurance, in the order they joined: the bureau, the tax bureau
    // (seed), then two banks.
    join(clients, "bank-a", &[Category::MedicalInsurance]).await;
    join(clients, "bank-b", &[Category::MedicalInsurance]).await;
    let case = submit(
        clients,
        submission(Category::MedicalInsurance, "郢中街道", "医保代扣出错"),
    )
    .await;
    let first = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let mut held = assignment_of(clients, &first.department, &case.case_id).await;
    let mut holders = vec![held.department.clone()];
    for round in 1..=3 {
        let returned = clients
            .dispatch
            .clone()
            .return_assignment(ReturnAssignmentRequest {
                assignment_id: held.assignment_id.clone(),
                reason: format!("not ours ({round})"),
            })
            .await
            .expect("return")
            .into_inner();
        held = returned.reassigned.expect("assigned again");
        holders.push(held.department.clone());
        let expected = if round < 3 {
            EscalationLevel::Unspecified
        } else {
            EscalationLevel::Supervision
        };
        assert_eq!(held.escalation(), expected, "after return {round}");
    }
    assert_eq!(
        holders,
        ["medical-insurance", "tax", "bank-a", "bank-b"],
        "never back to a department that returned it"
    );

    let alert = alerts_of(clients, &case.case_id, AlertKind::ProblemCase).await;
    assert!(
        alert.facts.iter().any(|f| f.contains("returned 3 times")),
        "{:?}",
        alert.facts
    );
    let seen = wait_for_case(clients, &case.case_id, |c| {
        c.timeline
            .iter()
            .any(|t| t.kind == "case.escalated" && t.summary.contains("问题件"))
    })
    .await;
    let line = seen
        .timeline
        .iter()
        .find(|t| t.kind == "case.escalated")
        .unwrap_or_else(|| panic!("no escalation in {:?}", kinds(&seen)));
    assert!(
        line.summary.starts_with("supervision (督办)"),
        "{}",
        line.summary
    );
    assert_eq!(line.department, "bank-b");
}

/// With periods of 0 days (due at once) and the watcher every second: the pending case is
/// reminded (催办) once, then, accepted, put under supervision (督办) once; intake's timeline,
/// analysis's overdue alert and assessment's scorecard all show it.
async fn a_passed_deadline_reminds_then_supervises(clients: &Clients) {
    let case = submit(
        clients,
        submission(Category::LabourWages, "洋梓镇", "wages of May unpaid"),
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let department = assigned.department.clone();
    let reminded = wait_for_case(clients, &case.case_id, |c| {
        c.timeline.iter().any(|t| t.kind == "case.overdue")
    })
    .await;
    let line = reminded
        .timeline
        .iter()
        .find(|t| t.kind == "case.overdue")
        .unwrap_or_else(|| panic!("no reminder in {:?}", kinds(&reminded)));
    assert!(line.summary.contains("催办"), "{}", line.summary);
    let assignment = assignment_of(clients, &department, &case.case_id).await;
    assert_eq!(assignment.escalation(), EscalationLevel::Reminder);

    clients
        .dispatch
        .clone()
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept");
    let supervised = wait_for_case(clients, &case.case_id, |c| {
        c.timeline.iter().any(|t| t.kind == "case.escalated")
    })
    .await;
    let line = supervised
        .timeline
        .iter()
        .find(|t| t.kind == "case.escalated")
        .unwrap_or_else(|| panic!("no supervision in {:?}", kinds(&supervised)));
    assert!(
        line.summary.starts_with("supervision (督办)"),
        "{}",
        line.summary
    );
    let overdue_lines = supervised
        .timeline
        .iter()
        .filter(|t| t.kind == "case.overdue")
        .count();
    assert_eq!(overdue_lines, 2, "once per stage: {:?}", kinds(&supervised));
    let held = assignment_of(clients, &department, &case.case_id).await;
    assert_eq!(held.escalation(), EscalationLevel::Supervision);

    let alert = alerts_of(clients, &case.case_id, AlertKind::Overdue).await;
    assert!(alert.facts[0].contains(&department), "{:?}", alert.facts);
    until(
        &format!("{department}'s scorecard counts the overdue"),
        || async {
            clients
                .assessment
                .clone()
                .get_scorecard(GetScorecardRequest {
                    department: department.clone(),
                    period: None,
                })
                .await
                .expect("scorecard")
                .into_inner()
                .scorecards
                .into_iter()
                .find(|c| c.overdue == 1)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_a_passed_deadline_reminds_then_supervises() {
    let s = Standalone::start_with(
        |settings| {
            settings.dispatch.accept_days = 0;
            settings.dispatch.handle_days = 0;
            settings.dispatch.holidays = yimen_platform::calendar::Holidays::none();
            settings.dispatch.overdue_check_secs = 1;
        },
        ClientTls::default(),
    )
    .await
    .expect("start standalone");
    a_passed_deadline_reminds_then_supervises(&s.clients).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_a_passed_deadline_reminds_then_supervises() {
    let extra: BTreeMap<String, String> = [
        ("YIMEN__DISPATCH__ACCEPT_DAYS", "0"),
        ("YIMEN__DISPATCH__HANDLE_DAYS", "0"),
        ("YIMEN__DISPATCH__HOLIDAYS", ""),
        ("YIMEN__DISPATCH__OVERDUE_CHECK_SECS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let Some(d) = Distributed::start_with(extra).await else {
        return;
    };
    a_passed_deadline_reminds_then_supervises(&d.clients).await;
    d.stop().await;
}

/// Replies the case's open assignment and waits until intake shows it REPLIED.
async fn answered(clients: &Clients, subject: &str) -> SubmitCaseResponse {
    let case = submit(
        clients,
        submission(Category::MedicalInsurance, "郢中街道", subject),
    )
    .await;
    let assigned = wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Assigned as i32
    })
    .await;
    let a = assignment_of(clients, &assigned.department, &case.case_id).await;
    accept_and_reply(clients, &a, "补缴完成").await;
    wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Replied as i32
    })
    .await;
    case
}

/// After the fix, a dry run lists the answered cases of the fault and changes nothing; the
/// sweep then sends each back to the department that replied, and intake shows it assigned
/// again with the sweep's reason; a case of another fault is left alone.
pub async fn a_similar_case_sweep_sends_the_answered_cases_for_handling_again(clients: &Clients) {
    let first = answered(clients, "医保代扣失败 (first)").await;
    let second = answered(clients, "医保代扣失败 (second)").await;
    let other = answered(clients, "异地就医备案").await;
    let mut dispatch = clients.dispatch.clone();
    let request = SweepSimilarCasesRequest {
        category: Category::MedicalInsurance as i32,
        town: "郢中街道".into(),
        words: vec!["代扣".into()],
        reason: "代扣接口已修复".into(),
        dry_run: true,
        ..Default::default()
    };
    let listed = dispatch
        .sweep_similar_cases(request.clone())
        .await
        .expect("dry run")
        .into_inner();
    let ids: Vec<&str> = listed.cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ids, [first.case_id.as_str(), second.case_id.as_str()]);
    assert!(listed.cases.iter().all(|c| c.reassigned.is_none()));

    let swept = dispatch
        .sweep_similar_cases(SweepSimilarCasesRequest {
            dry_run: false,
            ..request
        })
        .await
        .expect("sweep")
        .into_inner();
    assert_eq!(swept.cases.len(), 2);
    for similar in &swept.cases {
        let again = similar.reassigned.as_ref().expect("sent again");
        assert_eq!(again.state(), AssignmentState::Pending);
        assert_eq!(again.department, similar.department, "back to who replied");
        let case = wait_for_case(clients, &similar.case_id, |c| {
            c.status == CaseStatus::Assigned as i32
        })
        .await;
        assert_eq!(case.status, CaseStatus::Assigned as i32);
        let line = case
            .timeline
            .iter()
            .rfind(|t| t.kind == "case.assigned")
            .expect("assigned again");
        assert!(line.summary.contains("代扣接口已修复"), "{}", line.summary);
    }
    let untouched = wait_for_case(clients, &other.case_id, |_| true).await;
    assert_eq!(untouched.status, CaseStatus::Replied as i32);
}
