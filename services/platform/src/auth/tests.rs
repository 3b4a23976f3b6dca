//! Tokens, keys and the policy, with real keys: yimen's own Ed25519 pair made per test, and fixed
//! P-256 and RSA test keys (made with openssl for these tests only) standing in for an
//! identity provider's.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;

fn config() -> AuthConfig {
    AuthConfig::default()
}

fn principal(role: Role) -> Principal {
    Principal {
        subject: "clerk-7".into(),
        role,
        department: (role == Role::Department).then(|| "D01".into()),
        committee: (role == Role::Mediator).then(|| "C01".into()),
    }
}

/// A fresh key pair: its directory (removed on drop), signer and verifier.
struct Keys {
    _dir: tempfile::TempDir,
    files: KeyFiles,
    signer: Signer,
    verifier: Verifier,
}

fn keys_with(signer_config: &AuthConfig) -> Keys {
    let dir = yimen_testkit::stores::temp_dir("yimen-auth-");
    let files = generate_keys(&dir.path().join("auth")).unwrap();
    Keys {
        signer: Signer::from_file(&files.signing_key, signer_config).unwrap(),
        verifier: Verifier::from_jwks_file(&files.jwks, &config()).unwrap(),
        files,
        _dir: dir,
    }
}

fn keys() -> Keys {
    keys_with(&config())
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[test]
fn a_valid_token_names_its_principal() {
    let keys = keys();
    for role in Role::ALL {
        let token = keys
            .signer
            .issue(&principal(role), Duration::from_secs(600))
            .unwrap();
        assert_eq!(keys.verifier.verify(&token), Ok(principal(role)));
    }
}

#[test]
fn an_expired_token_is_refused_beyond_the_leeway_only() {
    let keys = keys();
    let p = principal(Role::Auditor);
    let stale = keys.signer.issue_at(&p, now() - 3600, now() - 120).unwrap();
    assert_eq!(keys.verifier.verify(&stale), Err(AuthError::Expired));
    let just_expired = keys.signer.issue_at(&p, now() - 3600, now() - 30).unwrap();
    assert_eq!(keys.verifier.verify(&just_expired), Ok(p));
}

#[test]
fn a_verified_token_is_answered_from_the_cache_until_it_expires() {
    let keys = keys();
    let p = principal(Role::Department);
    let leeway = config().leeway_secs;
    // Two seconds of life left, the leeway counted.
    let short = keys
        .signer
        .issue_at(&p, now() - 60, now() + 2 - leeway)
        .unwrap();
    assert_eq!(keys.verifier.verify(&short), Ok(p.clone()));
    assert_eq!(
        keys.verifier.verify(&short),
        Ok(p.clone()),
        "from the cache"
    );
    // The same claims under a signature of another key are no token of ours, cached or not.
    let forged = keys_with(&config())
        .signer
        .issue_at(&p, now() - 60, now() + 600)
        .unwrap();
    assert!(matches!(
        keys.verifier.verify(&forged),
        Err(AuthError::UnknownKeyId(_))
    ));
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(
        keys.verifier.verify(&short),
        Err(AuthError::Expired),
        "the cache keeps a token no longer than it is valid"
    );
}

#[test]
fn a_token_from_the_future_is_refused_beyond_the_leeway_only() {
    let keys = keys();
    let p = principal(Role::Analyst);
    let skewed = keys.signer.issue_at(&p, now() + 30, now() + 600).unwrap();
    assert_eq!(keys.verifier.verify(&skewed), Ok(p.clone()));
    let future = keys.signer.issue_at(&p, now() + 300, now() + 900).unwrap();
    assert_eq!(keys.verifier.verify(&future), Err(AuthError::NotYetValid));
}

#[test]
fn a_token_for_another_audience_or_from_another_issuer_is_refused() {
    let keys = keys();
    let other_audience = Signer::from_file(
        &keys.files.signing_key,
        &AuthConfig {
            audience: "elsewhere".into(),
            ..config()
        },
    )
    .unwrap();
    let token = other_audience
        .issue(&principal(Role::Admin), Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        keys.verifier.verify(&token),
        Err(AuthError::WrongAudience("yimen".into()))
    );

    let other_issuer = Signer::from_file(
        &keys.files.signing_key,
        &AuthConfig {
            issuer: "someone".into(),
            ..config()
        },
    )
    .unwrap();
    let token = other_issuer
        .issue(&principal(Role::Admin), Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        keys.verifier.verify(&token),
        Err(AuthError::WrongIssuer("yimen".into()))
    );
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let ours = keys();
    let theirs = keys();
    let token = theirs
        .signer
        .issue(&principal(Role::Admin), Duration::from_secs(60))
        .unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert_eq!(
        ours.verifier.verify(&token),
        Err(AuthError::UnknownKeyId(kid.clone()))
    );

    // Their key id in front of our public key: the kid is known, the signature is not ours.
    let mut jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ours.files.jwks).unwrap()).unwrap();
    jwks["keys"][0]["kid"] = kid.into();
    let impostor = Verifier::from_jwks(&jwks.to_string(), &config()).unwrap();
    assert_eq!(impostor.verify(&token), Err(AuthError::BadSignature));
}

