//! Routing rules: overrides the center sets (SetRoutingRules) that send a case matching a
//! keyword of its subject, a town or a village to a named department before the owner of its
//! category is looked for. The set is versioned: each SetRoutingRules replaces it with the
//! next version, and every decision records the rule and version that made it.

use std::collections::BTreeSet;

use yimen_platform::error::{Error, Violations};
use yimen_platform::validate;
use yimen_proto::v1::{self as pb, Category};

use super::department::Level;
use super::routing::CaseFacts;

/// The most rules one set holds.
pub const RULES_MAX: usize = 200;
/// The longest keyword, town or village of a rule.
pub const MATCH_MAX: usize = 50;

/// One override: a case matching every condition given goes to `department`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRule {
    pub rule_id: String,
    pub department: String,
    /// Only cases of this category; `None`: any.
    pub category: Option<Category>,
    /// When set, `department` must sit at this level (checked against the registry).
    pub level: Option<Level>,
    /// Lowercased; empty: any subject.
    pub keyword: String,
    pub town: String,
    pub village: String,
}

impl RoutingRule {
    /// Whether a case with these facts is one this rule sends on.
    pub fn matches(&self, facts: &CaseFacts<'_>) -> bool {
        self.category.is_none_or(|c| c == facts.category)
            && (self.keyword.is_empty() || facts.subject.to_lowercase().contains(&self.keyword))
            && (self.town.is_empty() || self.town == facts.town.trim())
            && (self.village.is_empty() || self.village == facts.village.trim())
    }

    pub fn to_proto(&self) -> pb::RoutingRule {
        pb::RoutingRule {
            category: self.category.map_or(0, |c| c as i32),
            level: self.level.map_or(0, |l| l.to_proto() as i32),
            department: self.department.clone(),
            rule_id: self.rule_id.clone(),
            keyword: self.keyword.clone(),
            town: self.town.clone(),
            village: self.village.clone(),
        }
    }
}

/// The rules in force: their version (0 before any was set) and the rules in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    pub version: u32,
    pub rules: Vec<RoutingRule>,
}

impl RuleSet {
    /// The first rule that matches, skipping those whose department `usable` refuses (gone,
    /// excluded, or leaving right now).
    pub fn first_match<'a>(
        &'a self,
        facts: &CaseFacts<'_>,
        usable: impl Fn(&str) -> bool,
    ) -> Option<&'a RoutingRule> {
        self.rules
            .iter()
            .find(|r| r.matches(facts) && usable(&r.department))
    }
}

