//! Conversions between the stores' unix milliseconds and protobuf timestamps.

use prost_types::Timestamp;

pub fn timestamp(millis: i64) -> Timestamp {
    Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn opt_timestamp(millis: Option<i64>) -> Option<Timestamp> {
    millis.map(timestamp)
}

pub fn millis(ts: &Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

/// Milliseconds as a protobuf duration.
pub fn duration(millis: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A protobuf duration in milliseconds.
pub fn duration_millis(d: &prost_types::Duration) -> i64 {
    d.seconds * 1000 + i64::from(d.nanos) / 1_000_000
}

pub const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_milliseconds() {
        for m in [0, 1, 999, 1_000, 1_767_225_600_123, -1] {
            assert_eq!(millis(&timestamp(m)), m);
            assert_eq!(duration_millis(&duration(m)), m);
        }
    }
}
