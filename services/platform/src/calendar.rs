//! The center's calendar, written once for every service: China Standard Time (UTC+8, no
//! daylight saving), in which case numbers roll over at new year, deadlines are read as dates,
//! days are counted and bulletins cover months; and the public holidays a legal period skips
//! at its end ([`Holidays`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc, Weekday};

use crate::time::DAY_MILLIS;

/// UTC+8, in seconds.
pub const CHINA_OFFSET_SECS: i32 = 8 * 60 * 60;

/// UTC+8, in milliseconds.
pub const CHINA_OFFSET_MILLIS: i64 = CHINA_OFFSET_SECS as i64 * 1000;

/// China Standard Time as a chrono offset.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(CHINA_OFFSET_SECS).expect("UTC+8 is a valid offset")
}

/// An instant, read in China.
pub fn china_time(millis: i64) -> DateTime<FixedOffset> {
    let offset = china();
    // Out of range only hundreds of millennia away; the epoch stands in.
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .with_timezone(&offset)
}

/// The year (in China) of an instant.
pub fn year(millis: i64) -> i32 {
    china_time(millis).year()
}

/// The date (in China) of an instant, as `YYYY-MM-DD`.
pub fn date(millis: i64) -> String {
    china_time(millis).format("%Y-%m-%d").to_string()
}

/// The public-holiday calendar built into the binary: `deploy/holidays.toml` as it was when the
/// binary was built (the file stays the editable source, and any file can replace it).
pub const BUILTIN_HOLIDAYS: &str = include_str!("../../../deploy/holidays.toml");

/// What names the built-in calendar where a holidays file is expected.
pub const BUILTIN_NAME: &str = "builtin";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidaysFile {
    #[serde(default)]
    year: Vec<HolidayYear>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayYear {
    year: i32,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    workdays: Vec<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Days {
    /// Counting every day as a working day: no calendar at all.
    every_day_works: bool,
    holidays: BTreeSet<NaiveDate>,
    /// Weekend days made working days (调休).
    workdays: BTreeSet<NaiveDate>,
}

/// Which days are working days, for the end of a legal period: a period whose last day is a
/// public holiday or a weekend ends on the next working day (信访工作条例, and the general rule
/// on periods). Read from a holidays file (`deploy/holidays.toml`, built in) named by a
/// setting: `builtin`, a file's path, or "" for none (every day a working day). As a setting it
/// is the source's name, loaded when the settings are read, so a broken file stops the start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Holidays {
    source: String,
    days: Arc<Days>,
}

impl Default for Holidays {
    fn default() -> Self {
        Self::load(BUILTIN_NAME).expect("the built-in holidays file parses")
    }
}

impl TryFrom<String> for Holidays {
    type Error = anyhow::Error;

    fn try_from(source: String) -> anyhow::Result<Self> {
        Self::load(&source)
    }
}

impl From<Holidays> for String {
    fn from(holidays: Holidays) -> String {
        holidays.source
    }
}

impl Holidays {
    /// No calendar: every day is a working day, so periods end exactly `days` later.
    pub fn none() -> Self {
        Self {
            source: String::new(),
            days: Arc::new(Days {
                every_day_works: true,
                ..Days::default()
            }),
        }
    }

    /// The calendar `source` names: [`BUILTIN_NAME`], a file's path, or "" for none.
    pub fn load(source: &str) -> anyhow::Result<Self> {
        let days = match source {
            "" => return Ok(Self::none()),
            BUILTIN_NAME => {
                parse(BUILTIN_HOLIDAYS).map_err(|e| anyhow::anyhow!("built-in holidays: {e:#}"))?
            }
            path => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read holidays file {path}: {e}"))?;
                parse(&text).map_err(|e| anyhow::anyhow!("holidays file {path}: {e:#}"))?
            }
        };
        Ok(Self {
            source: source.to_string(),
            days: Arc::new(days),
        })
    }

    /// Parses the text of a holidays file (no source name: tests and `load`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(Self {
            source: String::new(),
            days: Arc::new(parse(text)?),
        })
    }

    /// Whether `date` (in China) is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        let days = &self.days;
        if days.every_day_works || days.workdays.contains(&date) {
            return true;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !days.holidays.contains(&date)
    }

    /// Whether the date (in China) of the instant `at` is a working day.
    pub fn is_working_at(&self, at: i64) -> bool {
        self.is_working_day(china_time(at).date_naive())
    }

    /// `at`, or the same time of the first working day after it when its date (in China) is a
    /// rest day.
    pub fn next_working(&self, at: i64) -> i64 {
        let mut end = at;
        // A year of rest days in a row would be a broken file; stop there rather than spin.
        for _ in 0..366 {
            if self.is_working_at(end) {
                return end;
            }
            end += DAY_MILLIS;
        }
        end
    }

    /// The end of a period of `days` days from `from`: `days` later, moved to the next working
    /// day when that day is a rest day.
    pub fn period_end(&self, from: i64, days: u32) -> i64 {
        self.next_working(from + i64::from(days) * DAY_MILLIS)
    }
}

