//! The spans of time figures are counted over, written once for every service: half-open
//! `[from, to)` in unix milliseconds, with days, months and quarters read on the center's
//! calendar (China Standard Time, see [`crate::calendar`]), so the March bulletin starts at
//! midnight of 1 March in China and a day's cases are those registered between midnights in
//! Zhongxiang.

use chrono::{Datelike, NaiveDate, TimeZone};
use yimen_proto::v1 as pb;

use crate::calendar::{CHINA_OFFSET_MILLIS, china, china_time};
use crate::error::{FieldViolation, Violations};
use crate::time::{DAY_MILLIS, timestamp};
use crate::validate::{optional_time, within};

/// The years a month or a quarter may be asked for.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// A half-open span of time, in unix milliseconds: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
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
        let (next_year, next) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
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

    /// Reads a requested period whose unset ends are filled in: no `to` means now, no `from`
    /// means `days` before `to`. A period that does not move forward is refused on `period`.
    pub fn parse_or_last_days(
        requested: Option<&pb::Period>,
        now: i64,
        days: i64,
    ) -> Result<Self, FieldViolation> {
        let requested = requested.cloned().unwrap_or_default();
        let from = optional_time("period.from", requested.from.as_ref())?;
        let to = optional_time("period.to", requested.to.as_ref())?.unwrap_or(now);
        let from = from.unwrap_or(to.saturating_sub(days.saturating_mul(DAY_MILLIS)));
        Self::ordered(from, to)
    }

    /// Reads a requested period given whole or not at all: unset (or set with neither end)
    /// means the current month in China; otherwise both ends are required.
    pub fn parse_or_this_month(
        requested: Option<&pb::Period>,
        now: i64,
    ) -> Result<Self, FieldViolation> {
        let requested = requested.cloned().unwrap_or_default();
        let from = optional_time("period.from", requested.from.as_ref())?;
        let to = optional_time("period.to", requested.to.as_ref())?;
        match (from, to) {
            (None, None) => Ok(Self::month_of(now)),
            (Some(from), Some(to)) => Self::ordered(from, to),
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

    fn ordered(from: i64, to: i64) -> Result<Self, FieldViolation> {
        if from < to {
            Ok(Self { from, to })
        } else {
            Err(FieldViolation::new("period", "`from` must be before `to`"))
        }
    }

    /// How long the period is, in milliseconds.
    pub fn millis(&self) -> i64 {
        self.to - self.from
    }

    /// The period of the same length just before this one, that changes are measured against.
    pub fn previous(&self) -> Self {
        Self {
            from: self.from.saturating_sub(self.millis()),
            to: self.from,
        }
    }

    pub fn contains(&self, at: i64) -> bool {
        (self.from..self.to).contains(&at)
    }

    /// The starts of the China days the period touches, in order.
    pub fn days(&self) -> Vec<i64> {
        let mut days = Vec::new();
        let mut day = day_start(self.from);
        while day < self.to {
            days.push(day);
            day += DAY_MILLIS;
        }
        days
    }

    pub fn to_proto(self) -> pb::Period {
        pb::Period {
            from: Some(timestamp(self.from)),
            to: Some(timestamp(self.to)),
        }
    }
}

/// Midnight in China at the start of the first day of `month` of `year`, in unix millis.
fn month_start(year: i32, month: u32) -> Option<i64> {
    let midnight = NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)?;
    let instant = china().from_local_datetime(&midnight).single()?;
    Some(instant.timestamp_millis())
}

/// Checks a requested year; out of range names the field `year`.
pub fn check_year(year: i32, violations: &mut Violations) {
    violations.check(within("year", year, YEARS));
}

/// The start (00:00 China time) of the China day holding `at`.
pub fn day_start(at: i64) -> i64 {
    (at + CHINA_OFFSET_MILLIS).div_euclid(DAY_MILLIS) * DAY_MILLIS - CHINA_OFFSET_MILLIS
}

