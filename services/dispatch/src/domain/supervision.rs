//! Supervision without anyone asking (跟踪督办): a case returned again and again becomes a
//! problem case (问题件) under supervision (督办); a passed acceptance deadline reminds the
//! department (催办) and a passed handling deadline escalates to supervision; and after a
//! systemic fix a supervisor sweeps out the similar cases (全面排查类似问题) to handle them again.

use yimen_platform::auth::Scope;
use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::validate::{self, optional_text};
use yimen_proto::v1::{self as pb, Category, EscalationLevel, OverdueStage};

use super::escalation;

/// The longest town a sweep names.
pub const TOWN_MAX: usize = 100;
/// At most this many words a sweep looks for, each at most [`WORD_MAX`] characters.
pub const WORDS_MAX: usize = 10;
pub const WORD_MAX: usize = 50;
/// The longest reason for a sweep.
pub const REASON_MAX: usize = 500;

/// 问题件: whether a case returned `returns` times is a problem case, with `threshold` the
/// setting (`dispatch.problem_case_returns`, 3 by default; 0 never).
pub fn is_problem_case(returns: u64, threshold: u32) -> bool {
    threshold > 0 && returns >= u64::from(threshold)
}

/// Why a problem case is under supervision, naming the departments that returned it.
pub fn problem_case_reason(returns: u64, returned_by: &[String]) -> String {
    format!(
        "problem case (问题件): returned {returns} times, by {}; under supervision (督办)",
        returned_by.join(", ")
    )
}

/// What passing a deadline at `stage` does to an assignment at `current`: the level it holds
/// after (催办 for acceptance, 督办 for handling; never lower than it was), and whether that is
/// an escalation to announce (`case.escalated`): only supervision is, and only when it raised
/// the level.
pub fn overdue_escalation(
    current: EscalationLevel,
    stage: OverdueStage,
) -> (EscalationLevel, bool) {
    let wanted = match stage {
        OverdueStage::Handling => EscalationLevel::Supervision,
        OverdueStage::Acceptance | OverdueStage::Unspecified => EscalationLevel::Reminder,
    };
    let raised = escalation::raise(current, wanted);
    (raised, stage == OverdueStage::Handling && raised != current)
}

/// Why a stage's escalation happened, for the timeline.
pub fn overdue_reason(stage: OverdueStage, deadline: i64) -> String {
    let date = yimen_platform::calendar::date(deadline);
    match stage {
        OverdueStage::Handling => {
            format!("the handling deadline ({date}) passed without a reply: supervision (督办)")
        }
        _ => format!("the acceptance deadline ({date}) passed: reminder (催办)"),
    }
}

/// Only the center sweeps (a supervisor or an administrator: their scope is everything); a
/// department, a committee or an outside system sees only its own work.
pub fn may_sweep(scope: &Scope) -> Result<(), Error> {
    match scope {
        Scope::Everything => Ok(()),
        _ => Err(Error::denied(
            "only the center's supervisors sweep similar cases (全面排查)",
        )),
    }
}

/// A similar-case sweep, checked: every condition given must hold of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub category: Option<Category>,
    pub town: String,
    pub department: String,
    /// Lowercased, trimmed.
    pub words: Vec<String>,
    pub reason: String,
    pub dry_run: bool,
    /// The case that prompted the sweep (empty: none), never swept itself.
    pub prompted_by: String,
}

fn word(i: usize, raw: &str) -> Result<String, FieldViolation> {
    let field = format!("words[{i}]");
    validate::required_text(&field, raw, WORD_MAX).map(|w| w.to_lowercase())
}

impl Sweep {
    pub fn parse(request: &pb::SweepSimilarCasesRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let category = v.check(validate::known_or_any::<Category>(
            "category",
            request.category,
        ));
        let town = v.check(optional_text("town", &request.town, TOWN_MAX));
        let department = match request.department.trim() {
            "" => Some(String::new()),
            code => v.check(validate::department_code("department", code)),
        };
        if request.words.len() > WORDS_MAX {
            v.add("words", format!("at most {WORDS_MAX} words"));
        }
        let words: Vec<String> = request
            .words
            .iter()
            .enumerate()
            .filter_map(|(i, w)| v.check(word(i, w)))
            .collect();
        if matches!(category, Some(None)) && request.words.is_empty() {
            v.add(
                "words",
                "give a category or at least one word: a sweep never takes every case",
            );
        }
        let reason = if request.dry_run {
            v.check(optional_text("reason", &request.reason, REASON_MAX))
        } else {
            v.check(validate::required_text(
                "reason",
                &request.reason,
                REASON_MAX,
            ))
        };
        let prompted_by = match request.prompted_by.trim() {
            "" => Some(String::new()),
            id => v.check(validate::uuid("prompted_by", id)),
        };
        let parsed = match (category, town, department, reason, prompted_by) {
            (Some(category), Some(town), Some(department), Some(reason), Some(prompted_by)) => {
                Some(Self {
                    category,
                    town,
                    department,
                    words,
                    reason,
                    dry_run: request.dry_run,
                    prompted_by,
                })
            }
            _ => None,
        };
        v.finish_with(parsed)
    }

    /// Whether a case's subject holds every word (case-insensitive): what the store's
    /// [`Sweep::like_patterns`] ask of it.
    pub fn matches_subject(&self, subject: &str) -> bool {
        let subject = subject.to_lowercase();
        self.words.iter().all(|w| subject.contains(w.as_str()))
    }

