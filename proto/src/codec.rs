//! The codec of every yimen gRPC service: prost's, except that a request that is not valid
//! protobuf (a string that is not UTF-8, a truncated field) is the caller's error —
//! INVALID_ARGUMENT naming the field — not the INTERNAL that prost's codec answers.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt};

/// [`ProstCodec`] with malformed requests answered as INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct Codec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = MalformedIsInvalid<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        MalformedIsInvalid(ProstCodec::<T, U>::raw_decoder(BufferSettings::default()))
    }
}

/// Prost's decoder, its one failure (the bytes are not a valid message) named as the caller's.
#[derive(Debug)]
pub struct MalformedIsInvalid<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for MalformedIsInvalid<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // Decoding directly keeps prost's error, whose stack names the field.
        U::decode(buf).map(Some).map_err(|e| malformed(&e))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// INVALID_ARGUMENT for a message that does not decode, with a field violation naming the
/// innermost field prost was reading (`subject`, `location.town`).
pub fn malformed(error: &prost::DecodeError) -> Status {
    // prost says "failed to decode Protobuf message: Inner.field: Outer.field: <why>",
    // innermost first.
    let text = error.to_string();
    let detail = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    let mut parts: Vec<&str> = detail.split(": ").collect();
    let why = parts.pop().unwrap_or_default();
    let field = parts
        .iter()
        .rev()
        .filter_map(|frame| frame.split_once('.').map(|(_, field)| field))
        .collect::<Vec<_>>()
        .join(".");
    let message = format!("the request is not a valid message: {detail}");
    if field.is_empty() {
        return Status::invalid_argument(message);
    }
    Status::with_error_details(
        tonic::Code::InvalidArgument,
        message,
        ErrorDetails::with_bad_request_violation(field, why),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Location, SubmitCaseRequest};

    /// `request` encoded, with the first byte of `needle` in it set to 0xFF (never UTF-8).
    fn spoiled(request: &SubmitCaseRequest, needle: &str) -> Vec<u8> {
        let mut bytes = request.encode_to_vec();
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .expect("the needle is encoded");
        bytes[at] = 0xFF;
        bytes
    }

    #[test]
    fn a_string_that_is_not_utf8_is_invalid_argument_naming_the_field() {
        let request = SubmitCaseRequest {
            subject: "wages".into(),
            ..Default::default()
        };
        let error = SubmitCaseRequest::decode(&spoiled(&request, "wages")[..]).unwrap_err();
        let status = malformed(&error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        let bad = status.get_details_bad_request().expect("field violations");
        assert_eq!(bad.field_violations[0].field, "subject");
    }

    #[test]
    fn a_nested_field_is_named_by_its_path() {
        let request = SubmitCaseRequest {
            location: Some(Location {
                town: "yangzi".into(),
                village: String::new(),
            }),
            ..Default::default()
        };
        let error = SubmitCaseRequest::decode(&spoiled(&request, "yangzi")[..]).unwrap_err();
        let bad = malformed(&error)
            .get_details_bad_request()
            .expect("field violations");
        assert_eq!(bad.field_violations[0].field, "location.town");
    }

    #[test]
    fn truncated_bytes_are_invalid_argument_too() {
        let request = SubmitCaseRequest {
            subject: "wages".into(),
            ..Default::default()
        };
        let bytes = request.encode_to_vec();
        let error = SubmitCaseRequest::decode(&bytes[..bytes.len() - 2]).unwrap_err();
        assert_eq!(malformed(&error).code(), tonic::Code::InvalidArgument);
    }
}