#[test]
fn a_malformed_token_is_refused_without_echoing_it() {
    let keys = keys();
    let good = keys
        .signer
        .issue(&principal(Role::Admin), Duration::from_secs(60))
        .unwrap();
    let (head, _) = good.rsplit_once('.').unwrap();
    let cut = head.to_string();
    let garbled = format!("{head}.%%%notbase64");
    for token in [
        "",
        "secret-looking-thing",
        "a.b.c",
        cut.as_str(),
        garbled.as_str(),
    ] {
        let error = keys.verifier.verify(token).expect_err(token);
        assert!(
            matches!(error, AuthError::Malformed(_) | AuthError::BadSignature),
            "{token}: {error:?}"
        );
        if !token.is_empty() {
            assert!(!error.to_string().contains(token), "{error}");
        }
    }
}

#[test]
fn a_bound_role_without_its_binding_is_refused() {
    let keys = keys();
    let unbound = Principal {
        department: None,
        ..principal(Role::Department)
    };
    assert!(
        keys.signer
            .issue(&unbound, Duration::from_secs(60))
            .is_err()
    );
    let token = keys.signer.issue_at(&unbound, now(), now() + 60).unwrap();
    let error = keys.verifier.verify(&token).unwrap_err();
    assert_eq!(error.to_string(), "token of role department names no dept");

    let unbound = Principal {
        committee: None,
        ..principal(Role::Mediator)
    };
    let token = keys.signer.issue_at(&unbound, now(), now() + 60).unwrap();
    assert_eq!(
        keys.verifier.verify(&token).unwrap_err().to_string(),
        "token of role mediator names no committee"
    );
}

#[test]
fn a_token_without_role_or_with_an_unknown_role_is_refused() {
    let keys = keys();
    let sign = |claims: serde_json::Value| keys.signer.sign(&claims).unwrap();
    let base = serde_json::json!({"iss": "yimen", "aud": "yimen", "sub": "x", "exp": now() + 60});
    assert_eq!(
        keys.verifier.verify(&sign(base.clone())),
        Err(AuthError::MissingClaim("role".into()))
    );
    let mut claims = base.clone();
    claims["role"] = "emperor".into();
    let error = keys.verifier.verify(&sign(claims)).unwrap_err().to_string();
    assert!(
        error.contains("`emperor`") && error.contains("reception"),
        "{error}"
    );
    let mut claims = base;
    claims["role"] = "admin".into();
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        keys.verifier.verify(&sign(claims)),
        Err(AuthError::MissingClaim("exp".into()))
    );
}

/// An identity provider's key: its JWKS entry under `kid` and a token it signed.
fn idp_token(der_hex: &str, alg: Algorithm, kid: &str) -> (String, String) {
    let der = hex::decode(der_hex.trim()).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&der),
        _ => EncodingKey::from_ec_der(&der),
    };
    let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    // Identity providers publish encryption keys too; the verifier skips them.
    let mut enc = jwk.clone();
    enc.common.key_id = Some(format!("{kid}-enc"));
    enc.common.public_key_use = Some(PublicKeyUse::Encryption);
    enc.common.key_algorithm = Some(KeyAlgorithm::RSA_OAEP);
    let jwks = serde_json::json!({ "keys": [enc, jwk] }).to_string();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let claims = serde_json::json!({
        "iss": "yimen", "aud": ["account", "yimen"], "sub": "idp-user", "iat": now(),
        "exp": now() + 300, "role": "department", "dept": "D07", "azp": "yimen-cli",
    });
    (jwks, jsonwebtoken::encode(&header, &claims, &key).unwrap())
}

