//! Mediator subsidies (以案定补): a full-time mediator's living allowance, plus an award per
//! successful (agreed) mediation by the grade the quarterly expert review set, reported per
//! mediator and per committee against the quarter's share of the mediation fund. Amounts are
//! in fen, so no float touches money.

use std::collections::{BTreeMap, BTreeSet};

use yimen_proto::v1::{self as pb, SubsidyGrade};

const YUAN: i64 = 100;

/// The rates the seed gives (configurable): 50–500 yuan per successful mediation by grade,
/// 2,000 yuan a month for a full-time mediator, a fund of 1.5 million yuan a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// By grade, SIMPLE to MAJOR.
    pub award_by_grade_fen: [i64; 5],
    pub stipend_per_month_fen: i64,
    pub fund_per_year_fen: i64,
}

impl Default for Rates {
    fn default() -> Self {
        Self::from_yuan(DEFAULT_AWARDS_YUAN, 2_000, 1_500_000)
    }
}

/// The seed's awards by grade, in yuan: 50 to 500.
pub const DEFAULT_AWARDS_YUAN: [u32; 5] = [50, 100, 200, 350, 500];

impl Rates {
    pub fn from_yuan(awards: [u32; 5], stipend_per_month: u32, fund_per_year: u64) -> Self {
        Self {
            award_by_grade_fen: awards.map(|a| i64::from(a) * YUAN),
            stipend_per_month_fen: i64::from(stipend_per_month) * YUAN,
            fund_per_year_fen: i64::try_from(fund_per_year)
                .unwrap_or(i64::MAX / YUAN)
                .saturating_mul(YUAN),
        }
    }

    /// The award of one graded mediation to each mediator who sat in it.
    pub fn award(&self, grade: SubsidyGrade) -> i64 {
        match grade {
            SubsidyGrade::Unspecified => 0,
            SubsidyGrade::Simple => self.award_by_grade_fen[0],
            SubsidyGrade::Ordinary => self.award_by_grade_fen[1],
            SubsidyGrade::Complex => self.award_by_grade_fen[2],
            SubsidyGrade::Difficult => self.award_by_grade_fen[3],
            SubsidyGrade::Major => self.award_by_grade_fen[4],
        }
    }
}

/// A concluded mediation of the quarter, as assessment heard of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concluded {
    pub mediation_id: String,
    pub committee: String,
    /// Ended in agreement: only those are successful.
    pub agreed: bool,
    pub mediators: Vec<String>,
    /// The review's grade; `None` while ungraded.
    pub grade: Option<SubsidyGrade>,
}

fn money(fen: i64) -> Option<pb::Money> {
    Some(pb::Money { fen })
}

/// The quarter's subsidies: every mediator who sat in a successful mediation or served
/// full-time, by id; every committee with a successful mediation, by code.
pub fn quarter(
    files: &[Concluded],
    full_time: &BTreeSet<String>,
    rates: &Rates,
) -> pb::MediatorSubsidies {
    #[derive(Default)]
    struct Tally {
        successful: u32,
        graded: u32,
        awards: i64,
    }
    let mut mediators: BTreeMap<&str, Tally> = full_time
        .iter()
        .map(|m| (m.as_str(), Tally::default()))
        .collect();
    let mut committees: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut ungraded = 0;
    for file in files.iter().filter(|f| f.agreed) {
        let award = file.grade.map_or(0, |g| rates.award(g));
        let graded = u32::from(file.grade.is_some());
        ungraded += 1 - graded;
        let sitting: BTreeSet<&str> = file.mediators.iter().map(String::as_str).collect();
        let committee = committees.entry(&file.committee).or_default();
        committee.successful += 1;
        committee.graded += graded;
        for mediator in &sitting {
            let tally = mediators.entry(mediator).or_default();
            tally.successful += 1;
            tally.graded += graded;
            tally.awards += award;
            committee.awards += award;
        }
    }
    let stipend = rates.stipend_per_month_fen * 3;
    let subsidies: Vec<pb::MediatorSubsidy> = mediators
        .into_iter()
        .map(|(id, tally)| {
            let full_time = full_time.contains(id);
            let stipend = if full_time { stipend } else { 0 };
            pb::MediatorSubsidy {
                mediator_id: id.to_string(),
                stipend: money(stipend),
                case_awards: money(tally.awards),
                successful: tally.successful,
                graded: tally.graded,
                total: money(stipend + tally.awards),
                full_time,
            }
        })
        .collect();
    let total: i64 = subsidies
        .iter()
        .map(|s| s.total.as_ref().map_or(0, |m| m.fen))
        .sum();
    let fund = rates.fund_per_year_fen / 4;
    pb::MediatorSubsidies {
        subsidies,
        committees: committees
            .into_iter()
            .map(|(code, tally)| pb::CommitteeSubsidy {
                committee: code.to_string(),
                successful: tally.successful,
                graded: tally.graded,
                case_awards: money(tally.awards),
            })
            .collect(),
        fund: money(fund),
        total: money(total),
        remaining: money(fund - total),
        ungraded,
    }
}

