//! The monthly bulletin's notes (月通报): one readable line per noteworthy figure, for the
//! party secretary, the mayor and every sending unit. Departments come in the scorecards'
//! order (by code); attendance closes the list.

use yimen_proto::v1::Scorecard;

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The notes of a bulletin: per department its negative entries, satisfaction, returns and
/// late work; then the month's check-ins.
pub fn notes(scorecards: &[Scorecard], check_ins: u64) -> Vec<String> {
    let mut notes = Vec::new();
    for card in scorecards {
        let code = &card.department;
        if card.negative_entries > 0 {
            notes.push(format!(
                "{code}: {}",
                plural(card.negative_entries, "negative entry", "negative entries")
            ));
        }
        if card.evaluated > 0 {
            notes.push(format!(
                "{code}: satisfaction {:.0}% ({} of {})",
                card.satisfaction_rate * 100.0,
                card.satisfied,
                card.evaluated
            ));
        }
        if card.returned > 0 {
            notes.push(format!(
                "{code}: {} as the wrong department",
                plural(card.returned, "case returned", "cases returned")
            ));
        }
        let late_acceptances = card.accepted.saturating_sub(card.accepted_in_time);
        if late_acceptances > 0 {
            notes.push(format!(
                "{code}: {} after the acceptance deadline",
                plural(late_acceptances, "case accepted", "cases accepted")
            ));
        }
        let late_replies = card.replied.saturating_sub(card.replied_in_time);
        if late_replies > 0 {
            notes.push(format!(
                "{code}: {} after the handling deadline",
                plural(late_replies, "reply", "replies")
            ));
        }
    }
    notes.push(format!(
        "attendance: {}",
        plural(check_ins, "check-in", "check-ins")
    ));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_the_noteworthy_figures_and_attendance() {
        let cards = [
            Scorecard {
                department: "city-center".into(),
                negative_entries: 2,
                ..Default::default()
            },
            Scorecard {
                department: "housing".into(),
                evaluated: 2,
                satisfied: 1,
                satisfaction_rate: 0.5,
                returned: 1,
                accepted: 3,
                accepted_in_time: 2,
                replied: 2,
                replied_in_time: 2,
                ..Default::default()
            },
            Scorecard {
                department: "justice".into(),
                ..Default::default()
            },
        ];
        assert_eq!(
            notes(&cards, 12),
            [
                "city-center: 2 negative entries",
                "housing: satisfaction 50% (1 of 2)",
                "housing: 1 case returned as the wrong department",
                "housing: 1 case accepted after the acceptance deadline",
                "attendance: 12 check-ins",
            ]
        );
    }

    #[test]
    fn a_quiet_month_still_reports_attendance() {
        assert_eq!(notes(&[], 1), ["attendance: 1 check-in"]);
    }
}
