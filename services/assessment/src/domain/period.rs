//! Assessment periods: half-open spans of time `[from, to)` in unix milliseconds. Months and
//! quarters are read on the center's calendar, China Standard Time (UTC+8, no daylight saving),
//! so the March bulletin starts at midnight of 1 March in China.

use chrono::{Datelike, NaiveDate, TimeZone};
use yimen_platform::calendar::{china, china_time};
use yimen_platform::error::{FieldViolation, Violations};
use yimen_platform::time::{millis, timestamp};
use yimen_proto::v1 as pb;

/// The years a bulletin or an assessment may be asked for.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Midnight in China at the start of the first day of `month` of `year`, in unix millis.
fn month_start(year: i32, month: u32) -> Option<i64> {
    let midnight = NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)?;
    let instant = china().from_local_datetime(&midnight).single()?;
    Some(instant.timestamp_millis())
}

/// The month after (`year`, `month`).
fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Inclusive.
    pub from: i64,
    /// Exclusive.
    pub to: i64,
}

impl Period {
    /// The calendar month (1-12) of `year` in China time; None when out of range (a year
    /// outside `YEARS` included).
    pub fn month(year: i32, month: u32) -> Option<Self> {
        if !YEARS.contains(&year) {
            return None;
        }
        Self::calendar_month(year, month)
    }

    fn calendar_month(year: i32, month: u32) -> Option<Self> {
        let (next_year, next) = next_month(year, month);
        Some(Self {
            from: month_start(year, month)?,
            to: month_start(next_year, next)?,
        })
    }

    /// The quarter (1-4) of `year` in China time: Q1 is January to March.
    pub fn quarter(year: i32, quarter: u32) -> Option<Self> {
        if !(1..=4).contains(&quarter) {
            return None;
        }
        let first = Self::month(year, quarter * 3 - 2)?;
        let last = Self::month(year, quarter * 3)?;
        Some(Self {
            from: first.from,
            to: last.to,
        })
    }

    /// The month (in China) that contains the instant `at`.
    pub fn month_of(at: i64) -> Self {
        let local = china_time(at);
        Self::calendar_month(local.year(), local.month())
            .expect("the month of a representable instant is representable")
    }

    /// The period a request asks for: unset (or set with neither bound) means the current
    /// month in China; otherwise both bounds are required and `from` must precede `to`.
    pub fn from_request(period: Option<&pb::Period>, now: i64) -> Result<Self, FieldViolation> {
        let Some(period) = period else {
            return Ok(Self::month_of(now));
        };
        match (&period.from, &period.to) {
            (None, None) => Ok(Self::month_of(now)),
            (Some(from), Some(to)) => {
                let (from, to) = (millis(from), millis(to));
                if from < to {
                    Ok(Self { from, to })
                } else {
                    Err(FieldViolation::new("period", "from must be before to"))
                }
            }
            (None, Some(_)) => Err(FieldViolation::new(
                "period.from",
                "must be set when period.to is",
            )),
            (Some(_), None) => Err(FieldViolation::new(
                "period.to",
                "must be set when period.from is",
            )),
        }
    }

    pub fn contains(&self, at: i64) -> bool {
        self.from <= at && at < self.to
    }

    pub fn to_proto(self) -> pb::Period {
        pb::Period {
            from: Some(timestamp(self.from)),
            to: Some(timestamp(self.to)),
        }
    }
}

/// Checks a requested year; out of range names the field `year`.
pub fn check_year(year: i32, violations: &mut Violations) {
    if !YEARS.contains(&year) {
        violations.add(
            "year",
            format!("must be between {} and {}", YEARS.start(), YEARS.end()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-02-28T16:00:00Z is 2026-03-01T00:00:00+08:00.
    const MARCH_2026_IN_CHINA: i64 = 1_772_294_400_000;
    // 2026-03-31T16:00:00Z is 2026-04-01T00:00:00+08:00.
    const APRIL_2026_IN_CHINA: i64 = 1_774_972_800_000;
    // 2025-12-31T16:00:00Z is 2026-01-01T00:00:00+08:00.
    const NEW_YEAR_2026_IN_CHINA: i64 = 1_767_196_800_000;

    #[test]
    fn a_month_runs_from_midnight_to_midnight_china_time() {
        let march = Period::month(2026, 3).unwrap();
        assert_eq!(march.from, MARCH_2026_IN_CHINA);
        assert_eq!(march.to, APRIL_2026_IN_CHINA);
        assert!(march.contains(MARCH_2026_IN_CHINA));
        assert!(!march.contains(MARCH_2026_IN_CHINA - 1));
        assert!(!march.contains(APRIL_2026_IN_CHINA));
    }

    #[test]
    fn december_ends_at_the_chinese_new_year_midnight() {
        let december = Period::month(2025, 12).unwrap();
        assert_eq!(december.to, NEW_YEAR_2026_IN_CHINA);
    }

    #[test]
    fn months_and_quarters_out_of_range_are_none() {
        assert_eq!(Period::month(2026, 0), None);
        assert_eq!(Period::month(2026, 13), None);
        assert_eq!(Period::month(1969, 1), None);
        assert_eq!(Period::quarter(2026, 0), None);
        assert_eq!(Period::quarter(2026, 5), None);
    }

    #[test]
    fn quarters_span_three_months_in_china_time() {
        let q1 = Period::quarter(2026, 1).unwrap();
        assert_eq!(q1.from, NEW_YEAR_2026_IN_CHINA);
        assert_eq!(q1.to, APRIL_2026_IN_CHINA);
        let q4 = Period::quarter(2025, 4).unwrap();
        assert_eq!(q4.from, Period::month(2025, 10).unwrap().from);
        assert_eq!(q4.to, NEW_YEAR_2026_IN_CHINA);
    }

    #[test]
    fn the_current_month_is_the_month_in_china() {
        // 31 March 23:00 UTC is already 1 April in China.
        let late_march_utc = APRIL_2026_IN_CHINA + 7 * 60 * 60 * 1000;
        assert_eq!(
            Period::month_of(late_march_utc),
            Period::month(2026, 4).unwrap()
        );
        assert_eq!(
            Period::month_of(APRIL_2026_IN_CHINA - 1),
            Period::month(2026, 3).unwrap()
        );
    }

    #[test]
    fn an_unset_period_is_the_current_month() {
        let now = MARCH_2026_IN_CHINA + 10;
        let march = Period::month(2026, 3).unwrap();
        assert_eq!(Period::from_request(None, now), Ok(march));
        assert_eq!(
            Period::from_request(Some(&pb::Period::default()), now),
            Ok(march)
        );
    }

    #[test]
    fn a_requested_period_must_be_ordered_and_complete() {
        let span = |from: i64, to: i64| pb::Period {
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        };
        assert_eq!(
            Period::from_request(Some(&span(1_000, 2_000)), 0),
            Ok(Period {
                from: 1_000,
                to: 2_000
            })
        );
        for bad in [span(2_000, 2_000), span(3_000, 2_000)] {
            let violation = Period::from_request(Some(&bad), 0).unwrap_err();
            assert_eq!(violation.field, "period");
        }
        let open_start = pb::Period {
            from: None,
            to: Some(timestamp(2_000)),
        };
        assert_eq!(
            Period::from_request(Some(&open_start), 0)
                .unwrap_err()
                .field,
            "period.from"
        );
    }
}