#[test]
fn an_identity_providers_rs256_and_es256_tokens_verify_against_its_jwks() {
    for (der, alg) in [
        (include_str!("testdata/rs256.pkcs1.hex"), Algorithm::RS256),
        (include_str!("testdata/es256.pkcs8.hex"), Algorithm::ES256),
    ] {
        let (jwks, token) = idp_token(der, alg, "idp-1");
        let verifier = Verifier::from_jwks(&jwks, &config()).unwrap();
        assert_eq!(
            verifier.verify(&token),
            Ok(Principal {
                subject: "idp-user".into(),
                role: Role::Department,
                department: Some("D07".into()),
                committee: None,
            }),
            "{alg:?}"
        );
    }
}

#[test]
fn a_jwks_without_a_usable_signature_key_fails_to_load() {
    let error = Verifier::from_jwks(r#"{"keys": []}"#, &config()).unwrap_err();
    assert!(
        format!("{error:#}").contains("no signature key"),
        "{error:#}"
    );
    assert!(Verifier::from_jwks("[]", &config()).is_err());
}

#[test]
fn generated_keys_are_a_private_pem_and_a_jwks_that_verifies_its_tokens() {
    let keys = keys();
    assert!(keys.files.signing_key.ends_with("auth/signing.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys.files.signing_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys.files.jwks).unwrap()).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kty"], "OKP");
    let kid = key["kid"].as_str().unwrap();
    assert_eq!(kid.len(), 16);

    let token = keys
        .signer
        .issue(&principal(Role::Supervisor), Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
        Some(kid)
    );
    assert_eq!(
        keys.verifier.verify(&token),
        Ok(principal(Role::Supervisor))
    );

    let dir = keys.files.signing_key.parent().unwrap();
    let again = generate_keys(dir).unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
}

#[test]
fn roles_parse_from_their_names_and_an_unknown_one_names_the_valid_roles() {
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
    }
    let error = "emperor".parse::<Role>().unwrap_err().to_string();
    assert!(
        error.contains("emperor") && error.contains("reception") && error.contains("system"),
        "{error}"
    );
}

const INTAKE_GET: &str = "/yimen.v1.IntakeService/GetCase";

#[test]
fn policy_rules_match_exact_paths_service_prefixes_everything_and_every_role() {
    let policy = Policy::parse(
        r#"{"name": "t", "allow_rules": [
            {"name": "exact", "source": {"principals": ["reception"]},
             "request": {"paths": ["/yimen.v1.IntakeService/GetCase"]}},
            {"name": "service", "source": {"principals": ["analyst"]},
             "request": {"paths": ["/yimen.v1.AnalysisService/*"]}},
            {"name": "all", "source": {"principals": ["admin"]}, "request": {"paths": ["/*"]}},
            {"name": "any role", "request": {"paths": ["/grpc.reflection.v1.ServerReflection/*"]}},
            {"name": "any path", "source": {"principals": ["auditor"]}}
        ]}"#,
    )
    .unwrap();
    assert_eq!(policy.decide(INTAKE_GET, Role::Reception), Ok(()));
    assert_eq!(
        policy.decide("/yimen.v1.IntakeService/ListCases", Role::Reception),
        Err(vec![Role::Auditor, Role::Admin])
    );
    assert_eq!(
        policy.decide("/yimen.v1.AnalysisService/GetTrends", Role::Analyst),
        Ok(())
    );
    assert!(policy.decide(INTAKE_GET, Role::Analyst).is_err());
    assert_eq!(policy.decide("/x.Y/Z", Role::Admin), Ok(()));
    assert_eq!(policy.decide("/x.Y/Z", Role::Auditor), Ok(()));
    for role in Role::ALL {
        assert_eq!(
            policy.decide(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                role
            ),
            Ok(())
        );
    }
    // A prefix is a whole service name, not the start of one.
    assert!(
        policy
            .decide("/yimen.v1.AnalysisServiceX/GetTrends", Role::Analyst)
            .is_err()
    );
}

