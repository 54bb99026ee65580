//! Events as the JSON API shows and takes them.
//!
//! Data is JSON when the event is JSON and its bytes parse as JSON, and a
//! base64 string otherwise; `dataEncoding` says which, so a browser never
//! guesses. Metadata likewise (`metadataEncoding`), null when empty.
//! Positions are decimal strings: they are byte offsets in the log and may
//! pass 2^53, past what a JavaScript number holds exactly. Revisions are
//! numbers: no stream reaches 2^53 events.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use eventfold_store::{ContentType, EventId, ProposedEvent, RecordedEvent, ResolvedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;

/// How `data` or `metadata` is written in the JSON.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The value is the JSON document itself.
    #[default]
    Json,
    /// The value is a string holding the bytes in standard base64.
    Base64,
}

/// A recorded event.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    pub stream: String,
    pub revision: u64,
    /// The event's `$all` position, a decimal string. Also its SSE id.
    #[schema(pattern = "^[0-9]+$")]
    pub position: String,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `application/json` or `application/octet-stream`, as appended.
    pub content_type: String,
    /// When the event was committed, Unix milliseconds.
    pub created: i64,
    pub data_encoding: Encoding,
    #[schema(value_type = Value)]
    pub data: Box<RawValue>,
    pub metadata_encoding: Encoding,
    /// Null when the event has no metadata.
    #[schema(value_type = Value)]
    pub metadata: Box<RawValue>,
    /// With `resolveLinks`: the link event that led here, when this event
    /// was reached through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkBody>,
}

/// The link (`$>`) event through which a resolved event was read.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LinkBody {
    pub stream: String,
    pub revision: u64,
    #[schema(pattern = "^[0-9]+$")]
    pub position: String,
}

/// Bytes as JSON when they parse as JSON, else as base64. JSON is only
/// checked, not parsed into a tree: reads go out at the speed of copying.
fn encode(bytes: &Bytes, json_allowed: bool) -> (Encoding, Box<RawValue>) {
    if json_allowed && let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(bytes) {
        return (Encoding::Json, raw);
    }
    (Encoding::Base64, raw_string(&BASE64.encode(bytes)))
}

fn raw_string(text: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(text).unwrap_or_else(|_| null())
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_default()
}

impl From<&RecordedEvent> for EventBody {
    fn from(event: &RecordedEvent) -> Self {
        let (data_encoding, data) = encode(&event.data, event.content_type == ContentType::Json);
        let (metadata_encoding, metadata) =
            if event.metadata.is_empty() { (Encoding::Json, null()) } else { encode(&event.metadata, true) };
        Self {
            stream: event.stream.to_string(),
            revision: event.revision,
            position: event.position.0.to_string(),
            id: event.id.0,
            event_type: event.event_type.clone(),
            content_type: event.content_type.mime().to_owned(),
            created: event.created.unix_millis(),
            data_encoding,
            data,
            metadata_encoding,
            metadata,
            link: None,
        }
    }
}

impl From<&ResolvedEvent> for EventBody {
    fn from(resolved: &ResolvedEvent) -> Self {
        let mut body = EventBody::from(&resolved.event);
        body.link = resolved.link.as_ref().map(|link| LinkBody {
            stream: link.stream.to_string(),
            revision: link.revision,
            position: link.position.0.to_string(),
        });
        body
    }
}

/// An event to append.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEvent {
    /// The event's id; a random one when absent. Sending the same ids again
    /// at the same expected revision is how an append is made idempotent.
    pub id: Option<Uuid>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `json` (the default): `data` is the event's JSON document and the
    /// event is stored as `application/json`. `base64`: `data` is a base64
    /// string and the event is stored as `application/octet-stream`.
    #[serde(default)]
    pub data_encoding: Encoding,
    pub data: Value,
    /// `json` (the default) or `base64`, for `metadata`.
    #[serde(default)]
    pub metadata_encoding: Encoding,
    /// Optional; null or absent means none.
    #[serde(default)]
    pub metadata: Value,
}

fn decode(value: Value, encoding: Encoding, field: &str) -> Result<Bytes, ApiError> {
    match encoding {
        Encoding::Json => serde_json::to_vec(&value)
            .map(Bytes::from)
            .map_err(|error| ApiError::bad_request(format!("`{field}` cannot be written as JSON: {error}"))),
        Encoding::Base64 => {
            let Value::String(text) = value else {
                return Err(ApiError::bad_request(format!("`{field}` must be a base64 string")));
            };
            BASE64
                .decode(text.as_bytes())
                .map(Bytes::from)
                .map_err(|error| ApiError::bad_request(format!("`{field}` is not valid base64: {error}")))
        }
    }
}

impl NewEvent {
    pub fn into_proposed(self) -> Result<ProposedEvent, ApiError> {
        let content_type = match self.data_encoding {
            Encoding::Json => ContentType::Json,
            Encoding::Base64 => ContentType::Binary,
        };
        let data = decode(self.data, self.data_encoding, "data")?;
        let metadata = if self.metadata.is_null() {
            Bytes::new()
        } else {
            decode(self.metadata, self.metadata_encoding, "metadata")?
        };
        Ok(ProposedEvent {
            id: self.id.map_or_else(EventId::random, EventId),
            event_type: self.event_type,
            content_type,
            data,
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_event(body: Value) -> NewEvent {
        serde_json::from_value(body).expect("a valid new event")
    }

    #[test]
    fn json_and_base64_events_keep_their_bytes_and_say_how_they_are_written() {
        let json = new_event(serde_json::json!({"type": "Placed", "data": {"a": 1}})).into_proposed().expect("ok");
        assert_eq!((json.content_type, json.data.as_ref()), (ContentType::Json, br#"{"a":1}"#.as_slice()));
        let binary = new_event(serde_json::json!({"type": "Blob", "dataEncoding": "base64", "data": "AAEC",
            "metadataEncoding": "base64", "metadata": "/w=="}))
        .into_proposed()
        .expect("ok");
        assert_eq!((binary.content_type, binary.data.as_ref()), (ContentType::Binary, [0u8, 1, 2].as_slice()));
        assert_eq!(binary.metadata.as_ref(), [0xffu8].as_slice());
        let bad = new_event(serde_json::json!({"type": "Blob", "dataEncoding": "base64", "data": "%%%"}));
        assert!(bad.into_proposed().is_err());
        let not_a_string = new_event(serde_json::json!({"type": "Blob", "dataEncoding": "base64", "data": 5}));
        assert!(not_a_string.into_proposed().is_err());
    }

    #[test]
    fn json_events_that_do_not_parse_are_shown_as_base64() {
        assert_eq!(encode(&Bytes::from_static(b"{\"a\":1}"), true).0, Encoding::Json);
        let (encoding, raw) = encode(&Bytes::from_static(b"not json"), true);
        assert_eq!((encoding, raw.get()), (Encoding::Base64, "\"bm90IGpzb24=\""));
        assert_eq!(encode(&Bytes::from_static(b"{}"), false).0, Encoding::Base64, "binary events stay base64");
        assert_eq!(null().get(), "null");
    }
}
