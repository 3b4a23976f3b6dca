//! The acceptance decision besides 受理 (信访工作条例: decided within 15 days): not accepting a
//! case (不予受理) with a reason code, naming the legal channel when the matter has one (诉访分离:
//! a matter for the courts, arbitration or administrative reconsideration goes there), or
//! forwarding it to an authority outside the system (转送); and the request for a supplement,
//! which stops the department's clock until it is added.

use yimen_platform::error::{Error, Violations};
use yimen_platform::time::DAY_MILLIS;
use yimen_platform::validate::{self, optional_text, required_text};
use yimen_proto::v1::{self as pb, RefusalReason};

/// The longest name of a channel or authority.
pub const BODY_MAX: usize = 200;
/// The longest explanation of a refusal or forward, and of a supplement request.
pub const NOTE_MAX: usize = 1000;

/// Whether the reason is a matter with its own legal channel, which a refusal must name.
pub fn needs_channel(reason: RefusalReason) -> bool {
    matches!(
        reason,
        RefusalReason::Litigation
            | RefusalReason::Arbitration
            | RefusalReason::AdministrativeReconsideration
    )
}

/// 不予受理, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub assignment_id: String,
    pub reason: RefusalReason,
    pub channel: String,
    pub explanation: String,
}

impl Refusal {
    pub fn parse(request: &pb::RefuseAssignmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let reason = match RefusalReason::try_from(request.reason) {
            Ok(RefusalReason::Unspecified) => {
                v.push(validate::empty("reason"));
                None
            }
            Ok(reason) => Some(reason),
            Err(_) => {
                v.push(validate::unknown("reason", request.reason));
                None
            }
        };
        let channel = v.check(optional_text("channel", &request.channel, BODY_MAX));
        if let (Some(reason), Some(channel)) = (reason, &channel)
            && needs_channel(reason)
            && channel.is_empty()
        {
            v.add(
                "channel",
                format!(
                    "a {} matter must name the body the petitioner should go to (诉访分离)",
                    reason.as_str_name()
                ),
            );
        }
        let explanation = v.check(required_text("explanation", &request.explanation, NOTE_MAX));
        let parsed = match (id, reason, channel, explanation) {
            (Some(assignment_id), Some(reason), Some(channel), Some(explanation)) => Some(Self {
                assignment_id,
                reason,
                channel,
                explanation,
            }),
            _ => None,
        };
        v.finish_with(parsed)
    }
}

/// 转送, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    pub assignment_id: String,
    pub authority: String,
    pub reason: String,
}

impl Forwarding {
    pub fn parse(request: &pb::ForwardAssignmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let authority = v.check(required_text("authority", &request.authority, BODY_MAX));
        let reason = v.check(required_text("reason", &request.reason, NOTE_MAX));
        v.finish_with(
            id.zip(authority)
                .zip(reason)
                .map(|((assignment_id, authority), reason)| Self {
                    assignment_id,
                    authority,
                    reason,
                }),
        )
    }
}

/// A request for a supplement, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplementRequest {
    pub assignment_id: String,
    pub requested: String,
}

impl SupplementRequest {
    pub fn parse(request: &pb::RequestSupplementRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let requested = v.check(required_text("requested", &request.requested, NOTE_MAX));
        v.finish_with(id.zip(requested).map(|(assignment_id, requested)| Self {
            assignment_id,
            requested,
        }))
    }
}

/// Where an assignment's clock stands: running, or stopped since an instant for a supplement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub paused_since: Option<i64>,
    /// Every earlier pause, in milliseconds.
    pub paused_millis: i64,
}

impl Clock {
    /// A new pause at `now`; FAILED_PRECONDITION while one is running.
    pub fn pause(self, now: i64) -> Result<Self, Error> {
        match self.paused_since {
            Some(since) => Err(Error::precondition(format!(
                "the assignment is AWAITING_SUPPLEMENT since {}: a supplement was already requested",
                yimen_platform::calendar::date(since)
            ))),
            None => Ok(Self {
                paused_since: Some(now),
                ..self
            }),
        }
    }

    /// FAILED_PRECONDITION while the clock is stopped: the department waits for the material
    /// before it accepts or replies.
    pub fn running(self) -> Result<(), Error> {
        match self.paused_since {
            Some(since) => Err(Error::precondition(format!(
                "the assignment is AWAITING_SUPPLEMENT since {}: it is accepted or replied to once the supplement is added",
                yimen_platform::calendar::date(since)
            ))),
            None => Ok(()),
        }
    }

