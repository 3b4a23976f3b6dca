//! Recommendations (研判建议): plain rules over the period's figures, each saying what it saw
//! and what the center might do about it. Nothing applies on a quiet period.

use yimen_proto::v1::Category;

use super::labels;

/// A category rises when it has at least this many cases...
pub const RISING_MIN_CASES: u64 = 3;
/// ...and at least half again as many as in the previous period.
pub const RISING_PERCENT: u64 = 50;

/// A category's cases this period and the previous one, and who handled it lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryTrend {
    pub category: Category,
    pub current: u64,
    pub previous: u64,
    /// The department (its name, or code) the category's latest case went to, if any.
    pub handler: Option<String>,
}

impl CategoryTrend {
    pub fn is_rising(&self) -> bool {
        self.current >= RISING_MIN_CASES
            && self.current > self.previous
            && self.current * 100 >= self.previous * (100 + RISING_PERCENT)
    }
}

/// What the rules read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub categories: Vec<CategoryTrend>,
    /// Collective cases not closed, now.
    pub open_collective: u64,
    /// Open cases past a deadline, now.
    pub overdue: u64,
    /// The town with the most cases in the period, and how many.
    pub top_town: Option<(String, u64)>,
}

fn cases(n: u64) -> String {
    if n == 1 {
        "1 case".into()
    } else {
        format!("{n} cases")
    }
}

/// The recommendations that apply, most pressing first.
pub fn recommend(inputs: &Inputs) -> Vec<String> {
    let mut items = Vec::new();
    let mut rising: Vec<&CategoryTrend> =
        inputs.categories.iter().filter(|c| c.is_rising()).collect();
    rising.sort_by_key(|c| (std::cmp::Reverse(c.current - c.previous), c.category));
    for c in rising {
        let who = c.handler.as_deref().unwrap_or("the departments concerned");
        items.push(format!(
            "{} rose from {} to {}: consider a joint visit by {who}",
            labels::category(c.category),
            c.previous,
            c.current
        ));
    }
    if inputs.open_collective > 0 {
        let (what, verb) = if inputs.open_collective == 1 {
            ("1 collective case".to_string(), "is")
        } else {
            (
                format!("{} collective cases", inputs.open_collective),
                "are",
            )
        };
        items.push(format!(
            "{what} {verb} still open: consider a leader taking each in hand (包案)"
        ));
    }
    if inputs.overdue > 0 {
        let verb = if inputs.overdue == 1 { "is" } else { "are" };
        items.push(format!(
            "{} {verb} past the deadline: consider supervising the departments holding them (督办)",
            cases(inputs.overdue)
        ));
    }
    if let Some((town, n)) = &inputs.top_town
        && *n > 0
        && !town.is_empty()
    {
        items.push(format!(
            "{town} had the most cases ({}): consider a visit with the town's \"5+X\" units",
            cases(*n)
        ));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trend(category: Category, previous: u64, current: u64) -> CategoryTrend {
        CategoryTrend {
            category,
            current,
            previous,
            handler: None,
        }
    }

    #[test]
    fn a_quiet_period_has_no_recommendations() {
        assert!(recommend(&Inputs::default()).is_empty());
    }

    #[test]
    fn a_category_rising_by_half_or_more_suggests_a_joint_visit_by_its_handler() {
        let mut labour = trend(Category::LabourWages, 4, 9);
        labour.handler = Some("人社局".into());
        let inputs = Inputs {
            categories: vec![labour, trend(Category::Land, 4, 5)],
            ..Default::default()
        };
        assert_eq!(
            recommend(&inputs),
            ["labour wages rose from 4 to 9: consider a joint visit by 人社局"]
        );
    }

    #[test]
    fn rising_needs_half_again_and_a_few_cases() {
        assert!(trend(Category::Land, 4, 6).is_rising());
        assert!(!trend(Category::Land, 4, 5).is_rising());
        assert!(trend(Category::Land, 0, 3).is_rising());
        assert!(
            !trend(Category::Land, 1, 2).is_rising(),
            "too few to mean anything"
        );
        assert!(!trend(Category::Land, 9, 4).is_rising());
    }

    #[test]
    fn open_collective_cases_overdue_cases_and_the_busiest_town_are_named() {
        let inputs = Inputs {
            categories: vec![trend(Category::Transport, 0, 3)],
            open_collective: 2,
            overdue: 1,
            top_town: Some(("郢中街道".into(), 12)),
        };
        assert_eq!(
            recommend(&inputs),
            [
                "transport rose from 0 to 3: consider a joint visit by the departments concerned",
                "2 collective cases are still open: consider a leader taking each in hand (包案)",
                "1 case is past the deadline: consider supervising the departments holding them (督办)",
                "郢中街道 had the most cases (12 cases): consider a visit with the town's \"5+X\" units",
            ]
        );
    }
}
