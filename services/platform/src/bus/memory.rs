//! In-process bus for standalone (placeholder; being written).
use super::BusConfig;
pub struct MemoryBus {
    #[allow(dead_code)]
    config: BusConfig,
}
impl MemoryBus {
    pub fn new(config: BusConfig) -> Self {
        Self { config }
    }
}
