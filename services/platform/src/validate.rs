//! Checks of single request fields, written once with one set of messages for every service:
//! required and optional text (trimmed, bounded in characters, not bytes, so Chinese text gets
//! the same room as Latin), ids, times and enum values. Each answers the value or the
//! [`FieldViolation`] naming its field, for [`Violations`](crate::error::Violations) to gather.

use std::fmt::Display;
use std::ops::RangeInclusive;

use prost_types::Timestamp;

use crate::error::FieldViolation;
use crate::time::{DAY_MILLIS, millis};

/// The violation of a required field left empty (or blank).
pub fn empty(field: &str) -> FieldViolation {
    FieldViolation::new(field, "must not be empty")
}

/// The violation of text longer than `max` characters.
pub fn too_long(field: &str, max: usize) -> FieldViolation {
    FieldViolation::new(field, format!("must be at most {max} characters"))
}

/// The violation of an enum value the contract does not define (or leaves unspecified).
pub fn unknown(field: &str, value: impl Display) -> FieldViolation {
    FieldViolation::new(field, format!("{value} is not a known value"))
}

/// Required text, trimmed: not empty.
pub fn required<'a>(field: &str, raw: &'a str) -> Result<&'a str, FieldViolation> {
    match raw.trim() {
        "" => Err(empty(field)),
        text => Ok(text),
    }
}

/// Required text, trimmed: not empty, at most `max` characters.
pub fn required_text(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    required(field, raw)?;
    optional_text(field, raw, max)
}

/// Optional text, trimmed: at most `max` characters, may be empty.
pub fn optional_text(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    let text = raw.trim();
    max_chars(field, text, max)?;
    Ok(text.to_string())
}

/// Text of at most `max` characters.
pub fn max_chars(field: &str, text: &str, max: usize) -> Result<(), FieldViolation> {
    if text.chars().count() > max {
        Err(too_long(field, max))
    } else {
        Ok(())
    }
}

/// A required UUID, in its canonical lowercase form.
pub fn uuid(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let raw = required(field, raw)?;
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| FieldViolation::new(field, "must be a UUID"))
}

/// A department code, trimmed: 2–40 characters of `a-z`, `0-9` and `-`, starting with a letter,
/// as dispatch registers departments (the code is the suffix of routing keys and queue names).
pub fn department_code(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let code = required(field, raw)?;
    let well_formed = (2..=40).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if well_formed {
        Ok(code.to_string())
    } else {
        Err(FieldViolation::new(
            field,
            "must be 2 to 40 characters of a-z, 0-9 and '-', starting with a letter",
        ))
    }
}

/// A required point in time, in unix milliseconds.
pub fn time(field: &str, value: Option<&Timestamp>) -> Result<i64, FieldViolation> {
    optional_time(field, value)?.ok_or_else(|| FieldViolation::new(field, "must be given"))
}

/// An optional point in time, in unix milliseconds. Refused when malformed or more than a
/// million years from the epoch, so arithmetic on it never overflows.
pub fn optional_time(
    field: &str,
    value: Option<&Timestamp>,
) -> Result<Option<i64>, FieldViolation> {
    let Some(ts) = value else { return Ok(None) };
    let bad = || FieldViolation::new(field, "not a valid time");
    if !(0..1_000_000_000).contains(&ts.nanos) || ts.seconds.checked_mul(1000).is_none() {
        return Err(bad());
    }
    let at = millis(ts);
    if at.unsigned_abs() > 1_000_000 * 366 * DAY_MILLIS as u64 {
        return Err(bad());
    }
    Ok(Some(at))
}

/// A number within `range` (both ends included).
pub fn within<T>(field: &str, value: T, range: RangeInclusive<T>) -> Result<T, FieldViolation>
where
    T: PartialOrd + Display,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

/// An amount (fen) that may be zero but not negative.
pub fn not_negative(field: &str, value: i64) -> Result<i64, FieldViolation> {
    if value < 0 {
        Err(FieldViolation::new(field, "must not be negative"))
    } else {
        Ok(value)
    }
}

/// An amount (fen) or a count that must be more than zero.
pub fn positive(field: &str, value: i64) -> Result<i64, FieldViolation> {
    if value > 0 {
        Ok(value)
    } else {
        Err(FieldViolation::new(field, "must be more than 0"))
    }
}

