//! How analysis writes things for people: category names in alert facts and recommendations,
//! channel keys in figures, ordinals.

use yimen_proto::v1::{Category, Channel};

/// A category as a reader says it: `civil and commercial`.
pub fn category(category: Category) -> &'static str {
    use Category::*;
    match category {
        Unspecified => "an unspecified category",
        SocialAssistance => "social assistance",
        LabourWages => "labour wages",
        SocialInsurance => "social insurance",
        Land => "land",
        MedicalInsurance => "medical insurance",
        HousingProperty => "housing and property",
        Expropriation => "expropriation",
        HealthMedical => "health and medical care",
        Transport => "transport",
        Environment => "environment",
        LegalAid => "legal aid",
        PublicSecurity => "public security",
        Litigation => "litigation",
        Agriculture => "agriculture",
        CivilCommercial => "civil and commercial",
        MarriageFamily => "marriage and family",
        FoodDrug => "food and drugs",
        Education => "education",
        Taxation => "taxation",
        WorkSafety => "work safety",
        Other => "other matters",
    }
}

/// A stored category number as the enum; unknown numbers read as unspecified.
pub fn category_of(stored: i64) -> Category {
    i32::try_from(stored)
        .ok()
        .and_then(|c| Category::try_from(c).ok())
        .unwrap_or(Category::Unspecified)
}

/// The key of a channel in figures: its enum name without the prefix, lowercase (`visit`,
/// `court_referral`); `unspecified` for unknown numbers.
pub fn channel_key(stored: i64) -> String {
    let channel = i32::try_from(stored)
        .ok()
        .and_then(|c| Channel::try_from(c).ok())
        .unwrap_or(Channel::Unspecified);
    let full = channel.as_str_name();
    full.strip_prefix("CHANNEL_")
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// The key of an alert kind in metrics: its enum name without the prefix, lowercase
/// (`collective`, `repeat_petitioner`, `no_owner`, `overdue`).
pub fn alert_kind_key(kind: yimen_proto::v1::AlertKind) -> String {
    let full = kind.as_str_name();
    full.strip_prefix("ALERT_KIND_")
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// 1 → `1st`, 2 → `2nd`, 11 → `11th`, 23 → `23rd`.
pub fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `1 time`, `3 times`.
pub fn times(n: u64) -> String {
    if n == 1 {
        "1 time".into()
    } else {
        format!("{n} times")
    }
}

/// `1 day`, `3 days`.
pub fn days(n: u64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_follow_english() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }

    #[test]
    fn counts_of_times_and_days_agree_in_number() {
        assert_eq!((times(1), times(2)), ("1 time".into(), "2 times".into()));
        assert_eq!((days(1), days(3)), ("1 day".into(), "3 days".into()));
    }

    #[test]
    fn channels_are_keyed_by_lowercase_name() {
        assert_eq!(channel_key(Channel::Visit as i64), "visit");
        assert_eq!(channel_key(Channel::CourtReferral as i64), "court_referral");
        assert_eq!(channel_key(99), "unspecified");
    }

    #[test]
    fn every_category_has_a_readable_name() {
        assert_eq!(category(Category::CivilCommercial), "civil and commercial");
        assert_eq!(category(Category::LabourWages), "labour wages");
        assert_eq!(category_of(99), Category::Unspecified);
        assert_eq!(category_of(Category::Land as i64), Category::Land);
    }
}
