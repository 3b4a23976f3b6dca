//! Per-identity rate limits: each caller (role and subject) draws calls from a token bucket,
//! so one runaway client cannot take a service from everyone else. Past it a call answers
//! RESOURCE_EXHAUSTED with the time to wait.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept at most; past it, full ones (idle callers) are forgotten first.
const MAX_CALLERS: usize = 10_000;

/// A token bucket per caller: `per_sec` calls a second on average, `burst` at once.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// None when `per_sec` is 0: no limit.
    pub fn new(per_sec: u32, burst: u32) -> Option<Self> {
        (per_sec > 0).then(|| Self {
            per_sec: f64::from(per_sec),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// `per_min` calls a minute on average, `burst` at once; None when `per_min` is 0: no limit.
    /// For doors slower than a call a second (the token-free status query).
    pub fn per_minute(per_min: u32, burst: u32) -> Option<Self> {
        (per_min > 0).then(|| Self {
            per_sec: f64::from(per_min) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one call from `caller`'s bucket at `now`, or says how long until one is there.
    pub fn admit_at(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CALLERS && !buckets.contains_key(caller) {
            let (per_sec, burst) = (self.per_sec, self.burst);
            buckets.retain(|_, b| b.refilled(now, per_sec, burst) < burst);
        }
        let bucket = buckets.entry(caller.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = bucket.refilled(now, self.per_sec, self.burst);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }

    /// [`RateLimiter::admit_at`] now, as the Status to answer when refused.
    pub fn admit(&self, caller: &str) -> Result<(), tonic::Status> {
        self.admit_at(caller, Instant::now()).map_err(|wait| {
            crate::error::retry_later(
                format!(
                    "too many calls from this caller (at most {} a second)",
                    self.per_sec
                ),
                wait,
            )
        })
    }
}

impl Bucket {
    fn refilled(&self, now: Instant, per_sec: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * per_sec).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(10, 3).expect("a limit");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.admit_at("analyst:a", t0).is_ok());
        }
        let wait = limiter
            .admit_at("analyst:a", t0)
            .expect_err("past the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another caller is not held back by the first.
        assert!(limiter.admit_at("analyst:b", t0).is_ok());
        // A tenth of a second brings one call back.
        let later = t0 + Duration::from_millis(100);
        assert!(limiter.admit_at("analyst:a", later).is_ok());
        assert!(limiter.admit_at("analyst:a", later).is_err());
    }

    #[test]
    fn a_per_minute_limit_refills_one_call_every_sixtieth_of_its_rate() {
        let limiter = RateLimiter::per_minute(30, 2).expect("a limit");
        let t0 = Instant::now();
        assert!(limiter.admit_at("10.0.0.1", t0).is_ok());
        assert!(limiter.admit_at("10.0.0.1", t0).is_ok());
        let wait = limiter
            .admit_at("10.0.0.1", t0)
            .expect_err("past the burst");
        assert!(
            wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert!(
            limiter
                .admit_at("10.0.0.1", t0 + Duration::from_secs(2))
                .is_ok()
        );
        assert!(RateLimiter::per_minute(0, 10).is_none());
    }

    #[test]
    fn zero_per_second_means_no_limit() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[test]
    fn a_refusal_is_resource_exhausted_with_retry_advice() {
        use tonic_types::StatusExt;
        let limiter = RateLimiter::new(1, 1).expect("a limit");
        limiter.admit("system:x").expect("the first call");
        let status = limiter.admit("system:x").expect_err("the second at once");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.get_details_retry_info().is_some(), "{status:?}");
        assert!(!status.message().contains("system:x"), "{status:?}");
    }

    #[test]
    fn many_idle_callers_are_forgotten_not_kept_forever() {
        let limiter = RateLimiter::new(1000, 1).expect("a limit");
        let t0 = Instant::now();
        for i in 0..MAX_CALLERS {
            limiter.admit_at(&format!("c{i}"), t0).expect("first call");
        }
        limiter
            .admit_at("newcomer", t0 + Duration::from_secs(1))
            .expect("a newcomer");
        let kept = limiter.buckets.lock().unwrap().len();
        assert!(kept < MAX_CALLERS, "{kept} buckets kept");
    }
}
