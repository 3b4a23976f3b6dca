//! Daily attendance of the staff stationed at the center (指纹打卡). Staff ids are officials'
//! work numbers, not petitioners' data.

use yimen_platform::error::FieldViolation;
use yimen_platform::validate;

pub const STAFF_ID_MAX: usize = 64;

/// A staff id as given, trimmed: not empty, at most 64 characters, no control characters.
pub fn parse_staff_id(raw: &str) -> Result<String, FieldViolation> {
    let id = validate::required_text("staff_id", raw, STAFF_ID_MAX)?;
    if id.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            "staff_id",
            "must not contain control characters",
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_ids_are_trimmed_and_bounded() {
        assert_eq!(parse_staff_id("  S-0042 ").unwrap(), "S-0042");
        assert_eq!(
            parse_staff_id(&"工".repeat(64)).unwrap().chars().count(),
            64
        );
        for bad in ["", "   ", "a\nb"] {
            assert_eq!(parse_staff_id(bad).unwrap_err().field, "staff_id");
        }
        assert!(parse_staff_id(&"x".repeat(65)).is_err());
    }
}
