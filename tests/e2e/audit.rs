//! The audit trail end to end, in both modes: a case played through is on record in every
//! service (the calls with their callers and roles, a refused call, the events applied), the
//! chains verify with `yimen audit verify` and the anchors reach analysis; an entry edited
//! in a store by hand makes `audit verify` fail naming it.

use std::path::Path;
use std::process::Output;

use yimen::run::Target;
use yimen_e2e::*;
use yimen_platform::auth::{Principal, Role};
use yimen_platform::db::{DatabaseConfig, Db};
use yimen_proto::v1::audit_service_client::AuditServiceClient;
use yimen_proto::v1::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_case_is_on_record_and_a_hand_edit_is_named() {
    let s = Standalone::start_with(
        |settings| settings.audit.anchor_every_secs = 0,
        ClientTls::default(),
    )
    .await
    .expect("start standalone");
    let url = format!("sqlite://{}", s.data_dir().display());
    played_through_then_tampered(&s.clients, &s.signing_key, &url).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_case_is_on_record_and_a_hand_edit_is_named() {
    let extra = [(
        "YIMEN__AUDIT__ANCHOR_EVERY_SECS".to_string(),
        "0".to_string(),
    )];
    let Some(d) = Distributed::start_with(extra.into_iter().collect()).await else {
        return;
    };
    let url = d.database_url().to_string();
    played_through_then_tampered(&d.clients, &d.signing_key, &url).await;
    d.stop().await;
}

fn department(signing_key: &Path, subject: &str, code: &str) -> String {
    token_for(
        signing_key,
        Principal {
            subject: subject.into(),
            role: Role::Department,
            department: Some(code.into()),
            committee: None,
        },
    )
}

/// Runs `yimen audit ARGS` against the installation as its administrator.
fn yimen_audit(clients: &Clients, args: &[&str]) -> (bool, String) {
    let urls = &clients.urls;
    let Output { status, stdout, .. } = std::process::Command::new(yimen_bin())
        .arg("audit")
        .args(args)
        .args(["--intake", &urls.intake, "--dispatch", &urls.dispatch])
        .args(["--mediation", &urls.mediation, "--analysis", &urls.analysis])
        .args(["--assessment", &urls.assessment])
        .env("YIMEN_TOKEN", urls.token.as_deref().unwrap_or_default())
        .output()
        .expect("run yimen audit");
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
    )
}

async fn audit(clients: &Clients, target: Target) -> AuditServiceClient<yimen::client::Traced> {
    yimen::client::audit(target, &clients.urls)
        .await
        .expect("connect")
}

async fn played_through_then_tampered(clients: &Clients, signing_key: &Path, store_url: &str) {
    let case = clients
        .intake
        .clone()
        .submit_case(submission(
            Category::SocialAssistance,
            "洋梓镇",
            "allowance stopped",
        ))
        .await
        .expect("submit")
        .into_inner();
    let assignment = until("the case reaches civil-affairs", || async {
        clients
            .dispatch
            .clone()
            .list_assignments(ListAssignmentsRequest {
                department: "civil-affairs".into(),
                states: vec![AssignmentState::Pending as i32],
                after_position: 0,
                page: None,
            })
            .await
            .ok()?
            .into_inner()
            .assignments
            .into_iter()
            .find(|a| a.case_id == case.case_id)
    })
    .await;
    let mut urls = clients.urls.clone();
    urls.token = Some(department(signing_key, "housing-desk", "housing"));
    let refused = yimen::client::dispatch(&urls)
        .await
        .expect("connect")
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect_err("another department's assignment");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    urls.token = Some(department(signing_key, "civil-desk", "civil-affairs"));
    let mut civil = yimen::client::dispatch(&urls).await.expect("connect");
    civil
        .accept_assignment(AcceptAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            handler: String::new(),
        })
        .await
        .expect("accept");
    civil
        .reply_assignment(ReplyAssignmentRequest {
            assignment_id: assignment.assignment_id.clone(),
            reply: "allowance restored".into(),
        })
        .await
        .expect("reply");
    wait_for_case(clients, &case.case_id, |c| {
        c.status == CaseStatus::Replied as i32
    })
    .await;

    // Every chain has taken its entries, and analysis holds an anchor of each busy service.
    for target in Target::ALL {
        until(
            &format!("{} chained and anchored", target.name()),
            || async {
                let report = audit(clients, target)
                    .await
                    .verify_chain(VerifyChainRequest::default())
                    .await
                    .ok()?
                    .into_inner();
                let anchors = audit(clients, Target::Analysis)
                    .await
                    .list_anchors(ListAnchorsRequest {
                        service: target.name().into(),
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .anchors;
                let anchored = anchors.first().map_or(0, |a| a.position);
                (report.unchained == 0 && report.head_position > 0 && anchored > 0).then_some(())
            },
        )
        .await;
    }
    let (ok, out) = yimen_audit(clients, &["verify"]);
    assert!(ok, "audit verify passes:\n{out}");
    for target in Target::ALL {
        assert!(out.contains(target.name()), "{out}");
    }
    assert!(!out.contains("FAILED"), "{out}");

    let (ok, out) = yimen_audit(clients, &["list", "--case", &case.case_number]);
    assert!(ok, "{out}");
    for expected in [
        "SubmitCase",
        "admin",
        "AcceptAssignment",
        "PERMISSION_DENIED",
        "housing-desk",
        "department housing",
        "civil-desk",
        "department civil-affairs",
        "ReplyAssignment",
        "case.registered",
        "case.replied.civil-affairs",
        "applied",
    ] {
        assert!(out.contains(expected), "`{expected}` in:\n{out}");
    }
    // No personal data of the petitioner.
    for personal in ["王某", "11010519491231002X", "13800000000"] {
        assert!(!out.contains(personal), "{out}");
    }

    // By hand: the accepting call's entry in dispatch's store names another subject.
    let dispatch = Db::connect(
        &DatabaseConfig {
            url: store_url.into(),
            max_connections: 1,
            acquire_timeout_secs: 10,
        },
        "dispatch",
    )
    .await
    .expect("open dispatch's store");
    let position: i64 = sqlx::query_scalar(
        "SELECT position FROM audit_log WHERE subject = 'civil-desk' \
         AND action = '/yimen.v1.DispatchService/AcceptAssignment'",
    )
    .fetch_one(dispatch.pool())
    .await
    .expect("the accepting call's entry");
    sqlx::query("UPDATE audit_log SET subject = 'someone-else' WHERE position = $1")
        .bind(position)
        .execute(dispatch.pool())
        .await
        .expect("edit the entry");
    dispatch.close().await;
    let (ok, out) = yimen_audit(clients, &["verify", "--target", "dispatch,intake"]);
    assert!(!ok, "audit verify fails:\n{out}");
    assert!(
        out.contains(&format!("FAILED at position {position}: altered")),
        "{out}"
    );
}
