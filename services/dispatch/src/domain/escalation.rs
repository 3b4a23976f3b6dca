//! Escalation of a case a department is slow on (跟踪督办): a reminder (催办), then
//! supervision (督办), then a leader taking the case personally (包案). An assignment keeps
//! the highest level it reached.

use yimen_platform::error::FieldViolation;
use yimen_proto::v1::EscalationLevel;

pub const REASON_MAX: usize = 500;
pub const LEADER_MAX: usize = 100;

/// The level an escalation asks for: REMINDER, SUPERVISION or LEADER.
pub fn parse_level(value: i32) -> Result<EscalationLevel, FieldViolation> {
    match EscalationLevel::try_from(value) {
        Ok(level) if level != EscalationLevel::Unspecified => Ok(level),
        _ => Err(FieldViolation::new(
            "level",
            "must be REMINDER, SUPERVISION or LEADER",
        )),
    }
}

/// How far up a level is: none < reminder < supervision < leader.
fn rank(level: EscalationLevel) -> u8 {
    match level {
        EscalationLevel::Unspecified => 0,
        EscalationLevel::Reminder => 1,
        EscalationLevel::Supervision => 2,
        EscalationLevel::Leader => 3,
    }
}

/// The level an assignment holds after `requested`: escalation never goes back down.
pub fn raise(current: EscalationLevel, requested: EscalationLevel) -> EscalationLevel {
    if rank(requested) > rank(current) {
        requested
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EscalationLevel::*;

    #[test]
    fn escalation_climbs_reminder_supervision_leader() {
        assert_eq!(raise(Unspecified, Reminder), Reminder);
        assert_eq!(raise(Reminder, Supervision), Supervision);
        assert_eq!(raise(Supervision, Leader), Leader);
        assert_eq!(raise(Unspecified, Leader), Leader);
    }

    #[test]
    fn escalation_never_goes_back_down() {
        assert_eq!(raise(Leader, Reminder), Leader);
        assert_eq!(raise(Supervision, Reminder), Supervision);
        assert_eq!(raise(Supervision, Supervision), Supervision);
    }

    #[test]
    fn level_is_required() {
        assert_eq!(parse_level(Unspecified as i32).unwrap_err().field, "level");
        assert_eq!(parse_level(99).unwrap_err().field, "level");
        assert_eq!(parse_level(Supervision as i32).unwrap(), Supervision);
    }
}
