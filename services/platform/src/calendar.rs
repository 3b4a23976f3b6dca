//! The center's calendar, written once for every service: China Standard Time (UTC+8, no
//! daylight saving), in which case numbers roll over at new year, deadlines are read as dates,
//! days are counted and bulletins cover months.

use chrono::{DateTime, Datelike, FixedOffset, Utc};

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
}
