//! What an operator types, read into the contract's types: enum values by their short names
//! (`labour-wages`), people, amounts in yuan and times (dates are China's days).

use yimen_proto::v1::*;

use crate::client::CliError;

/// `visit` → `CHANNEL_VISIT`; `labour-wages` → `CATEGORY_LABOUR_WAGES`.
pub fn enum_name(prefix: &str, short: &str) -> String {
    let upper = short.trim().to_ascii_uppercase().replace('-', "_");
    if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    }
}

/// `CATEGORY_LABOUR_WAGES` → `labour-wages`.
pub fn short_name(prefix: &str, full: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// One parser per contract enum: its short names, never `unspecified`, and an error that
/// lists every value it takes.
macro_rules! enum_parsers {
    ($($(#[$doc:meta])* $parse:ident, $all:ident -> $ty:ident, $prefix:literal, $what:literal;)*) => {$(
        $(#[$doc])*
        pub fn $parse(s: &str) -> Result<$ty, CliError> {
            $ty::from_str_name(&enum_name($prefix, s))
                .filter(|v| *v != $ty::Unspecified)
                .ok_or_else(|| {
                    CliError(format!("unknown {} `{s}`; one of: {}", $what, $all().join(", ")))
                })
        }

        /// Every short name of the enum, in the contract's order.
        pub fn $all() -> Vec<String> {
            (1..)
                .map_while(|i| $ty::try_from(i).ok())
                .map(|v| short_name($prefix, v.as_str_name()))
                .collect()
        }
    )*};
}

enum_parsers! {
    channel, all_channels -> Channel, "CHANNEL_", "channel";
    category, all_categories -> Category, "CATEGORY_", "category";
    level, all_levels -> DepartmentLevel, "DEPARTMENT_LEVEL_", "level";
    status, all_statuses -> CaseStatus, "CASE_STATUS_", "status";
    assignment_state, all_assignment_states -> AssignmentState, "ASSIGNMENT_STATE_", "assignment state";
    satisfaction, all_satisfactions -> Satisfaction, "SATISFACTION_", "satisfaction";
    linkage, all_linkages -> Linkage, "LINKAGE_", "linkage";
    escalation, all_escalations -> EscalationLevel, "ESCALATION_LEVEL_", "level";
    refusal_reason, all_refusal_reasons -> RefusalReason, "REFUSAL_REASON_", "refusal reason";
}

/// `Name[,ID number[,phone]]`.
pub fn person(s: &str) -> Person {
    let mut parts = s.splitn(3, ',').map(|p| p.trim().to_string());
    Person {
        name: parts.next().unwrap_or_default(),
        id_number: parts.next().unwrap_or_default(),
        phone: parts.next().unwrap_or_default(),
    }
}

/// `1234.56` yuan → 123456 fen, exactly.
pub fn yuan(s: &str) -> Result<Money, CliError> {
    yimen_platform::money::parse_yuan(s)
        .map(|fen| Money { fen })
        .map_err(|e| CliError(e.to_string()))
}

/// `2026-11-27` (midnight that day in China, where the center works) or an RFC 3339 instant.
pub fn time(s: &str) -> Result<prost_types::Timestamp, CliError> {
    let millis = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        t.timestamp_millis()
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_time(chrono::NaiveTime::MIN)
            .and_local_timezone(yimen_platform::calendar::china())
            .single()
            .map(|t| t.timestamp_millis())
            .unwrap_or_default()
    } else {
        return Err(CliError(format!(
            "`{s}` is not a date (2026-11-27) or RFC 3339 time"
        )));
    };
    Ok(yimen_platform::time::timestamp(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_amounts_parse_exactly_to_fen() {
        assert_eq!(yuan("54000").unwrap().fen, 5_400_000);
        assert_eq!(yuan("12.5").unwrap().fen, 1250);
        assert_eq!(yuan("0.07").unwrap().fen, 7);
        assert!(yuan("1.234").is_err());
        assert!(yuan("abc").is_err());
    }

    #[test]
    fn amounts_between_minus_one_and_zero_yuan_keep_their_sign() {
        assert_eq!(yuan("-0.50").unwrap().fen, -50);
    }

    #[test]
    fn short_names_map_to_proto_enums() {
        assert_eq!(channel("court-referral").unwrap(), Channel::CourtReferral);
        assert_eq!(category("labour-wages").unwrap(), Category::LabourWages);
        assert_eq!(status("in-mediation").unwrap(), CaseStatus::InMediation);
        assert!(category("nonsense").is_err());
        assert!(all_categories().contains(&"civil-commercial".to_string()));
    }

    #[test]
    fn unspecified_is_not_a_value_and_errors_list_the_values() {
        assert!(satisfaction("unspecified").is_err());
        let CliError(message) = linkage("mediation").unwrap_err();
        assert_eq!(
            message,
            "unknown linkage `mediation`; one of: court, petition, administrative, guidance"
        );
    }

    #[test]
    fn person_is_name_then_optional_id_and_phone() {
        let p = person("张三, 420881199001011234");
        assert_eq!(p.name, "张三");
        assert_eq!(p.id_number, "420881199001011234");
        assert_eq!(p.phone, "");
    }

    #[test]
    fn a_date_is_midnight_in_china() {
        // 2026-11-01T00:00:00+08:00 is 2026-10-31T16:00:00Z.
        let t = time("2026-11-01").unwrap();
        assert_eq!(
            t.seconds,
            chrono::DateTime::parse_from_rfc3339("2026-10-31T16:00:00Z")
                .unwrap()
                .timestamp()
        );
        assert_eq!(time("2026-11-01T00:00:00Z").unwrap().seconds % 86_400, 0);
        assert!(time("1 November").is_err());
    }
}
