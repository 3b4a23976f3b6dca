//! The life of a mediation file: it opens, holds sessions, and concludes with an agreement
//! (调解成功), a failure or a withdrawal; an agreement may then be sent to the court for
//! confirmation (司法确认), which makes it enforceable.
//!
//! ```text
//! OPEN ──outcome──▶ AGREED ──request──▶ AGREED (requested) ──confirmed──▶ COURT_CONFIRMED
//!   │                  ▲                         │
//!   │                  └────────not confirmed────┘
//!   └──outcome──▶ FAILED | WITHDRAWN
//! ```

use yimen_platform::error::Error;
use yimen_proto::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediationState {
    Open,
    Agreed,
    Failed,
    Withdrawn,
    CourtConfirmed,
}

/// How an OPEN file may conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Agreed,
    Failed,
    Withdrawn,
}

/// Where a file stands: its state and whether a court confirmation is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub state: MediationState,
    /// An AGREED file sent to the court, awaiting its decision.
    pub court_requested: bool,
}

/// What may happen to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A session is scheduled (the file stays as it is).
    Schedule,
    Conclude(Outcome),
    RequestCourtConfirmation,
    CourtDecision {
        confirmed: bool,
    },
    /// A mediator is credited for the file (以案定补; the file stays as it is).
    CreditPerformance,
}

impl Standing {
    pub const OPENED: Standing = Standing {
        state: MediationState::Open,
        court_requested: false,
    };

    /// Where the file stands after `transition`, or FAILED_PRECONDITION saying why not.
    pub fn apply(self, transition: Transition) -> Result<Standing, Error> {
        use MediationState::*;
        let refuse = |why: &str| {
            Err(Error::precondition(format!(
                "the mediation is {}{}: {why}",
                self.state.as_str(),
                if self.court_requested {
                    " awaiting the court"
                } else {
                    ""
                }
            )))
        };
        match (self.state, transition) {
            (Open, Transition::Schedule) => Ok(self),
            (_, Transition::Schedule) => refuse("sessions are scheduled only while it is OPEN"),

            (Open, Transition::Conclude(outcome)) => Ok(Standing {
                state: outcome.state(),
                court_requested: false,
            }),
            (_, Transition::Conclude(_)) => refuse("only an OPEN mediation takes an outcome"),

            (Agreed, Transition::RequestCourtConfirmation) if !self.court_requested => {
                Ok(Standing {
                    state: Agreed,
                    court_requested: true,
                })
            }
            (Agreed, Transition::RequestCourtConfirmation) => {
                refuse("court confirmation was already requested")
            }
            (_, Transition::RequestCourtConfirmation) => {
                refuse("only an AGREED mediation can be sent for court confirmation")
            }

            (Agreed, Transition::CourtDecision { confirmed }) if self.court_requested => {
                Ok(Standing {
                    state: if confirmed { CourtConfirmed } else { Agreed },
                    court_requested: false,
                })
            }
            (_, Transition::CourtDecision { .. }) => {
                refuse("the court decides only after court confirmation was requested")
            }

            (Agreed | CourtConfirmed, Transition::CreditPerformance) => Ok(self),
            (_, Transition::CreditPerformance) => {
                refuse("mediators are credited only for an AGREED or COURT_CONFIRMED mediation")
            }
        }
    }
}

impl Outcome {
    pub fn state(self) -> MediationState {
        match self {
            Self::Agreed => MediationState::Agreed,
            Self::Failed => MediationState::Failed,
            Self::Withdrawn => MediationState::Withdrawn,
        }
    }

    /// AGREED, FAILED or WITHDRAWN; `None` for any other value.
    pub fn from_proto(value: i32) -> Option<Self> {
        match MediationState::from_proto(value)? {
            MediationState::Agreed => Some(Self::Agreed),
            MediationState::Failed => Some(Self::Failed),
            MediationState::Withdrawn => Some(Self::Withdrawn),
            MediationState::Open | MediationState::CourtConfirmed => None,
        }
    }
}

impl MediationState {
    pub const ALL: [MediationState; 5] = [
        Self::Open,
        Self::Agreed,
        Self::Failed,
        Self::Withdrawn,
        Self::CourtConfirmed,
    ];

    /// The name in the store and in messages: the proto name without its prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Agreed => "AGREED",
            Self::Failed => "FAILED",
            Self::Withdrawn => "WITHDRAWN",
            Self::CourtConfirmed => "COURT_CONFIRMED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the file ended in an agreement (and so carries one).
    pub fn is_agreed(self) -> bool {
        matches!(self, Self::Agreed | Self::CourtConfirmed)
    }

