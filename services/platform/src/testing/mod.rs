//! Test support shared by every crate's tests: isolated stores, brokers and collectors.
pub mod harness;
pub mod otlp;
pub mod stores;
