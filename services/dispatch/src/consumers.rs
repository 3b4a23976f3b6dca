//! Dispatch's reaction to events: every `case.registered` is routed and assigned, inside the
//! consumer loop's transaction (so the inbox claim, the assignment and `case.assigned.<code>`
//! commit together).

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::Tx;
use yimen_proto::v1::Event;

use crate::process::{self, Deadlines};

pub const CASE_REGISTERED: &str = "case.registered";

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
        if event.r#type == CASE_REGISTERED {
            process::register_case(tx, event, self.deadlines).await
        } else {
            // Not bound to our queue; acknowledged so it never blocks the queue.
            tracing::debug!(event_type = %event.r#type, "event not for dispatch; ignored");
            Ok(())
        }
    }
}
