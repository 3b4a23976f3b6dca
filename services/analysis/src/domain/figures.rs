//! Figures: a count under a key this period, and its change against the previous period of the
//! same length.

use std::collections::BTreeMap;

/// A count under a key, with its change against the previous period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure<K> {
    pub key: K,
    pub cases: u64,
    pub change: i64,
}

/// `current - previous`, saturating.
pub fn change(current: u64, previous: u64) -> i64 {
    let current = i64::try_from(current).unwrap_or(i64::MAX);
    let previous = i64::try_from(previous).unwrap_or(i64::MAX);
    current.saturating_sub(previous)
}

/// One figure per key counted in either period (a key that fell to zero still shows, with its
/// fall), most cases first, then by key.
pub fn figures<K: Ord + Clone>(
    current: &BTreeMap<K, u64>,
    previous: &BTreeMap<K, u64>,
) -> Vec<Figure<K>> {
    let mut figures: Vec<Figure<K>> = current
        .keys()
        .chain(previous.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|key| {
            let cases = current.get(key).copied().unwrap_or(0);
            let before = previous.get(key).copied().unwrap_or(0);
            Figure {
                key: key.clone(),
                cases,
                change: change(cases, before),
            }
        })
        .collect();
    figures.sort_by(|a, b| b.cases.cmp(&a.cases).then_with(|| a.key.cmp(&b.key)));
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn change_is_the_difference_and_may_be_negative() {
        assert_eq!(change(9, 4), 5);
        assert_eq!(change(2, 7), -5);
        assert_eq!(change(0, 0), 0);
    }

    #[test]
    fn figures_are_sorted_by_cases_then_key_with_changes() {
        let current = counts(&[("洋梓镇", 3), ("郢中街道", 5), ("石牌镇", 3)]);
        let previous = counts(&[("郢中街道", 1), ("石牌镇", 4), ("胡集镇", 2)]);
        let got = figures(&current, &previous);
        let got: Vec<(&str, u64, i64)> = got
            .iter()
            .map(|f| (f.key.as_str(), f.cases, f.change))
            .collect();
        assert_eq!(
            got,
            [
                ("郢中街道", 5, 4),
                ("洋梓镇", 3, 3),
                ("石牌镇", 3, -1),
                // Counted only before: shown with its fall to zero.
                ("胡集镇", 0, -2),
            ]
        );
    }
}