/// Why a mediation cannot be graded for a quarter; `None` when it can.
pub fn refuse_grade(agreed: bool, outcome: &str, in_quarter: bool) -> Option<String> {
    if !agreed {
        return Some(format!(
            "the mediation concluded {outcome}: only an agreed mediation is graded"
        ));
    }
    if !in_quarter {
        return Some("the mediation concluded in another quarter".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(
        id: &str,
        committee: &str,
        mediators: &[&str],
        grade: Option<SubsidyGrade>,
    ) -> Concluded {
        Concluded {
            mediation_id: id.into(),
            committee: committee.into(),
            agreed: true,
            mediators: mediators.iter().map(|m| m.to_string()).collect(),
            grade,
        }
    }

    fn fen(m: &Option<pb::Money>) -> i64 {
        m.as_ref().map_or(-1, |m| m.fen)
    }

    #[test]
    fn each_mediator_of_a_graded_success_is_awarded_by_grade_and_full_timers_get_the_stipend() {
        let files = [
            file(
                "m1",
                "civil-commercial",
                &["li", "wang"],
                Some(SubsidyGrade::Major),
            ),
            file(
                "m2",
                "civil-commercial",
                &["li"],
                Some(SubsidyGrade::Simple),
            ),
            file("m3", "labour", &["zhao"], None),
            Concluded {
                agreed: false,
                ..file("m4", "labour", &["zhao"], Some(SubsidyGrade::Major))
            },
        ];
        let full_time: BTreeSet<String> = ["li".to_string(), "sun".to_string()].into();
        let report = quarter(&files, &full_time, &Rates::default());

        let by_id: BTreeMap<&str, &pb::MediatorSubsidy> = report
            .subsidies
            .iter()
            .map(|s| (s.mediator_id.as_str(), s))
            .collect();
        assert_eq!(
            by_id.keys().copied().collect::<Vec<_>>(),
            ["li", "sun", "wang", "zhao"]
        );
        // li: full-time (3 × 2,000 yuan) + 500 + 50 yuan.
        assert_eq!(fen(&by_id["li"].stipend), 600_000);
        assert_eq!(fen(&by_id["li"].case_awards), 55_000);
        assert_eq!(fen(&by_id["li"].total), 655_000);
        assert_eq!((by_id["li"].successful, by_id["li"].graded), (2, 2));
        // sun: full-time, no file.
        assert_eq!(fen(&by_id["sun"].total), 600_000);
        // wang: 500 yuan, no stipend.
        assert_eq!(
            (fen(&by_id["wang"].stipend), fen(&by_id["wang"].total)),
            (0, 50_000)
        );
        // zhao: one success not graded yet (nothing), a failed file (not counted).
        assert_eq!((by_id["zhao"].successful, by_id["zhao"].graded), (1, 0));
        assert_eq!(fen(&by_id["zhao"].total), 0);

        assert_eq!(report.ungraded, 1);
        let committees: Vec<(&str, u32, i64)> = report
            .committees
            .iter()
            .map(|c| (c.committee.as_str(), c.successful, fen(&c.case_awards)))
            .collect();
        assert_eq!(
            committees,
            [("civil-commercial", 2, 105_000), ("labour", 1, 0)]
        );
        // The quarter's share of 1.5 million yuan, less 12,000 + 1,050 yuan paid.
        assert_eq!(fen(&report.fund), 37_500_000);
        assert_eq!(fen(&report.total), 1_305_000);
        assert_eq!(fen(&report.remaining), 37_500_000 - 1_305_000);
    }

    #[test]
    fn grades_pay_fifty_to_five_hundred_yuan_by_default() {
        let rates = Rates::default();
        let grades = [
            SubsidyGrade::Simple,
            SubsidyGrade::Ordinary,
            SubsidyGrade::Complex,
            SubsidyGrade::Difficult,
            SubsidyGrade::Major,
        ];
        assert_eq!(
            grades.map(|g| rates.award(g)),
            [5_000, 10_000, 20_000, 35_000, 50_000]
        );
        assert_eq!(rates.award(SubsidyGrade::Unspecified), 0);
    }

    #[test]
    fn a_fund_spent_past_its_share_shows_a_negative_remainder() {
        let rates = Rates::from_yuan(DEFAULT_AWARDS_YUAN, 2_000, 20_000);
        let full_time: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        let report = quarter(&[], &full_time, &rates);
        assert_eq!(fen(&report.fund), 500_000);
        assert_eq!(fen(&report.remaining), 500_000 - 4 * 600_000);
    }

    #[test]
    fn only_an_agreed_mediation_of_the_quarter_is_graded() {
        assert_eq!(
            refuse_grade(false, "FAILED", true).as_deref(),
            Some("the mediation concluded FAILED: only an agreed mediation is graded")
        );
        assert!(refuse_grade(true, "AGREED", false).is_some());
        assert_eq!(refuse_grade(true, "AGREED", true), None);
    }
}
