//! Routing (分流): who owns a case. The owner of the category closest to where the matter
//! arose wins — a village department over a town one over a city one — and when nobody is
//! left, the city center, the terminus (终点站), owns it to the end. Routing rules the center
//! set (`rules`) come first: the first that matches sends the case to its department.

use std::collections::BTreeSet;

use yimen_proto::v1::{AssignmentCause, Category};

use super::category;
use super::department::{CITY_CENTER, CITY_CENTER_NAME, Department, Level};
use super::rules::RuleSet;

/// The facts of a case that routing looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseFacts<'a> {
    pub category: Category,
    pub town: &'a str,
    pub village: &'a str,
    /// What routing rules' keywords are looked for in.
    pub subject: &'a str,
}

/// Why the case is being routed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    /// A newly registered case.
    Registered,
    /// `from` returned it as the wrong department (退回).
    Returned { from: &'a str, reason: &'a str },
    /// `from` left the center while holding it.
    DepartmentLeft { from: &'a str, reason: &'a str },
    /// The petitioner was unsatisfied with `from`'s reply: `from` handles it again while it is
    /// still at the center (and did not return the case), else it is routed as a new case.
    Reopened { from: &'a str },
    /// The review body `by` decided the matter is handled again (重新办理) by `to`, the
    /// department that answered it: `to` handles it while it is at the center, else it is
    /// routed as a new case.
    Rehandled { by: &'a str, to: &'a str },
    /// A supervisor's similar-case sweep (全面排查) sends the case `from` replied for handling
    /// again, saying `reason`: back to `from` while it is at the center, like a reopened case.
    Swept { from: &'a str, reason: &'a str },
}

/// Where a case goes, and why, in words a clerk and a petitioner can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub department: String,
    pub department_name: String,
    pub cause: AssignmentCause,
    pub reason: String,
    /// The routing rule that chose the department, and the version of its set; empty and 0
    /// when the category owner (or the city center) was chosen.
    pub rule: String,
    pub rules_version: u32,
}

/// How close a department sits to the matter: lower is closer. `None`: it does not serve the
/// place where the matter arose.
fn closeness(department: &Department, facts: &CaseFacts<'_>) -> Option<u8> {
    let spec = &department.spec;
    match spec.level {
        Level::Village => (!spec.town.is_empty()
            && spec.town == facts.town.trim()
            && spec.village == facts.village.trim())
        .then_some(0),
        Level::Town => (!spec.town.is_empty() && spec.town == facts.town.trim()).then_some(1),
        Level::City => Some(2),
    }
}

/// Why a reopened case is assigned again.
fn reopened_reason(from: &str) -> String {
    if from.is_empty() {
        "reopened: the petitioner was unsatisfied with the reply".to_string()
    } else {
        format!("reopened: the petitioner was unsatisfied with {from}'s reply")
    }
}

/// Why a matter a review sent back is assigned again.
fn rehandled_reason(by: &str) -> String {
    format!("the review by {by} ordered the matter handled again (重新办理)")
}

