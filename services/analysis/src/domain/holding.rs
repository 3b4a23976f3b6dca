//! Who holds a case now and which deadline runs, read from what is known of its assignments.
//! Each assignment gathers its events whatever order they arrive in, so the answer is the same
//! for every order of delivery.

/// What is known of one assignment of a case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFacts {
    pub assignment_id: String,
    pub department: String,
    /// The earliest time of any event about it (the assignment's own time once it arrived).
    pub known_at: i64,
    pub accept_by: Option<i64>,
    pub accepted: bool,
    /// The handling deadline: the extended one when extended.
    pub handle_by: Option<i64>,
    pub replied: bool,
    pub returned: bool,
    /// Its clock is stopped: the department waits for a supplement.
    pub paused: bool,
}

/// The case's current holder and the deadline that runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holding {
    pub department: String,
    /// While assigned and not accepted.
    pub accept_by: Option<i64>,
    /// While accepted and not replied.
    pub handle_by: Option<i64>,
    pub replied: bool,
    /// Assignments the departments returned.
    pub returns: u64,
}

/// The holding of a case from all its assignments: the latest assignment holds it.
pub fn holding(assignments: &[AssignmentFacts]) -> Holding {
    let returns = assignments.iter().filter(|a| a.returned).count() as u64;
    let Some(current) = assignments
        .iter()
        .max_by(|a, b| (a.known_at, &a.assignment_id).cmp(&(b.known_at, &b.assignment_id)))
    else {
        return Holding::default();
    };
    // A stopped clock runs no deadline, so a paused case is never overdue.
    let settled = current.returned || current.replied || current.paused;
    let accepted = current.accepted || current.handle_by.is_some();
    Holding {
        department: current.department.clone(),
        accept_by: current.accept_by.filter(|_| !settled && !accepted),
        handle_by: current.handle_by.filter(|_| !settled && accepted),
        replied: current.replied && !current.returned,
        returns,
    }
}

/// A deadline that runs on a case, and when it falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Accept by then (受理期限).
    Acceptance(i64),
    /// Reply by then (办理期限), the extension included.
    Handling(i64),
}

impl Deadline {
    pub fn at(self) -> i64 {
        match self {
            Deadline::Acceptance(at) | Deadline::Handling(at) => at,
        }
    }
}

/// The running deadline (acceptance or handling) that has passed at `now`, if one has: the
/// overdue rule. The store's overdue predicate asks the same of its columns.
pub fn passed_deadline(
    accept_by: Option<i64>,
    handle_by: Option<i64>,
    now: i64,
) -> Option<Deadline> {
    let passed = |at: &i64| *at < now;
    accept_by
        .filter(passed)
        .map(Deadline::Acceptance)
        .or_else(|| handle_by.filter(passed).map(Deadline::Handling))
}

/// Whether a running deadline (acceptance or handling) has passed at `now`.
pub fn is_overdue(accept_by: Option<i64>, handle_by: Option<i64>, now: i64) -> bool {
    passed_deadline(accept_by, handle_by, now).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned(id: &str, department: &str, at: i64) -> AssignmentFacts {
        AssignmentFacts {
            assignment_id: id.into(),
            department: department.into(),
            known_at: at,
            accept_by: Some(at + 15),
            ..Default::default()
        }
    }

    #[test]
    fn assigned_and_not_accepted_runs_the_acceptance_deadline() {
        let h = holding(&[assigned("a1", "civil-affairs", 100)]);
        assert_eq!(h.department, "civil-affairs");
        assert_eq!(
            (h.accept_by, h.handle_by, h.replied),
            (Some(115), None, false)
        );
    }

    #[test]
    fn accepted_runs_the_handling_deadline_and_a_reply_stops_it() {
        let mut a = assigned("a1", "civil-affairs", 100);
        a.accepted = true;
        a.handle_by = Some(160);
        assert_eq!(holding(&[a.clone()]).accept_by, None);
        assert_eq!(holding(&[a.clone()]).handle_by, Some(160));
        a.replied = true;
        let h = holding(&[a]);
        assert_eq!((h.accept_by, h.handle_by, h.replied), (None, None, true));
    }

    #[test]
    fn an_extension_heard_before_the_acceptance_still_counts_as_accepted() {
        let mut a = assigned("a1", "housing", 100);
        a.handle_by = Some(190);
        let h = holding(&[a]);
        assert_eq!((h.accept_by, h.handle_by), (None, Some(190)));
    }

    #[test]
    fn the_latest_assignment_holds_the_case_and_returns_are_counted() {
        let mut first = assigned("a1", "land", 100);
        first.returned = true;
        let second = assigned("a2", "city-center", 200);
        // The order they are listed in does not matter.
        for list in [
            vec![first.clone(), second.clone()],
            vec![second.clone(), first.clone()],
        ] {
            let h = holding(&list);
            assert_eq!(h.department, "city-center");
            assert_eq!((h.accept_by, h.returns), (Some(215), 1));
        }
    }

    #[test]
    fn a_returned_assignment_runs_no_deadline() {
        let mut a = assigned("a1", "land", 100);
        a.returned = true;
        let h = holding(&[a]);
        assert_eq!((h.accept_by, h.handle_by, h.replied), (None, None, false));
    }

    #[test]
    fn overdue_means_a_running_deadline_has_passed() {
        assert!(is_overdue(Some(10), None, 11));
        assert!(is_overdue(None, Some(10), 11));
        assert!(!is_overdue(Some(10), None, 10));
        assert!(!is_overdue(None, None, 11));
    }

    #[test]
    fn the_passed_deadline_says_which_one_ran_out() {
        assert_eq!(
            passed_deadline(Some(10), None, 11),
            Some(Deadline::Acceptance(10))
        );
        assert_eq!(
            passed_deadline(None, Some(10), 11),
            Some(Deadline::Handling(10))
        );
        assert_eq!(
            passed_deadline(Some(10), Some(20), 11).map(Deadline::at),
            Some(10)
        );
        assert_eq!(passed_deadline(Some(12), Some(20), 11), None);
    }

    #[test]
    fn a_stopped_clock_runs_no_deadline() {
        let paused = AssignmentFacts {
            paused: true,
            ..assigned("a1", "housing", 10)
        };
        let h = holding(std::slice::from_ref(&paused));
        assert_eq!((h.department.as_str(), h.accept_by), ("housing", None));
        let accepted = AssignmentFacts {
            accepted: true,
            handle_by: Some(100),
            ..paused
        };
        assert_eq!(holding(&[accepted]).handle_by, None);
    }
}
