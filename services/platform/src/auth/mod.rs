//! Who is calling and whether they may: bearer JWTs verified against a JWKS (yimen's own EdDSA
//! keys or an identity provider's RS256/ES256 keys), roles, the role × RPC policy, and the tower
//! layer that applies both to every call the server answers.

mod keys;
mod layer;
mod limit;
mod policy;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use keys::{KeyFiles, Signer, Verifier, generate_keys};
pub use layer::{AuthLayer, AuthService};
pub use limit::RateLimiter;
pub use policy::{Policy, matrix_markdown, rpc_methods};

/// `[auth]` settings section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// JWKS (RFC 7517) JSON: yimen's own EdDSA keys and/or an identity provider's RS256/ES256
    /// keys.
    pub verify_keys_file: Option<PathBuf>,
    /// PKCS#8 PEM of an Ed25519 key, for issuing yimen's own tokens.
    pub signing_key_file: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    /// Bounded clock skew between the token's issuer and this server.
    pub leeway_secs: u64,
    /// Overrides the embedded default policy.
    pub policy_file: Option<PathBuf>,
    /// Calls a second one caller (role and subject) may make on average; 0: no limit.
    pub rate_limit_per_sec: u32,
    /// Calls one caller may make at once before the average applies.
    pub rate_limit_burst: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            verify_keys_file: None,
            signing_key_file: None,
            issuer: "yimen".into(),
            audience: "yimen".into(),
            leeway_secs: 60,
            policy_file: None,
            rate_limit_per_sec: 200,
            rate_limit_burst: 400,
        }
    }
}

/// What a caller is allowed to do, as the token's `role` claim says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// 窗口: registers matters and opens mediations.
    Reception,
    /// A handling department, bound to one department code.
    Department,
    /// A mediator, bound to one committee.
    Mediator,
    /// 督查: escalates, decides extensions, assigns leaders.
    Supervisor,
    Analyst,
    Leader,
    Auditor,
    Admin,
    /// An outside government system: submits and reads its own submissions.
    System,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Reception,
        Role::Department,
        Role::Mediator,
        Role::Supervisor,
        Role::Analyst,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
        Role::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reception => "reception",
            Role::Department => "department",
            Role::Mediator => "mediator",
            Role::Supervisor => "supervisor",
            Role::Analyst => "analyst",
            Role::Leader => "leader",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::System => "system",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown role `{s}`; the roles are: {}",
                    join(Role::ALL.iter())
                )
            })
    }
}

/// Comma-separated names, for messages.
fn join<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verified caller of one call; handlers read it with
/// `request.extensions().get::<Principal>()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    /// The department code a `department` token is bound to.
    pub department: Option<String>,
    /// The committee code a `mediator` token is bound to.
    pub committee: Option<String>,
}

/// Whose objects a caller may see and act on, beyond what its role's RPCs allow: the
/// object-level half of authorization, checked by each service's use cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every object its RPCs reach (reception, supervisor, analyst, leader, auditor, admin).
    Everything,
    /// Only the work of this department (a `department` token).
    Department(String),
    /// Only the files of this mediation committee (a `mediator` token).
    Committee(String),
    /// Only what this outside system submitted itself (a `system` token).
    Submitter(String),
}

impl Scope {
    /// The scope of a call's caller. A call that did not pass the auth layer carries no
    /// principal: only a call made in-process (the services' own tests) can, since every
    /// server runs the layer, and it sees everything.
    pub fn of<T>(request: &tonic::Request<T>) -> Scope {
        request
            .extensions()
            .get::<Principal>()
            .map_or(Scope::Everything, Principal::scope)
    }
}

impl Principal {
    /// What this caller may see and act on (see [`Scope`]).
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Department => Scope::Department(self.department.clone().unwrap_or_default()),
            Role::Mediator => Scope::Committee(self.committee.clone().unwrap_or_default()),
            Role::System => Scope::Submitter(self.subject.clone()),
            _ => Scope::Everything,
        }
    }

    /// A `department` must name its department and a `mediator` its committee: object-level
    /// checks in the services rely on it, so such a token without one is refused outright.
    pub fn check_binding(&self) -> Result<(), AuthError> {
        let missing = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        match self.role {
            Role::Department if missing(&self.department) => Err(AuthError::Unbound {
                role: self.role,
                claim: "dept",
            }),
            Role::Mediator if missing(&self.committee) => Err(AuthError::Unbound {
                role: self.role,
                claim: "committee",
            }),
            _ => Ok(()),
        }
    }
}

