//! The same matter again (不再受理): a matter closed for good after its re-review (复核) is not
//! taken again unless new facts are stated. A new submission is the same matter when it shares
//! a petitioner (a keyed hash of an identity number), has the same category, and its subject is
//! similar: the Jaccard index of the two subjects' character bigrams (pairs of neighbouring
//! characters, whitespace and punctuation left out, Latin letters lowercased) is at least
//! `intake.same_matter_similarity` (0.5 by default). Bigrams suit Chinese subjects, which have
//! no spaces between words: "城南小区物业费纠纷" and "城南小区物业费又起纠纷" share most of theirs.

use std::collections::BTreeSet;

use yimen_platform::error::{Error, PreconditionViolation};

use super::TimelineLine;
use super::submission::NEW_FACTS_MAX;

/// The PreconditionFailure type of a refused submission of a matter closed for good.
pub const SAME_MATTER_CLOSED: &str = "SAME_MATTER_CLOSED";

/// A matter closed for good, as intake keeps it to recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedMatter {
    pub case_number: String,
    pub category: i32,
    pub subject: String,
}

/// The character bigrams of `text`: letters and digits only, lowercased; a text of one such
/// character is its own single "bigram".
fn bigrams(text: &str) -> BTreeSet<(char, char)> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    match chars.as_slice() {
        [] => BTreeSet::new(),
        [only] => BTreeSet::from([(*only, *only)]),
        _ => chars.windows(2).map(|w| (w[0], w[1])).collect(),
    }
}

/// The Jaccard index of the two subjects' bigrams, 0.0 to 1.0; 0.0 when either has none.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (bigrams(a), bigrams(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(&b).count();
    let all = a.union(&b).count();
    shared as f64 / all as f64
}

/// The matter among `closed` (already those sharing a petitioner) that a new submission of
/// `category` about `subject` repeats, the most similar first; `None` when it repeats none.
pub fn repeated<'a>(
    closed: &'a [ClosedMatter],
    category: i32,
    subject: &str,
    threshold: f64,
) -> Option<&'a ClosedMatter> {
    closed
        .iter()
        .filter(|m| m.category == category)
        .map(|m| (similarity(&m.subject, subject), m))
        .filter(|(s, _)| *s >= threshold)
        .max_by(|(a, _), (b, _)| a.total_cmp(b))
        .map(|(_, m)| m)
}

/// FAILED_PRECONDITION for a submission repeating `earlier` without new facts, naming the
/// earlier case in the message and as a PreconditionFailure violation.
pub fn refusal(earlier: &ClosedMatter) -> Error {
    let number = &earlier.case_number;
    Error::PreconditionFailure {
        message: format!(
            "the same matter was closed for good after its re-review (复核) as case {number}; \
             it is not taken again (不再受理) unless new facts are stated (new_facts, at most \
             {NEW_FACTS_MAX} characters)"
        ),
        violations: vec![PreconditionViolation {
            kind: SAME_MATTER_CLOSED.into(),
            subject: number.clone(),
            description: "closed for good after its re-review; state new facts to submit it again"
                .into(),
        }],
    }
}

/// The timeline kind of a matter closed for good taken again with new facts.
pub const TAKEN_AGAIN: &str = "case.new_facts";

/// The line saying a submission was taken again for its new facts (the facts themselves stay
/// in the store: they may hold personal data).
pub fn taken_again(earlier_case_number: &str) -> TimelineLine {
    TimelineLine {
        kind: TAKEN_AGAIN.into(),
        summary: format!(
            "new facts stated: the same matter was closed for good as case \
             {earlier_case_number}, and is taken again for them"
        ),
        department: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matter(category: i32, subject: &str) -> ClosedMatter {
        ClosedMatter {
            case_number: format!("YM-2026-{category:06}"),
            category,
            subject: subject.into(),
        }
    }

    #[test]
    fn similar_chinese_subjects_share_most_bigrams() {
        let s = similarity("城南小区物业费纠纷", "城南小区物业费又起纠纷");
        assert!(s >= 0.5, "{s}");
        assert!(similarity("城南小区物业费纠纷", "拖欠农民工工资") < 0.1);
        assert_eq!(similarity("低保被取消", "低保被取消"), 1.0);
        assert_eq!(similarity("", "低保"), 0.0);
    }

    #[test]
    fn case_spaces_and_punctuation_do_not_count() {
        assert_eq!(similarity("Wages of March", "wages-of march!"), 1.0);
    }

    #[test]
    fn the_same_category_and_a_similar_subject_repeat_a_matter() {
        let closed = [
            matter(3, "城南小区物业费纠纷"),
            matter(5, "城南小区物业费纠纷"),
        ];
        let found = repeated(&closed, 5, "城南小区物业费又起纠纷", 0.5).expect("repeated");
        assert_eq!(found.category, 5);
        assert_eq!(repeated(&closed, 7, "城南小区物业费纠纷", 0.5), None);
        assert_eq!(repeated(&closed, 5, "医保报销被扣", 0.5), None);
    }

    #[test]
    fn the_refusal_names_the_earlier_case() {
        match refusal(&matter(5, "x")) {
            Error::PreconditionFailure {
                message,
                violations,
            } => {
                assert!(message.contains("YM-2026-000005"), "{message}");
                assert_eq!(violations[0].kind, SAME_MATTER_CLOSED);
                assert_eq!(violations[0].subject, "YM-2026-000005");
            }
            other => panic!("{other:?}"),
        }
    }
}