#[test]
fn policy_deny_rules_win_and_nothing_matched_is_denied() {
    let policy = Policy::parse(
        r#"{"name": "t",
            "deny_rules": [{"name": "no intake for admin", "source": {"principals": ["admin"]},
                            "request": {"paths": ["/yimen.v1.IntakeService/*"]}}],
            "allow_rules": [{"name": "all", "source": {"principals": ["admin"]},
                             "request": {"paths": ["/*"]}}]}"#,
    )
    .unwrap();
    assert_eq!(policy.decide(INTAKE_GET, Role::Admin), Err(vec![]));
    assert_eq!(
        policy.decide("/yimen.v1.DispatchService/Escalate", Role::Admin),
        Ok(())
    );
    assert_eq!(
        policy.decide("/yimen.v1.DispatchService/Escalate", Role::Supervisor),
        Err(vec![Role::Admin])
    );
}

#[test]
fn a_policy_with_unknown_roles_or_malformed_paths_fails_naming_them() {
    let error = Policy::parse(
        r#"{"name": "t", "allow_rules": [
            {"name": "r1", "source": {"principals": ["admin", "emperor"]},
             "request": {"paths": ["yimen.v1.IntakeService/GetCase", "/a.B/*", "/a.B/C*", "/*/x"]}}
        ]}"#,
    )
    .unwrap_err()
    .to_string();
    for named in [
        "r1",
        "emperor",
        "`yimen.v1.IntakeService/GetCase`",
        "`/a.B/C*`",
        "`/*/x`",
    ] {
        assert!(error.contains(named), "{named} not in: {error}");
    }
    assert!(!error.contains("`/a.B/*`"), "{error}");

    let error = Policy::parse(r#"{"name": "t", "allow_rules": [{"name": "r", "request": {"paths": ["/*"], "headers": []}}]}"#)
        .unwrap_err();
    assert!(format!("{error:#}").contains("headers"), "{error:#}");
}

#[test]
fn a_policy_file_loads_and_a_missing_one_is_named() {
    let dir = yimen_testkit::stores::temp_dir("yimen-auth-");
    let path = dir.path().join("policy.json");
    std::fs::write(
        &path,
        r#"{"name": "mine", "allow_rules": [{"name": "a", "source": {"principals": ["leader"]}}]}"#,
    )
    .unwrap();
    let policy = Policy::from_file(&path).unwrap();
    assert_eq!(policy.name(), "mine");
    assert_eq!(policy.decide(INTAKE_GET, Role::Leader), Ok(()));
    let missing = Policy::from_file(&dir.path().join("nope.json")).unwrap_err();
    assert!(missing.to_string().contains("nope.json"), "{missing}");
}

fn every_rpc() -> Vec<String> {
    rpc_methods(yimen_proto::FILE_DESCRIPTOR_SET).unwrap()
}

#[test]
fn the_embedded_policy_lets_admin_call_every_rpc_of_every_service() {
    let policy = Policy::embedded();
    let methods = every_rpc();
    for service in [
        "IntakeService",
        "DispatchService",
        "MediationService",
        "AnalysisService",
        "AssessmentService",
    ] {
        assert!(
            methods
                .iter()
                .any(|m| m.starts_with(&format!("/yimen.v1.{service}/"))),
            "{service} has no methods in the descriptor set"
        );
    }
    for method in &methods {
        assert_eq!(policy.decide(method, Role::Admin), Ok(()), "{method}");
    }
}

#[test]
fn the_embedded_policy_names_only_rpcs_that_exist() {
    let methods = every_rpc();
    let file: serde_json::Value = serde_json::from_str(include_str!("policy.json")).unwrap();
    for rule in file["allow_rules"].as_array().unwrap() {
        for path in rule["request"]["paths"].as_array().unwrap() {
            let path = path.as_str().unwrap();
            let known = match path.strip_suffix('*') {
                Some(prefix) => {
                    prefix == "/"
                        || prefix.starts_with("/grpc.reflection.")
                        || methods.iter().any(|m| m.starts_with(prefix))
                }
                None => methods.iter().any(|m| m == path),
            };
            assert!(known, "rule {} names {path}, which is no RPC", rule["name"]);
        }
    }
}

