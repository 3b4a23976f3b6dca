//! Overload answered, not queued: a front door refuses new work with RESOURCE_EXHAUSTED and
//! retry advice (`google.rpc.RetryInfo`) while its outbox holds more unsent events than a
//! bound (the relay cannot keep up, or the broker has been away for long) or its transactions
//! waited too long for a database connection — instead of letting latency and the backlog grow
//! without end. Checking a call costs two atomic loads: a watcher looks at the store every
//! [`LOOK_EVERY`] and keeps what it saw.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::Db;

/// How often the watcher counts the backlog and reads the longest connection wait.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);
/// The wait a refusal advises: about two looks, by when the watcher has seen whether the
/// pressure eased.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The bounds; zero turns a bound off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Unsent outbox rows past which new work is refused.
    pub max_outbox_backlog: u64,
    /// A transaction that waited this long or longer for a connection, in the last look,
    /// makes new work refused.
    pub max_pool_wait: Duration,
}

/// What the watcher last saw, and the check each call makes against it.
#[derive(Debug)]
pub struct Overload {
    limits: Limits,
    /// Unsent outbox rows, counted no further than one past the bound.
    backlog: AtomicU64,
    /// Whether a transaction waited past `max_pool_wait` in the last look.
    pool_saturated: AtomicBool,
    /// The longest such wait, in milliseconds, for the refusal's message.
    pool_wait_ms: AtomicU64,
}

impl Overload {
    /// Nothing seen yet: admits every call until a look finds pressure.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            backlog: AtomicU64::new(0),
            pool_saturated: AtomicBool::new(false),
            pool_wait_ms: AtomicU64::new(0),
        }
    }

    /// One look at `db`: counts its backlog (bounded) and takes the longest connection wait
    /// since the last look.
    pub async fn look(&self, db: &Db) -> Result<(), sqlx::Error> {
        let waited = db.take_longest_wait();
        let max_wait = self.limits.max_pool_wait;
        let saturated = !max_wait.is_zero() && waited >= max_wait;
        self.pool_saturated.store(saturated, Ordering::Relaxed);
        self.pool_wait_ms.store(
            u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if self.limits.max_outbox_backlog > 0 {
            let backlog =
                crate::outbox::pending_up_to(db, self.limits.max_outbox_backlog + 1).await?;
            self.backlog.store(backlog, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Looks at `db` every [`LOOK_EVERY`] until `shutdown`. A failed look (the database away)
    /// keeps what was seen before; readiness reports the database.
    pub async fn watch(&self, db: Db, shutdown: CancellationToken) {
        if self.limits.max_outbox_backlog == 0 && self.limits.max_pool_wait.is_zero() {
            return;
        }
        loop {
            if let Err(e) = self.look(&db).await {
                tracing::debug!(service = db.service(), error = %e, "cannot look at the load");
            }
            tokio::select! {
                _ = tokio::time::sleep(LOOK_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Ok, or RESOURCE_EXHAUSTED with retry advice saying which bound is passed.
    pub fn admit(&self) -> Result<(), tonic::Status> {
        let max = self.limits.max_outbox_backlog;
        if max > 0 && self.backlog.load(Ordering::Relaxed) > max {
            return Err(crate::error::retry_later(
                format!("overloaded: more than {max} events wait to be published"),
                RETRY_AFTER,
            ));
        }
        if self.pool_saturated.load(Ordering::Relaxed) {
            return Err(crate::error::retry_later(
                format!(
                    "overloaded: calls waited {} ms for a database connection (at most {} ms)",
                    self.pool_wait_ms.load(Ordering::Relaxed),
                    self.limits.max_pool_wait.as_millis()
                ),
                RETRY_AFTER,
            ));
        }
        Ok(())
    }
}
