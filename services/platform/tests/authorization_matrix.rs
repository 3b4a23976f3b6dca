//! The role × RPC matrix of the embedded policy, walked for every RPC of the contract and every
//! role, and kept in `docs/authorization.md` so operators read what the code enforces.
//! `YIMEN_WRITE_DOCS=1 cargo test -p yimen-platform --test authorization_matrix` rewrites it.

use yimen_platform::auth::{Auth, PUBLIC_STATUS_QUERY, Policy, Role, matrix_markdown, rpc_methods};

fn methods() -> Vec<String> {
    rpc_methods(yimen_proto::FILE_DESCRIPTOR_SET).expect("the contract's methods")
}

#[test]
fn every_rpc_is_allowed_to_some_role_besides_admin_and_admin_may_call_all() {
    let policy = Policy::embedded();
    let methods = methods();
    assert!(methods.len() > 40, "{methods:?}");
    for method in &methods {
        assert!(
            policy.decide(method, Role::Admin).is_ok(),
            "admin may not call {method}"
        );
        let others: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| *r != Role::Admin && policy.decide(method, *r).is_ok())
            .collect();
        let admin_only = [
            "/yimen.v1.DispatchService/JoinDepartment",
            "/yimen.v1.DispatchService/LeaveDepartment",
            "/yimen.v1.DispatchService/SetRoutingRules",
            "/yimen.v1.MediationService/RegisterMediator",
            "/yimen.v1.MediationService/RecordPerformance",
        ];
        assert_eq!(
            others.is_empty(),
            admin_only.contains(&method.as_str()),
            "{method}: allowed to {others:?}"
        );
    }
}

/// The calls that need no token are exactly health and the petitioner's status query, and the
/// policy lets every role make the latter too, so a token sent along is never refused.
#[test]
fn only_health_and_the_status_query_are_public() {
    let public: Vec<String> = methods()
        .into_iter()
        .filter(|m| Auth::is_public(m))
        .collect();
    assert_eq!(public, ["/yimen.v1.IntakeService/GetCaseStatus"]);
    assert!(Auth::is_public("/grpc.health.v1.Health/Check"));
    let policy = Policy::embedded();
    for role in Role::ALL {
        assert!(
            policy.decide(PUBLIC_STATUS_QUERY, role).is_ok(),
            "{role:?} may not call the status query"
        );
    }
}

#[test]
fn every_denial_names_the_roles_that_may() {
    let policy = Policy::embedded();
    for method in methods() {
        for role in Role::ALL {
            if let Err(needed) = policy.decide(&method, role) {
                assert!(
                    !needed.contains(&role),
                    "{method}: {role:?} both denied and needed"
                );
                assert!(needed.contains(&Role::Admin), "{method}: {needed:?}");
                for other in &needed {
                    assert!(
                        policy.decide(&method, *other).is_ok(),
                        "{method}: {other:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_documented_matrix_is_the_enforced_one() {
    let generated = format!(
        "# Who may call what\n\n\
         Generated from the embedded policy (`services/platform/src/auth/policy.json`) by\n\
         `services/platform/tests/authorization_matrix.rs`; a deployment may replace the policy\n\
         with `auth.policy_file`. Every call but `grpc.health.v1` and\n\
         `yimen.v1.IntakeService/GetCaseStatus` (the petitioner's own view, checked by its query\n\
         code and limited per peer address) needs a bearer token; server reflection is open to\n\
         every role.\n\n{}",
        matrix_markdown(&Policy::embedded(), &methods())
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/authorization.md");
    if std::env::var_os("YIMEN_WRITE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/authorization.md");
    }
    let documented = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        documented == generated,
        "docs/authorization.md is not the enforced matrix: run \
         `YIMEN_WRITE_DOCS=1 cargo test -p yimen-platform --test authorization_matrix`"
    );
}

/// The audit trail records the calls `audit::is_state_changing` names; its naming rule (reads
/// are Get…, List…, Watch…, Verify…) must pick exactly the contract's state-changing RPCs.
#[test]
fn the_audited_methods_are_exactly_the_state_changing_ones() {
    let mut audited: Vec<String> = methods()
        .into_iter()
        .filter(|m| yimen_platform::audit::is_state_changing(m))
        .map(|m| m.trim_start_matches("/yimen.v1.").to_string())
        .collect();
    audited.sort();
    assert_eq!(
        audited,
        [
            "AnalysisService/AcknowledgeAlert",
            "AssessmentService/CheckIn",
            "AssessmentService/SetSubsidyGrades",
            "DispatchService/AcceptAssignment",
            "DispatchService/AddCoHandlers",
            "DispatchService/AssignLeader",
            "DispatchService/DecideExtension",
            "DispatchService/DecideReview",
            "DispatchService/Escalate",
            "DispatchService/ForwardAssignment",
            "DispatchService/JoinDepartment",
            "DispatchService/LeaveDepartment",
            "DispatchService/RecordInstruction",
            "DispatchService/ReferToMediation",
            "DispatchService/RefuseAssignment",
            "DispatchService/ReplyAssignment",
            "DispatchService/RequestExtension",
            "DispatchService/RequestSupplement",
            "DispatchService/ReturnAssignment",
            "DispatchService/SetRoutingRules",
            "DispatchService/SweepSimilarCases",
            "DispatchService/TransferAssignment",
            "IntakeService/AddSupplement",
            "IntakeService/RequestReview",
            "IntakeService/SubmitCase",
            "IntakeService/SubmitEvaluation",
            "IntakeService/WithdrawCase",
            "MediationService/OpenMediation",
            "MediationService/RecordCourtDecision",
            "MediationService/RecordOutcome",
            "MediationService/RecordPerformance",
            "MediationService/RegisterMediator",
            "MediationService/RequestCourtConfirmation",
            "MediationService/ScheduleSession",
        ]
    );
}
