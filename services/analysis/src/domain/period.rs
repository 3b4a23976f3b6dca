//! The periods figures are counted over, and the center's days: China Standard Time (UTC+8,
//! no daylight saving), so a day's cases are those registered between midnights in Zhongxiang.

use prost_types::Timestamp;
use yimen_platform::error::FieldViolation;
use yimen_platform::time::{DAY_MILLIS, millis, timestamp};
use yimen_proto::v1 as pb;

/// What an unset period means: the last 30 days, ending now.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest period a trend is drawn over, one point a day (about ten years).
pub const TREND_DAYS_MAX: i64 = 3700;

use yimen_platform::calendar::CHINA_OFFSET_MILLIS;

/// A half-open span of time, in unix milliseconds: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

impl Period {
    /// Reads a requested period. Unset ends are filled in: no `to` means now, no `from` means
    /// 30 days before `to`. A period that does not move forward is refused on `period`.
    pub fn parse(requested: Option<&pb::Period>, now: i64) -> Result<Self, FieldViolation> {
        let requested = requested.cloned().unwrap_or_default();
        let from = instant("period.from", requested.from.as_ref())?;
        let to = instant("period.to", requested.to.as_ref())?;
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to.saturating_sub(DEFAULT_DAYS * DAY_MILLIS));
        if from >= to {
            return Err(FieldViolation::new("period", "`from` must be before `to`"));
        }
        Ok(Self { from, to })
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

/// A timestamp as millis; refuses one that is malformed or out of range.
fn instant(field: &str, ts: Option<&Timestamp>) -> Result<Option<i64>, FieldViolation> {
    let Some(ts) = ts else { return Ok(None) };
    let bad = || FieldViolation::new(field, "not a valid time");
    if !(0..1_000_000_000).contains(&ts.nanos) || ts.seconds.checked_mul(1000).is_none() {
        return Err(bad());
    }
    // Within a million years of the epoch, so period arithmetic never overflows.
    let at = millis(ts);
    if at.unsigned_abs() > 1_000_000 * 366 * DAY_MILLIS as u64 {
        return Err(bad());
    }
    Ok(Some(at))
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

    // 2025-12-31T16:00:00Z is 2026-01-01T00:00:00+08:00.
    const NEW_YEAR_IN_CHINA: i64 = 1_767_196_800_000;

    fn period(from: Option<i64>, to: Option<i64>) -> Option<pb::Period> {
        Some(pb::Period {
            from: from.map(timestamp),
            to: to.map(timestamp),
        })
    }

    #[test]
    fn unset_period_is_the_last_thirty_days() {
        let now = NEW_YEAR_IN_CHINA + 123;
        let p = Period::parse(None, now).unwrap();
        assert_eq!(
            p,
            Period {
                from: now - 30 * DAY_MILLIS,
                to: now
            }
        );
        let open_start = Period::parse(period(None, Some(now)).as_ref(), 0).unwrap();
        assert_eq!(open_start, p);
        let open_end = Period::parse(period(Some(now - DAY_MILLIS), None).as_ref(), now).unwrap();
        assert_eq!(open_end.millis(), DAY_MILLIS);
    }

    #[test]
    fn a_period_that_does_not_move_forward_is_refused_on_period() {
        for (from, to) in [(10, 10), (11, 10)] {
            let err = Period::parse(period(Some(from), Some(to)).as_ref(), 0).unwrap_err();
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
            Period::parse(Some(&bad), 0).unwrap_err().field,
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
}