#[test]
fn the_embedded_policy_gives_auditors_every_read_and_nothing_else() {
    let policy = Policy::embedded();
    for method in every_rpc() {
        // Reads are what the audit trail does not record.
        let read = !crate::audit::is_state_changing(&method);
        assert_eq!(
            policy.decide(&method, Role::Auditor).is_ok(),
            read,
            "{method}"
        );
    }
}

#[test]
fn the_embedded_policy_keeps_each_role_to_its_work() {
    let policy = Policy::embedded();
    let allowed =
        |role: Role, method: &str| policy.decide(&format!("/yimen.v1.{method}"), role).is_ok();
    let table: &[(Role, &[&str], &[&str])] = &[
        (
            Role::Reception,
            &[
                "IntakeService/SubmitCase",
                "IntakeService/GetCase",
                "DispatchService/ListDepartments",
                "MediationService/ListCommittees",
                "MediationService/OpenMediation",
            ],
            &[
                "DispatchService/AcceptAssignment",
                "DispatchService/DecideExtension",
                "AnalysisService/GetSituation",
                "MediationService/RecordOutcome",
            ],
        ),
        (
            Role::Department,
            &[
                "DispatchService/AcceptAssignment",
                "DispatchService/ReturnAssignment",
                "DispatchService/ReplyAssignment",
                "DispatchService/RequestExtension",
                "DispatchService/ReferToMediation",
                "DispatchService/WatchAssignments",
                "IntakeService/GetCase",
                "AssessmentService/CheckIn",
            ],
            &[
                "DispatchService/DecideExtension",
                "DispatchService/Escalate",
                "DispatchService/LeaveDepartment",
                "IntakeService/SubmitCase",
                "AnalysisService/GetSituation",
            ],
        ),
        (
            Role::Mediator,
            &[
                "MediationService/ScheduleSession",
                "MediationService/RecordOutcome",
                "MediationService/ListMediations",
            ],
            &["IntakeService/GetCase", "MediationService/RegisterMediator"],
        ),
        (
            Role::Supervisor,
            &[
                "DispatchService/Escalate",
                "DispatchService/AssignLeader",
                "DispatchService/DecideExtension",
                "AnalysisService/GetHotspots",
                "AssessmentService/GetScorecard",
                "AssessmentService/SetSubsidyGrades",
                "IntakeService/ListCases",
            ],
            &[
                "DispatchService/AcceptAssignment",
                "DispatchService/SetRoutingRules",
                "IntakeService/SubmitCase",
            ],
        ),
        (
            Role::Analyst,
            &[
                "AnalysisService/AcknowledgeAlert",
                "AssessmentService/GetMonthlyBulletin",
            ],
            &[
                "IntakeService/GetCase",
                "DispatchService/ListAssignments",
                "AssessmentService/SetSubsidyGrades",
            ],
        ),
        (
            Role::Leader,
            &[
                "DispatchService/AssignLeader",
                "AnalysisService/GetSituation",
                "IntakeService/GetCase",
            ],
            &[
                "DispatchService/Escalate",
                "AnalysisService/AcknowledgeAlert",
            ],
        ),
        (
            Role::System,
            &[
                "IntakeService/SubmitCase",
                "IntakeService/GetCase",
                "IntakeService/ListCases",
            ],
            &["IntakeService/WatchCase", "DispatchService/ListDepartments"],
        ),
    ];
    for (role, may, may_not) in table {
        for method in *may {
            assert!(allowed(*role, method), "{role} should call {method}");
        }
        for method in *may_not {
            assert!(!allowed(*role, method), "{role} should not call {method}");
        }
    }
}

fn auth() -> (Keys, Auth) {
    let keys = keys();
    let verifier = Verifier::from_jwks_file(&keys.files.jwks, &config()).unwrap();
    (keys, Auth::new(verifier, Policy::embedded()))
}

#[test]
fn authorize_answers_unauthenticated_without_a_bearer_token() {
    let (_keys, auth) = auth();
    let status = auth.authorize(INTAKE_GET, None).unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        status.message(),
        "no bearer token: send `authorization: Bearer <token>`"
    );
    let status = auth
        .authorize(INTAKE_GET, Some("Basic dXNlcjpwdw=="))
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        !status.message().contains("dXNlcjpwdw"),
        "{}",
        status.message()
    );
    let status = auth
        .authorize(INTAKE_GET, Some("Bearer not.a.jwt"))
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status.message().starts_with("malformed token"),
        "{}",
        status.message()
    );
}

