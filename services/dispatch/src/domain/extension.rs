//! The one extension of the handling deadline (信访工作条例: extendable once, by at most 30
//! days, with approval): the department requests it, the center grants or refuses it.

use yimen_platform::error::{Error, FieldViolation};
use yimen_platform::time::DAY_MILLIS;
use yimen_platform::validate;
use yimen_proto::v1 as pb;

/// The longest extension, in days.
pub const MAX_DAYS: u32 = 30;
pub const REASON_MAX: usize = 500;

/// Where the assignment's one extension stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    /// None requested yet.
    None,
    Requested,
    Granted,
    Refused,
}

impl Extension {
    pub const ALL: [Extension; 4] = [Self::None, Self::Requested, Self::Granted, Self::Refused];

    /// A request: allowed only while none was ever made, granted or refused.
    pub fn request(self) -> Result<Self, Error> {
        match self {
            Self::None => Ok(Self::Requested),
            done => Err(Error::precondition(format!(
                "the one extension of this assignment was already {}",
                done.as_str().to_ascii_lowercase()
            ))),
        }
    }

    /// The center's decision on a pending request.
    pub fn decide(self, approved: bool) -> Result<Self, Error> {
        match (self, approved) {
            (Self::Requested, true) => Ok(Self::Granted),
            (Self::Requested, false) => Ok(Self::Refused),
            (Self::None, _) => Err(Error::precondition(
                "no extension was requested for this assignment",
            )),
            (done, _) => Err(Error::precondition(format!(
                "the extension of this assignment was already {}",
                done.as_str().to_ascii_lowercase()
            ))),
        }
    }

    /// The name in the store: empty for none, else the proto name without its prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Requested => "REQUESTED",
            Self::Granted => "GRANTED",
            Self::Refused => "REFUSED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    pub fn to_proto(self) -> pb::ExtensionState {
        match self {
            Self::None => pb::ExtensionState::Unspecified,
            Self::Requested => pb::ExtensionState::Requested,
            Self::Granted => pb::ExtensionState::Granted,
            Self::Refused => pb::ExtensionState::Refused,
        }
    }
}

/// The days of a request: 1 to 30.
pub fn check_days(days: u32) -> Result<u32, FieldViolation> {
    validate::within("days", days, 1..=MAX_DAYS)
}

/// The handling deadline moved by a granted extension.
pub fn extended(handle_by: i64, days: u32) -> i64 {
    handle_by + i64::from(days) * DAY_MILLIS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_must_be_one_to_thirty() {
        assert!(check_days(0).is_err());
        assert_eq!(check_days(1).unwrap(), 1);
        assert_eq!(check_days(30).unwrap(), 30);
        assert_eq!(check_days(31).unwrap_err().field, "days");
    }

    #[test]
    fn only_one_extension_may_ever_be_requested() {
        assert_eq!(Extension::None.request().unwrap(), Extension::Requested);
        for done in [Extension::Requested, Extension::Granted, Extension::Refused] {
            match done.request() {
                Err(Error::FailedPrecondition(m)) => {
                    assert!(m.contains(&done.as_str().to_ascii_lowercase()), "{m}")
                }
                other => panic!("{done:?} should refuse a second request, got {other:?}"),
            }
        }
    }

    #[test]
    fn only_a_requested_extension_is_decided() {
        assert_eq!(
            Extension::Requested.decide(true).unwrap(),
            Extension::Granted
        );
        assert_eq!(
            Extension::Requested.decide(false).unwrap(),
            Extension::Refused
        );
        for state in [Extension::None, Extension::Granted, Extension::Refused] {
            assert!(
                matches!(state.decide(true), Err(Error::FailedPrecondition(_))),
                "{state:?}"
            );
        }
    }

    #[test]
    fn granted_days_move_the_handling_deadline() {
        assert_eq!(extended(1_000, 30), 1_000 + 30 * DAY_MILLIS);
    }

    #[test]
    fn extension_names_round_trip() {
        for e in Extension::ALL {
            assert_eq!(Extension::parse(e.as_str()), Some(e));
        }
        assert_eq!(Extension::parse("MAYBE"), None);
        assert_eq!(Extension::None.to_proto(), pb::ExtensionState::Unspecified);
    }
}