fn parse(text: &str) -> anyhow::Result<Days> {
    let file: HolidaysFile = toml::from_str(text)?;
    let mut days = Days::default();
    for (i, year) in file.year.iter().enumerate() {
        for (list, into) in [
            (&year.holidays, &mut days.holidays),
            (&year.workdays, &mut days.workdays),
        ] {
            for text in list {
                let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                    anyhow::anyhow!(
                        "year[{i}] ({}): `{text}` is not a YYYY-MM-DD date",
                        year.year
                    )
                })?;
                anyhow::ensure!(
                    date.year() == year.year,
                    "year[{i}] ({}): {text} is in another year",
                    year.year
                );
                into.insert(date);
            }
        }
    }
    if let Some(both) = days.holidays.intersection(&days.workdays).next() {
        anyhow::bail!("{both} is listed both as a holiday and as a working day");
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2025-12-31T16:00:00Z is 2026-01-01T00:00:00+08:00.
    const NEW_YEAR_IN_CHINA: i64 = 1_767_196_800_000;

    #[test]
    fn the_year_turns_at_midnight_china_time() {
        assert_eq!(year(NEW_YEAR_IN_CHINA - 1), 2025);
        assert_eq!(year(NEW_YEAR_IN_CHINA), 2026);
    }

    #[test]
    fn dates_are_read_in_china_time() {
        assert_eq!(date(NEW_YEAR_IN_CHINA - 1), "2025-12-31");
        assert_eq!(date(NEW_YEAR_IN_CHINA), "2026-01-01");
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// Noon in China on `text`'s date.
    fn noon(text: &str) -> i64 {
        day(text)
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_local_timezone(china())
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_built_in_calendar_knows_national_day_and_its_bridging_saturday() {
        let h = Holidays::default();
        assert!(!h.is_working_day(day("2026-10-01")));
        assert!(!h.is_working_day(day("2026-10-07")));
        assert!(h.is_working_day(day("2026-10-08")));
        // 调休: a Saturday worked.
        assert!(h.is_working_day(day("2026-10-10")));
        assert!(!h.is_working_day(day("2026-10-11")), "an ordinary Sunday");
        assert!(!h.is_working_day(day("2027-02-08")), "spring festival 2027");
    }

    #[test]
    fn a_period_ending_on_a_public_holiday_ends_on_the_next_working_day() {
        let h = Holidays::default();
        // 15 days from 2026-09-16 is 2026-10-01, the first day of National Day.
        let end = h.period_end(noon("2026-09-16"), 15);
        assert_eq!(end, noon("2026-10-08"));
        assert_eq!(date(end), "2026-10-08");
    }

    #[test]
    fn a_period_ending_on_a_working_day_is_not_moved() {
        let h = Holidays::default();
        // 2026-12-16 + 15 days = 2026-12-31, a Thursday.
        assert_eq!(
            h.period_end(noon("2026-12-16"), 15),
            noon("2026-12-16") + 15 * DAY_MILLIS
        );
    }

    #[test]
    fn a_period_ending_on_a_weekend_ends_on_monday() {
        let h = Holidays::default();
        // 2026-11-14 is a Saturday.
        assert_eq!(h.period_end(noon("2026-11-13"), 1), noon("2026-11-16"));
    }

    #[test]
    fn without_a_calendar_every_day_is_a_working_day() {
        let h = Holidays::load("").unwrap();
        assert_eq!(h.period_end(noon("2026-09-16"), 15), noon("2026-10-01"));
        assert_eq!(String::from(h), "");
    }

    #[test]
    fn a_replacement_file_replaces_the_built_in_calendar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("holidays.toml");
        std::fs::write(
            &path,
            "[[year]]\nyear = 2026\nholidays = [\"2026-12-31\"]\nworkdays = [\"2026-12-19\"]\n",
        )
        .unwrap();
        let h = Holidays::load(path.to_str().unwrap()).unwrap();
        assert!(!h.is_working_day(day("2026-12-31")));
        assert!(h.is_working_day(day("2026-12-19")), "a Saturday worked");
        assert!(
            h.is_working_day(day("2026-10-01")),
            "not a holiday in this file"
        );
        assert_eq!(String::from(h), path.to_str().unwrap());
    }

    #[test]
    fn a_broken_holidays_file_is_refused_naming_the_entry() {
        let bad = Holidays::parse("[[year]]\nyear = 2026\nholidays = [\"2026-13-01\"]\n");
        assert!(format!("{:#}", bad.unwrap_err()).contains("2026-13-01"));
        let other_year = Holidays::parse("[[year]]\nyear = 2026\nholidays = [\"2027-01-01\"]\n");
        assert!(format!("{:#}", other_year.unwrap_err()).contains("another year"));
        let both = Holidays::parse(
            "[[year]]\nyear = 2026\nholidays = [\"2026-01-01\"]\nworkdays = [\"2026-01-01\"]\n",
        );
        assert!(format!("{:#}", both.unwrap_err()).contains("both"));
        assert!(Holidays::load("/nonexistent/holidays.toml").is_err());
    }
}
