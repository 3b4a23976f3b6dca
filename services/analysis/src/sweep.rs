//! The overdue sweep (逾期预警): no event says that a deadline passed, so analysis looks on a
//! timer for open cases past their running deadline and raises one overdue alert per case,
//! through the same path as the consumer's alerts (stored once per case and kind, published
//! as `alert.raised`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yimen_platform::db::{Db, now_millis};

use crate::AnalysisConfig;
use crate::consumers::raise;
use crate::domain::{alerts, passed_deadline};
use crate::store;

/// The most cases one sweep looks at; the rest wait for the next run.
pub const SWEEP_BATCH: i64 = 500;

/// Raises an overdue alert on every open case overdue at `now_millis` that has none yet (up to
/// [`SWEEP_BATCH`] cases, the earliest deadline first), each in its own transaction so a case
/// that fails does not hold back the others (it is logged and tried again on the next run).
/// Answers how many alerts were raised.
pub async fn sweep_overdue(db: &Db, now_millis: i64) -> anyhow::Result<usize> {
    let candidates = {
        let mut conn = db.pool().acquire().await?;
        store::overdue_without_alert(&mut conn, now_millis, SWEEP_BATCH).await?
    };
    let mut raised = 0;
    for case_id in candidates {
        match raise_overdue(db, &case_id, now_millis).await {
            Ok(true) => raised += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(case_id, error = %e, "overdue alert not raised; trying again on the next sweep");
            }
        }
    }
    Ok(raised)
}

/// Raises the overdue alert on one case in a transaction of its own, if the case is still
/// open and overdue when read inside it (an event may have settled it since the sweep looked).
async fn raise_overdue(db: &Db, case_id: &str, now: i64) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let draft = store::case(&mut tx, case_id)
        .await?
        .filter(|case| !case.closed)
        .and_then(|case| {
            passed_deadline(case.accept_by, case.handle_by, now)
                .map(|deadline| alerts::overdue(&case.department, deadline, now))
        });
    let raised = match draft {
        Some(draft) => raise(&mut tx, case_id, draft).await?,
        None => false,
    };
    db.commit(tx).await?;
    Ok(raised)
}

/// Sweeps for overdue cases every `overdue_sweep_secs` (the first time right away) until
/// `shutdown` is cancelled; a failed sweep is logged and the next one runs as planned. Returns
/// at once when the interval is 0 (the sweep is off).
pub async fn run_overdue_sweeper(db: Db, config: AnalysisConfig, shutdown: CancellationToken) {
    if config.overdue_sweep_secs == 0 {
        tracing::info!("overdue sweep off");
        return;
    }
    let every = Duration::from_secs(config.overdue_sweep_secs);
    while !shutdown.is_cancelled() {
        match sweep_overdue(&db, now_millis()).await {
            Ok(0) => {}
            Ok(raised) => tracing::info!(raised, "overdue alerts raised"),
            Err(e) => tracing::warn!(error = %e, "overdue sweep failed; trying again later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}
