//! The alert rules (预警): which facts of a case call for the center's attention, and how the
//! alert says so. Facts name categories, places, amounts and case numbers; never a petitioner,
//! an identity number or its keyed hash.

use yimen_platform::time::DAY_MILLIS;
use yimen_proto::v1::{AlertKind, Category};

use super::holding::Deadline;
use super::labels;

/// An alert a rule calls for, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDraft {
    pub kind: AlertKind,
    pub facts: Vec<String>,
}

/// What the alert rules read of a registered case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration<'a> {
    pub headcount: u32,
    pub category: Category,
    pub town: &'a str,
    pub village: &'a str,
    pub amount_fen: i64,
}

/// 集体访: `threshold` or more people came together with a common matter.
pub fn collective(case: &Registration<'_>, threshold: u32) -> Option<AlertDraft> {
    if case.headcount < threshold {
        return None;
    }
    let mut facts = vec![
        format!(
            "{} petitioners came together (collective petition: {threshold} or more)",
            case.headcount
        ),
        format!("category: {}", labels::category(case.category)),
    ];
    if !case.town.is_empty() {
        facts.push(format!("town: {}", case.town));
    }
    if !case.village.is_empty() {
        facts.push(format!("village: {}", case.village));
    }
    if case.amount_fen > 0 {
        facts.push(format!(
            "amount claimed: {}",
            yimen_platform::money::yuan(case.amount_fen)
        ));
    }
    Some(AlertDraft {
        kind: AlertKind::Collective,
        facts,
    })
}

/// Another case that shares a petitioner key and the category with the case being judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    /// The shared keyed hash; used only to count, never shown.
    pub key: String,
    pub case_id: String,
    pub case_number: String,
    pub registered_at: i64,
}

impl KeyMatch {
    /// Whether the matched case came before the case registered at `at` with id `case_id`
    /// (the id breaks ties, so of two cases exactly one is the earlier).
    pub fn is_before(&self, at: i64, case_id: &str) -> bool {
        (self.registered_at, self.case_id.as_str()) < (at, case_id)
    }
}

/// 重复访: a petitioner of this case brought earlier cases of the same category. `earlier` are
/// the matches that came before it. Says which case of that petitioner this is (counting by the
/// petitioner with the most) and lists the earlier case numbers.
pub fn repeat_petitioner(category: Category, earlier: &[KeyMatch]) -> Option<AlertDraft> {
    if earlier.is_empty() {
        return None;
    }
    let mut per_key = std::collections::BTreeMap::<&str, std::collections::BTreeSet<&str>>::new();
    for m in earlier {
        per_key.entry(&m.key).or_default().insert(&m.case_id);
    }
    let most = per_key.values().map(|cases| cases.len()).max().unwrap_or(0) as u64;
    let mut numbers: Vec<(i64, &str)> = earlier
        .iter()
        .map(|m| (m.registered_at, m.case_number.as_str()))
        .collect();
    numbers.sort();
    let mut listed: Vec<&str> = Vec::new();
    for (_, number) in numbers {
        let number = if number.is_empty() {
            "(number unknown)"
        } else {
            number
        };
        if !listed.contains(&number) {
            listed.push(number);
        }
    }
    Some(AlertDraft {
        kind: AlertKind::RepeatPetitioner,
        facts: vec![
            format!(
                "the same petitioner's {} case on {}",
                labels::ordinal(most + 1),
                labels::category(category)
            ),
            format!("earlier cases: {}", listed.join(", ")),
        ],
    })
}

/// 无主: no department owns the category, so the city center (the terminus) took the case.
pub fn no_owner(category: Category, department: &str) -> AlertDraft {
    AlertDraft {
        kind: AlertKind::NoOwner,
        facts: vec![
            format!(
                "no department owns {}; the city center took it",
                labels::category(category)
            ),
            format!("department: {department}"),
        ],
    }
}

/// 逾期: the department holding the case let its running deadline pass (`now` is after it).
/// Says who, which deadline and its China date, and by how many whole days.
pub fn overdue(department: &str, deadline: Deadline, now: i64) -> AlertDraft {
    let (done, which) = match deadline {
        Deadline::Acceptance(_) => ("accepted", "acceptance"),
        Deadline::Handling(_) => ("replied", "handling"),
    };
    let by = if department.is_empty() {
        String::new()
    } else {
        format!(" by {department}")
    };
    let days = u64::try_from(now.saturating_sub(deadline.at()) / DAY_MILLIS).unwrap_or(0);
    let late = if days == 0 {
        "less than a day overdue".to_string()
    } else {
        format!("{} overdue", labels::days(days))
    };
    AlertDraft {
        kind: AlertKind::Overdue,
        facts: vec![
            format!(
                "not {done}{by} within the {which} deadline ({})",
                yimen_platform::calendar::date(deadline.at())
            ),
            late,
        ],
    }
}

