//! How a case is named: its UUID (the id every service shares) and its readable number
//! `YM-<year>-<seq>` (e.g. `YM-2026-000123`), counted from 1 each year, which a petitioner can
//! read out over the phone.

use yimen_platform::error::FieldViolation;
use yimen_platform::validate;

/// The readable case number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNumber(String);

impl CaseNumber {
    /// The `seq`-th case of `year` (counted from 1), zero-padded to six digits; a seventh digit
    /// simply follows in a year of more than 999,999 cases.
    pub fn new(year: i32, seq: i64) -> Self {
        Self(format!("YM-{year}-{seq:06}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Numbers of one year reserved together (`intake.case_number_block`), handed out in turn, so
/// registrations do not queue on the counter row through each other's commits. A number
/// reserved but never used (a failed registration, a process that stopped) is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberBlock {
    next: i64,
    last: i64,
}

impl NumberBlock {
    /// The `count` numbers ending at `last`.
    pub fn ending_at(last: i64, count: i64) -> Self {
        Self {
            next: last - count + 1,
            last,
        }
    }

    /// The next number of the block, or `None` once it is used up.
    pub fn take(&mut self) -> Option<i64> {
        (self.next <= self.last).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// How a caller names a case: by id or by number. Either way it is the key the store looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseRef {
    /// The UUID, in its canonical lowercase hyphenated form.
    Id(String),
    /// Anything else is taken as a case number, uppercased (`ym-2026-000001` is fine).
    Number(String),
}

/// Longer than any id or number; refuses pasted junk before it reaches the store.
const CASE_REF_MAX: usize = 100;

impl CaseRef {
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldViolation::new(
                "case_ref",
                "name the case by its id or its number",
            ));
        }
        validate::max_chars("case_ref", raw, CASE_REF_MAX)?;
        Ok(match uuid::Uuid::parse_str(raw) {
            Ok(id) => Self::Id(id.to_string()),
            Err(_) => Self::Number(raw.to_uppercase()),
        })
    }

    pub fn key(&self) -> &str {
        match self {
            Self::Id(k) | Self::Number(k) => k,
        }
    }

    /// The column of `cases` the key is found in (each has its own index).
    pub fn column(&self) -> &'static str {
        match self {
            Self::Id(_) => "case_id",
            Self::Number(_) => "case_number",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_block_hands_out_its_numbers_in_turn_then_none() {
        let mut block = NumberBlock::ending_at(12, 3);
        assert_eq!(block.take(), Some(10));
        assert_eq!(block.take(), Some(11));
        assert_eq!(block.take(), Some(12));
        assert_eq!(block.take(), None);
        assert_eq!(NumberBlock::ending_at(5, 0).take(), None);
    }

    use super::*;

    #[test]
    fn case_number_is_year_and_six_digit_sequence() {
        assert_eq!(CaseNumber::new(2026, 123).as_str(), "YM-2026-000123");
        assert_eq!(CaseNumber::new(2026, 1).as_str(), "YM-2026-000001");
    }

    #[test]
    fn case_number_grows_a_digit_past_a_million() {
        assert_eq!(CaseNumber::new(2027, 1_234_567).as_str(), "YM-2027-1234567");
    }

    #[test]
    fn case_ref_recognises_a_uuid_in_any_case() {
        let id = uuid::Uuid::now_v7();
        let upper = id.to_string().to_uppercase();
        assert_eq!(CaseRef::parse(&upper), Ok(CaseRef::Id(id.to_string())));
    }

    #[test]
    fn case_ref_takes_anything_else_as_a_case_number() {
        assert_eq!(
            CaseRef::parse(" ym-2026-000001 "),
            Ok(CaseRef::Number("YM-2026-000001".into()))
        );
    }

    #[test]
    fn empty_case_ref_is_rejected() {
        assert_eq!(CaseRef::parse("  ").unwrap_err().field, "case_ref");
    }
}
