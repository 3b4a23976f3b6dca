//! The one consumer loop: takes deliveries from a service's queue and applies them in lanes —
//! the deliveries of one case in one lane, one after another in arrival order, different cases
//! in parallel — each exactly once (inbox claim and effect in one transaction), acking each
//! after its commit (acks go per delivery, in any order). Under load a lane applies the
//! deliveries that piled up while it was busy, up to `bus.batch`, in one transaction: one
//! commit for many events, and none of the wait a batch would add when there is no load. If
//! one of them fails the batch is rolled back and its deliveries applied one at a time.
//!
//! A failing handler is retried in place a few times with a growing wait, holding its lane, so
//! a passing failure (a lost connection, a lock timeout) keeps the case's order. If it still
//! fails the delivery is retried later: the bus brings it back after `bus.retry_delay_ms`, and
//! past `bus.delivery_limit` such attempts it is dead-lettered while the loop keeps serving.
//! While a delivery waits for its later retry, the case's later deliveries are applied before
//! it: every handler converges whatever the order of events (the order of events from
//! different producers is not guaranteed anyway), and a handler that needs an earlier event
//! refuses the later one, which then waits for its own retry. A malformed message never
//! becomes well-formed: it goes to the dead letters at once.
//!
//! Every delivery is measured (`messaging.process.duration` by event type and outcome, the
//! dead letters counted, the lag of the last event processed): `telemetry::metrics`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use yimen_proto::v1::Event;

use crate::backoff::Backoff;
use crate::bus::{Bus, BusConfig, Delivery, QueueSpec, Retry};
use crate::db::{Db, Tx};
use crate::telemetry::metrics::{self, Processed};

/// Attempts of a failing delivery in its lane after the first, before it is retried later.
pub const RETRIES_IN_PLACE: u32 = 3;
/// The wait before the first retry in place; it doubles for each next one (100, 200, 400 ms).
const FIRST_RETRY_IN_PLACE: Duration = Duration::from_millis(100);

/// A service's reaction to events. `handle` runs inside the transaction that also records the
/// event in the inbox; whatever it writes (state, outbox events) commits with it or not at all.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()>;
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Given back to the bus: retried later (the handler kept failing), dead-lettered (past
    /// the delivery limit, or malformed), or returned at shutdown.
    Rejected,
}

/// A delivery on its way to a lane, with its event (or why it is not one).
type Work = (Delivery, anyhow::Result<Event>);

/// How a consumer spreads its deliveries and how many one transaction may apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lanes {
    /// Lanes applying deliveries in parallel (at least one).
    pub count: u16,
    /// The most deliveries of one lane applied in one transaction (at least one).
    pub batch: u16,
}

impl Lanes {
    /// The lanes `bus.lanes` and `bus.batch` set.
    pub fn of(config: &BusConfig) -> Self {
        Self {
            count: config.lanes(),
            batch: config.batch(),
        }
    }
}

/// Consumes `queue` in `lanes` lanes until `shutdown`; the deliveries being applied when
/// shutdown starts are finished, those waiting in a lane go back to the queue.
pub async fn run_consumer(
    db: Db,
    bus: Arc<dyn Bus>,
    queue: QueueSpec,
    handler: Arc<dyn EventHandler>,
    lanes: Lanes,
    shutdown: CancellationToken,
) {
    let (senders, workers): (Vec<_>, Vec<_>) = (0..lanes.count.max(1))
        .map(|_| {
            // Unbounded, yet never holding more than the prefetch: the bus hands out no more
            // unsettled deliveries than that.
            let (sender, receiver) = mpsc::unbounded_channel::<Work>();
            let worker = tokio::spawn(lane(
                db.clone(),
                handler.clone(),
                format!("{}{}", bus.prefix(), queue.name),
                receiver,
                usize::from(lanes.batch.max(1)),
                shutdown.clone(),
            ));
            (sender, worker)
        })
        .unzip();
    let mut router = Router::new(senders.len());
    let mut backoff = Backoff::default();
    // Kept until the lanes have finished: ending it would give back the deliveries they are
    // still applying, and their acks would fail.
    let held = 'subscribing: loop {
        if shutdown.is_cancelled() {
            break None;
        }
        let mut current = match bus.subscribe(&queue).await {
            Ok(s) => {
                backoff.reset();
                s
            }
            Err(e) => {
                tracing::warn!(queue = %queue.name, error = %e, "cannot subscribe; retrying");
                if !backoff.wait(&shutdown).await {
                    break None;
                }
                continue;
            }
        };
        loop {
            let delivery = tokio::select! {
                d = current.next() => d,
                _ = shutdown.cancelled() => break 'subscribing Some(current),
            };
            let Some(delivery) = delivery else {
                tracing::info!(queue = %queue.name, "subscription ended; subscribing again");
                break;
            };
            let event = crate::events::decode(&delivery.message.body);
            let lane = router.lane(event.as_ref().ok());
            if senders[lane].send((delivery, event)).is_err() {
                // Only at shutdown; the delivery goes back with the dropped message.
                break 'subscribing Some(current);
            }
        }
    };
    drop(senders);
    for worker in workers {
        let _ = worker.await;
    }
    drop(held);
}

