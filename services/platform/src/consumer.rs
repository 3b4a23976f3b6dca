//! The one consumer loop: takes deliveries from a service's queue, continues the producer's
//! trace, applies each event exactly once (inbox claim and effect in one transaction), acks
//! after commit, and gives failures back to the broker so the delivery limit dead-letters a
//! poison message while the loop keeps serving.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use yimen_proto::v1::Event;

use crate::backoff::Backoff;
use crate::bus::{Bus, Delivery, QueueSpec};
use crate::db::{Db, Tx};

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
    /// Given back to the broker (malformed, or the handler failed).
    Rejected,
}

/// Consumes `queue` until `shutdown`; the delivery in hand when shutdown starts is finished.
pub async fn run_consumer(
    db: Db,
    bus: Arc<dyn Bus>,
    queue: QueueSpec,
    handler: Arc<dyn EventHandler>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::default();
    while !shutdown.is_cancelled() {
        let mut subscription = match bus.subscribe(&queue).await {
            Ok(s) => {
                backoff.reset();
                s
            }
            Err(e) => {
                tracing::warn!(queue = %queue.name, error = %e, "cannot subscribe; retrying");
                if !backoff.wait(&shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let delivery = tokio::select! {
                d = subscription.next() => d,
                _ = shutdown.cancelled() => return,
            };
            let Some(delivery) = delivery else {
                tracing::info!(queue = %queue.name, "subscription ended; subscribing again");
                break;
            };
            process(&db, handler.as_ref(), &queue.name, delivery).await;
        }
    }
}

/// Applies one delivery and settles it.
pub async fn process(
    db: &Db,
    handler: &dyn EventHandler,
    queue: &str,
    delivery: Delivery,
) -> Outcome {
    let span = tracing::info_span!(
        "process",
        otel.name = format!("{} process", delivery.message.routing_key),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %queue,
        messaging.rabbitmq.destination.routing_key = %delivery.message.routing_key,
        messaging.message.id = %delivery.message.id,
        consumer = db.service(),
    );
    crate::telemetry::set_parent_from_headers(&span, &delivery.message.headers);
    async move {
        let outcome = match crate::events::decode(&delivery.message.body) {
            Err(e) => {
                tracing::warn!(error = %e, "malformed event; giving it back towards the dead letters");
                Err(e)
            }
            Ok(event) => apply(db, handler, &event).await,
        };
        let (settled, outcome) = match outcome {
            Ok(applied) => (delivery.ack().await, applied),
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "event not applied; requeued");
                (delivery.nack(true).await, Outcome::Rejected)
            }
        };
        if let Err(e) = settled {
            // The broker will redeliver; the inbox absorbs the repeat.
            tracing::warn!(error = %e, "could not settle delivery");
        }
        outcome
    }
    .instrument(span)
    .await
}

async fn apply(db: &Db, handler: &dyn EventHandler, event: &Event) -> anyhow::Result<Outcome> {
    let mut tx = db.begin().await?;
    if !crate::inbox::claim(&mut tx, &event.id, &event.r#type).await? {
        tracing::debug!("duplicate event absorbed by the inbox");
        return Ok(Outcome::Duplicate);
    }
    // The trail records the event; an anchor of another service's trail is the platform's own.
    if !crate::audit::record_event(&mut tx, event).await? {
        handler.handle(&mut tx, event).await?;
    }
    db.commit(tx).await?;
    Ok(Outcome::Applied)
}
