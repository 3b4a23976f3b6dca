//! A department's figures for a period. Each figure counts events whose own time falls in the
//! period: an assignment made in February and accepted in March counts as assigned in February
//! and accepted in March.

use yimen_proto::v1::{self as pb, Satisfaction};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Assignments the department received.
    pub assigned: u64,
    pub accepted: u64,
    /// Accepted by the acceptance deadline.
    pub accepted_in_time: u64,
    pub replied: u64,
    /// Replied by the handling deadline, granted extensions included (dispatch decides).
    pub replied_in_time: u64,
    /// Given back as the wrong department.
    pub returned: u64,
    /// Replies the petitioner evaluated.
    pub evaluated: u64,
    /// Evaluated satisfied or basically satisfied.
    pub satisfied: u64,
    pub negative_entries: u64,
    /// Assignments that let a deadline pass (case.overdue), each once.
    pub overdue: u64,
}

impl Figures {
    /// satisfied / evaluated; 0 when nothing was evaluated.
    pub fn satisfaction_rate(&self) -> f64 {
        if self.evaluated == 0 {
            0.0
        } else {
            self.satisfied as f64 / self.evaluated as f64
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn to_proto(&self, department: &str, department_name: &str) -> pb::Scorecard {
        pb::Scorecard {
            department: department.to_string(),
            department_name: department_name.to_string(),
            assigned: self.assigned,
            accepted: self.accepted,
            accepted_in_time: self.accepted_in_time,
            replied: self.replied,
            replied_in_time: self.replied_in_time,
            returned: self.returned,
            evaluated: self.evaluated,
            satisfied: self.satisfied,
            satisfaction_rate: self.satisfaction_rate(),
            negative_entries: self.negative_entries,
            // An evaluation closes the case or reopens it (intake's rule), so these follow.
            closed: self.satisfied,
            reopened: self.evaluated.saturating_sub(self.satisfied),
            overdue: self.overdue,
        }
    }
}

/// Whether an evaluation counts as satisfied: satisfied or basically satisfied.
pub fn is_satisfied(satisfaction: Satisfaction) -> bool {
    matches!(
        satisfaction,
        Satisfaction::Satisfied | Satisfaction::BasicallySatisfied
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfaction_rate_is_satisfied_over_evaluated() {
        let figures = Figures {
            evaluated: 4,
            satisfied: 3,
            ..Figures::default()
        };
        assert_eq!(figures.satisfaction_rate(), 0.75);
        let card = figures.to_proto("housing", "住建局");
        assert_eq!((card.closed, card.reopened), (3, 1));
        assert_eq!(
            figures.to_proto("housing", "住建局").satisfaction_rate,
            0.75
        );
    }

    #[test]
    fn satisfaction_rate_is_zero_when_nothing_was_evaluated() {
        assert_eq!(Figures::default().satisfaction_rate(), 0.0);
    }

    #[test]
    fn basically_satisfied_counts_as_satisfied() {
        assert!(is_satisfied(Satisfaction::Satisfied));
        assert!(is_satisfied(Satisfaction::BasicallySatisfied));
        assert!(!is_satisfied(Satisfaction::Unsatisfied));
        assert!(!is_satisfied(Satisfaction::Unspecified));
    }

    #[test]
    fn the_proto_carries_every_figure() {
        let figures = Figures {
            assigned: 1,
            accepted: 2,
            accepted_in_time: 3,
            replied: 4,
            replied_in_time: 5,
            returned: 6,
            evaluated: 7,
            satisfied: 7,
            negative_entries: 9,
            overdue: 10,
        };
        let card = figures.to_proto("justice", "司法局");
        assert_eq!(
            (card.department.as_str(), card.department_name.as_str()),
            ("justice", "司法局")
        );
        assert_eq!(
            [
                card.assigned,
                card.accepted,
                card.accepted_in_time,
                card.replied,
                card.replied_in_time,
                card.returned,
                card.evaluated,
                card.satisfied,
                card.negative_entries,
                card.overdue
            ],
            [1, 2, 3, 4, 5, 6, 7, 7, 9, 10]
        );
        assert_eq!(card.satisfaction_rate, 1.0);
    }
}