    pub fn to_proto(self) -> pb::MediationState {
        match self {
            Self::Open => pb::MediationState::Open,
            Self::Agreed => pb::MediationState::Agreed,
            Self::Failed => pb::MediationState::Failed,
            Self::Withdrawn => pb::MediationState::Withdrawn,
            Self::CourtConfirmed => pb::MediationState::CourtConfirmed,
        }
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::MediationState::try_from(value).ok()? {
            pb::MediationState::Open => Some(Self::Open),
            pb::MediationState::Agreed => Some(Self::Agreed),
            pb::MediationState::Failed => Some(Self::Failed),
            pb::MediationState::Withdrawn => Some(Self::Withdrawn),
            pb::MediationState::CourtConfirmed => Some(Self::CourtConfirmed),
            pb::MediationState::Unspecified => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MediationState::*;
    use super::*;

    fn at(state: MediationState) -> Standing {
        Standing {
            state,
            court_requested: false,
        }
    }

    fn requested() -> Standing {
        Standing {
            state: Agreed,
            court_requested: true,
        }
    }

    fn refused(standing: Standing, t: Transition) -> String {
        match standing.apply(t) {
            Err(Error::FailedPrecondition(m)) => m,
            other => panic!("{standing:?} {t:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn open_concludes_with_each_outcome() {
        for (outcome, state) in [
            (Outcome::Agreed, Agreed),
            (Outcome::Failed, Failed),
            (Outcome::Withdrawn, Withdrawn),
        ] {
            assert_eq!(
                Standing::OPENED
                    .apply(Transition::Conclude(outcome))
                    .unwrap(),
                at(state)
            );
        }
    }

    #[test]
    fn concluded_files_take_no_second_outcome() {
        for standing in [
            at(Agreed),
            at(Failed),
            at(Withdrawn),
            at(CourtConfirmed),
            requested(),
        ] {
            let m = refused(standing, Transition::Conclude(Outcome::Failed));
            assert!(m.contains(standing.state.as_str()), "{m}");
            assert!(m.contains("only an OPEN mediation"), "{m}");
        }
    }

    #[test]
    fn sessions_are_scheduled_only_while_open() {
        assert_eq!(
            Standing::OPENED.apply(Transition::Schedule).unwrap(),
            Standing::OPENED
        );
        for state in [Agreed, Failed, Withdrawn, CourtConfirmed] {
            refused(at(state), Transition::Schedule);
        }
    }

    #[test]
    fn agreed_file_is_sent_to_court_once() {
        assert_eq!(
            at(Agreed)
                .apply(Transition::RequestCourtConfirmation)
                .unwrap(),
            requested()
        );
        let m = refused(requested(), Transition::RequestCourtConfirmation);
        assert!(m.contains("already requested"), "{m}");
    }

    #[test]
    fn only_agreed_files_are_sent_to_court() {
        for state in [Open, Failed, Withdrawn, CourtConfirmed] {
            let m = refused(at(state), Transition::RequestCourtConfirmation);
            assert!(m.contains("only an AGREED mediation"), "{m}");
        }
    }

    #[test]
    fn court_confirmation_makes_the_agreement_court_confirmed() {
        let decided = requested()
            .apply(Transition::CourtDecision { confirmed: true })
            .unwrap();
        assert_eq!(decided, at(CourtConfirmed));
    }

    #[test]
    fn court_refusal_leaves_the_file_agreed_and_clears_the_request() {
        let decided = requested()
            .apply(Transition::CourtDecision { confirmed: false })
            .unwrap();
        assert_eq!(decided, at(Agreed));
    }

    #[test]
    fn court_decides_only_after_a_request() {
        for standing in [Standing::OPENED, at(Agreed), at(Failed), at(CourtConfirmed)] {
            for confirmed in [true, false] {
                let m = refused(standing, Transition::CourtDecision { confirmed });
                assert!(m.contains("after court confirmation was requested"), "{m}");
            }
        }
    }

    #[test]
    fn performance_is_credited_only_for_agreements() {
        for standing in [at(Agreed), requested(), at(CourtConfirmed)] {
            assert_eq!(
                standing.apply(Transition::CreditPerformance).unwrap(),
                standing
            );
        }
        for state in [Open, Failed, Withdrawn] {
            refused(at(state), Transition::CreditPerformance);
        }
    }

    #[test]
    fn only_agreed_and_withdrawn_and_failed_are_outcomes() {
        assert_eq!(
            Outcome::from_proto(pb::MediationState::Agreed as i32),
            Some(Outcome::Agreed)
        );
        assert_eq!(
            Outcome::from_proto(pb::MediationState::Failed as i32),
            Some(Outcome::Failed)
        );
        assert_eq!(
            Outcome::from_proto(pb::MediationState::Withdrawn as i32),
            Some(Outcome::Withdrawn)
        );
        for value in [0, 1, 5, 99] {
            assert_eq!(Outcome::from_proto(value), None, "{value}");
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in MediationState::ALL {
            assert_eq!(MediationState::parse(s.as_str()), Some(s));
            assert_eq!(MediationState::from_proto(s.to_proto() as i32), Some(s));
        }
        assert_eq!(MediationState::from_proto(0), None);
    }
}
