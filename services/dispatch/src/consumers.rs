//! Dispatch's reaction to events, inside the consumer loop's transaction (so the inbox claim,
//! the change and the events it causes commit together): every `case.registered` is routed
//! and assigned, a `case.reopened` is assigned again, a `case.supplemented` starts a stopped
//! clock again, mediation's events mark, reply or release the case's open assignment, and a
//! `case.withdrawn` ends it (`moves`).

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Tx;
use yimen_proto::event_type::{
    CASE_REGISTERED, CASE_REOPENED, CASE_REVIEW_REQUESTED, CASE_SUPPLEMENTED, CASE_WITHDRAWN,
    MEDIATION_CONCLUDED, MEDIATION_OPENED,
};
use yimen_proto::v1::Event;

use crate::app::{self, Deadlines};

pub struct DispatchHandler {
    deadlines: Deadlines,
}

impl DispatchHandler {
    pub fn new(deadlines: Deadlines) -> Self {
        Self { deadlines }
    }
}

#[async_trait]
impl EventHandler for DispatchHandler {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        self.apply(tx, event).await
    }
}

impl DispatchHandler {
    async fn apply(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        match event.r#type.as_str() {
            CASE_REGISTERED => app::register_case(tx, event, &self.deadlines).await,
            CASE_REOPENED => app::reopen_case(tx, event, &self.deadlines).await,
            CASE_SUPPLEMENTED => app::supplemented(tx, event, &self.deadlines).await,
            MEDIATION_OPENED => app::mediation_opened(tx, event).await,
            MEDIATION_CONCLUDED => app::mediation_concluded(tx, event, &self.deadlines).await,
            CASE_REVIEW_REQUESTED => app::review_requested(tx, event, &self.deadlines).await,
            CASE_WITHDRAWN => crate::moves::case_withdrawn(tx, event).await,
            other => {
                // Not bound to our queue; acknowledged so it never blocks the queue.
                tracing::debug!(event_type = %other, "event not for dispatch; ignored");
                Ok(())
            }
        }
    }
}
