//! Mediation's reaction to events: a department's referral (`case.referred.<dept>`) opens the
//! case's file inside the consumer loop's transaction, so the inbox claim, the file and
//! `mediation.opened` commit together; a registration (`case.registered`) tells it the case's
//! number, for files a court or an administration opens directly; a withdrawal
//! (`case.withdrawn`) concludes the case's open file WITHDRAWN.

use std::sync::Arc;

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Tx};
use yimen_platform::seal::Keyring;
use yimen_proto::event_type::{self, CASE_REFERRED, CASE_REGISTERED, CASE_WITHDRAWN};
use yimen_proto::v1::Event;

use crate::MediationConfig;
use crate::app;

pub struct Handler {
    /// Opening a referred case's file reads any file it already has, parties sealed.
    keyring: Arc<Keyring>,
}

impl Handler {
    /// The handler works in the consumer loop's transaction, so it keeps no store of its own.
    pub fn new(_db: Db, _config: &MediationConfig, keyring: Arc<Keyring>) -> Self {
        Self { keyring }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn handle(&self, tx: &mut Tx, event: &Event) -> anyhow::Result<()> {
        match event_type::kind(&event.r#type) {
            CASE_REFERRED => app::referred(tx, event, &self.keyring).await,
            CASE_REGISTERED => app::registered(tx, event).await,
            CASE_WITHDRAWN => app::case_withdrawn(tx, event, &self.keyring).await,
            other => {
                // Not bound to our queue; acknowledged so it never blocks the queue.
                tracing::debug!(event_type = %other, "event not for mediation; ignored");
                Ok(())
            }
        }
    }
}
