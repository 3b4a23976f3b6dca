//! Live streams (WatchCase, WatchAssignments), written once: a stream sends what the store holds
//! after the client's position, then waits for the service's next commit (not a timer) and
//! sends what came since; it ends when the process starts to stop. Positions are durable and
//! grow in commit order (the store's job), so a client that reconnects with the last position
//! it received gets exactly what it missed: nothing lost, nothing twice.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::db::Db;
use crate::error::Error;

/// How long a stream waits without a commit of its own process before it reads anyway: what
/// another replica of the service committed reaches it at the latest this late.
pub const OTHER_REPLICAS_WITHIN: Duration = Duration::from_secs(5);

/// What a stream sends from the store: every item after a position, in position order, each
/// with its position.
pub type Read<T> = Box<dyn FnMut(u64) -> BoxFuture<'static, Result<Vec<(u64, T)>, Error>> + Send>;

/// What a live stream waits on between reads: the service's next commit in this process, at
/// most [`OTHER_REPLICAS_WITHIN`], or the process stopping.
pub struct Wake {
    commits: tokio::sync::watch::Receiver<u64>,
    shutdown: CancellationToken,
}

impl Wake {
    pub fn new(db: &Db, shutdown: CancellationToken) -> Self {
        Self {
            commits: db.commits(),
            shutdown,
        }
    }

    /// Marks every commit so far as seen; call it right before reading, so a commit during
    /// the read wakes the next wait.
    pub fn seen(&mut self) {
        self.commits.borrow_and_update();
    }

    /// Waits for a commit not yet seen (or [`OTHER_REPLICAS_WITHIN`]); false once the process
    /// stops.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => false,
            changed = self.commits.changed() => changed.is_ok(),
            () = tokio::time::sleep(OTHER_REPLICAS_WITHIN) => !self.shutdown.is_cancelled(),
        }
    }

    pub fn stopped(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

struct Follow<T> {
    wake: Wake,
    position: u64,
    ready: VecDeque<T>,
    read: Read<T>,
    /// Read without waiting: first of all, and again after a read that found something.
    eager: bool,
}

/// Follows `read` from `from` (exclusive), waking on each commit of `db`'s process; ends on
/// `shutdown` or when a read fails (the failure is the stream's last item).
pub fn follow<T: Send + 'static>(
    db: &Db,
    shutdown: CancellationToken,
    from: u64,
    read: Read<T>,
) -> BoxStream<'static, Result<T, Status>> {
    let state = Follow {
        wake: Wake::new(db, shutdown),
        position: from,
        ready: VecDeque::new(),
        read,
        eager: true,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            if state.wake.stopped() {
                return None;
            }
            if let Some(item) = state.ready.pop_front() {
                return Some((Ok(item), Some(state)));
            }
            if !state.eager && !state.wake.next().await {
                return None;
            }
            state.wake.seen();
            match (state.read)(state.position).await {
                Ok(items) => {
                    state.eager = !items.is_empty();
                    for (position, item) in items {
                        if position > state.position {
                            state.position = position;
                            state.ready.push_back(item);
                        }
                    }
                }
                Err(e) => return Some((Err(Status::from(e)), None)),
            }
        }
    })
    .boxed()
}