/// 问题件: the departments returned the case again and again; dispatch put `department`, its
/// holder now, under supervision (督办), saying why (`reason`: how often and by whom).
pub fn problem_case(department: &str, reason: &str) -> AlertDraft {
    let mut facts = vec![format!(
        "problem case: returned again and again, now under supervision (督办) with {department}"
    )];
    if !reason.trim().is_empty() {
        facts.push(reason.trim().to_string());
    }
    AlertDraft {
        kind: AlertKind::ProblemCase,
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expo_merchants(headcount: u32) -> Registration<'static> {
        Registration {
            headcount,
            category: Category::CivilCommercial,
            town: "郢中街道",
            village: "",
            amount_fen: 30_000_000,
        }
    }

    fn matched(key: &str, case: &str, at: i64) -> KeyMatch {
        KeyMatch {
            key: key.into(),
            case_id: format!("id-{case}"),
            case_number: format!("YM-2026-{case}"),
            registered_at: at,
        }
    }

    #[test]
    fn five_or_more_petitioners_are_a_collective_petition_with_its_facts() {
        let alert = collective(&expo_merchants(19), 5).expect("collective");
        assert_eq!(alert.kind, AlertKind::Collective);
        assert_eq!(
            alert.facts,
            [
                "19 petitioners came together (collective petition: 5 or more)",
                "category: civil and commercial",
                "town: 郢中街道",
                "amount claimed: 300,000.00 yuan",
            ]
        );
        assert!(collective(&expo_merchants(5), 5).is_some());
        assert_eq!(collective(&expo_merchants(4), 5), None);
    }

    #[test]
    fn collective_facts_leave_out_what_is_unknown() {
        let case = Registration {
            village: "",
            town: "",
            amount_fen: 0,
            ..expo_merchants(6)
        };
        assert_eq!(collective(&case, 5).unwrap().facts.len(), 2);
    }

    #[test]
    fn repeat_petitioner_counts_the_petitioners_cases_and_lists_earlier_numbers() {
        let earlier = [matched("k1", "000003", 30), matched("k1", "000001", 10)];
        let alert = repeat_petitioner(Category::LabourWages, &earlier).expect("repeat");
        assert_eq!(alert.kind, AlertKind::RepeatPetitioner);
        assert_eq!(
            alert.facts,
            [
                "the same petitioner's 3rd case on labour wages",
                "earlier cases: YM-2026-000001, YM-2026-000003",
            ]
        );
        assert_eq!(repeat_petitioner(Category::LabourWages, &[]), None);
    }

    #[test]
    fn two_petitioners_matching_the_same_earlier_case_make_one_alert_listing_it_once() {
        let earlier = [matched("k1", "000001", 10), matched("k2", "000001", 10)];
        let alert = repeat_petitioner(Category::Land, &earlier).unwrap();
        assert_eq!(alert.facts[0], "the same petitioner's 2nd case on land");
        assert_eq!(alert.facts[1], "earlier cases: YM-2026-000001");
    }

    #[test]
    fn repeat_facts_never_carry_the_key() {
        let secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let alert = repeat_petitioner(Category::Land, &[matched(secret, "000001", 1)]).unwrap();
        assert!(alert.facts.iter().all(|f| !f.contains(secret)));
    }

    #[test]
    fn earlier_is_by_registration_time_then_id() {
        let m = matched("k", "000002", 100);
        assert!(m.is_before(101, "id-000001"));
        assert!(!m.is_before(99, "id-000009"));
        assert!(m.is_before(100, "id-000003"));
        assert!(!m.is_before(100, "id-000001"));
    }

    #[test]
    fn no_owner_names_the_category_and_the_department_that_took_it() {
        let alert = no_owner(Category::MarriageFamily, "city-center");
        assert_eq!(alert.kind, AlertKind::NoOwner);
        assert_eq!(
            alert.facts,
            [
                "no department owns marriage and family; the city center took it",
                "department: city-center",
            ]
        );
    }

    // 2026-12-12T12:00:00+08:00.
    const NOON_12_DECEMBER: i64 = 1_797_048_000_000;

    #[test]
    fn overdue_acceptance_names_the_department_the_date_and_the_days() {
        let now = NOON_12_DECEMBER + 3 * DAY_MILLIS + 1;
        let alert = overdue("civil-affairs", Deadline::Acceptance(NOON_12_DECEMBER), now);
        assert_eq!(alert.kind, AlertKind::Overdue);
        assert_eq!(
            alert.facts,
            [
                "not accepted by civil-affairs within the acceptance deadline (2026-12-12)",
                "3 days overdue",
            ]
        );
    }

    #[test]
    fn overdue_handling_says_not_replied() {
        let now = NOON_12_DECEMBER + DAY_MILLIS;
        let alert = overdue("housing", Deadline::Handling(NOON_12_DECEMBER), now);
        assert_eq!(
            alert.facts,
            [
                "not replied by housing within the handling deadline (2026-12-12)",
                "1 day overdue",
            ]
        );
    }

    #[test]
    fn overdue_by_hours_or_with_no_known_department_still_reads_well() {
        let now = NOON_12_DECEMBER + DAY_MILLIS / 2;
        let alert = overdue("", Deadline::Acceptance(NOON_12_DECEMBER), now);
        assert_eq!(
            alert.facts,
            [
                "not accepted within the acceptance deadline (2026-12-12)",
                "less than a day overdue",
            ]
        );
    }

    #[test]
    fn a_problem_case_names_its_holder_and_why() {
        let alert = problem_case(
            "city-center",
            "problem case (问题件): returned 3 times, by bank, tax, medical-insurance; under supervision (督办)",
        );
        assert_eq!(alert.kind, AlertKind::ProblemCase);
        assert_eq!(
            alert.facts,
            [
                "problem case: returned again and again, now under supervision (督办) with city-center",
                "problem case (问题件): returned 3 times, by bank, tax, medical-insurance; under supervision (督办)",
            ]
        );
        assert_eq!(problem_case("tax", " ").facts.len(), 1);
    }
}