/// Counts instants per China day of `period`, every day present (zero days included).
pub fn per_day(period: &Period, instants: impl IntoIterator<Item = i64>) -> Vec<(i64, u64)> {
    let days = period.days();
    let mut counts = vec![0u64; days.len()];
    let first = days.first().copied().unwrap_or(period.from);
    for at in instants {
        if period.contains(at) {
            let index = ((day_start(at) - first) / DAY_MILLIS) as usize;
            if let Some(count) = counts.get_mut(index) {
                *count += 1;
            }
        }
    }
    days.into_iter().zip(counts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    // 2025-12-31T16:00:00Z is 2026-01-01T00:00:00+08:00.
    const NEW_YEAR_IN_CHINA: i64 = 1_767_196_800_000;
    // 2026-02-28T16:00:00Z is 2026-03-01T00:00:00+08:00.
    const MARCH_2026_IN_CHINA: i64 = 1_772_294_400_000;
    // 2026-03-31T16:00:00Z is 2026-04-01T00:00:00+08:00.
    const APRIL_2026_IN_CHINA: i64 = 1_774_972_800_000;

    fn period(from: Option<i64>, to: Option<i64>) -> Option<pb::Period> {
        Some(pb::Period {
            from: from.map(timestamp),
            to: to.map(timestamp),
        })
    }

    fn last_30_days(requested: Option<&pb::Period>, now: i64) -> Result<Period, FieldViolation> {
        Period::parse_or_last_days(requested, now, 30)
    }

    #[test]
    fn unset_period_is_the_last_thirty_days() {
        let now = NEW_YEAR_IN_CHINA + 123;
        let p = last_30_days(None, now).unwrap();
        assert_eq!(
            p,
            Period {
                from: now - 30 * DAY_MILLIS,
                to: now
            }
        );
        let open_start = last_30_days(period(None, Some(now)).as_ref(), 0).unwrap();
        assert_eq!(open_start, p);
        let open_end = last_30_days(period(Some(now - DAY_MILLIS), None).as_ref(), now).unwrap();
        assert_eq!(open_end.millis(), DAY_MILLIS);
    }

    #[test]
    fn a_period_that_does_not_move_forward_is_refused_on_period() {
        for (from, to) in [(10, 10), (11, 10)] {
            let err = last_30_days(period(Some(from), Some(to)).as_ref(), 0).unwrap_err();
            assert_eq!(err.field, "period");
        }
        let bad = pb::Period {
            from: Some(Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            to: None,
        };
        assert_eq!(
            last_30_days(Some(&bad), 0).unwrap_err().field,
            "period.from"
        );
        assert_eq!(
            Period::parse_or_this_month(Some(&bad), 0)
                .unwrap_err()
                .field,
            "period.from"
        );
    }

    #[test]
    fn previous_period_has_the_same_length_and_ends_where_this_starts() {
        let p = Period {
            from: 1_000,
            to: 1_600,
        };
        assert_eq!(
            p.previous(),
            Period {
                from: 400,
                to: 1_000
            }
        );
    }

    #[test]
    fn days_turn_at_midnight_china_time() {
        assert_eq!(day_start(NEW_YEAR_IN_CHINA), NEW_YEAR_IN_CHINA);
        assert_eq!(
            day_start(NEW_YEAR_IN_CHINA - 1),
            NEW_YEAR_IN_CHINA - DAY_MILLIS
        );
        assert_eq!(
            day_start(NEW_YEAR_IN_CHINA + DAY_MILLIS - 1),
            NEW_YEAR_IN_CHINA
        );
    }

    #[test]
    fn per_day_counts_every_day_of_the_period_including_empty_ones() {
        // From noon on 1 January (China) to 06:00 on 4 January: four days touched.
        let p = Period {
            from: NEW_YEAR_IN_CHINA + DAY_MILLIS / 2,
            to: NEW_YEAR_IN_CHINA + 3 * DAY_MILLIS + DAY_MILLIS / 4,
        };
        let instants = [
            NEW_YEAR_IN_CHINA + DAY_MILLIS / 2, // 1 Jan, first instant of the period
            NEW_YEAR_IN_CHINA + DAY_MILLIS - 1, // 1 Jan, last millisecond
            NEW_YEAR_IN_CHINA + 2 * DAY_MILLIS, // 3 Jan, midnight
            NEW_YEAR_IN_CHINA,                  // before the period: not counted
            NEW_YEAR_IN_CHINA + 3 * DAY_MILLIS + DAY_MILLIS / 4, // the end is exclusive
        ];
        let got = per_day(&p, instants);
        let day = |n: i64| NEW_YEAR_IN_CHINA + n * DAY_MILLIS;
        assert_eq!(got, [(day(0), 2), (day(1), 0), (day(2), 1), (day(3), 0)]);
    }

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
        assert_eq!(december.to, NEW_YEAR_IN_CHINA);
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
        assert_eq!(q1.from, NEW_YEAR_IN_CHINA);
        assert_eq!(q1.to, APRIL_2026_IN_CHINA);
        let q4 = Period::quarter(2025, 4).unwrap();
        assert_eq!(q4.from, Period::month(2025, 10).unwrap().from);
        assert_eq!(q4.to, NEW_YEAR_IN_CHINA);
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
        assert_eq!(Period::parse_or_this_month(None, now), Ok(march));
        assert_eq!(
            Period::parse_or_this_month(Some(&pb::Period::default()), now),
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
            Period::parse_or_this_month(Some(&span(1_000, 2_000)), 0),
            Ok(Period {
                from: 1_000,
                to: 2_000
            })
        );
        for bad in [span(2_000, 2_000), span(3_000, 2_000)] {
            let violation = Period::parse_or_this_month(Some(&bad), 0).unwrap_err();
            assert_eq!(violation.field, "period");
        }
        let open_start = pb::Period {
            from: None,
            to: Some(timestamp(2_000)),
        };
        assert_eq!(
            Period::parse_or_this_month(Some(&open_start), 0)
                .unwrap_err()
                .field,
            "period.from"
        );
    }

    #[test]
    fn years_outside_the_range_are_refused_on_year() {
        let mut v = Violations::new();
        check_year(2026, &mut v);
        assert!(v.is_empty());
        check_year(1969, &mut v);
        assert!(v.finish().is_err());
    }
}
