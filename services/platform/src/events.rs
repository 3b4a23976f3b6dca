//! Building and reading the `yimen.v1.Event` envelope.

use prost::Message as _;
use yimen_proto::v1::{Event, event::Payload};

/// A new event with a fresh UUIDv7 id, stamped now.
pub fn new_event(
    event_type: impl Into<String>,
    case_id: impl Into<String>,
    producer: &str,
    payload: Payload,
) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.into(),
        occurred_at: Some(crate::time::timestamp(crate::db::now_millis())),
        case_id: case_id.into(),
        producer: producer.to_string(),
        payload: Some(payload),
    }
}

/// Decodes an envelope; a body that is not one is malformed and goes to the dead letters.
pub fn decode(body: &[u8]) -> anyhow::Result<Event> {
    let event = Event::decode(body)?;
    anyhow::ensure!(!event.id.is_empty(), "event without id");
    anyhow::ensure!(event.payload.is_some(), "event without payload");
    Ok(event)
}

pub fn encode(event: &Event) -> Vec<u8> {
    event.encode_to_vec()
}
