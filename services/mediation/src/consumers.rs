//! Placeholder: replaced by the service's consumers.

use async_trait::async_trait;
use yimen_platform::consumer::EventHandler;
use yimen_platform::db::{Db, Tx};
use yimen_proto::v1::Event;

use crate::MediationConfig;

pub struct Handler;

impl Handler {
    pub fn new(_db: Db, _config: &MediationConfig) -> Self {
        Self
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn handle(&self, _tx: &mut Tx, _event: &Event) -> anyhow::Result<()> {
        Ok(())
    }
}
