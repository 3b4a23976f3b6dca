//! Telling the petitioner (告知书): a notice is written in the transaction of the event that
//! calls for it (so it is never lost nor written twice), and sent afterwards by the notifier,
//! every [`SEND_EVERY`], each under a claim so replicas never send one twice at once. A sent
//! notice adds a line to the timeline; a failed one is tried again later, less and less often.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::Error;
use yimen_platform::seal::Keyring;
use yimen_proto::v1::Event;

use crate::domain::notice::{self, NoticeKind};
use crate::domain::{CaseRef, TimelineLine, Visibility};
use crate::notifier::{Notifier, Outgoing};
use crate::store;

/// How often due notices are sent.
pub const SEND_EVERY: Duration = Duration::from_secs(1);
/// How long a sender owns a notice it is sending.
const CLAIM_MILLIS: i64 = 60_000;
/// How many notices one turn sends at most.
const BATCH: i64 = 50;
/// The timeline kind of a sent notice.
pub const NOTICE_SENT: &str = "notice.sent";

/// Writes the notice `event` calls for, if any, in the consumer's transaction.
pub async fn record(tx: &mut Tx, event: &Event, case_number: &str, at: i64) -> Result<(), Error> {
    if let Some((kind, text)) = notice::of(event, case_number) {
        store::insert_notice(tx, &event.id, &event.case_id, kind.as_str(), &text, at).await?;
    }
    Ok(())
}

/// Sends every due notice once; answers how many were sent.
pub async fn send_due(
    db: &Db,
    keyring: &Keyring,
    notifier: &dyn Notifier,
    now: i64,
) -> anyhow::Result<usize> {
    let due = {
        let mut conn = db.pool().acquire().await?;
        store::due_notices(&mut conn, now, BATCH).await?
    };
    let mut sent = 0;
    for due in due {
        let Some(kind) = NoticeKind::parse(&due.kind) else {
            tracing::warn!(notice_id = %due.notice_id, kind = %due.kind, "notice of an unknown kind; left unsent");
            continue;
        };
        {
            let mut conn = db.pool().acquire().await?;
            if !store::claim_notice(&mut conn, &due.notice_id, now, now + CLAIM_MILLIS).await? {
                continue; // Another sender has it.
            }
        }
        let phones = phones(db, keyring, &due.case_id).await?;
        let outgoing = Outgoing {
            kind,
            case_id: &due.case_id,
            case_number: &due.case_number,
            text: &due.text,
            phones: &phones,
        };
        match notifier.send(&outgoing).await {
            Ok(()) => {
                // After the event that called for it, should clocks disagree.
                let at = now_millis().max(due.created_at + 1);
                let mut tx = db.begin().await?;
                store::mark_notice_sent(&mut tx, &due.notice_id, at).await?;
                let line = TimelineLine {
                    kind: NOTICE_SENT.into(),
                    summary: format!("notice sent to the petitioner: {}", kind.title()),
                    department: String::new(),
                };
                let line_id = format!("notice:{}", due.notice_id);
                store::add_timeline(&mut tx, &due.case_id, &line_id, at, &line).await?;
                db.commit(tx).await?;
                sent += 1;
            }
            Err(e) => {
                let mut conn = db.pool().acquire().await?;
                let attempts = store::notice_failed(&mut conn, &due.notice_id).await?;
                // Tried again after a minute, then longer, at most an hour apart.
                let retry_at = now + CLAIM_MILLIS * attempts.clamp(1, 60);
                store::claim_notice(&mut conn, &due.notice_id, now + CLAIM_MILLIS, retry_at)
                    .await
                    .ok();
                tracing::warn!(case_id = %due.case_id, notice = kind.as_str(), attempts, error = format!("{e:#}"), "notice not sent; trying again later");
            }
        }
    }
    Ok(sent)
}

/// The distinct phones of the case's petitioners, opened from the seal.
async fn phones(db: &Db, keyring: &Keyring, case_id: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = db.pool().acquire().await?;
    let case = store::find_case(
        &mut conn,
        &CaseRef::Id(case_id.to_string()),
        &Visibility::Every,
        keyring,
    )
    .await?;
    let mut phones: Vec<String> = case
        .map(|c| c.petitioners.into_iter().map(|p| p.phone).collect())
        .unwrap_or_default();
    phones.retain(|p| !p.is_empty());
    phones.sort();
    phones.dedup();
    Ok(phones)
}

/// Sends due notices every [`SEND_EVERY`] until `shutdown`.
pub async fn run_sender(
    db: Db,
    keyring: Arc<Keyring>,
    notifier: Arc<dyn Notifier>,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(e) = send_due(&db, &keyring, notifier.as_ref(), now_millis()).await {
            tracing::warn!(error = format!("{e:#}"), "notices not sent; trying again");
        }
        tokio::select! {
            _ = tokio::time::sleep(SEND_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