/// A required enum value of the contract: given (not its UNSPECIFIED zero) and known.
pub fn known<E>(field: &str, value: i32) -> Result<E, FieldViolation>
where
    E: TryFrom<i32>,
{
    known_or_any(field, value)?.ok_or_else(|| FieldViolation::new(field, "must be given"))
}

/// An optional enum value of the contract, as filters take it: None for its UNSPECIFIED zero
/// (any), else a known value.
pub fn known_or_any<E>(field: &str, value: i32) -> Result<Option<E>, FieldViolation>
where
    E: TryFrom<i32>,
{
    match E::try_from(value) {
        _ if value == 0 => Ok(None),
        Ok(known) => Ok(Some(known)),
        Err(_) => Err(unknown(field, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yimen_proto::v1::Category;

    #[test]
    fn department_codes_are_lowercase_ascii_starting_with_a_letter() {
        assert_eq!(
            department_code("d", " civil-affairs2 ").as_deref(),
            Ok("civil-affairs2")
        );
        for bad in [
            "",
            "a",
            "2roads",
            "Roads",
            "交通局",
            "road works",
            &"a".repeat(41),
        ] {
            assert!(department_code("d", bad).is_err(), "{bad}");
        }
        assert!(department_code("d", &"a".repeat(40)).is_ok());
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(required_text("name", "  王调解  ", 50).unwrap(), "王调解");
        assert_eq!(required_text("name", " ", 50).unwrap_err(), empty("name"));
        assert_eq!(
            required_text("name", &"名".repeat(51), 50).unwrap_err(),
            FieldViolation::new("name", "must be at most 50 characters")
        );
        assert!(required_text("name", &"名".repeat(50), 50).is_ok());
        assert_eq!(optional_text("room", "  ", 50).unwrap(), "");
        assert_eq!(
            optional_text("room", &"a".repeat(51), 50)
                .unwrap_err()
                .field,
            "room"
        );
        assert_eq!(required("department", " housing ").unwrap(), "housing");
    }

    #[test]
    fn uuids_are_canonical_and_others_refused() {
        let id = "0190A0A0-0000-7000-8000-000000000001";
        assert_eq!(uuid("id", id).unwrap(), id.to_lowercase());
        assert_eq!(
            uuid("id", " ").unwrap_err().description,
            "must not be empty"
        );
        assert_eq!(
            uuid("id", "case-1").unwrap_err().description,
            "must be a UUID"
        );
    }

    #[test]
    fn times_must_be_given_and_valid() {
        let ts = Timestamp {
            seconds: 1_767_225_600,
            nanos: 123_000_000,
        };
        assert_eq!(time("at", Some(&ts)).unwrap(), 1_767_225_600_123);
        assert_eq!(time("at", None).unwrap_err().description, "must be given");
        assert_eq!(optional_time("at", None), Ok(None));
        let bad = Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(time("at", Some(&bad)).unwrap_err().field, "at");
        let bad_nanos = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(time("at", Some(&bad_nanos)).is_err());
    }

    #[test]
    fn numbers_are_checked_against_their_bounds() {
        assert_eq!(within("month", 12, 1..=12), Ok(12));
        assert_eq!(
            within("month", 13, 1..=12).unwrap_err().description,
            "must be between 1 and 12"
        );
        assert_eq!(not_negative("fen", 0), Ok(0));
        assert_eq!(not_negative("fen", -1).unwrap_err().field, "fen");
        assert_eq!(positive("fen", 1), Ok(1));
        assert_eq!(
            positive("fen", 0).unwrap_err().description,
            "must be more than 0"
        );
    }

    #[test]
    fn enum_values_must_be_known_and_specified() {
        assert_eq!(
            known::<Category>("category", Category::Land as i32),
            Ok(Category::Land)
        );
        assert_eq!(
            known::<Category>("category", 0).unwrap_err().description,
            "must be given"
        );
        assert_eq!(known_or_any::<Category>("category", 0), Ok(None));
        assert_eq!(
            known_or_any::<Category>("category", 4),
            Ok(Some(Category::Land))
        );
        assert_eq!(
            known::<Category>("category", 999).unwrap_err().description,
            "999 is not a known value"
        );
    }
}
