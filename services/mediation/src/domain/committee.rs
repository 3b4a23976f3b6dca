//! The eight professional mediation committees (专业调解委员会) of the justice bureau, fixed:
//! the migration inserts the same list, and a file goes to the committee that lists its
//! category, else to the civil and commercial committee.

use yimen_proto::v1::{self as pb, Category};

/// One committee: its code (as stored and on the wire), its name and the categories it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committee {
    pub code: &'static str,
    pub name: &'static str,
    pub categories: &'static [Category],
}

/// The committee that takes every category no other committee lists.
pub const FALLBACK: &str = "civil-commercial";

/// Every committee, in the order the center lists them.
pub const COMMITTEES: [Committee; 8] = [
    Committee {
        code: "medical",
        name: "医患纠纷人民调解委员会",
        categories: &[Category::HealthMedical],
    },
    Committee {
        code: "traffic",
        name: "交通事故人民调解委员会",
        categories: &[Category::Transport],
    },
    Committee {
        code: "labour",
        name: "劳动争议人民调解委员会",
        categories: &[
            Category::LabourWages,
            Category::SocialInsurance,
            Category::WorkSafety,
        ],
    },
    Committee {
        code: "environment",
        name: "环境保护人民调解委员会",
        categories: &[Category::Environment],
    },
    Committee {
        code: "housing",
        name: "房屋征收和物业服务人民调解委员会",
        categories: &[
            Category::HousingProperty,
            Category::Expropriation,
            Category::Land,
        ],
    },
    Committee {
        code: "food-drug",
        name: "食品药品行业矛盾纠纷人民调解委员会",
        categories: &[Category::FoodDrug],
    },
    Committee {
        code: "marriage-family",
        name: "婚姻家庭纠纷人民调解委员会",
        categories: &[Category::MarriageFamily],
    },
    Committee {
        code: FALLBACK,
        name: "民商事纠纷调解委员会",
        categories: &[
            Category::CivilCommercial,
            Category::Agriculture,
            Category::Litigation,
            Category::Other,
        ],
    },
];

/// The committee with this code, if there is one.
pub fn find(code: &str) -> Option<&'static Committee> {
    COMMITTEES.iter().find(|c| c.code == code)
}

/// The committee that takes a dispute of `category`: the one that lists it, else the civil
/// and commercial committee.
pub fn committee_for(category: Category) -> &'static Committee {
    COMMITTEES
        .iter()
        .find(|c| c.categories.contains(&category))
        .unwrap_or_else(|| fallback())
}

fn fallback() -> &'static Committee {
    // COMMITTEES holds FALLBACK; the unit tests keep it so.
    find(FALLBACK).unwrap_or(&COMMITTEES[COMMITTEES.len() - 1])
}

/// How the store spells a committee's categories: their proto names, comma-separated.
pub fn categories_text(categories: &[Category]) -> String {
    categories
        .iter()
        .map(|c| c.as_str_name())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`categories_text`] back; `None` when a name is not a category.
pub fn parse_categories(text: &str) -> Option<Vec<Category>> {
    text.split(',')
        .filter(|name| !name.is_empty())
        .map(Category::from_str_name)
        .collect()
}

impl Committee {
    pub fn to_proto(&self) -> pb::Committee {
        pb::Committee {
            code: self.code.to_string(),
            name: self.name.to_string(),
            categories: self.categories.iter().map(|c| *c as i32).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every category, in wire order.
    fn all_categories() -> impl Iterator<Item = Category> {
        (1..).map_while(|i| Category::try_from(i).ok())
    }

    #[test]
    fn there_are_eight_committees_with_distinct_codes() {
        let mut codes: Vec<_> = COMMITTEES.iter().map(|c| c.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 8);
    }

    #[test]
    fn no_category_is_listed_by_two_committees() {
        for category in all_categories() {
            let listing = COMMITTEES
                .iter()
                .filter(|c| c.categories.contains(&category))
                .count();
            assert!(listing <= 1, "{category:?} listed {listing} times");
        }
    }

    #[test]
    fn each_listed_category_goes_to_its_committee() {
        let cases = [
            (Category::HealthMedical, "medical"),
            (Category::Transport, "traffic"),
            (Category::LabourWages, "labour"),
            (Category::SocialInsurance, "labour"),
            (Category::WorkSafety, "labour"),
            (Category::Environment, "environment"),
            (Category::HousingProperty, "housing"),
            (Category::Expropriation, "housing"),
            (Category::Land, "housing"),
            (Category::FoodDrug, "food-drug"),
            (Category::MarriageFamily, "marriage-family"),
            (Category::CivilCommercial, "civil-commercial"),
            (Category::Agriculture, "civil-commercial"),
            (Category::Litigation, "civil-commercial"),
            (Category::Other, "civil-commercial"),
        ];
        for (category, code) in cases {
            assert_eq!(committee_for(category).code, code, "{category:?}");
        }
    }

    #[test]
    fn categories_no_committee_lists_go_to_civil_commercial() {
        for category in [
            Category::MedicalInsurance,
            Category::SocialAssistance,
            Category::LegalAid,
            Category::PublicSecurity,
            Category::Education,
            Category::Taxation,
            Category::Unspecified,
        ] {
            assert_eq!(committee_for(category).code, FALLBACK, "{category:?}");
        }
    }

    #[test]
    fn committees_are_found_by_code_only() {
        assert_eq!(
            find("medical").map(|c| c.name),
            Some("医患纠纷人民调解委员会")
        );
        assert_eq!(find("Medical"), None);
        assert_eq!(find(""), None);
    }

    #[test]
    fn categories_text_round_trips() {
        for committee in COMMITTEES {
            let text = categories_text(committee.categories);
            assert_eq!(
                parse_categories(&text).as_deref(),
                Some(committee.categories)
            );
        }
        assert_eq!(parse_categories("CATEGORY_WEATHER"), None);
    }

    #[test]
    fn to_proto_carries_code_name_and_categories() {
        let proto = committee_for(Category::Land).to_proto();
        assert_eq!(proto.code, "housing");
        assert_eq!(proto.name, "房屋征收和物业服务人民调解委员会");
        assert_eq!(proto.categories.len(), 3);
    }
}
