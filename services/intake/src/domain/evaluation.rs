//! The petitioner's evaluation of a reply (质量评价): what a valid one is, which case may be
//! evaluated, and what it decides — satisfied or basically satisfied closes the case (办结),
//! unsatisfied reopens it for dispatch to assign again.

use yimen_platform::error::{Error, Violations};
use yimen_platform::validate;
use yimen_proto::event_type::{CASE_CLOSED, CASE_EVALUATED, CASE_REOPENED};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{
    CaseClosed, CaseEvaluated, CaseReopened, CaseStatus, Satisfaction, SubmitEvaluationRequest,
};

use super::CaseRef;
use super::progress;

/// The longest comment kept, in characters.
pub const COMMENT_MAX: usize = 500;

/// Why an unsatisfied evaluation reopens a case, as `case.reopened` says it.
pub const REOPEN_REASON: &str = "the petitioner was unsatisfied with the reply";

/// A checked SubmitEvaluation request. Only [`Evaluation::parse`] makes one. `Debug` leaves
/// out the comment: the petitioner's own words may hold personal data.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evaluation {
    pub case_ref: CaseRef,
    pub satisfaction: Satisfaction,
    /// Trimmed; empty when none was given. Stored with the evaluation, never published.
    pub comment: String,
}

impl std::fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluation")
            .field("case_ref", &self.case_ref)
            .field("satisfaction", &self.satisfaction)
            .field("comment", &"<redacted>")
            .finish()
    }
}

impl Evaluation {
    /// Every broken rule at once, each naming its field.
    pub fn parse(request: &SubmitEvaluationRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let case_ref = v.check(CaseRef::parse(&request.case_ref));
        let satisfaction = v.check(validate::known::<Satisfaction>(
            "satisfaction",
            request.satisfaction,
        ));
        let comment = request.comment.trim();
        v.check(validate::max_chars("comment", comment, COMMENT_MAX));
        v.finish()?;
        let (Some(case_ref), Some(satisfaction)) = (case_ref, satisfaction) else {
            return Err(Error::Internal(anyhow::anyhow!(
                "a checked field went missing"
            )));
        };
        Ok(Self {
            case_ref,
            satisfaction,
            comment: comment.to_string(),
        })
    }

    /// Whether the evaluation closes the case (办结) rather than reopening it.
    pub fn closes(&self) -> bool {
        matches!(
            self.satisfaction,
            Satisfaction::Satisfied | Satisfaction::BasicallySatisfied
        )
    }

    /// The events it publishes, in order, as (type, payload): `case.evaluated`, then
    /// `case.closed` or `case.reopened`. `department` is the one whose reply was evaluated.
    /// No comment in any of them.
    pub fn events(&self, department: &str) -> [(&'static str, Payload); 2] {
        let satisfaction = self.satisfaction as i32;
        let evaluated = Payload::CaseEvaluated(CaseEvaluated {
            satisfaction,
            department: department.to_string(),
        });
        let decision = if self.closes() {
            (
                CASE_CLOSED,
                Payload::CaseClosed(CaseClosed {
                    department: department.to_string(),
                    satisfaction,
                }),
            )
        } else {
            (
                CASE_REOPENED,
                Payload::CaseReopened(CaseReopened {
                    department: department.to_string(),
                    reason: REOPEN_REASON.to_string(),
                }),
            )
        };
        [(CASE_EVALUATED, evaluated), decision]
    }
}

/// Only a replied case can be evaluated; otherwise FAILED_PRECONDITION saying where it stands.
pub fn check_evaluable(case_number: &str, status: CaseStatus) -> Result<(), Error> {
    if status == CaseStatus::Replied {
        return Ok(());
    }
    Err(Error::precondition(format!(
        "case {case_number} is {}; only a replied case can be evaluated",
        progress::status_words(status)
    )))
}

#[cfg(test)]
mod tests {
    use yimen_platform::error::FieldViolation;

    use super::*;

    fn request(satisfaction: Satisfaction, comment: &str) -> SubmitEvaluationRequest {
        SubmitEvaluationRequest {
            case_ref: "YM-2026-000001".into(),
            satisfaction: satisfaction as i32,
            comment: comment.into(),
        }
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(violations) => violations
                .into_iter()
                .map(|v: FieldViolation| v.field)
                .collect(),
            other => panic!("not invalid: {other}"),
        }
    }

