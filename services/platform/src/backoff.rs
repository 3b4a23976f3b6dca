//! Waiting between attempts, written once: an exponential backoff with a cap, and the loops
//! built on it — retrying until success or patience runs out, polling until an answer comes.
//! The consumer loop, the outbox relay, the broker's reconnects and a starting process's wait
//! for its database and broker all back off the same way.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

/// Delays that double after each failure, from `first` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `first` and doubles up to `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap,
            next: first,
        }
    }

    /// The same delay every time, for polling.
    pub const fn constant(every: Duration) -> Self {
        Self::new(every, every)
    }

    /// The delay to wait now; the one after it doubles, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.cap);
        delay
    }

    /// The delay `next_delay` will answer, without moving on.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// The delay after `failures` failures in a row, without keeping count here: for what
    /// stores its own count (an outbox row's attempts). Zero failures: no delay.
    pub fn after(&self, failures: u32) -> Duration {
        match failures {
            0 => Duration::ZERO,
            n => self
                .first
                .saturating_mul(1u32.checked_shl(n - 1).unwrap_or(u32::MAX))
                .min(self.cap),
        }
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// Sleeps the next delay, unless `shutdown` comes first: false then.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            _ = sleep(delay) => true,
            _ = shutdown.cancelled() => false,
        }
    }
}

/// What the long-running loops (consumer, relay) use: 100 ms, doubling up to 1 s, so each
/// resumes within about a second of its broker or database coming back (an attempt while
/// they are away fails fast and costs little).
impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(1))
    }
}

/// Retries `attempt` with `backoff` until it succeeds, or answers its last error when the next
/// wait would end after `patience`. `on_retry` hears each error that is retried and the delay
/// before the next attempt.
pub async fn retry<T, E, F, Fut>(
    mut backoff: Backoff,
    patience: Duration,
    mut attempt: F,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + patience;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() + backoff.peek() > deadline => return Err(e),
            Err(e) => {
                let delay = backoff.next_delay();
                on_retry(&e, delay);
                sleep(delay).await;
            }
        }
    }
}

/// Asks `probe` until it answers `Some`, waiting `backoff` between asks, for at most
/// `patience`: `None` when patience ran out. An error ends it at once.
pub async fn poll<T, E, F, Fut>(
    mut backoff: Backoff,
    patience: Duration,
    mut probe: F,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(found) = probe().await? {
            return Ok(Some(found));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::new(100 * MS, 350 * MS);
        let delays: Vec<_> = (0..4).map(|_| b.next_delay()).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 350 * MS, 350 * MS]);
        b.reset();
        assert_eq!(b.next_delay(), 100 * MS);
        let fresh = Backoff::new(100 * MS, 350 * MS);
        let after: Vec<_> = [0, 1, 2, 3, 40].map(|n| fresh.after(n)).into();
        assert_eq!(
            after,
            [Duration::ZERO, 100 * MS, 200 * MS, 350 * MS, 350 * MS]
        );
        let mut c = Backoff::constant(50 * MS);
        assert_eq!((c.next_delay(), c.next_delay()), (50 * MS, 50 * MS));
    }

    #[tokio::test]
    async fn wait_ends_early_at_shutdown() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut b = Backoff::new(Duration::from_secs(60), Duration::from_secs(60));
        assert!(!b.wait(&shutdown).await);
        assert!(Backoff::constant(MS).wait(&CancellationToken::new()).await);
    }

    #[tokio::test]
    async fn retry_succeeds_after_failures_and_reports_each_retry() {
        let mut attempts = 0;
        let mut retried = Vec::new();
        let got = retry(
            Backoff::new(MS, 2 * MS),
            Duration::from_secs(5),
            || {
                attempts += 1;
                let n = attempts;
                async move { if n < 3 { Err(n) } else { Ok("up") } }
            },
            |e, delay| retried.push((*e, delay)),
        )
        .await;
        assert_eq!(got, Ok("up"));
        assert_eq!(retried, [(1, MS), (2, 2 * MS)]);
    }

    #[tokio::test]
    async fn retry_gives_up_with_the_last_error_once_patience_runs_out() {
        let attempts = std::cell::Cell::new(0);
        let failing = || {
            attempts.set(attempts.get() + 1);
            let n = attempts.get();
            async move { Err::<(), _>(n) }
        };
        // No patience: the first error is the answer.
        let got = retry(
            Backoff::constant(10 * MS),
            Duration::ZERO,
            failing,
            |_, _| {},
        )
        .await;
        assert_eq!(got, Err(1));
        // Some patience: a few attempts, and the error of the last one.
        attempts.set(0);
        let started = Instant::now();
        let got = retry(Backoff::constant(10 * MS), 25 * MS, failing, |_, _| {}).await;
        assert_eq!(got, Err(attempts.get()));
        assert!((1..=3).contains(&attempts.get()), "{}", attempts.get());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn poll_answers_the_first_find_none_after_patience_and_stops_at_an_error() {
        let mut asks = 0;
        let found: Result<_, ()> = poll(Backoff::constant(MS), Duration::from_secs(5), || {
            asks += 1;
            let n = asks;
            async move { Ok((n == 3).then_some(n)) }
        })
        .await;
        assert_eq!(found, Ok(Some(3)));
        let never: Result<Option<()>, ()> =
            poll(Backoff::constant(MS), 5 * MS, || async { Ok(None) }).await;
        assert_eq!(never, Ok(None));
        let broken: Result<Option<()>, &str> =
            poll(Backoff::constant(MS), Duration::from_secs(5), || async {
                Err("down")
            })
            .await;
        assert_eq!(broken, Err("down"));
    }
}
