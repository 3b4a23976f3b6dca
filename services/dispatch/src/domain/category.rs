//! Short lowercase names of the categories (`social_assistance`), as the seed file, the store
//! and the reasons of assignments spell them.

use yimen_proto::v1::Category;

const PREFIX: &str = "CATEGORY_";

/// `Category::SocialAssistance` → `social_assistance`.
pub fn name(category: Category) -> String {
    let full = category.as_str_name();
    full.strip_prefix(PREFIX)
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// `social_assistance` → `Category::SocialAssistance`; `None` for unknown names and for
/// `unspecified`, which no department can own.
pub fn parse(name: &str) -> Option<Category> {
    let full = format!("{PREFIX}{}", name.trim().to_ascii_uppercase());
    Category::from_str_name(&full).filter(|c| *c != Category::Unspecified)
}

/// Every category a department may own, in wire order.
pub fn all() -> impl Iterator<Item = Category> {
    (1..).map_while(|i| Category::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_round_trips_through_its_name() {
        for category in all() {
            assert_eq!(parse(&name(category)), Some(category), "{category:?}");
        }
        assert_eq!(name(Category::LabourWages), "labour_wages");
    }

    #[test]
    fn unknown_and_unspecified_names_are_not_categories() {
        assert_eq!(parse("weather"), None);
        assert_eq!(parse("unspecified"), None);
    }
}