/// Routes a case among `departments` (inactive ones are ignored), skipping every code in
/// `excluded`: first by the routing `rules`, then to the owner of its category. Ties at the
/// same level go to the earliest joined, then the smallest code, so the same facts always give
/// the same owner.
pub fn route(
    facts: &CaseFacts<'_>,
    departments: &[Department],
    rules: &RuleSet,
    excluded: &BTreeSet<String>,
    trigger: Trigger<'_>,
) -> Route {
    let back_to = match trigger {
        Trigger::Reopened { from } => {
            Some((from, AssignmentCause::Reopened, reopened_reason(from)))
        }
        Trigger::Swept { from, reason } => Some((
            from,
            AssignmentCause::Sweep,
            format!("{reason}; back to {from}, which replied"),
        )),
        _ => None,
    };
    if let Some((from, cause, reason)) = back_to
        && !excluded.contains(from)
        && let Some(replier) = departments.iter().find(|d| d.active && d.code() == from)
    {
        return Route {
            department: from.to_string(),
            department_name: replier.spec.name.clone(),
            cause,
            reason,
            rule: String::new(),
            rules_version: 0,
        };
    }
    if let Trigger::Rehandled { by, to } = trigger
        && !excluded.contains(to)
        && let Some(answered) = departments.iter().find(|d| d.active && d.code() == to)
    {
        return Route {
            department: to.to_string(),
            department_name: answered.spec.name.clone(),
            cause: AssignmentCause::Rehandle,
            reason: rehandled_reason(by),
            rule: String::new(),
            rules_version: 0,
        };
    }
    let category_name = category::name(facts.category);
    let leaving = match trigger {
        Trigger::DepartmentLeft { from, .. } => Some(from),
        _ => None,
    };
    // Owners that serve this place, leaving aside a department that is leaving right now.
    let serving: Vec<(u8, &Department)> = departments
        .iter()
        .filter(|d| d.active && d.spec.owns(facts.category) && Some(d.code()) != leaving)
        .filter_map(|d| closeness(d, facts).map(|rank| (rank, d)))
        .collect();
    let best = serving
        .iter()
        .filter(|(_, d)| !excluded.contains(d.code()))
        .min_by(|(ra, a), (rb, b)| (ra, a.joined_at, a.code()).cmp(&(rb, b.joined_at, b.code())));
    // A rule's department must be here, not leaving, not excluded, and at the rule's level.
    let ruled = rules
        .first_match(facts, |code| {
            !excluded.contains(code)
                && Some(code) != leaving
                && departments.iter().any(|d| d.active && d.code() == code)
        })
        .and_then(|rule| {
            let d = departments.iter().find(|d| d.code() == rule.department)?;
            rule.level
                .is_none_or(|l| l == d.spec.level)
                .then_some((rule, d))
        });

    let (department, department_name, found, why) = match (ruled, best) {
        (Some((rule, d)), _) => (
            d.code().to_string(),
            d.spec.name.clone(),
            true,
            format!(
                "routing rule {} (version {}) sends it to {} ({})",
                rule.rule_id,
                rules.version,
                d.spec.name,
                d.code()
            ),
        ),
        (None, Some((_, d))) => {
            let spec = &d.spec;
            let place = match spec.level {
                Level::Village => format!("in village {}, {}", spec.village, spec.town),
                Level::Town => format!("in town {}", spec.town),
                Level::City => "at city level".to_string(),
            };
            (
                d.code().to_string(),
                spec.name.clone(),
                true,
                format!("{} ({}) owns {category_name} {place}", spec.name, d.code()),
            )
        }
        (None, None) => {
            let name = departments
                .iter()
                .find(|d| d.code() == CITY_CENTER)
                .map(|d| d.spec.name.clone())
                .unwrap_or_else(|| CITY_CENTER_NAME.to_string());
            let nobody = if serving.is_empty() {
                let other = if leaving.is_some() { "other " } else { "" };
                format!("no {other}department owns {category_name}")
            } else {
                format!("every owner of {category_name} returned it")
            };
            let why = format!("{nobody}: the city center ({name}) owns it to the end");
            (CITY_CENTER.to_string(), name, false, why)
        }
    };

    let (cause, reason) = match trigger {
        Trigger::Registered if found => (AssignmentCause::Routed, why),
        Trigger::Registered => (AssignmentCause::NoOwner, why),
        Trigger::Returned { from, reason } => (
            AssignmentCause::Returned,
            format!("returned by {from} ({reason}); {why}"),
        ),
        Trigger::DepartmentLeft { from, reason: "" } => (
            AssignmentCause::DepartmentLeft,
            format!("{from} left the center; {why}"),
        ),
        Trigger::DepartmentLeft { from, reason } => (
            AssignmentCause::DepartmentLeft,
            format!("{from} left the center ({reason}); {why}"),
        ),
        Trigger::Reopened { from } => (
            AssignmentCause::Reopened,
            format!("{}; {why}", reopened_reason(from)),
        ),
        Trigger::Rehandled { by, .. } => (
            AssignmentCause::Rehandle,
            format!("{}; {why}", rehandled_reason(by)),
        ),
        Trigger::Swept { reason, .. } => (AssignmentCause::Sweep, format!("{reason}; {why}")),
    };
    let (rule, rules_version) = match ruled {
        Some((r, _)) => (r.rule_id.clone(), rules.version),
        None => (String::new(), 0),
    };
    Route {
        department,
        department_name,
        cause,
        reason,
        rule,
        rules_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::department::{DepartmentCode, DepartmentSpec};
    use crate::domain::rules::{self, RuleSet};

    fn dept(
        code: &str,
        level: Level,
        area: (&str, &str),
        categories: &[Category],
        joined_at: i64,
    ) -> Department {
        Department {
            spec: DepartmentSpec {
                code: DepartmentCode::parse(code).expect("valid code"),
                name: format!("{code} office"),
                level,
                town: area.0.into(),
                village: area.1.into(),
                categories: categories.to_vec(),
                review_body: String::new(),
            },
            active: true,
            joined_at,
        }
    }

    fn center() -> Department {
        Department {
            spec: DepartmentSpec::city_center(),
            active: true,
            joined_at: 0,
        }
    }

    const LABOUR: Category = Category::LabourWages;

    fn facts(town: &'static str, village: &'static str) -> CaseFacts<'static> {
        CaseFacts {
            category: LABOUR,
            town,
            village,
            subject: "unpaid wages",
        }
    }

    fn registry() -> Vec<Department> {
        vec![
            center(),
            dept("human-resources", Level::City, ("", ""), &[LABOUR], 10),
            dept(
                "yingzhong-justice",
                Level::Town,
                ("郢中街道", ""),
                &[LABOUR],
                20,
            ),
            dept(
                "longshan-mediation",
                Level::Village,
                ("郢中街道", "龙山社区"),
                &[LABOUR],
                30,
            ),
            dept(
                "civil-affairs",
                Level::City,
                ("", ""),
                &[Category::SocialAssistance],
                5,
            ),
        ]
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn village_owner_wins_when_town_and_village_match() {
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &registry(),
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "longshan-mediation");
        assert_eq!(r.cause, AssignmentCause::Routed);
        assert!(r.reason.contains("labour_wages"), "{}", r.reason);
    }

    #[test]
    fn town_owner_wins_when_only_the_town_matches() {
        let r = route(
            &facts("郢中街道", "东坡社区"),
            &registry(),
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "yingzhong-justice");
        assert_eq!(r.cause, AssignmentCause::Routed);
    }

    #[test]
    fn city_owner_takes_matters_from_other_towns() {
        let r = route(
            &facts("洋梓镇", "龙山社区"),
            &registry(),
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "human-resources");
        assert!(r.reason.contains("city level"), "{}", r.reason);
    }

    #[test]
    fn village_department_of_another_town_does_not_serve() {
        let departments = vec![
            center(),
            dept(
                "other-village",
                Level::Village,
                ("洋梓镇", "龙山社区"),
                &[LABOUR],
                1,
            ),
        ];
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &departments,
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, CITY_CENTER);
    }

    #[test]
    fn unowned_category_goes_to_city_center_saying_so() {
        let f = CaseFacts {
            category: Category::MarriageFamily,
            town: "胡集镇",
            village: "",
            subject: "",
        };
        let r = route(
            &f,
            &registry(),
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, CITY_CENTER);
        assert_eq!(r.department_name, CITY_CENTER_NAME);
        assert_eq!(r.cause, AssignmentCause::NoOwner);
        assert!(
            r.reason.contains("no department owns marriage_family"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn inactive_departments_are_not_candidates() {
        let mut departments = registry();
        for d in departments
            .iter_mut()
            .filter(|d| d.code() == "longshan-mediation")
        {
            d.active = false;
        }
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &departments,
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "yingzhong-justice");
    }

    #[test]
    fn excluded_departments_are_skipped() {
        let excluded: BTreeSet<String> = [
            "longshan-mediation".to_string(),
            "yingzhong-justice".to_string(),
        ]
        .into();
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &registry(),
            &RuleSet::default(),
            &excluded,
            Trigger::Returned {
                from: "yingzhong-justice",
                reason: "not ours",
            },
        );
        assert_eq!(r.department, "human-resources");
        assert_eq!(r.cause, AssignmentCause::Returned);
        assert!(
            r.reason.contains("returned by yingzhong-justice"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn every_owner_returned_goes_to_city_center_saying_so() {
        let excluded: BTreeSet<String> = ["human-resources".to_string()].into();
        let r = route(
            &facts("洋梓镇", ""),
            &registry(),
            &RuleSet::default(),
            &excluded,
            Trigger::Returned {
                from: "human-resources",
                reason: "not ours",
            },
        );
        assert_eq!(r.department, CITY_CENTER);
        assert_eq!(r.cause, AssignmentCause::Returned);
        assert!(
            r.reason.contains("every owner of labour_wages returned it"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn leaving_department_is_replaced_and_named_in_the_reason() {
        let r = route(
            &facts("郢中街道", ""),
            &registry(),
            &RuleSet::default(),
            &["yingzhong-justice".to_string()].into(),
            Trigger::DepartmentLeft {
                from: "yingzhong-justice",
                reason: "merged",
            },
        );
        assert_eq!(r.department, "human-resources");
        assert_eq!(r.cause, AssignmentCause::DepartmentLeft);
        assert!(r.reason.contains("yingzhong-justice left"), "{}", r.reason);
    }

    #[test]
    fn leaving_sole_owner_hands_to_city_center() {
        let departments = vec![
            center(),
            dept("human-resources", Level::City, ("", ""), &[LABOUR], 1),
        ];
        let r = route(
            &facts("洋梓镇", ""),
            &departments,
            &RuleSet::default(),
            &["human-resources".to_string()].into(),
            Trigger::DepartmentLeft {
                from: "human-resources",
                reason: "",
            },
        );
        assert_eq!(r.department, CITY_CENTER);
        assert_eq!(r.cause, AssignmentCause::DepartmentLeft);
        assert!(
            r.reason.contains("no other department owns labour_wages"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn ties_go_to_the_earliest_joined_then_the_smallest_code() {
        let mut departments = vec![
            center(),
            dept("commerce-b", Level::City, ("", ""), &[LABOUR], 5),
            dept("commerce-c", Level::City, ("", ""), &[LABOUR], 5),
            dept("commerce-a", Level::City, ("", ""), &[LABOUR], 9),
        ];
        let r = route(
            &facts("洋梓镇", ""),
            &departments,
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "commerce-b", "earliest joined, then code");
        departments.reverse();
        let again = route(
            &facts("洋梓镇", ""),
            &departments,
            &RuleSet::default(),
            &none(),
            Trigger::Registered,
        );
        assert_eq!(
            again.department, "commerce-b",
            "the order of the list does not matter"
        );
    }

    #[test]
    fn reopened_case_goes_back_to_the_department_that_replied() {
        // The city center replied a labour matter; it handles it again, owner or not.
        let r = route(
            &facts("洋梓镇", ""),
            &registry(),
            &RuleSet::default(),
            &none(),
            Trigger::Reopened { from: CITY_CENTER },
        );
        assert_eq!(r.department, CITY_CENTER);
        assert_eq!(r.cause, AssignmentCause::Reopened);
        assert_eq!(
            r.reason,
            "reopened: the petitioner was unsatisfied with city-center's reply"
        );
    }

    #[test]
    fn reopened_case_of_a_department_that_left_is_routed_as_new() {
        let mut departments = registry();
        for d in departments
            .iter_mut()
            .filter(|d| d.code() == "yingzhong-justice")
        {
            d.active = false;
        }
        let r = route(
            &facts("郢中街道", ""),
            &departments,
            &RuleSet::default(),
            &none(),
            Trigger::Reopened {
                from: "yingzhong-justice",
            },
        );
        assert_eq!(r.department, "human-resources");
        assert_eq!(r.cause, AssignmentCause::Reopened);
        assert!(
            r.reason.starts_with(
                "reopened: the petitioner was unsatisfied with yingzhong-justice's reply; "
            ),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("owns labour_wages"), "{}", r.reason);
    }

    fn rule_set(rules: &[(&str, &str, &str)]) -> RuleSet {
        let request = yimen_proto::v1::SetRoutingRulesRequest {
            rules: rules
                .iter()
                .map(|(department, keyword, town)| yimen_proto::v1::RoutingRule {
                    department: department.to_string(),
                    keyword: keyword.to_string(),
                    town: town.to_string(),
                    ..Default::default()
                })
                .collect(),
        };
        RuleSet {
            version: 4,
            rules: rules::parse(&request).expect("valid rules"),
        }
    }

    #[test]
    fn a_matching_rule_comes_before_the_category_owner_and_is_named() {
        let set = rule_set(&[("civil-affairs", "wages", "")]);
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &registry(),
            &set,
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "civil-affairs");
        assert_eq!(r.cause, AssignmentCause::Routed);
        assert_eq!((r.rule.as_str(), r.rules_version), ("rule-1", 4));
        assert_eq!(
            r.reason,
            "routing rule rule-1 (version 4) sends it to civil-affairs office (civil-affairs)"
        );
    }

    #[test]
    fn no_matching_rule_leaves_the_case_to_its_owner_and_names_no_rule() {
        let set = rule_set(&[
            ("civil-affairs", "noise", ""),
            ("civil-affairs", "", "洋梓镇"),
        ]);
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &registry(),
            &set,
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "longshan-mediation");
        assert_eq!((r.rule.as_str(), r.rules_version), ("", 0));
    }

    #[test]
    fn a_rule_whose_department_returned_left_or_is_gone_is_passed_over() {
        let set = rule_set(&[
            ("nobody-here", "wages", ""),
            ("civil-affairs", "wages", ""),
            ("human-resources", "wages", ""),
        ]);
        let returned = route(
            &facts("洋梓镇", ""),
            &registry(),
            &set,
            &["civil-affairs".to_string()].into(),
            Trigger::Returned {
                from: "civil-affairs",
                reason: "not ours",
            },
        );
        assert_eq!(returned.department, "human-resources");
        assert_eq!(returned.rule, "rule-3");
        assert_eq!(returned.cause, AssignmentCause::Returned);
        assert!(
            returned
                .reason
                .starts_with("returned by civil-affairs (not ours); routing rule rule-3"),
            "{}",
            returned.reason
        );
        let left = route(
            &facts("洋梓镇", ""),
            &registry(),
            &set,
            &none(),
            Trigger::DepartmentLeft {
                from: "civil-affairs",
                reason: "",
            },
        );
        assert_eq!(left.department, "human-resources");
    }

    #[test]
    fn a_rule_whose_department_sits_at_another_level_is_passed_over() {
        let mut set = rule_set(&[("civil-affairs", "wages", "")]);
        set.rules[0].level = Some(Level::Town);
        let r = route(
            &facts("郢中街道", "龙山社区"),
            &registry(),
            &set,
            &none(),
            Trigger::Registered,
        );
        assert_eq!(r.department, "longshan-mediation");
        assert!(r.rule.is_empty());
    }

    #[test]
    fn a_rehandled_matter_goes_back_to_the_department_that_answered_while_it_is_here() {
        let departments = [
            center(),
            dept("labour", Level::City, ("", ""), &[LABOUR], 1),
            dept("town-labour", Level::Town, ("洋梓镇", ""), &[LABOUR], 2),
        ];
        let facts = CaseFacts {
            category: LABOUR,
            town: "洋梓镇",
            village: "",
            subject: "wages",
        };
        let trigger = Trigger::Rehandled {
            by: CITY_CENTER,
            to: "labour",
        };
        let r = route(
            &facts,
            &departments,
            &RuleSet::default(),
            &BTreeSet::new(),
            trigger,
        );
        assert_eq!(r.department, "labour");
        assert_eq!(r.cause, AssignmentCause::Rehandle);
        assert!(r.reason.contains("重新办理"), "{}", r.reason);
        let gone = Trigger::Rehandled {
            by: CITY_CENTER,
            to: "left-office",
        };
        let r = route(
            &facts,
            &departments,
            &RuleSet::default(),
            &BTreeSet::new(),
            gone,
        );
        assert_eq!(
            (r.department.as_str(), r.cause),
            ("town-labour", AssignmentCause::Rehandle)
        );
    }

    #[test]
    fn a_swept_case_goes_back_to_the_department_that_replied_else_to_the_owner() {
        let trigger = Trigger::Swept {
            from: "human-resources",
            reason: "similar-case sweep (全面排查): fixed",
        };
        let f = facts("洋梓镇", "");
        let r = route(&f, &registry(), &RuleSet::default(), &none(), trigger);
        assert_eq!(r.department, "human-resources");
        assert_eq!(r.cause, AssignmentCause::Sweep);
        assert_eq!(
            r.reason,
            "similar-case sweep (全面排查): fixed; back to human-resources, which replied"
        );
        let gone: Vec<Department> = registry()
            .into_iter()
            .filter(|d| d.code() != "human-resources")
            .collect();
        let r = route(&f, &gone, &RuleSet::default(), &none(), trigger);
        assert_eq!(r.department, CITY_CENTER);
        assert_eq!(r.cause, AssignmentCause::Sweep);
        assert!(
            r.reason
                .starts_with("similar-case sweep (全面排查): fixed; "),
            "{}",
            r.reason
        );
    }
}
