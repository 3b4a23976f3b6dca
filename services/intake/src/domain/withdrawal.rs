//! Withdrawal (撤回) and settlement at the desk (当场答复 / 当场调处): what a valid withdrawal
//! and desk reply are, which case may still be withdrawn, and the lines they add. A withdrawn
//! case is done with, like a closed one; a case settled at the desk is registered REPLIED and
//! never assigned unless the petitioner is unsatisfied.

use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::validate;
use yimen_proto::event_type::{CASE_REPLIED, CASE_WITHDRAWN};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{CaseStatus, CaseWithdrawn, DeskSettlement, WithdrawCaseRequest};

use super::CaseRef;
use super::progress::{self, Holding, Progress, TimelineLine};

/// The longest withdrawal reason kept, in characters.
pub const REASON_MAX: usize = 500;
/// The longest reply given at the desk, in characters (as a department's reply).
pub const DESK_REPLY_MAX: usize = 5000;

/// A checked WithdrawCase request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Withdrawal {
    pub case_ref: CaseRef,
    /// Trimmed, not empty; free of personal data (the clerk's note).
    pub reason: String,
}

impl Withdrawal {
    /// Every broken field at once.
    pub fn parse(request: &WithdrawCaseRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let case_ref = v.check(CaseRef::parse(&request.case_ref));
        let reason = v.check(validate::required_text(
            "reason",
            &request.reason,
            REASON_MAX,
        ));
        v.finish_with(
            case_ref
                .zip(reason)
                .map(|(case_ref, reason)| Self { case_ref, reason }),
        )
    }

    /// `case.withdrawn` for a case `department` holds ('' when none does).
    pub fn event(&self, department: &str) -> (&'static str, Payload) {
        (
            CASE_WITHDRAWN,
            Payload::CaseWithdrawn(CaseWithdrawn {
                department: department.to_string(),
                reason: self.reason.clone(),
            }),
        )
    }
}

/// A case is open to withdrawal until the center is done with it: closed, refused, forwarded
/// or withdrawn already is FAILED_PRECONDITION naming the status.
pub fn check_withdrawable(case_number: &str, status: CaseStatus) -> Result<(), Error> {
    if is_done(status) {
        return Err(Error::precondition(format!(
            "case {case_number} is {}; only an open case can be withdrawn",
            progress::status_words(status)
        )));
    }
    Ok(())
}

/// The statuses in which the center is done with a case.
pub fn is_done(status: CaseStatus) -> bool {
    matches!(
        status,
        CaseStatus::Closed | CaseStatus::Refused | CaseStatus::Forwarded | CaseStatus::Withdrawn
    )
}

/// The reply given at the desk as the case was registered (当场答复, or 当场调处 when the desk
/// mediated it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskReply {
    /// Trimmed, not empty; free of personal data.
    pub reply: String,
    pub mediated: bool,
}

impl DeskReply {
    /// `None` when the matter was not settled at the desk; a settlement without its reply is
    /// a violation of `settled_at_desk.reply`.
    pub fn parse(settled: Option<&DeskSettlement>) -> Result<Option<Self>, FieldViolation> {
        let Some(settled) = settled else {
            return Ok(None);
        };
        let reply =
            validate::required_text("settled_at_desk.reply", &settled.reply, DESK_REPLY_MAX)?;
        Ok(Some(Self {
            reply,
            mediated: settled.mediated,
        }))
    }

    /// The reply's line: the case is REPLIED, held by no department, so an unsatisfied
    /// evaluation sends it to dispatch as a new matter.
    pub fn progress(&self) -> Progress {
        let how = if self.mediated {
            "mediated on the spot at the desk (当场调处)"
        } else {
            "answered at the desk (当场答复)"
        };
        Progress {
            holding: Some(Holding {
                status: CaseStatus::Replied,
                department: Some(String::new()),
            }),
            line: TimelineLine {
                kind: CASE_REPLIED.into(),
                summary: format!("{how}: {}", self.reply),
                department: String::new(),
            },
            co_handler: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withdrawal_names_every_broken_field() {
        let e = Withdrawal::parse(&WithdrawCaseRequest {
            case_ref: " ".into(),
            reason: "x".repeat(REASON_MAX + 1),
        })
        .unwrap_err();
        match e {
            Error::InvalidArgument(v) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["case_ref", "reason"]);
            }
            other => panic!("{other:?}"),
        }
        let ok = Withdrawal::parse(&WithdrawCaseRequest {
            case_ref: "YM-2026-000001".into(),
            reason: " 已与对方和解 ".into(),
        })
        .unwrap();
        assert_eq!(ok.reason, "已与对方和解");
        let (kind, payload) = ok.event("housing");
        assert_eq!(kind, "case.withdrawn");
        assert_eq!(
            payload,
            Payload::CaseWithdrawn(CaseWithdrawn {
                department: "housing".into(),
                reason: "已与对方和解".into(),
            })
        );
    }

    #[test]
    fn only_an_open_case_is_withdrawn() {
        for status in [
            CaseStatus::Registered,
            CaseStatus::Assigned,
            CaseStatus::Accepted,
            CaseStatus::Replied,
            CaseStatus::InMediation,
            CaseStatus::Reopened,
            CaseStatus::AwaitingSupplement,
        ] {
            assert!(
                check_withdrawable("YM-2026-000001", status).is_ok(),
                "{status:?}"
            );
        }
        for status in [
            CaseStatus::Closed,
            CaseStatus::Refused,
            CaseStatus::Forwarded,
            CaseStatus::Withdrawn,
        ] {
            match check_withdrawable("YM-2026-000001", status) {
                Err(Error::FailedPrecondition(m)) => {
                    assert!(m.contains(&progress::status_words(status)), "{m}")
                }
                other => panic!("{status:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_desk_settlement_needs_its_reply_and_replies_the_case_held_by_nobody() {
        assert_eq!(DeskReply::parse(None), Ok(None));
        let missing = DeskReply::parse(Some(&DeskSettlement {
            reply: "  ".into(),
            mediated: true,
        }))
        .unwrap_err();
        assert_eq!(missing.field, "settled_at_desk.reply");
        let desk = DeskReply::parse(Some(&DeskSettlement {
            reply: " 已当场调解，双方同意 ".into(),
            mediated: true,
        }))
        .unwrap()
        .unwrap();
        let progress = desk.progress();
        assert_eq!(progress.line.kind, "case.replied");
        assert!(
            progress.line.summary.contains("当场调处"),
            "{}",
            progress.line.summary
        );
        assert!(progress.line.summary.ends_with("已当场调解，双方同意"));
        assert_eq!(progress.holder(), None);
        assert_eq!(
            progress.holding.map(|h| h.status),
            Some(CaseStatus::Replied)
        );
    }
}