#[test]
fn authorize_names_the_roles_a_denied_call_needs() {
    let (keys, auth) = auth();
    let token = keys
        .signer
        .issue(&principal(Role::Analyst), Duration::from_secs(60))
        .unwrap();
    let status = auth
        .authorize(
            "/yimen.v1.DispatchService/AcceptAssignment",
            Some(&format!("Bearer {token}")),
        )
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "role `analyst` may not call yimen.v1.DispatchService/AcceptAssignment; it needs one of: department, admin"
    );
    let token = keys
        .signer
        .issue(&principal(Role::Department), Duration::from_secs(60))
        .unwrap();
    let who = auth
        .authorize(
            "/yimen.v1.DispatchService/AcceptAssignment",
            Some(&format!("bearer  {token} ")),
        )
        .unwrap();
    assert_eq!(who, principal(Role::Department));
}

#[test]
fn auth_load_requires_the_verify_keys_file() {
    let error = Auth::load(&config()).err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("auth.verify_keys_file is not set"),
        "{error}"
    );
    let keys = keys();
    let auth = Auth::load(&AuthConfig {
        verify_keys_file: Some(keys.files.jwks.clone()),
        ..config()
    })
    .unwrap();
    assert_eq!(auth.policy().name(), "yimen");
}

#[test]
fn the_matrix_has_a_row_per_method_under_its_service_and_a_column_per_role() {
    let policy = Policy::embedded();
    let methods = every_rpc();
    let table = matrix_markdown(&policy, &methods);
    assert!(
        table.starts_with("| Method | reception | department |"),
        "{table}"
    );
    assert!(table.contains("| **yimen.v1.IntakeService** |"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("| SubmitCase |"))
        .unwrap();
    // reception ✓, then six blank roles... admin ✓, system ✓.
    assert_eq!(row, "| SubmitCase | ✓ | | | | | | | ✓ | ✓ |");
    let services: std::collections::BTreeSet<&str> = methods
        .iter()
        .map(|m| m.rsplit_once('/').unwrap().0)
        .collect();
    assert_eq!(table.lines().count(), 2 + services.len() + methods.len());
}

#[test]
fn a_callers_scope_follows_its_role_and_binding() {
    let principal = |role, department: Option<&str>, committee: Option<&str>| Principal {
        subject: "someone".into(),
        role,
        department: department.map(String::from),
        committee: committee.map(String::from),
    };
    assert_eq!(
        principal(Role::Department, Some("housing"), None).scope(),
        Scope::Department("housing".into())
    );
    assert_eq!(
        principal(Role::Mediator, None, Some("labor")).scope(),
        Scope::Committee("labor".into())
    );
    assert_eq!(
        principal(Role::System, None, None).scope(),
        Scope::Submitter("someone".into())
    );
    for role in [
        Role::Reception,
        Role::Supervisor,
        Role::Analyst,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
    ] {
        assert_eq!(principal(role, None, None).scope(), Scope::Everything);
    }

    let mut request = tonic::Request::new(());
    assert_eq!(Scope::of(&request), Scope::Everything, "in-process call");
    request
        .extensions_mut()
        .insert(principal(Role::Department, Some("housing"), None));
    assert_eq!(Scope::of(&request), Scope::Department("housing".into()));
}

#[test]
fn authorize_holds_each_caller_to_its_rate_after_the_other_checks() {
    let (keys, auth) = auth();
    let auth = auth.with_limit(RateLimiter::new(1, 2));
    let bearer = |role| {
        let token = keys
            .signer
            .issue(&principal(role), Duration::from_secs(60))
            .unwrap();
        format!("Bearer {token}")
    };
    let analyst = bearer(Role::Analyst);
    let situation = "/yimen.v1.AnalysisService/GetSituation";
    for _ in 0..2 {
        auth.authorize(situation, Some(&analyst))
            .expect("within the burst");
    }
    let status = auth.authorize(situation, Some(&analyst)).unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    // Another caller keeps its own bucket.
    auth.authorize(situation, Some(&bearer(Role::Supervisor)))
        .expect("another caller");
    // A refused call (no token) draws nothing from anyone's bucket.
    assert_eq!(
        auth.authorize(situation, None).unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
}
