//! A table row (a result event of another query) in a join's checkpoint:
//! every field of the recorded event, so that the restored state joins
//! exactly as the saved one would have (its data and metadata as base64,
//! whatever their content).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use eventfold_store::{ContentType, EventId, Position, RecordedEvent, StreamName, Timestamp};
use serde_json::{Value as JsonValue, json};

pub fn event_to_json(event: &RecordedEvent, matched: bool) -> JsonValue {
    json!({
        "stream": event.stream.as_str(),
        "revision": event.revision,
        "position": event.position.0,
        "id": event.id.0.to_string(),
        "type": event.event_type,
        "binary": event.content_type == ContentType::Binary,
        "created": event.created.ticks(),
        "data": STANDARD.encode(&event.data),
        "metadata": STANDARD.encode(&event.metadata),
        "matched": matched,
    })
}

pub fn event_from_json(json: &JsonValue) -> Option<(RecordedEvent, bool)> {
    let bytes = |field: &str| -> Option<Bytes> { STANDARD.decode(json.get(field)?.as_str()?).ok().map(Bytes::from) };
    let event = RecordedEvent {
        stream: StreamName::new(json.get("stream")?.as_str()?).ok()?,
        revision: json.get("revision")?.as_u64()?,
        position: Position(json.get("position")?.as_u64()?),
        id: EventId(uuid::Uuid::parse_str(json.get("id")?.as_str()?).ok()?),
        event_type: json.get("type")?.as_str()?.to_owned(),
        content_type: if json.get("binary")?.as_bool()? { ContentType::Binary } else { ContentType::Json },
        created: Timestamp(json.get("created")?.as_i64()?),
        data: bytes("data")?,
        metadata: bytes("metadata")?,
    };
    Some((event, json.get("matched")?.as_bool()?))
}