    /// Each word as a SQL LIKE pattern matching a subject that holds it (`\` escapes `%`,
    /// `_` and itself, so the words are taken literally).
    pub fn like_patterns(&self) -> Vec<String> {
        self.words
            .iter()
            .map(|w| {
                let mut pattern = String::from("%");
                for c in w.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                pattern
            })
            .collect()
    }

    /// The reason a swept case's new assignment gives, for the timeline.
    pub fn assignment_reason(&self) -> String {
        format!("similar-case sweep (全面排查): {}", self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_third_return_makes_a_problem_case() {
        assert!(!is_problem_case(2, 3));
        assert!(is_problem_case(3, 3));
        assert!(is_problem_case(4, 3));
        assert!(!is_problem_case(10, 0), "0 turns the rule off");
    }

    #[test]
    fn only_the_center_sweeps() {
        assert!(may_sweep(&Scope::Everything).is_ok());
        for scope in [
            Scope::Department("tax".into()),
            Scope::Committee("people".into()),
            Scope::Submitter("gov".into()),
        ] {
            assert!(matches!(may_sweep(&scope), Err(Error::PermissionDenied(_))));
        }
    }

    #[test]
    fn the_problem_case_reason_names_who_returned_it() {
        let reason = problem_case_reason(3, &["bank".into(), "tax".into(), "medical".into()]);
        assert_eq!(
            reason,
            "problem case (问题件): returned 3 times, by bank, tax, medical; under supervision (督办)"
        );
    }

    #[test]
    fn a_passed_acceptance_deadline_reminds_and_a_passed_handling_deadline_supervises() {
        use EscalationLevel::*;
        assert_eq!(
            overdue_escalation(Unspecified, OverdueStage::Acceptance),
            (Reminder, false)
        );
        assert_eq!(
            overdue_escalation(Reminder, OverdueStage::Handling),
            (Supervision, true)
        );
        assert_eq!(
            overdue_escalation(Unspecified, OverdueStage::Handling),
            (Supervision, true)
        );
    }

    #[test]
    fn an_overdue_never_lowers_an_escalation_nor_announces_one_it_did_not_raise() {
        use EscalationLevel::*;
        assert_eq!(
            overdue_escalation(Leader, OverdueStage::Handling),
            (Leader, false)
        );
        assert_eq!(
            overdue_escalation(Supervision, OverdueStage::Acceptance),
            (Supervision, false)
        );
    }

    fn request(words: &[&str]) -> pb::SweepSimilarCasesRequest {
        pb::SweepSimilarCasesRequest {
            category: Category::MedicalInsurance as i32,
            town: " 郢中街道 ".into(),
            department: "medical-insurance".into(),
            words: words.iter().map(|w| w.to_string()).collect(),
            reason: "代扣代缴接口已修复".into(),
            dry_run: false,
            prompted_by: String::new(),
        }
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_sweep_keeps_every_condition_given() {
        let sweep = Sweep::parse(&request(&["代扣", " Bank "])).unwrap();
        assert_eq!(sweep.category, Some(Category::MedicalInsurance));
        assert_eq!(sweep.town, "郢中街道");
        assert_eq!(sweep.department, "medical-insurance");
        assert_eq!(sweep.words, ["代扣", "bank"]);
        assert!(sweep.matches_subject("医保代扣出错 BANK side"));
        assert!(!sweep.matches_subject("医保代扣出错"));
        assert_eq!(
            sweep.assignment_reason(),
            "similar-case sweep (全面排查): 代扣代缴接口已修复"
        );
    }

    #[test]
    fn words_are_looked_for_literally() {
        let sweep = Sweep::parse(&request(&["10%_off", "a\\b"])).unwrap();
        assert_eq!(sweep.like_patterns(), ["%10\\%\\_off%", "%a\\\\b%"]);
    }

    #[test]
    fn a_sweep_needs_a_category_or_a_word() {
        let mut r = request(&[]);
        r.category = 0;
        assert_eq!(fields(Sweep::parse(&r).unwrap_err()), ["words"]);
        r.words = vec!["代扣".into()];
        assert!(Sweep::parse(&r).is_ok());
    }

    #[test]
    fn a_bad_sweep_names_every_bad_field() {
        let r = pb::SweepSimilarCasesRequest {
            category: 999,
            town: "镇".repeat(TOWN_MAX + 1),
            department: "Not A Code".into(),
            words: vec![" ".into(), "x".repeat(WORD_MAX + 1)],
            reason: String::new(),
            dry_run: false,
            prompted_by: "not-a-case".into(),
        };
        assert_eq!(
            fields(Sweep::parse(&r).unwrap_err()),
            [
                "category",
                "town",
                "department",
                "words[0]",
                "words[1]",
                "reason",
                "prompted_by"
            ]
        );
    }

    #[test]
    fn a_dry_run_needs_no_reason_and_too_many_words_are_refused() {
        let mut r = request(&["a"; WORDS_MAX + 1]);
        r.dry_run = true;
        r.reason.clear();
        assert_eq!(fields(Sweep::parse(&r).unwrap_err()), ["words"]);
        r.words.truncate(WORDS_MAX);
        assert!(Sweep::parse(&r).unwrap().dry_run);
    }
}