/// Picks a delivery's lane: by its case, so a case stays in one lane; events of no case (and
/// malformed messages) take the lanes in turn.
struct Router {
    lanes: usize,
    next: usize,
}

impl Router {
    fn new(lanes: usize) -> Self {
        Self { lanes, next: 0 }
    }

    fn lane(&mut self, event: Option<&Event>) -> usize {
        match event.map(|e| e.case_id.as_str()).filter(|c| !c.is_empty()) {
            Some(case_id) => {
                // SipHash with fixed keys: the same case takes the same lane every time.
                let mut hasher = std::hash::DefaultHasher::new();
                case_id.hash(&mut hasher);
                (hasher.finish() % self.lanes as u64) as usize
            }
            None => {
                self.next = (self.next + 1) % self.lanes;
                self.next
            }
        }
    }
}

/// One lane: applies its deliveries in arrival order until shutdown (finishing those in hand)
/// or until the loop stops feeding it; those that arrived while it was busy, up to `batch`,
/// together.
async fn lane(
    db: Db,
    handler: Arc<dyn EventHandler>,
    queue: String,
    mut receiver: mpsc::UnboundedReceiver<Work>,
    batch: usize,
    shutdown: CancellationToken,
) {
    loop {
        let work = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            work = receiver.recv() => work,
        };
        let Some(first) = work else {
            return;
        };
        let mut works = vec![first];
        while works.len() < batch {
            match receiver.try_recv() {
                Ok(work) => works.push(work),
                Err(_) => break,
            }
        }
        if works.len() == 1 {
            let (delivery, event) = works.pop().expect("one");
            process_decoded(&db, handler.as_ref(), &queue, delivery, event, &shutdown).await;
        } else {
            process_batch(&db, handler.as_ref(), &queue, works, &shutdown).await;
        }
    }
}

/// Applies several deliveries in one transaction and acks them after its commit; a malformed
/// one, or all of them if any fails, go the way of a single delivery.
async fn process_batch(
    db: &Db,
    handler: &dyn EventHandler,
    queue: &str,
    works: Vec<Work>,
    shutdown: &CancellationToken,
) {
    let mut batch = Vec::with_capacity(works.len());
    for (delivery, event) in works {
        match event {
            Ok(event) => batch.push((process_span(db, queue, &delivery), delivery, event)),
            Err(e) => {
                process_decoded(db, handler, queue, delivery, Err(e), shutdown).await;
            }
        }
    }
    let started = std::time::Instant::now();
    for (_, _, event) in &batch {
        record_lag(db, queue, event);
    }
    let applied = {
        let events: Vec<_> = batch.iter().map(|(span, _, event)| (span, event)).collect();
        apply(db, handler, &events).await
    };
    match applied {
        Ok(outcomes) => {
            let took = started.elapsed();
            for ((span, delivery, _), outcome) in batch.into_iter().zip(outcomes) {
                let routing_key = delivery.message.routing_key.clone();
                settle_applied(delivery).instrument(span).await;
                metrics::record_process(db.service(), queue, &routing_key, outcome.into(), took);
            }
        }
        Err(e) => {
            tracing::debug!(
                error = format!("{e:#}"),
                deliveries = batch.len(),
                "batch not applied; applying its deliveries one at a time"
            );
            for (_, delivery, event) in batch {
                process_decoded(db, handler, queue, delivery, Ok(event), shutdown).await;
            }
        }
    }
}

/// Acks a delivery whose effect has committed.
async fn settle_applied(delivery: Delivery) {
    if let Err(e) = delivery.ack().await {
        // The bus will redeliver; the inbox absorbs the repeat.
        tracing::warn!(error = %e, "could not settle delivery");
    }
}

/// The span of applying `delivery`, a child of the trace its message carries.
fn process_span(db: &Db, queue: &str, delivery: &Delivery) -> tracing::Span {
    let span = tracing::info_span!(
        "process",
        otel.name = format!("{} process", delivery.message.routing_key),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %queue,
        messaging.rabbitmq.destination.routing_key = %delivery.message.routing_key,
        messaging.message.id = %delivery.message.id,
        attempts = delivery.attempts,
        consumer = db.service(),
    );
    crate::telemetry::set_parent_from_headers(&span, &delivery.message.headers);
    span
}

/// Applies one delivery and settles it (retries in place included; nothing cuts them short).
pub async fn process(
    db: &Db,
    handler: &dyn EventHandler,
    queue: &str,
    delivery: Delivery,
) -> Outcome {
    let event = crate::events::decode(&delivery.message.body);
    process_decoded(
        db,
        handler,
        queue,
        delivery,
        event,
        &CancellationToken::new(),
    )
    .await
}

