//! Checks of single request fields shared by every request: ids, times and free text. Each
//! answers the value or a violation naming its field.

use prost_types::Timestamp;
use yimen_platform::error::FieldViolation;

/// A UUID (an id this service or intake gave), in its canonical lowercase form.
pub fn uuid(field: &str, value: &str) -> Result<String, FieldViolation> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldViolation::new(field, "must not be empty"));
    }
    uuid::Uuid::parse_str(value)
        .map(|id| id.to_string())
        .map_err(|_| FieldViolation::new(field, "must be a UUID"))
}

/// A required point in time, in unix milliseconds.
pub fn time(field: &str, value: Option<&Timestamp>) -> Result<i64, FieldViolation> {
    let ts = value.ok_or_else(|| FieldViolation::new(field, "must be given"))?;
    ts.seconds
        .checked_mul(1000)
        .filter(|_| (0..1_000_000_000).contains(&ts.nanos))
        .and_then(|ms| ms.checked_add(i64::from(ts.nanos / 1_000_000)))
        .ok_or_else(|| FieldViolation::new(field, "not a valid time"))
}

/// Free text, trimmed: at most `max` characters, and not empty when `required`.
pub fn text(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldViolation> {
    let value = value.trim();
    if required && value.is_empty() {
        Err(FieldViolation::new(field, "must not be empty"))
    } else if value.chars().count() > max {
        Err(FieldViolation::new(
            field,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn text_is_trimmed_and_bounded() {
        assert_eq!(text("name", "  王调解  ", 50, true).unwrap(), "王调解");
        assert!(text("name", "", 50, true).is_err());
        assert_eq!(text("room", "", 50, false).unwrap(), "");
        assert!(text("name", &"名".repeat(51), 50, true).is_err());
        assert!(text("name", &"名".repeat(50), 50, true).is_ok());
    }
}