    /// The pause ending at `now` (never negative, should clocks disagree); `None` when the
    /// clock runs.
    pub fn pause_ending(self, now: i64) -> Option<i64> {
        self.paused_since.map(|since| (now - since).max(0))
    }

    /// Every pause so far, the running one until `now` included.
    pub fn total(self, now: i64) -> i64 {
        self.paused_millis + self.pause_ending(now).unwrap_or(0)
    }
}

/// A pause's length in whole and part days, for messages.
pub fn days(millis: i64) -> f64 {
    millis as f64 / DAY_MILLIS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(reason: RefusalReason, channel: &str) -> pb::RefuseAssignmentRequest {
        pb::RefuseAssignmentRequest {
            assignment_id: "0190f3c4-0000-7000-8000-000000000001".into(),
            reason: reason as i32,
            channel: channel.into(),
            explanation: "劳动争议应申请劳动仲裁".into(),
        }
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_refusal_for_arbitration_names_the_arbitration_body() {
        let ok = Refusal::parse(&refusal(
            RefusalReason::Arbitration,
            "钟祥市劳动人事争议仲裁委员会",
        ))
        .unwrap();
        assert_eq!(ok.reason, RefusalReason::Arbitration);
        let e = Refusal::parse(&refusal(RefusalReason::Arbitration, "  ")).unwrap_err();
        assert_eq!(fields(e), ["channel"]);
    }

    #[test]
    fn a_refusal_without_its_own_channel_may_leave_it_empty() {
        assert!(Refusal::parse(&refusal(RefusalReason::AlreadyHandled, "")).is_ok());
    }

    #[test]
    fn a_refusal_names_every_broken_field_at_once() {
        let e = Refusal::parse(&pb::RefuseAssignmentRequest {
            assignment_id: "nope".into(),
            reason: 0,
            channel: "x".repeat(BODY_MAX + 1),
            explanation: String::new(),
        })
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["assignment_id", "reason", "channel", "explanation"]
        );
        let e = Refusal::parse(&pb::RefuseAssignmentRequest {
            reason: 99,
            ..refusal(RefusalReason::Litigation, "法院")
        })
        .unwrap_err();
        assert_eq!(fields(e), ["reason"]);
    }

    #[test]
    fn a_forward_names_the_authority_and_why() {
        let e = Forwarding::parse(&pb::ForwardAssignmentRequest {
            assignment_id: "0190f3c4-0000-7000-8000-000000000001".into(),
            authority: " ".into(),
            reason: String::new(),
        })
        .unwrap_err();
        assert_eq!(fields(e), ["authority", "reason"]);
    }

    #[test]
    fn a_supplement_request_says_what_is_needed() {
        let e = SupplementRequest::parse(&pb::RequestSupplementRequest {
            assignment_id: String::new(),
            requested: "x".repeat(NOTE_MAX + 1),
        })
        .unwrap_err();
        assert_eq!(fields(e), ["assignment_id", "requested"]);
    }

    #[test]
    fn a_second_pause_while_one_runs_is_refused_naming_the_state() {
        let running = Clock {
            paused_since: None,
            paused_millis: 0,
        };
        let paused = running.pause(1_000).unwrap();
        assert_eq!(paused.paused_since, Some(1_000));
        match paused.pause(2_000) {
            Err(Error::FailedPrecondition(m)) => assert!(m.contains("AWAITING_SUPPLEMENT"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(running.running().is_ok());
        assert!(matches!(
            paused.running(),
            Err(Error::FailedPrecondition(_))
        ));
    }

    #[test]
    fn pauses_add_up_and_never_run_backwards() {
        let clock = Clock {
            paused_since: Some(10 * DAY_MILLIS),
            paused_millis: DAY_MILLIS,
        };
        assert_eq!(clock.pause_ending(13 * DAY_MILLIS), Some(3 * DAY_MILLIS));
        assert_eq!(clock.total(13 * DAY_MILLIS), 4 * DAY_MILLIS);
        assert_eq!(clock.pause_ending(DAY_MILLIS), Some(0));
        let running = Clock {
            paused_since: None,
            ..clock
        };
        assert_eq!(running.pause_ending(13 * DAY_MILLIS), None);
        assert_eq!(running.total(13 * DAY_MILLIS), DAY_MILLIS);
        assert_eq!(days(36 * 60 * 60 * 1000), 1.5);
    }
}
