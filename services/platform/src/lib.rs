//! What every yimen service runs on, written once: configuration, telemetry, the event bus,
//! the transactional outbox and inbox, the audit trail, the consumer loop, storage, the gRPC server and its
//! error mapping, and the answer to overload.

pub mod audit;
pub mod auth;
pub mod backoff;
pub mod bus;
pub mod calendar;
pub mod config;
pub mod consumer;
pub mod db;
pub mod error;
pub mod events;
pub mod files;
pub mod inbox;
pub mod money;
pub mod outbox;
pub mod overload;
pub mod paging;
pub mod period;
pub mod seal;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod time;
pub mod validate;
pub mod watch;
