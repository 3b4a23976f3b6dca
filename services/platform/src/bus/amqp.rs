//! AMQP bus (placeholder; being written).
use super::{BusConfig, BusError};
pub struct AmqpBus {
    #[allow(dead_code)]
    config: BusConfig,
}
impl AmqpBus {
    pub async fn connect(config: BusConfig) -> Result<Self, BusError> {
        Ok(Self { config })
    }
}
