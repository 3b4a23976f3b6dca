//! The department seed file (`deploy/departments.toml`): the departments a fresh installation
//! starts with, as `[[department]]` tables, parsed into join requests.

use std::collections::BTreeSet;

use serde::Deserialize;
use yimen_platform::error::Error;
use yimen_proto::v1::{JoinDepartmentRequest, Location};

use crate::domain::{DepartmentSpec, Level, category};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    department: Vec<SeedDepartment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedDepartment {
    code: String,
    name: String,
    level: String,
    #[serde(default)]
    town: String,
    #[serde(default)]
    village: String,
    #[serde(default)]
    categories: Vec<String>,
    /// The department that reviews this one's answers (复查 / 复核); none: the city center.
    #[serde(default)]
    review_body: String,
}

/// The default departments, built into the binary: `deploy/departments.toml` as it was when the
/// binary was built (the file stays the editable source, and any file can replace it).
pub const BUILTIN: &str = include_str!("../../../deploy/departments.toml");

/// What names the built-in departments where a departments file is expected.
pub const BUILTIN_NAME: &str = "builtin";

/// The departments `source` names: [`BUILTIN_NAME`] for the built-in list, "" for none, else a
/// file's path.
pub fn load(source: &str) -> anyhow::Result<Vec<JoinDepartmentRequest>> {
    match source {
        "" => Ok(Vec::new()),
        BUILTIN_NAME => {
            parse_seed(BUILTIN).map_err(|e| anyhow::anyhow!("built-in departments: {e:#}"))
        }
        path => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read departments file {path}: {e}"))?;
            parse_seed(&text).map_err(|e| anyhow::anyhow!("departments file {path}: {e:#}"))
        }
    }
}

/// Parses seed text into join requests, each checked by the same rules as JoinDepartment;
/// an error names the entry (`department[3] (tax)`) and what is wrong with it.
pub fn parse_seed(text: &str) -> anyhow::Result<Vec<JoinDepartmentRequest>> {
    let file: SeedFile = toml::from_str(text)?;
    let mut codes = BTreeSet::new();
    let mut requests = Vec::with_capacity(file.department.len());
    for (i, entry) in file.department.into_iter().enumerate() {
        let which = format!("department[{i}] ({})", entry.code);
        let level = Level::parse_name(&entry.level).ok_or_else(|| {
            anyhow::anyhow!(
                "{which}: unknown level `{}` (city, town or village)",
                entry.level
            )
        })?;
        let categories = entry
            .categories
            .iter()
            .map(|name| {
                category::parse(name).map(|c| c as i32).ok_or_else(|| {
                    let known: Vec<String> = category::all().map(category::name).collect();
                    anyhow::anyhow!(
                        "{which}: unknown category `{name}`; one of: {}",
                        known.join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let request = JoinDepartmentRequest {
            code: entry.code,
            name: entry.name,
            level: level.to_proto() as i32,
            // A city entry with a town is kept, so the department rules refuse it.
            area: (!entry.town.is_empty() || !entry.village.is_empty()).then_some(Location {
                town: entry.town,
                village: entry.village,
            }),
            categories,
            review_body: entry.review_body,
        };
        match DepartmentSpec::parse(&request) {
            Ok(_) => {}
            Err(Error::InvalidArgument(violations)) => {
                let why: Vec<String> = violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect();
                anyhow::bail!("{which}: {}", why.join("; "));
            }
            Err(e) => anyhow::bail!("{which}: {e}"),
        }
        anyhow::ensure!(
            codes.insert(request.code.clone()),
            "{which}: the code is listed twice"
        );
        requests.push(request);
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yimen_proto::v1::{Category, DepartmentLevel};

    #[test]
    fn the_deployed_seed_file_parses() {
        let seed = parse_seed(BUILTIN).expect("parses");
        assert!(seed.len() >= 17, "{} departments", seed.len());
        let hr = seed
            .iter()
            .find(|d| d.code == "human-resources")
            .expect("人社局");
        assert_eq!(
            hr.categories,
            [
                Category::LabourWages as i32,
                Category::SocialInsurance as i32
            ]
        );
        let town = seed
            .iter()
            .find(|d| d.level == DepartmentLevel::Town as i32)
            .expect("a town unit");
        assert!(town.categories.contains(&(Category::LabourWages as i32)));
        assert!(
            !seed
                .iter()
                .any(|d| d.categories.contains(&(Category::MarriageFamily as i32))),
            "marriage_family stays with the city center"
        );
        let civil: Vec<(&str, i32)> = seed
            .iter()
            .filter(|d| d.categories.contains(&(Category::CivilCommercial as i32)))
            .map(|d| (d.code.as_str(), d.level))
            .collect();
        assert_eq!(
            civil,
            [("shipai-center", DepartmentLevel::Town as i32)],
            "civil_commercial outside 石牌镇 stays with the city center"
        );
    }

    #[test]
    fn seed_entry_maps_names_to_enum_values() {
        let seed = parse_seed(
            r#"
            [[department]]
            code = "longshan-mediation"
            name = "龙山社区调委会"
            level = "village"
            town = "郢中街道"
            village = "龙山社区"
            categories = ["marriage_family", "civil_commercial"]
            "#,
        )
        .expect("parses");
        assert_eq!(seed.len(), 1);
        assert_eq!(seed[0].level, DepartmentLevel::Village as i32);
        assert_eq!(
            seed[0].categories,
            [
                Category::MarriageFamily as i32,
                Category::CivilCommercial as i32
            ]
        );
        let area = seed[0].area.as_ref().expect("area");
        assert_eq!(
            (area.town.as_str(), area.village.as_str()),
            ("郢中街道", "龙山社区")
        );
    }

    #[test]
    fn unknown_category_is_rejected_naming_the_entry() {
        let err = parse_seed(
            "[[department]]\ncode = \"tax\"\nname = \"税务局\"\nlevel = \"city\"\ncategories = [\"weather\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("department[0] (tax)"), "{err}");
        assert!(err.contains("weather"), "{err}");
    }

    #[test]
    fn unknown_level_is_rejected_naming_the_entry() {
        let err =
            parse_seed("[[department]]\ncode = \"tax\"\nname = \"税务局\"\nlevel = \"province\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("department[0] (tax)") && err.contains("province"),
            "{err}"
        );
    }

    #[test]
    fn entry_breaking_a_department_rule_is_rejected_naming_the_field() {
        let err =
            parse_seed("[[department]]\ncode = \"yz\"\nname = \"司法所\"\nlevel = \"town\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("department[0] (yz)") && err.contains("area.town"),
            "{err}"
        );
    }

    #[test]
    fn city_entry_with_a_town_is_rejected() {
        let err = parse_seed(
            "[[department]]\ncode = \"tax\"\nname = \"税务局\"\nlevel = \"city\"\ntown = \"郢中街道\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("department[0] (tax)"), "{err}");
    }

    #[test]
    fn duplicate_code_is_rejected() {
        let entry = "[[department]]\ncode = \"tax\"\nname = \"税务局\"\nlevel = \"city\"\n";
        let err = parse_seed(&format!("{entry}{entry}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("department[1] (tax)") && err.contains("twice"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        assert!(
            parse_seed(
                "[[department]]\ncode = \"tax\"\nname = \"税务局\"\nlevel = \"city\"\nbudget = 3\n"
            )
            .is_err()
        );
    }

    #[test]
    fn empty_seed_is_no_departments() {
        assert!(parse_seed("").expect("parses").is_empty());
    }
}