async fn process_decoded(
    db: &Db,
    handler: &dyn EventHandler,
    queue: &str,
    delivery: Delivery,
    event: anyhow::Result<Event>,
    shutdown: &CancellationToken,
) -> Outcome {
    let span = process_span(db, queue, &delivery);
    let started = std::time::Instant::now();
    let routing_key = delivery.message.routing_key.clone();
    let (outcome, processed) = async move {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "malformed event; dead-lettered");
                if let Err(e) = delivery.nack(false).await {
                    tracing::warn!(error = %e, "could not settle delivery");
                }
                return (Outcome::Rejected, Processed::DeadLettered);
            }
        };
        record_lag(db, queue, &event);
        let mut waits = Backoff::new(FIRST_RETRY_IN_PLACE, Duration::from_secs(5));
        let mut retries = 0;
        let error = loop {
            match apply(db, handler, &[(&tracing::Span::current(), &event)]).await {
                Ok(outcomes) => {
                    settle_applied(delivery).await;
                    return (outcomes[0], outcomes[0].into());
                }
                Err(e) if retries < RETRIES_IN_PLACE => {
                    retries += 1;
                    tracing::debug!(error = format!("{e:#}"), retries, "event not applied; retrying in place");
                    if !waits.wait(shutdown).await {
                        // Shutting down: back to the queue at once, for whoever runs next.
                        let _ = delivery.nack(true).await;
                        return (Outcome::Rejected, Processed::Retried);
                    }
                }
                Err(e) => break e,
            }
        };
        let processed = match delivery.retry_later().await {
            Ok(Retry::Scheduled) => {
                tracing::warn!(error = format!("{error:#}"), "event not applied; retried later");
                Processed::Retried
            }
            Ok(Retry::DeadLettered) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "event not applied past the delivery limit; dead-lettered"
                );
                Processed::DeadLettered
            }
            Err(e) => {
                // The delivery goes back unsettled: the bus redelivers it.
                tracing::warn!(error = format!("{error:#}"), settle_error = %e, "event not applied; could not retry later");
                Processed::Retried
            }
        };
        (Outcome::Rejected, processed)
    }
    .instrument(span)
    .await;
    metrics::record_process(
        db.service(),
        queue,
        &routing_key,
        processed,
        started.elapsed(),
    );
    outcome
}

/// How long ago `event` occurred, as the consumer of `queue` meets it.
fn record_lag(db: &Db, queue: &str, event: &Event) {
    if let Some(occurred) = &event.occurred_at {
        let lag = crate::db::now_millis().saturating_sub(crate::time::millis(occurred));
        let lag = Duration::from_millis(u64::try_from(lag).unwrap_or(0));
        metrics::record_lag(db.service(), queue, lag);
    }
}

impl From<Outcome> for Processed {
    /// How a delivery's outcome is counted once it was applied or absorbed.
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Duplicate => Processed::Duplicate,
            _ => Processed::Ok,
        }
    }
}

/// Applies `events` (each in its span) in one transaction, each once: the inbox absorbs one
/// applied before. Their inbox claims are one statement, their audit entries another. Nothing
/// commits unless every one is applied or absorbed.
async fn apply(
    db: &Db,
    handler: &dyn EventHandler,
    events: &[(&tracing::Span, &Event)],
) -> anyhow::Result<Vec<Outcome>> {
    let mut tx = db.begin().await?;
    let all: Vec<&Event> = events.iter().map(|(_, event)| *event).collect();
    let fresh = crate::inbox::claim_all(&mut tx, &all).await?;
    let new: Vec<&Event> = all
        .iter()
        .zip(&fresh)
        .filter_map(|(event, fresh)| fresh.then_some(*event))
        .collect();
    // The trail records each event; an anchor of another service's trail is the platform's own.
    let mut anchors = crate::audit::record_events(&mut tx, &new)
        .await?
        .into_iter();
    let mut outcomes = Vec::with_capacity(events.len());
    for ((span, event), fresh) in events.iter().zip(fresh) {
        if !fresh {
            span.in_scope(|| tracing::debug!("duplicate event absorbed by the inbox"));
            outcomes.push(Outcome::Duplicate);
            continue;
        }
        if anchors.next() == Some(false) {
            handler
                .handle(&mut tx, event)
                .instrument((*span).clone())
                .await?;
        }
        outcomes.push(Outcome::Applied);
    }
    db.commit(tx).await?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(case_id: &str) -> Event {
        Event {
            case_id: case_id.into(),
            ..Event::default()
        }
    }

    #[test]
    fn a_case_keeps_its_lane_and_caseless_events_take_turns() {
        let mut router = Router::new(8);
        let lane = router.lane(Some(&event("0190f1c2-aaaa")));
        for _ in 0..10 {
            assert_eq!(router.lane(Some(&event("0190f1c2-aaaa"))), lane);
        }
        let turns: Vec<usize> = (0..8).map(|_| router.lane(Some(&event("")))).collect();
        let mut sorted = turns.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..8).collect::<Vec<_>>(),
            "every lane once: {turns:?}"
        );
        assert!(router.lane(None) < 8);
    }

    #[test]
    fn cases_spread_over_the_lanes() {
        let mut router = Router::new(4);
        let mut used = [false; 4];
        for i in 0..64 {
            used[router.lane(Some(&event(&format!("case-{i}"))))] = true;
        }
        assert_eq!(used, [true; 4]);
    }
}
