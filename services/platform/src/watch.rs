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

struct Follow<T> {
    commits: tokio::sync::watch::Receiver<u64>,
    shutdown: CancellationToken,
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
        commits: db.commits(),
        shutdown,
        position: from,
        ready: VecDeque::new(),
        read,
        eager: true,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            if state.shutdown.is_cancelled() {
                return None;
            }
            if let Some(item) = state.ready.pop_front() {
                return Some((Ok(item), Some(state)));
            }
            if !state.eager {
                tokio::select! {
                    biased;
                    () = state.shutdown.cancelled() => return None,
                    changed = state.commits.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    () = tokio::time::sleep(OTHER_REPLICAS_WITHIN) => {}
                }
            }
            // Seen now: a commit during the read wakes the next wait.
            state.commits.borrow_and_update();
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