/// Checks a SetRoutingRules request: every rule names a department and at least one of
/// keyword, town or village; a village needs its town; ids are unique. INVALID_ARGUMENT names
/// every broken field (`rules[2].keyword`).
pub fn parse(request: &pb::SetRoutingRulesRequest) -> Result<Vec<RoutingRule>, Error> {
    let mut v = Violations::new();
    if request.rules.len() > RULES_MAX {
        v.add("rules", format!("at most {RULES_MAX} rules"));
        return v.finish().map(|()| Vec::new());
    }
    let mut ids = BTreeSet::new();
    let mut rules = Vec::with_capacity(request.rules.len());
    for (i, raw) in request.rules.iter().enumerate() {
        let field = |name: &str| format!("rules[{i}].{name}");
        let department = v.check(validate::department_code(
            &field("department"),
            &raw.department,
        ));
        let rule_id = if raw.rule_id.trim().is_empty() {
            Some(format!("rule-{}", i + 1))
        } else {
            v.check(validate::department_code(&field("rule_id"), &raw.rule_id))
        };
        if let Some(id) = &rule_id
            && !ids.insert(id.clone())
        {
            v.add(
                field("rule_id"),
                format!("`{id}` is used by an earlier rule"),
            );
        }
        let category = v
            .check(validate::known_or_any::<Category>(
                &field("category"),
                raw.category,
            ))
            .flatten();
        let level = match raw.level {
            0 => None,
            other => {
                let level = Level::from_proto(other);
                if level.is_none() {
                    v.add(field("level"), format!("unknown value {other}"));
                }
                level
            }
        };
        let keyword = v.check(validate::optional_text(
            &field("keyword"),
            raw.keyword.trim(),
            MATCH_MAX,
        ));
        let town = v.check(validate::optional_text(
            &field("town"),
            raw.town.trim(),
            MATCH_MAX,
        ));
        let village = v.check(validate::optional_text(
            &field("village"),
            raw.village.trim(),
            MATCH_MAX,
        ));
        if let (Some(k), Some(t), Some(vi)) = (&keyword, &town, &village) {
            if k.is_empty() && t.is_empty() && vi.is_empty() {
                v.add(
                    field("keyword"),
                    "a rule needs a keyword, a town or a village to match",
                );
            }
            if t.is_empty() && !vi.is_empty() {
                v.add(field("town"), "a village is matched within its town");
            }
        }
        if let (Some(rule_id), Some(department), Some(keyword), Some(town), Some(village)) =
            (rule_id, department, keyword, town, village)
        {
            rules.push(RoutingRule {
                rule_id,
                department,
                category,
                level,
                keyword: keyword.to_lowercase(),
                town,
                village,
            });
        }
    }
    v.finish()?;
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(department: &str, keyword: &str, town: &str, village: &str) -> pb::RoutingRule {
        pb::RoutingRule {
            department: department.into(),
            keyword: keyword.into(),
            town: town.into(),
            village: village.into(),
            ..Default::default()
        }
    }

    fn facts<'a>(subject: &'a str, town: &'a str, village: &'a str) -> CaseFacts<'a> {
        CaseFacts {
            category: Category::LabourWages,
            town,
            village,
            subject,
        }
    }

    /// The fields a parse refused, in the order it named them.
    fn violations(request: &pb::SetRoutingRulesRequest) -> Vec<String> {
        match parse(request) {
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn rules_get_their_place_as_id_and_match_keywords_ignoring_case() {
        let rules = parse(&pb::SetRoutingRulesRequest {
            rules: vec![
                rule("transport", "Bus Route", "", ""),
                rule("yingzhong-justice", "", "郢中街道", ""),
            ],
        })
        .expect("valid");
        assert_eq!(rules[0].rule_id, "rule-1");
        assert_eq!(rules[1].rule_id, "rule-2");
        assert!(rules[0].matches(&facts("the bus route 7 was cut", "洋梓镇", "")));
        assert!(!rules[0].matches(&facts("unpaid wages", "洋梓镇", "")));
        assert!(rules[1].matches(&facts("anything", " 郢中街道 ", "龙山社区")));
        assert!(!rules[1].matches(&facts("anything", "洋梓镇", "")));
    }

    #[test]
    fn every_condition_of_a_rule_must_hold() {
        let mut raw = rule("longshan-mediation", "wages", "郢中街道", "龙山社区");
        raw.category = Category::LabourWages as i32;
        let rules = parse(&pb::SetRoutingRulesRequest { rules: vec![raw] }).expect("valid");
        let r = &rules[0];
        assert!(r.matches(&facts("unpaid wages", "郢中街道", "龙山社区")));
        assert!(!r.matches(&facts("unpaid wages", "郢中街道", "东坡社区")));
        assert!(!r.matches(&facts("noise", "郢中街道", "龙山社区")));
        let other_category = CaseFacts {
            category: Category::MarriageFamily,
            ..facts("unpaid wages", "郢中街道", "龙山社区")
        };
        assert!(!r.matches(&other_category));
    }

    #[test]
    fn the_first_usable_matching_rule_chooses() {
        let set = RuleSet {
            version: 3,
            rules: parse(&pb::SetRoutingRulesRequest {
                rules: vec![
                    rule("gone-dept", "wages", "", ""),
                    rule("human-resources", "wages", "", ""),
                    rule("labour-union", "wages", "", ""),
                ],
            })
            .expect("valid"),
        };
        let chosen = set
            .first_match(&facts("wages", "", ""), |d| d != "gone-dept")
            .expect("a rule matches");
        assert_eq!(chosen.rule_id, "rule-2");
        assert!(set.first_match(&facts("noise", "", ""), |_| true).is_none());
    }

    #[test]
    fn broken_rules_are_named_field_by_field() {
        let mut unknown_level = rule("transport", "bus", "", "");
        unknown_level.level = 9;
        let mut duplicate = rule("transport", "road", "", "");
        duplicate.rule_id = "rule-1".into();
        let request = pb::SetRoutingRulesRequest {
            rules: vec![
                rule("transport", "bus", "", ""),
                rule("", "", "", ""),
                rule("transport", "", "", "龙山社区"),
                unknown_level,
                duplicate,
            ],
        };
        assert_eq!(
            violations(&request),
            [
                "rules[1].department",
                "rules[1].keyword",
                "rules[2].town",
                "rules[3].level",
                "rules[4].rule_id",
            ]
        );
    }

    #[test]
    fn a_set_holds_at_most_two_hundred_rules() {
        let request = pb::SetRoutingRulesRequest {
            rules: vec![rule("transport", "bus", "", ""); RULES_MAX + 1],
        };
        assert_eq!(violations(&request), ["rules"]);
    }

    #[test]
    fn an_empty_set_clears_the_overrides() {
        assert!(
            parse(&pb::SetRoutingRulesRequest::default())
                .expect("valid")
                .is_empty()
        );
    }
}