    #[test]
    fn a_valid_evaluation_keeps_its_trimmed_comment() {
        let e =
            Evaluation::parse(&request(Satisfaction::Satisfied, "  thank you  ")).expect("valid");
        assert_eq!(e.case_ref, CaseRef::Number("YM-2026-000001".into()));
        assert_eq!(e.satisfaction, Satisfaction::Satisfied);
        assert_eq!(e.comment, "thank you");
        let e = Evaluation::parse(&request(Satisfaction::Unsatisfied, "")).expect("valid");
        assert_eq!(e.comment, "", "a comment is optional");
    }

    #[test]
    fn satisfaction_is_required_and_must_be_known() {
        let err = Evaluation::parse(&request(Satisfaction::Unspecified, "")).expect_err("missing");
        assert_eq!(fields(err), ["satisfaction"]);
        let mut unknown = request(Satisfaction::Satisfied, "");
        unknown.satisfaction = 9;
        assert_eq!(
            fields(Evaluation::parse(&unknown).expect_err("unknown")),
            ["satisfaction"]
        );
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let long = "意".repeat(COMMENT_MAX + 1);
        let mut bad = request(Satisfaction::Unspecified, &long);
        bad.case_ref = " ".into();
        assert_eq!(
            fields(Evaluation::parse(&bad).expect_err("invalid")),
            ["case_ref", "satisfaction", "comment"]
        );
        // The limit counts characters, not bytes.
        let at_limit = "意".repeat(COMMENT_MAX);
        assert!(Evaluation::parse(&request(Satisfaction::Satisfied, &at_limit)).is_ok());
    }

    #[test]
    fn debug_leaves_out_the_comment() {
        let e = Evaluation::parse(&request(Satisfaction::Unsatisfied, "王某 13800000000"))
            .expect("valid");
        let shown = format!("{e:?}");
        assert!(!shown.contains("13800000000"), "{shown}");
        assert!(!shown.contains("王某"), "{shown}");
    }

    #[test]
    fn satisfied_or_basically_satisfied_closes_and_announces_it() {
        for satisfaction in [Satisfaction::Satisfied, Satisfaction::BasicallySatisfied] {
            let e = Evaluation::parse(&request(satisfaction, "fine")).expect("valid");
            assert!(e.closes());
            let [(first, evaluated), (second, closed)] = e.events("civil-affairs");
            assert_eq!((first, second), (CASE_EVALUATED, CASE_CLOSED));
            assert_eq!(
                evaluated,
                Payload::CaseEvaluated(CaseEvaluated {
                    satisfaction: satisfaction as i32,
                    department: "civil-affairs".into(),
                })
            );
            assert_eq!(
                closed,
                Payload::CaseClosed(CaseClosed {
                    department: "civil-affairs".into(),
                    satisfaction: satisfaction as i32,
                })
            );
        }
    }

    #[test]
    fn unsatisfied_reopens_and_says_why() {
        let e = Evaluation::parse(&request(Satisfaction::Unsatisfied, "nothing changed"))
            .expect("valid");
        assert!(!e.closes());
        let [(first, _), (second, reopened)] = e.events("civil-affairs");
        assert_eq!((first, second), (CASE_EVALUATED, CASE_REOPENED));
        assert_eq!(
            reopened,
            Payload::CaseReopened(CaseReopened {
                department: "civil-affairs".into(),
                reason: "the petitioner was unsatisfied with the reply".into(),
            })
        );
    }

    #[test]
    fn only_a_replied_case_can_be_evaluated() {
        assert!(check_evaluable("YM-2026-000001", CaseStatus::Replied).is_ok());
        let err = check_evaluable("YM-2026-000001", CaseStatus::InMediation).expect_err("not yet");
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "case YM-2026-000001 is in mediation; only a replied case can be evaluated"
        );
        for status in [
            CaseStatus::Closed,
            CaseStatus::Reopened,
            CaseStatus::Accepted,
        ] {
            assert!(
                check_evaluable("YM-2026-000001", status).is_err(),
                "{status:?}"
            );
        }
    }
}
