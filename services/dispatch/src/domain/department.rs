//! Departments (职能部门) stationed at the center or serving a town or village: their codes,
//! levels and areas, and the categories they own.

use yimen_platform::error::{Error, FieldViolation, Violations};
use yimen_platform::time::timestamp;
use yimen_platform::validate;
use yimen_proto::v1::{self as pb, Category};

use super::category;

/// 市信访超市, the city center: the terminus (终点站) that owns every matter nobody else owns,
/// to the end. It always exists, never leaves and never returns a case.
pub const CITY_CENTER: &str = "city-center";
pub const CITY_CENTER_NAME: &str = "市信访超市";

const NAME_MAX: usize = 100;
const AREA_MAX: usize = 50;

/// A department's code: 2–40 characters of `a-z`, `0-9` and `-`, starting with a letter,
/// because it is the suffix of routing keys (`case.assigned.<code>`) and queue names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DepartmentCode(String);

impl DepartmentCode {
    pub fn parse(code: &str) -> Result<Self, FieldViolation> {
        yimen_platform::validate::department_code("code", code).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_city_center(&self) -> bool {
        self.0 == CITY_CENTER
    }
}

impl std::fmt::Display for DepartmentCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a department sits (上下贯通).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    City,
    Town,
    Village,
}

impl Level {
    pub fn from_proto(level: i32) -> Option<Self> {
        match pb::DepartmentLevel::try_from(level).ok()? {
            pb::DepartmentLevel::City => Some(Self::City),
            pb::DepartmentLevel::Town => Some(Self::Town),
            pb::DepartmentLevel::Village => Some(Self::Village),
            pb::DepartmentLevel::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::DepartmentLevel {
        match self {
            Self::City => pb::DepartmentLevel::City,
            Self::Town => pb::DepartmentLevel::Town,
            Self::Village => pb::DepartmentLevel::Village,
        }
    }

    /// `city`, `town`, `village`: as the seed file spells it.
    /// The level's name, as `parse_name` reads it.
    pub fn name(self) -> &'static str {
        match self {
            Self::City => "city",
            Self::Town => "town",
            Self::Village => "village",
        }
    }

    pub fn parse_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "city" => Some(Self::City),
            "town" => Some(Self::Town),
            "village" => Some(Self::Village),
            _ => None,
        }
    }
}

/// A valid department definition: what JoinDepartment registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentSpec {
    pub code: DepartmentCode,
    pub name: String,
    pub level: Level,
    /// The town served (town and village departments), else empty.
    pub town: String,
    /// The village served (village departments), else empty.
    pub village: String,
    pub categories: Vec<Category>,
    /// The department that reviews this one's answers (复查 / 复核); empty: the city center.
    pub review_body: String,
}

impl DepartmentSpec {
    /// Checks every rule of a join request; INVALID_ARGUMENT names every broken field.
    pub fn parse(request: &pb::JoinDepartmentRequest) -> Result<Self, Error> {
        let mut violations = Violations::new();
        let code = violations.check(DepartmentCode::parse(&request.code));

        let name = violations.check(validate::required_text("name", &request.name, NAME_MAX));

        let level = Level::from_proto(request.level);
        if level.is_none() {
            violations.add("level", "must be CITY, TOWN or VILLAGE");
        }

        let area = request.area.clone().unwrap_or_default();
        let town = area.town.trim();
        let village = area.village.trim();
        for (field, value) in [("area.town", town), ("area.village", village)] {
            violations.check(validate::optional_text(field, value, AREA_MAX));
        }
        match level {
            Some(Level::City) if !town.is_empty() || !village.is_empty() => violations.add(
                "area",
                "a city department serves the whole city: leave it empty",
            ),
            Some(Level::Town) => {
                if town.is_empty() {
                    violations.add(
                        "area.town",
                        "a town department must name the town it serves",
                    );
                }
                if !village.is_empty() {
                    violations.add(
                        "area.village",
                        "a town department serves the whole town: leave it empty",
                    );
                }
            }
            Some(Level::Village) => {
                if town.is_empty() {
                    violations.add("area.town", "a village department must name its town");
                }
                if village.is_empty() {
                    violations.add("area.village", "a village department must name its village");
                }
            }
            _ => {}
        }

        let mut categories = Vec::with_capacity(request.categories.len());
        for (i, &value) in request.categories.iter().enumerate() {
            let field = format!("categories[{i}]");
            match validate::known::<Category>(&field, value) {
                Ok(c) if categories.contains(&c) => {
                    violations.add(field, format!("{} is listed twice", category::name(c)));
                }
                Ok(c) => categories.push(c),
                Err(v) => violations.add(v.field, v.description),
            }
        }

        let review_body = request.review_body.trim();
        if !review_body.is_empty() {
            match validate::department_code("review_body", review_body) {
                Ok(body) if Some(body.as_str()) == code.as_ref().map(DepartmentCode::as_str) => {
                    violations.add(
                        "review_body",
                        "a department does not review its own answers",
                    )
                }
                Ok(_) => {}
                Err(v) => violations.add(v.field, v.description),
            }
        }

        violations.finish()?;
        match (code, level, name) {
            (Some(code), Some(level), Some(name)) => Ok(Self {
                code,
                name,
                level,
                town: town.to_string(),
                village: village.to_string(),
                categories,
                review_body: review_body.to_string(),
            }),
            // Unreachable: a missing code or level was recorded as a violation above.
            _ => Err(Error::invalid("code", "invalid department")),
        }
    }

