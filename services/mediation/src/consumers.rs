//! Mediation's reaction to events: a department's referral (`case.referred.<dept>`) opens the
//! case's file inside the consumer loop's transaction, so the inbox claim, the file and
//! `mediation.opened` commit together; a registration (`case.registered`) tells it the case's
//! number, for files a court or an administration opens directly.

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Tx};
use yimen_proto::v1::Event;

use crate::MediationConfig;
use crate::app;

/// The prefix of the routing keys of referrals; the department's code follows.
pub const CASE_REFERRED_PREFIX: &str = "case.referred.";

pub const CASE_REGISTERED: &str = "case.registered";

pub struct Handler;

impl Handler {
    /// The handler works in the consumer loop's transaction, so it keeps no store of its own.
    pub fn new(_db: Db, _config: &MediationConfig) -> Self {
        Self
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        if event.r#type.starts_with(CASE_REFERRED_PREFIX) {
            app::referred(tx, event).await
        } else if event.r#type == CASE_REGISTERED {
            app::registered(tx, event).await
        } else {
            // Not bound to our queue; acknowledged so it never blocks the queue.
            tracing::debug!(event_type = %event.r#type, "event not for mediation; ignored");
            Ok(())
        }
    }
}
