//! The life of one assignment (交办): a department accepts it (受理) and replies (答复), or
//! returns it as the wrong department (退回), or does not accept it (不予受理) or forwards it out
//! of the system (转送), or it is handed over when the department leaves. While it is open it
//! may be referred to mediation, extended once, escalated, and wait for a supplement.

use yimen_platform::error::Error;
use yimen_proto::v1 as pb;

pub const REPLY_MAX: usize = 5000;
pub const RETURN_REASON_MAX: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentState {
    /// Waiting for the department to accept.
    Pending,
    Accepted,
    Replied,
    Returned,
    HandedOver,
    /// 不予受理.
    Refused,
    /// 转送 to an authority outside the system.
    Forwarded,
    /// A review (复查) or re-review (复核) waiting for its body's decision.
    Reviewing,
    /// The review decided.
    Reviewed,
    /// The petitioner withdrew the case (撤回).
    Withdrawn,
    /// Taken over by the city (提级) or handed down (交办): another department holds it now.
    Transferred,
}

/// What may happen to an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Accept,
    Reply,
    Return,
    /// The department left; the case went to the new owner of its category.
    HandOver,
    /// 不予受理: decided instead of accepting.
    Refuse,
    /// 转送: decided instead of accepting.
    Forward,
    /// The review body decides a review or re-review.
    DecideReview,
    /// 撤回: the petitioner withdrew the case.
    Withdraw,
    /// 提级 / 交办: the center gave the case to a department at another level.
    Transfer,
}

/// What may be done to an assignment without moving its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refer the dispute to the mediation center (访调).
    Refer,
    /// Request or decide the one extension of the handling deadline.
    Extend,
    /// Remind, supervise, or have a leader take the case (催办, 督办, 包案).
    Escalate,
    /// Ask the petitioner for a supplement, stopping the clock.
    RequestSupplement,
}

impl AssignmentState {
    pub const ALL: [AssignmentState; 11] = [
        Self::Pending,
        Self::Accepted,
        Self::Replied,
        Self::Returned,
        Self::HandedOver,
        Self::Refused,
        Self::Forwarded,
        Self::Reviewing,
        Self::Reviewed,
        Self::Withdrawn,
        Self::Transferred,
    ];