    /// The city center as the migration registers it.
    pub fn city_center() -> Self {
        Self {
            code: DepartmentCode(CITY_CENTER.to_string()),
            name: CITY_CENTER_NAME.to_string(),
            level: Level::City,
            town: String::new(),
            village: String::new(),
            categories: Vec::new(),
            review_body: String::new(),
        }
    }

    pub fn owns(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }
}

/// A registered department: its definition and its standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub spec: DepartmentSpec,
    pub active: bool,
    /// Unix millis of the (latest) join; earlier joiners win routing ties.
    pub joined_at: i64,
}

impl Department {
    pub fn code(&self) -> &str {
        self.spec.code.as_str()
    }

    pub fn to_proto(&self, open_assignments: u32) -> pb::Department {
        let spec = &self.spec;
        pb::Department {
            code: spec.code.to_string(),
            name: spec.name.clone(),
            level: spec.level.to_proto() as i32,
            area: (spec.level != Level::City).then(|| pb::Location {
                town: spec.town.clone(),
                village: spec.village.clone(),
            }),
            categories: spec.categories.iter().map(|c| *c as i32).collect(),
            active: self.active,
            joined_at: Some(timestamp(self.joined_at)),
            open_assignments,
            review_body: match spec.review_body.as_str() {
                "" => CITY_CENTER.to_string(),
                body => body.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::{DepartmentLevel, JoinDepartmentRequest, Location};

    fn city(code: &str) -> JoinDepartmentRequest {
        JoinDepartmentRequest {
            code: code.into(),
            name: "民政局".into(),
            level: DepartmentLevel::City as i32,
            area: None,
            categories: vec![Category::SocialAssistance as i32],
            review_body: String::new(),
        }
    }

    fn fields(request: &JoinDepartmentRequest) -> Vec<String> {
        match DepartmentSpec::parse(request) {
            Err(Error::InvalidArgument(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn valid_city_department_is_accepted() {
        let spec = DepartmentSpec::parse(&city("civil-affairs")).expect("valid");
        assert_eq!(spec.code.as_str(), "civil-affairs");
        assert_eq!(spec.level, Level::City);
        assert_eq!(spec.categories, vec![Category::SocialAssistance]);
    }

    #[test]
    fn code_shorter_than_two_characters_is_rejected() {
        assert_eq!(fields(&city("a")), ["code"]);
    }

    #[test]
    fn code_longer_than_forty_characters_is_rejected() {
        assert_eq!(fields(&city(&"a".repeat(41))), ["code"]);
        assert!(DepartmentSpec::parse(&city(&"a".repeat(40))).is_ok());
    }

    #[test]
    fn code_with_uppercase_dot_or_space_is_rejected() {
        for code in ["Civil", "civil.affairs", "civil affairs", "民政"] {
            assert_eq!(fields(&city(code)), ["code"], "{code}");
        }
    }

    #[test]
    fn code_not_starting_with_a_letter_is_rejected() {
        assert_eq!(fields(&city("1st-office")), ["code"]);
        assert_eq!(fields(&city("-office")), ["code"]);
    }

    #[test]
    fn empty_name_is_rejected() {
        let mut r = city("civil-affairs");
        r.name = "  ".into();
        assert_eq!(fields(&r), ["name"]);
    }

    #[test]
    fn name_over_one_hundred_characters_is_rejected() {
        let mut r = city("civil-affairs");
        r.name = "局".repeat(101);
        assert_eq!(fields(&r), ["name"]);
    }

    #[test]
    fn unspecified_level_is_rejected() {
        let mut r = city("civil-affairs");
        r.level = DepartmentLevel::Unspecified as i32;
        assert_eq!(fields(&r), ["level"]);
        r.level = 99;
        assert_eq!(fields(&r), ["level"]);
    }

    #[test]
    fn city_department_with_an_area_is_rejected() {
        let mut r = city("civil-affairs");
        r.area = Some(Location {
            town: "郢中街道".into(),
            village: String::new(),
        });
        assert_eq!(fields(&r), ["area"]);
    }

    #[test]
    fn city_department_with_an_empty_area_is_accepted() {
        let mut r = city("civil-affairs");
        r.area = Some(Location::default());
        assert!(DepartmentSpec::parse(&r).is_ok());
    }

    #[test]
    fn town_department_without_town_is_rejected() {
        let mut r = city("yingzhong-justice");
        r.level = DepartmentLevel::Town as i32;
        assert_eq!(fields(&r), ["area.town"]);
    }

    #[test]
    fn town_department_with_a_village_is_rejected() {
        let mut r = city("yingzhong-justice");
        r.level = DepartmentLevel::Town as i32;
        r.area = Some(Location {
            town: "郢中街道".into(),
            village: "龙山社区".into(),
        });
        assert_eq!(fields(&r), ["area.village"]);
    }

    #[test]
    fn village_department_needs_town_and_village() {
        let mut r = city("longshan-mediation");
        r.level = DepartmentLevel::Village as i32;
        assert_eq!(fields(&r), ["area.town", "area.village"]);
        r.area = Some(Location {
            town: "郢中街道".into(),
            village: "龙山社区".into(),
        });
        let spec = DepartmentSpec::parse(&r).expect("valid village department");
        assert_eq!(
            (spec.town.as_str(), spec.village.as_str()),
            ("郢中街道", "龙山社区")
        );
    }

    #[test]
    fn unknown_category_is_rejected() {
        let mut r = city("civil-affairs");
        r.categories = vec![
            Category::SocialAssistance as i32,
            999,
            Category::Unspecified as i32,
        ];
        assert_eq!(fields(&r), ["categories[1]", "categories[2]"]);
    }

    #[test]
    fn duplicate_category_is_rejected() {
        let mut r = city("civil-affairs");
        r.categories = vec![
            Category::SocialAssistance as i32,
            Category::SocialAssistance as i32,
        ];
        assert_eq!(fields(&r), ["categories[1]"]);
    }

    #[test]
    fn department_without_categories_is_accepted() {
        let mut r = city("standby-office");
        r.categories.clear();
        assert!(DepartmentSpec::parse(&r).is_ok());
    }

    #[test]
    fn every_broken_rule_is_named_at_once() {
        let r = JoinDepartmentRequest {
            code: "X".into(),
            name: String::new(),
            level: 0,
            area: None,
            categories: vec![0],
            review_body: String::new(),
        };
        assert_eq!(fields(&r), ["code", "name", "level", "categories[0]"]);
    }

    #[test]
    fn city_center_is_a_city_department_without_categories() {
        let center = DepartmentSpec::city_center();
        assert!(center.code.is_city_center());
        assert_eq!(center.level, Level::City);
        assert!(center.categories.is_empty());
    }

    #[test]
    fn a_review_body_is_a_department_code_other_than_its_own() {
        let mut request = city("civil-affairs");
        request.review_body = "Bad Code".into();
        assert_eq!(fields(&request), ["review_body"]);
        request.review_body = "civil-affairs".into();
        assert_eq!(fields(&request), ["review_body"]);
        request.review_body = " town-petition ".into();
        let spec = DepartmentSpec::parse(&request).unwrap();
        assert_eq!(spec.review_body, "town-petition");
        let shown = Department {
            spec: DepartmentSpec::parse(&city("housing")).unwrap(),
            active: true,
            joined_at: 0,
        }
        .to_proto(0);
        assert_eq!(
            shown.review_body, CITY_CENTER,
            "none named: the city center"
        );
    }
}
