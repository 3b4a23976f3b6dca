//! A case's risk (风险研判): a score from 0 to 100 summing the signs that a case may escalate,
//! each named in a readable factor so the score can be checked by hand.

use super::labels::times;

pub const COLLECTIVE: u32 = 30;
pub const REPEAT_PETITIONER: u32 = 25;
pub const NO_OWNER: u32 = 15;
pub const PER_RETURN: u32 = 10;
pub const OVERDUE: u32 = 20;
pub const REOPENED: u32 = 15;
pub const MAX: u32 = 100;

/// The signs read from a case and its alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signs {
    pub collective: bool,
    pub repeat_petitioner: bool,
    pub no_owner: bool,
    pub returns: u64,
    pub overdue: bool,
    pub reopened: u64,
    pub in_mediation: bool,
}

/// The score (capped at 100) and the factors that make it up.
pub fn assess(signs: &Signs) -> (u32, Vec<String>) {
    let mut score: u32 = 0;
    let mut factors = Vec::new();
    let mut add = |points: u32, factor: String| {
        score = score.saturating_add(points);
        factors.push(format!("{factor} (+{points})"));
    };
    if signs.collective {
        add(COLLECTIVE, "collective petition".into());
    }
    if signs.repeat_petitioner {
        add(REPEAT_PETITIONER, "repeat petitioner".into());
    }
    if signs.no_owner {
        add(NO_OWNER, "no department owns the matter".into());
    }
    if signs.returns > 0 {
        let points = u32::try_from(signs.returns)
            .unwrap_or(u32::MAX)
            .saturating_mul(PER_RETURN);
        add(
            points,
            format!("returned by departments {}", times(signs.returns)),
        );
    }
    if signs.overdue {
        add(OVERDUE, "past its deadline".into());
    }
    if signs.reopened > 0 {
        add(
            REOPENED,
            format!(
                "reopened {} after an unsatisfying reply",
                times(signs.reopened)
            ),
        );
    }
    if signs.in_mediation {
        add(0, "in mediation".into());
    }
    (score.min(MAX), factors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_case_scores_zero_with_no_factors() {
        assert_eq!(assess(&Signs::default()), (0, vec![]));
    }

    #[test]
    fn each_sign_adds_its_points_and_says_so() {
        let signs = Signs {
            collective: true,
            returns: 2,
            in_mediation: true,
            ..Default::default()
        };
        let (score, factors) = assess(&signs);
        assert_eq!(score, 30 + 2 * 10);
        assert_eq!(
            factors,
            [
                "collective petition (+30)",
                "returned by departments 2 times (+20)",
                "in mediation (+0)",
            ]
        );
    }

    #[test]
    fn the_score_is_capped_at_one_hundred() {
        let signs = Signs {
            collective: true,
            repeat_petitioner: true,
            no_owner: true,
            returns: 3,
            overdue: true,
            reopened: 1,
            in_mediation: false,
        };
        let (score, factors) = assess(&signs);
        assert_eq!(score, 100);
        assert_eq!(factors.len(), 6);
        assert_eq!(
            factors[5],
            "reopened 1 time after an unsatisfying reply (+15)"
        );
    }
}