    /// Open assignments still wait on their department; a case has at most one.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Accepted)
    }

    /// The state after `transition`, or FAILED_PRECONDITION naming the state it is in.
    pub fn apply(self, transition: Transition) -> Result<Self, Error> {
        use AssignmentState::*;
        match (self, transition) {
            (Pending, Transition::Accept) => Ok(Accepted),
            (Accepted, Transition::Reply) => Ok(Replied),
            (Pending | Accepted, Transition::Return) => Ok(Returned),
            (Pending | Accepted, Transition::HandOver) => Ok(HandedOver),
            (Pending, Transition::Refuse) => Ok(Refused),
            (Pending, Transition::Forward) => Ok(Forwarded),
            (Reviewing, Transition::DecideReview) => Ok(Reviewed),
            (Pending | Accepted, Transition::Withdraw) => Ok(Withdrawn),
            (Pending | Accepted, Transition::Transfer) => Ok(Transferred),
            (state, transition) => {
                let allowed = match transition {
                    Transition::Accept => "only a PENDING assignment can be accepted",
                    Transition::Reply => "only an ACCEPTED assignment can be replied to",
                    Transition::Return => "only a PENDING or ACCEPTED assignment can be returned",
                    Transition::HandOver => {
                        "only a PENDING or ACCEPTED assignment can be handed over"
                    }
                    Transition::Refuse => {
                        "only a PENDING assignment can be refused (不予受理): acceptance is decided once"
                    }
                    Transition::Forward => "only a PENDING assignment can be forwarded (转送)",
                    Transition::DecideReview => {
                        "only a REVIEWING assignment is decided as a review (复查 / 复核)"
                    }
                    Transition::Withdraw => {
                        "only a PENDING or ACCEPTED assignment ends with a withdrawal"
                    }
                    Transition::Transfer => {
                        "only a PENDING or ACCEPTED assignment can be taken over or handed down"
                    }
                };
                Err(Error::precondition(format!(
                    "the assignment is {}: {allowed}",
                    state.as_str()
                )))
            }
        }
    }

    /// Ok when `action` is allowed in this state, else FAILED_PRECONDITION naming the state:
    /// only a case the department has accepted is referred or extended (there is a handling
    /// deadline to extend), and any open one can be escalated.
    pub fn allows(self, action: Action) -> Result<(), Error> {
        let (allowed, rule) = match action {
            Action::Refer => (
                self == Self::Accepted,
                "only an ACCEPTED assignment can be referred to mediation",
            ),
            Action::Extend => (
                self == Self::Accepted,
                "only an ACCEPTED assignment has a handling deadline to extend",
            ),
            Action::Escalate => (
                self.is_open(),
                "only a PENDING or ACCEPTED assignment can be escalated",
            ),
            Action::RequestSupplement => (
                self.is_open(),
                "only a PENDING or ACCEPTED assignment can wait for a supplement",
            ),
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::precondition(format!(
                "the assignment is {}: {rule}",
                self.as_str()
            )))
        }
    }

    /// The name in the store and in messages: the proto name without its prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Replied => "REPLIED",
            Self::Returned => "RETURNED",
            Self::HandedOver => "HANDED_OVER",
            Self::Refused => "REFUSED",
            Self::Forwarded => "FORWARDED",
            Self::Reviewing => "REVIEWING",
            Self::Reviewed => "REVIEWED",
            Self::Withdrawn => "WITHDRAWN",
            Self::Transferred => "TRANSFERRED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn to_proto(self) -> pb::AssignmentState {
        match self {
            Self::Pending => pb::AssignmentState::Pending,
            Self::Accepted => pb::AssignmentState::Accepted,
            Self::Replied => pb::AssignmentState::Replied,
            Self::Returned => pb::AssignmentState::Returned,
            Self::HandedOver => pb::AssignmentState::HandedOver,
            Self::Refused => pb::AssignmentState::Refused,
            Self::Forwarded => pb::AssignmentState::Forwarded,
            Self::Reviewing => pb::AssignmentState::Reviewing,
            Self::Reviewed => pb::AssignmentState::Reviewed,
            Self::Withdrawn => pb::AssignmentState::Withdrawn,
            Self::Transferred => pb::AssignmentState::Transferred,
        }
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::AssignmentState::try_from(value).ok()? {
            pb::AssignmentState::Pending => Some(Self::Pending),
            pb::AssignmentState::Accepted => Some(Self::Accepted),
            pb::AssignmentState::Replied => Some(Self::Replied),
            pb::AssignmentState::Returned => Some(Self::Returned),
            pb::AssignmentState::HandedOver => Some(Self::HandedOver),
            pb::AssignmentState::Refused => Some(Self::Refused),
            pb::AssignmentState::Forwarded => Some(Self::Forwarded),
            pb::AssignmentState::Reviewing => Some(Self::Reviewing),
            pb::AssignmentState::Reviewed => Some(Self::Reviewed),
            pb::AssignmentState::Withdrawn => Some(Self::Withdrawn),
            pb::AssignmentState::Transferred => Some(Self::Transferred),
            pb::AssignmentState::Unspecified => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AssignmentState::*;
    use super::*;
    use yimen_platform::validate::{optional_text, required_text};

    fn refused(state: AssignmentState, t: Transition) -> String {
        match state.apply(t) {
            Err(Error::FailedPrecondition(m)) => m,
            other => panic!("{state:?} {t:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn pending_is_accepted() {
        assert_eq!(Pending.apply(Transition::Accept).unwrap(), Accepted);
    }

    #[test]
    fn accepted_is_replied() {
        assert_eq!(Accepted.apply(Transition::Reply).unwrap(), Replied);
    }

    #[test]
    fn pending_and_accepted_can_be_returned() {
        assert_eq!(Pending.apply(Transition::Return).unwrap(), Returned);
        assert_eq!(Accepted.apply(Transition::Return).unwrap(), Returned);
    }

    #[test]
    fn pending_and_accepted_are_handed_over_when_the_department_leaves() {
        assert_eq!(Pending.apply(Transition::HandOver).unwrap(), HandedOver);
        assert_eq!(Accepted.apply(Transition::HandOver).unwrap(), HandedOver);
    }

    #[test]
    fn pending_cannot_be_replied_before_acceptance() {
        let m = refused(Pending, Transition::Reply);
        assert!(m.contains("PENDING"), "{m}");
    }

    #[test]
    fn accepted_cannot_be_accepted_again() {
        let m = refused(Accepted, Transition::Accept);
        assert!(m.contains("ACCEPTED"), "{m}");
    }

    #[test]
    fn closed_assignments_refuse_every_transition() {
        for state in [
            Replied,
            Returned,
            HandedOver,
            Refused,
            Forwarded,
            Withdrawn,
            Transferred,
        ] {
            for t in [
                Transition::Accept,
                Transition::Reply,
                Transition::Return,
                Transition::HandOver,
                Transition::Refuse,
                Transition::Forward,
                Transition::Withdraw,
                Transition::Transfer,
            ] {
                let m = refused(state, t);
                assert!(m.contains(state.as_str()), "{m}");
            }
        }
    }

    #[test]
    fn only_a_pending_assignment_is_refused_or_forwarded() {
        assert_eq!(Pending.apply(Transition::Refuse).unwrap(), Refused);
        assert_eq!(Pending.apply(Transition::Forward).unwrap(), Forwarded);
        for t in [Transition::Refuse, Transition::Forward] {
            let m = refused(Accepted, t);
            assert!(m.contains("ACCEPTED"), "{m}");
        }
    }

    #[test]
    fn an_open_assignment_ends_with_a_withdrawal_or_a_transfer() {
        for state in [Pending, Accepted] {
            assert_eq!(state.apply(Transition::Withdraw).unwrap(), Withdrawn);
            assert_eq!(state.apply(Transition::Transfer).unwrap(), Transferred);
        }
        assert!(!Withdrawn.is_open() && !Transferred.is_open());
    }

    #[test]
    fn only_open_assignments_wait_for_a_supplement() {
        for state in AssignmentState::ALL {
            assert_eq!(
                state.allows(Action::RequestSupplement).is_ok(),
                state.is_open(),
                "{state:?}"
            );
        }
    }

    #[test]
    fn only_accepted_assignments_are_referred_or_extended() {
        for action in [Action::Refer, Action::Extend] {
            assert!(Accepted.allows(action).is_ok(), "{action:?}");
            for state in [Pending, Replied, Returned, HandedOver, Refused, Forwarded] {
                match state.allows(action) {
                    Err(Error::FailedPrecondition(m)) => assert!(m.contains(state.as_str()), "{m}"),
                    other => panic!("{state:?} {action:?} should be refused, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn only_open_assignments_are_escalated() {
        for state in AssignmentState::ALL {
            assert_eq!(
                state.allows(Action::Escalate).is_ok(),
                state.is_open(),
                "{state:?}"
            );
        }
    }

    #[test]
    fn optional_text_may_be_empty_but_not_too_long() {
        assert_eq!(optional_text("summary", "  ", 500).unwrap(), "");
        assert_eq!(optional_text("summary", " wages ", 500).unwrap(), "wages");
        assert_eq!(
            optional_text("summary", &"x".repeat(501), 500)
                .unwrap_err()
                .field,
            "summary"
        );
    }

    #[test]
    fn only_pending_and_accepted_are_open() {
        let open: Vec<_> = AssignmentState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .collect();
        assert_eq!(open, [Pending, Accepted]);
    }

    #[test]
    fn state_names_round_trip() {
        for s in AssignmentState::ALL {
            assert_eq!(AssignmentState::parse(s.as_str()), Some(s));
            assert_eq!(AssignmentState::from_proto(s.to_proto() as i32), Some(s));
        }
        assert_eq!(AssignmentState::from_proto(0), None);
    }

    #[test]
    fn empty_reply_is_rejected() {
        assert_eq!(
            required_text("reply", "  ", REPLY_MAX).unwrap_err().field,
            "reply"
        );
    }

    #[test]
    fn reply_over_five_thousand_characters_is_rejected() {
        assert!(required_text("reply", &"答".repeat(REPLY_MAX + 1), REPLY_MAX).is_err());
        assert!(required_text("reply", &"答".repeat(REPLY_MAX), REPLY_MAX).is_ok());
    }

    #[test]
    fn return_reason_over_one_thousand_characters_is_rejected() {
        let e = required_text(
            "reason",
            &"x".repeat(RETURN_REASON_MAX + 1),
            RETURN_REASON_MAX,
        );
        assert_eq!(e.unwrap_err().field, "reason");
    }

    #[test]
    fn only_a_reviewing_assignment_is_decided_and_it_takes_nothing_else() {
        assert_eq!(Reviewing.apply(Transition::DecideReview).unwrap(), Reviewed);
        for state in [Pending, Accepted, Replied, Reviewed] {
            let m = refused(state, Transition::DecideReview);
            assert!(m.contains(state.as_str()), "{m}");
        }
        for t in [
            Transition::Accept,
            Transition::Reply,
            Transition::Return,
            Transition::Refuse,
        ] {
            let m = refused(Reviewing, t);
            assert!(m.contains("REVIEWING"), "{m}");
        }
        assert!(!Reviewing.is_open(), "a review is not the case's handling");
        assert!(Reviewing.allows(Action::RequestSupplement).is_err());
    }
}
