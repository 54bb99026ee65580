//! One event as the HTTP sink posts it: its place in the log, its type and
//! id, and its data and metadata as JSON when they are JSON, else base64.

use base64::Engine as _;
use eventfold_store::{ContentType, RecordedEvent};
use serde_json::{Value, json};

pub(crate) fn event_json(event: &RecordedEvent) -> Value {
    json!({
        "stream": event.stream.as_str(),
        "revision": event.revision,
        "position": event.position.0,
        "eventId": event.id.to_string(),
        "eventType": event.event_type,
        "contentType": event.content_type.mime(),
        "created": event.created.unix_millis(),
        "data": body(&event.data, event.content_type == ContentType::Json),
        "metadata": body(&event.metadata, true),
    })
}

/// JSON bytes as their JSON value; anything else (binary, or JSON that does
/// not parse) as a base64 string; nothing as `null`.
fn body(bytes: &[u8], json_expected: bool) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if json_expected && let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return value;
    }
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{EventId, Position, StreamName, Timestamp};

    use super::*;

    #[test]
    fn json_data_stays_json_and_binary_goes_base64() {
        let mut event = RecordedEvent {
            stream: StreamName::new("order-1").expect("valid"),
            revision: 3,
            position: Position(99),
            id: EventId::random(),
            event_type: "Placed".into(),
            content_type: ContentType::Json,
            created: Timestamp(10_000 * 5),
            data: Bytes::from_static(br#"{"total":5}"#),
            metadata: Bytes::new(),
        };
        let value = event_json(&event);
        assert_eq!(value["data"]["total"], 5);
        assert_eq!(value["metadata"], Value::Null);
        assert_eq!((value["revision"].as_u64(), value["position"].as_u64()), (Some(3), Some(99)));
        assert_eq!(value["created"], 5);
        event.content_type = ContentType::Binary;
        event.data = Bytes::from_static(&[0, 1, 2]);
        assert_eq!(event_json(&event)["data"], "AAEC");
    }
}
