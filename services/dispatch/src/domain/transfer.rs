//! Moving a case between levels (上下贯通): the city takes over a case a town or village
//! department holds (提级), or hands one held at city level down to a town or village
//! department (交办), always with a reason. Which move a target makes, and who may make it.

use yimen_platform::auth::Scope;
use yimen_platform::error::{Error, Violations};
use yimen_platform::validate::{self, required_text};
use yimen_proto::v1::{self as pb, AssignmentCause};

use super::department::{Department, Level};

/// The longest reason for a transfer, in characters.
pub const REASON_MAX: usize = 1000;

/// A checked TransferAssignment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub assignment_id: String,
    pub to_department: String,
    pub reason: String,
}

impl Transfer {
    /// Every broken field at once.
    pub fn parse(request: &pb::TransferAssignmentRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let id = v.check(validate::uuid("assignment_id", &request.assignment_id));
        let to = v.check(validate::department_code(
            "to_department",
            &request.to_department,
        ));
        let reason = v.check(required_text("reason", &request.reason, REASON_MAX));
        v.finish_with(
            id.zip(to)
                .zip(reason)
                .map(|((assignment_id, to_department), reason)| Self {
                    assignment_id,
                    to_department,
                    reason,
                }),
        )
    }
}

/// Only the center moves a case between levels: a supervisor (or an admin). A department,
/// even the one holding the case, may return it but not choose where it goes.
pub fn may_transfer(scope: &Scope) -> Result<(), Error> {
    match scope {
        Scope::Everything => Ok(()),
        _ => Err(Error::denied(
            "only the center (a supervisor) takes a case over or hands it down",
        )),
    }
}

/// The move from a holder at `from` to `to`: up to city level is 提级 (TAKEN_OVER), down from
/// city level is 交办 (HANDED_DOWN). An inactive target, or one at the holder's level or the
/// wrong way (town ↔ village is no move between the city and below), is FAILED_PRECONDITION.
pub fn cause(from: Level, to: &Department) -> Result<AssignmentCause, Error> {
    if !to.active {
        return Err(Error::precondition(format!(
            "department {} has left the center",
            to.code()
        )));
    }
    match (from, to.spec.level) {
        (Level::Town | Level::Village, Level::City) => Ok(AssignmentCause::TakenOver),
        (Level::City, Level::Town | Level::Village) => Ok(AssignmentCause::HandedDown),
        (from, level) => Err(Error::precondition(format!(
            "the case is held at {} level and {} is at {} level: only the city takes over a town or village case (提级) or hands a city case down (交办)",
            from.name(),
            to.code(),
            level.name()
        ))),
    }
}

/// The new assignment's reason, as the timeline and the department read it.
pub fn reason(cause: AssignmentCause, from: &str, reason: &str) -> String {
    match cause {
        AssignmentCause::HandedDown => format!("handed down (交办) from {from}: {reason}"),
        _ => format!("taken over (提级) from {from}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::department::{DepartmentCode, DepartmentSpec};

    fn department(code: &str, level: Level, active: bool) -> Department {
        Department {
            spec: DepartmentSpec {
                code: DepartmentCode::parse(code).unwrap(),
                name: code.into(),
                level,
                town: String::new(),
                village: String::new(),
                categories: vec![],
                review_body: String::new(),
            },
            active,
            joined_at: 0,
        }
    }

    #[test]
    fn the_city_takes_over_from_below_and_hands_down_from_above() {
        let city = department("civil-affairs", Level::City, true);
        let town = department("yingzhong-justice", Level::Town, true);
        let village = department("xinhe-committee", Level::Village, true);
        assert_eq!(
            cause(Level::Town, &city).unwrap(),
            AssignmentCause::TakenOver
        );
        assert_eq!(
            cause(Level::Village, &city).unwrap(),
            AssignmentCause::TakenOver
        );
        assert_eq!(
            cause(Level::City, &town).unwrap(),
            AssignmentCause::HandedDown
        );
        assert_eq!(
            cause(Level::City, &village).unwrap(),
            AssignmentCause::HandedDown
        );
    }

    #[test]
    fn a_move_within_a_level_or_between_town_and_village_is_refused() {
        let city = department("civil-affairs", Level::City, true);
        let village = department("xinhe-committee", Level::Village, true);
        for (from, to) in [(Level::City, &city), (Level::Town, &village)] {
            match cause(from, to) {
                Err(Error::FailedPrecondition(m)) => assert!(m.contains(from.name()), "{m}"),
                other => panic!("{from:?} → {:?}: {other:?}", to.spec.level),
            }
        }
    }

    #[test]
    fn a_department_that_left_takes_nothing() {
        let gone = department("transport", Level::City, false);
        match cause(Level::Town, &gone) {
            Err(Error::FailedPrecondition(m)) => assert!(m.contains("left"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_center_transfers() {
        assert!(may_transfer(&Scope::Everything).is_ok());
        let refused = may_transfer(&Scope::Department("city-center".into())).unwrap_err();
        assert_eq!(
            tonic::Status::from(refused).code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn a_transfer_names_every_broken_field() {
        let e = Transfer::parse(&pb::TransferAssignmentRequest {
            assignment_id: "nope".into(),
            to_department: "Not A Code".into(),
            reason: " ".into(),
        })
        .unwrap_err();
        match e {
            Error::InvalidArgument(v) => {
                let fields: Vec<_> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["assignment_id", "to_department", "reason"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_reason_says_which_move() {
        assert_eq!(
            reason(
                AssignmentCause::TakenOver,
                "yingzhong-justice",
                "涉及多个部门"
            ),
            "taken over (提级) from yingzhong-justice: 涉及多个部门"
        );
        assert!(
            reason(AssignmentCause::HandedDown, "civil-affairs", "x").starts_with("handed down")
        );
    }
}
