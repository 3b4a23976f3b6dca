//! The yimen contract, generated from `proto/yimen/v1/*.proto`.

pub mod codec;
pub mod event_type;

pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("yimen.v1");
}

/// The encoded file descriptor set of every yimen proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/yimen_descriptor.bin"));

pub use prost;
pub use prost_types;
