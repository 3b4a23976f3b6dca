//! The one error type of every RPC and its mapping onto gRPC status codes: INVALID_ARGUMENT
//! with `google.rpc.BadRequest` field violations, NOT_FOUND, FAILED_PRECONDITION, ...

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One broken validation rule, naming the field (`petitioners[2].id_number`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request breaks validation rules; nothing was written.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller's role may call the RPC, but not on this object (another department's
    /// assignment, another committee's file); the message names nothing of the object's owner.
    #[error("{0}")]
    PermissionDenied(String),
    /// A rule of the process forbids this now (e.g. replying to an assignment not accepted).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The same, with what the rule is about as `google.rpc.PreconditionFailure` violations, so
    /// a client can read it without parsing the message (e.g. the earlier case of a matter
    /// closed for good).
    #[error("{message}")]
    PreconditionFailure {
        message: String,
        violations: Vec<PreconditionViolation>,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One violated precondition: its type (e.g. `SAME_MATTER_CLOSED`), its subject (e.g. the
/// earlier case number) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    pub kind: String,
    pub subject: String,
    pub description: String,
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn precondition(why: impl Into<String>) -> Self {
        Self::FailedPrecondition(why.into())
    }

    pub fn denied(why: impl Into<String>) -> Self {
        Self::PermissionDenied(why.into())
    }
}

/// One broken rule, for `?` where a request has a single field to check.
impl From<FieldViolation> for Error {
    fn from(v: FieldViolation) -> Self {
        Self::InvalidArgument(vec![v])
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(format!("database unavailable: {e}"))
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::bus::BusError> for Error {
    fn from(e: crate::bus::BusError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<crate::seal::SealError> for Error {
    fn from(e: crate::seal::SealError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(violations) => {
                let message = format!("invalid argument: {}", describe(&violations));
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::NotFound(m) => Status::not_found(m),
            Error::AlreadyExists(m) => Status::already_exists(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::PreconditionFailure {
                message,
                violations,
            } => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_precondition_failure_violation(v.kind, v.subject, v.description);
                }
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "unavailable");
                Status::unavailable(m)
            }
            Error::ResourceExhausted(m) => Status::resource_exhausted(m),
            Error::Internal(e) => {
                // The cause goes to the log (with the trace id), not to the caller.
                tracing::error!(error = format!("{e:#}"), "internal error");
                Status::internal("internal error; the trace id in the server log tells more")
            }
        }
    }
}

/// RESOURCE_EXHAUSTED saying why and when to try again, the wait also as
/// `google.rpc.RetryInfo` for clients that back off by it: a rate limit, or an overloaded
/// service.
pub fn retry_later(why: impl std::fmt::Display, wait: std::time::Duration) -> Status {
    let wait = wait.max(std::time::Duration::from_millis(1));
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("{why}; retry in {} ms", wait.as_millis()),
        ErrorDetails::with_retry_info(Some(wait)),
    )
}

/// Collects violations while validating a request, so one answer names every bad field.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    /// Records the violation of `result`, if any, and gives back its value.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(v) => {
                self.0.push(v);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when no rule was broken, else INVALID_ARGUMENT naming every field.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }

    /// [`finish`](Self::finish), then `parsed`: a request's domain value, built from the
    /// checked fields, so it is `None` only when a check recorded a violation and `finish` has
    /// already answered. The parse functions end with it instead of defaulting a missing field.
    pub fn finish_with<T>(self, parsed: Option<T>) -> Result<T> {
        self.finish()?;
        parsed.ok_or_else(|| Error::Internal(anyhow::anyhow!("a checked field went missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_bad_request_field_violations() {
        let status: Status = Error::invalid("subject", "must not be empty").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        assert_eq!(bad.field_violations[0].field, "subject");
        assert_eq!(bad.field_violations[0].description, "must not be empty");
    }

    #[test]
    fn finish_with_answers_the_parsed_value_or_every_violation() {
        assert_eq!(Violations::new().finish_with(Some(7)).unwrap(), 7);
        let mut v = Violations::new();
        let id = v.check::<u8>(Err(FieldViolation::new("id", "must be a UUID")));
        v.add("reply", "must not be empty");
        match v.finish_with(id) {
            Err(Error::InvalidArgument(all)) => {
                let fields: Vec<_> = all.iter().map(|v| v.field.as_str()).collect();
                assert_eq!(fields, ["id", "reply"]);
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
        // A value missing without a violation is our bug, not the caller's.
        assert!(matches!(
            Violations::new().finish_with(None::<u8>),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status: Status = Error::Internal(anyhow::anyhow!("secret detail")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
