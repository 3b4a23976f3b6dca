//! The negative list (负面清单): what counts against the responsible unit. Reasons name only
//! numbers and levels, never a petitioner.
//!
//! - COLLECTIVE (集体访): a case brought by five or more people counts against the department
//!   that currently holds it; when the case moves on (returned, handed over, reassigned) the
//!   entry moves with it (keeping the time it first counted, the case's first assignment), so
//!   a case has one COLLECTIVE entry at any time.
//! - ESCALATED: a case escalated past a reminder (to supervision 督办 or a leader 包案) counts
//!   against the department that held it, once per case and department.

use yimen_platform::time::timestamp;
use yimen_proto::v1::{self as pb, EscalationLevel, NegativeKind};

/// Five or more people with a common matter make a collective petition (信访工作条例).
pub const COLLECTIVE_HEADCOUNT: u32 = 5;

pub fn is_collective(headcount: u32) -> bool {
    headcount >= COLLECTIVE_HEADCOUNT
}

/// Whether an escalation to `level` puts the department on the negative list: a reminder
/// (催办) does not; supervision (督办) and a leader taking the case (包案) do.
pub fn escalation_counts(level: EscalationLevel) -> bool {
    matches!(
        level,
        EscalationLevel::Supervision | EscalationLevel::Leader
    )
}

/// One entry of the negative list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `collective:<case>` or `escalated:<case>:<department>`: writing an entry again with
    /// the same id updates it instead of adding one.
    pub entry_id: String,
    pub department: String,
    pub case_id: String,
    pub kind: NegativeKind,
    /// The escalation's level for an ESCALATED entry, else UNSPECIFIED.
    pub level: EscalationLevel,
    pub at: i64,
    pub reason: String,
}

impl Entry {
    /// The entry as the API answers it, naming its case by `case_number` too.
    pub fn to_proto(&self, case_number: &str) -> pb::NegativeEntry {
        pb::NegativeEntry {
            department: self.department.clone(),
            case_id: self.case_id.clone(),
            kind: self.kind as i32,
            at: Some(timestamp(self.at)),
            reason: self.reason.clone(),
            case_number: case_number.to_string(),
        }
    }
}

/// The COLLECTIVE entry of a case brought by `headcount` people and held by `department`
/// since it first counted at `at`; None when the case is not collective or nobody holds it.
pub fn collective(case_id: &str, headcount: u32, department: &str, at: i64) -> Option<Entry> {
    (is_collective(headcount) && !department.is_empty()).then(|| Entry {
        entry_id: collective_entry_id(case_id),
        department: department.to_string(),
        case_id: case_id.to_string(),
        kind: NegativeKind::Collective,
        level: EscalationLevel::Unspecified,
        at,
        reason: collective_reason(headcount),
    })
}

/// The ESCALATED entry of an escalation of the case held by `department` to `level`; None for
/// a reminder.
pub fn escalated(
    case_id: &str,
    department: &str,
    level: EscalationLevel,
    at: i64,
) -> Option<Entry> {
    escalation_counts(level).then(|| Entry {
        entry_id: escalated_entry_id(case_id, department),
        department: department.to_string(),
        case_id: case_id.to_string(),
        kind: NegativeKind::Escalated,
        level,
        at,
        reason: escalated_reason(level).to_string(),
    })
}

/// The key of a case's one COLLECTIVE entry.
pub fn collective_entry_id(case_id: &str) -> String {
    format!("collective:{case_id}")
}

/// The key of the one ESCALATED entry of a case against a department.
pub fn escalated_entry_id(case_id: &str, department: &str) -> String {
    format!("escalated:{case_id}:{department}")
}

pub fn collective_reason(headcount: u32) -> String {
    format!("collective petition of {headcount} people")
}

pub fn escalated_reason(level: EscalationLevel) -> &'static str {
    match level {
        EscalationLevel::Leader => "escalated to a leader (包案)",
        EscalationLevel::Supervision => "escalated to supervision (督办)",
        EscalationLevel::Reminder => "reminded (催办)",
        EscalationLevel::Unspecified => "escalated",
    }
}

/// The stored kind of an entry.
pub fn kind_code(kind: NegativeKind) -> i64 {
    i64::from(kind as i32)
}

/// A stored kind back as the contract's enum (UNSPECIFIED for a code it does not know).
pub fn kind_from_code(code: i64) -> NegativeKind {
    i32::try_from(code)
        .ok()
        .and_then(|c| NegativeKind::try_from(c).ok())
        .unwrap_or(NegativeKind::Unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_or_more_people_make_a_collective_petition() {
        assert!(!is_collective(0));
        assert!(!is_collective(4));
        assert!(is_collective(5));
        assert!(is_collective(19));
    }

    #[test]
    fn only_supervision_and_leader_escalations_count() {
        assert!(!escalation_counts(EscalationLevel::Unspecified));
        assert!(!escalation_counts(EscalationLevel::Reminder));
        assert!(escalation_counts(EscalationLevel::Supervision));
        assert!(escalation_counts(EscalationLevel::Leader));
    }

    #[test]
    fn reasons_are_readable() {
        assert_eq!(collective_reason(19), "collective petition of 19 people");
        assert_eq!(
            escalated_reason(EscalationLevel::Leader),
            "escalated to a leader (包案)"
        );
        assert_eq!(
            escalated_reason(EscalationLevel::Supervision),
            "escalated to supervision (督办)"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in [NegativeKind::Collective, NegativeKind::Escalated] {
            assert_eq!(kind_from_code(kind_code(kind)), kind);
        }
        assert_eq!(kind_from_code(99), NegativeKind::Unspecified);
    }

    #[test]
    fn a_collective_case_counts_against_its_holder_once_it_has_one() {
        let entry = collective("c1", 19, "city-center", 7).unwrap();
        assert_eq!(entry.entry_id, "collective:c1");
        assert_eq!(entry.department, "city-center");
        assert_eq!(entry.kind, NegativeKind::Collective);
        assert_eq!(entry.reason, "collective petition of 19 people");
        assert_eq!(
            entry.to_proto("YM-2026-000001").kind,
            NegativeKind::Collective as i32
        );
        assert_eq!(collective("c1", 19, "", 7), None);
        assert_eq!(collective("c1", 4, "city-center", 7), None);
    }

    #[test]
    fn a_reminder_makes_no_entry() {
        assert_eq!(
            escalated("c1", "housing", EscalationLevel::Reminder, 7),
            None
        );
        let entry = escalated("c1", "housing", EscalationLevel::Leader, 7).unwrap();
        assert_eq!(entry.kind, NegativeKind::Escalated);
        assert_eq!(entry.reason, "escalated to a leader (包案)");
    }

    #[test]
    fn entry_keys_allow_one_collective_per_case_and_one_escalation_per_department() {
        assert_eq!(collective_entry_id("c1"), "collective:c1");
        assert_ne!(
            escalated_entry_id("c1", "housing"),
            escalated_entry_id("c1", "justice")
        );
    }
}
