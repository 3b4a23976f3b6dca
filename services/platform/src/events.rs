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

/// The payload of `event` when it is the `$variant` its routing key promises, or an error that
/// names the event: a malformed event, which the consumer loop retries and finally dead-letters.
///
/// `let referral = yimen_platform::payload!(event, CaseReferred)?;`
#[macro_export]
macro_rules! payload {
    ($event:expr, $variant:ident) => {
        match &$event.payload {
            Some($crate::events::__Payload::$variant(payload)) => Ok(payload),
            _ => Err($crate::events::__anyhow!(
                "{} event {} carries no {}",
                $event.r#type,
                $event.id,
                stringify!($variant)
            )),
        }
    };
}

#[doc(hidden)]
pub use anyhow::anyhow as __anyhow;
#[doc(hidden)]
pub use yimen_proto::v1::event::Payload as __Payload;

#[cfg(test)]
mod tests {
    use yimen_proto::event_type::CASE_CLOSED;
    use yimen_proto::v1::{CaseClosed, CaseReopened};

    use super::*;

    #[test]
    fn payload_answers_the_promised_variant_or_names_the_event() {
        let event = new_event(
            CASE_CLOSED,
            "c1",
            "intake",
            Payload::CaseClosed(CaseClosed::default()),
        );
        assert!(crate::payload!(event, CaseClosed).is_ok());
        let err = crate::payload!(event, CaseReopened)
            .map(|_: &CaseReopened| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(CASE_CLOSED) && err.contains("CaseReopened"),
            "{err}"
        );
    }
}