/// Why a token was refused. The messages go back to the caller, so they say why and never
/// carry the token.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token is for another audience (this server is `{0}`)")]
    WrongAudience(String),
    #[error("token is from another issuer (this server trusts `{0}`)")]
    WrongIssuer(String),
    #[error("token names no key id (`kid` header)")]
    NoKeyId,
    #[error("token signed by unknown key id `{0}`")]
    UnknownKeyId(String),
    #[error("token algorithm does not match its key `{0}`")]
    WrongAlgorithm(String),
    #[error("bad token signature")]
    BadSignature,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token has no `{0}` claim")]
    MissingClaim(String),
    #[error("token names the unknown role `{role}`; the roles are: {roles}")]
    UnknownRole { role: String, roles: String },
    #[error("token of role {role} names no {claim}")]
    Unbound { role: Role, claim: &'static str },
}

/// The one RPC besides health that needs no token.
pub const PUBLIC_STATUS_QUERY: &str = "/yimen.v1.IntakeService/GetCaseStatus";

/// The whole check of one call: the token, then the policy.
#[derive(Debug)]
pub struct Auth {
    verifier: Verifier,
    policy: Policy,
    limiter: Option<RateLimiter>,
}

impl Auth {
    /// The verifier from `auth.verify_keys_file`, and `auth.policy_file` or the embedded policy.
    pub fn load(config: &AuthConfig) -> anyhow::Result<Auth> {
        let keys = config.verify_keys_file.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "auth.verify_keys_file is not set: name a JWKS file of the keys that sign tokens \
                 (`yimen auth init --dir DIR` writes one)"
            )
        })?;
        let verifier = Verifier::from_jwks_file(keys, config)?;
        let policy = match &config.policy_file {
            Some(path) => Policy::from_file(path)?,
            None => Policy::embedded(),
        };
        let limiter = RateLimiter::new(config.rate_limit_per_sec, config.rate_limit_burst);
        Ok(Auth::new(verifier, policy).with_limit(limiter))
    }

    pub fn new(verifier: Verifier, policy: Policy) -> Auth {
        Auth {
            verifier,
            policy,
            limiter: None,
        }
    }

    /// The same checks, each caller held to `limiter`'s rate.
    pub fn with_limit(mut self, limiter: Option<RateLimiter>) -> Auth {
        self.limiter = limiter;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Calls that need no token: health probes come from the orchestrator, which holds none;
    /// the petitioner's own status query is answered to whoever holds the case number and its
    /// query code (intake checks the code and limits the rate per peer address).
    pub fn is_public(method: &str) -> bool {
        method.starts_with("/grpc.health.v1.") || method == PUBLIC_STATUS_QUERY
    }

    /// The whole check of one call: Ok(principal) or the Status to answer.
    pub fn authorize(
        &self,
        method: &str,
        authorization_header: Option<&str>,
    ) -> Result<crate::auth::Principal, tonic::Status> {
        let header = authorization_header.ok_or_else(|| {
            tonic::Status::unauthenticated("no bearer token: send `authorization: Bearer <token>`")
        })?;
        let token = bearer(header).ok_or_else(|| {
            tonic::Status::unauthenticated(
                "the authorization header is not a bearer token: send `authorization: Bearer <token>`",
            )
        })?;
        let principal = self
            .verifier
            .verify(token)
            .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
        // The audit trail names the caller even when the policy refuses it.
        crate::audit::context::identify(&principal);
        self.policy
            .decide(method, principal.role)
            .map_err(|allowed| {
                let method = method.trim_start_matches('/');
                let needs = if allowed.is_empty() {
                    "no role may call it".to_string()
                } else {
                    format!("it needs one of: {}", join(&allowed))
                };
                tonic::Status::permission_denied(format!(
                    "role `{}` may not call {method}; {needs}",
                    principal.role
                ))
            })?;
        if let Some(limiter) = &self.limiter {
            limiter.admit(&format!("{}:{}", principal.role, principal.subject))?;
        }
        Ok(principal)
    }
}

/// The token of an `authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
