//! Posted bodies: read whole up to a bound, and decoded into the events an
//! append proposes. Nothing is appended unless every event of the body is
//! well formed.

use axum::body::{Body, Bytes};
use bytes::Bytes as DataBytes;
use eventfold_store::{AppendSizeBudget, ContentType, EventId, ProposedEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::errors::AtomError;
use super::headers::parse_event_id;

/// A body may be larger than the append it carries (JSON escapes, field
/// names): it is read up to this many times the append limit, and at least
/// [`BODY_MIN_LIMIT_BYTES`].
const BODY_LIMIT_FACTOR: usize = 4;
const BODY_MIN_LIMIT_BYTES: usize = 64 * 1024;

/// The whole body, or 413 once it passes the bound for `max_append_bytes`.
pub async fn read(body: Body, max_append_bytes: usize) -> Result<Bytes, AtomError> {
    let limit = max_append_bytes.saturating_mul(BODY_LIMIT_FACTOR).max(BODY_MIN_LIMIT_BYTES);
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        AtomError::PayloadTooLarge(format!(
            "the body is larger than {limit} bytes (the maximum append is {max_append_bytes} bytes)"
        ))
    })
}

/// One element of an `application/vnd.eventstore.events+json` array.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostedEvent {
    event_id: String,
    event_type: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default, alias = "metaData")]
    metadata: Option<Box<RawValue>>,
}

/// The events of an events+json array, in order, checked against the
/// append limit as they are decoded.
pub fn events(body: &[u8], max_append_bytes: usize) -> Result<Vec<ProposedEvent>, AtomError> {
    let posted: Vec<PostedEvent> = serde_json::from_slice(body).map_err(|error| {
        AtomError::BadRequest(format!(
            "the body is not an array of events ({{\"eventId\", \"eventType\", \"data\", \"metadata\"}}): {error}"
        ))
    })?;
    if posted.is_empty() {
        return Err(AtomError::BadRequest("the body holds no event".into()));
    }
    let mut budget = AppendSizeBudget::new(max_append_bytes);
    let mut events = Vec::with_capacity(posted.len());
    for (index, event) in posted.into_iter().enumerate() {
        if event.event_type.is_empty() {
            return Err(AtomError::BadRequest(format!("event {index} has an empty eventType")));
        }
        let proposed = ProposedEvent {
            id: parse_event_id(&event.event_id)?,
            event_type: event.event_type,
            content_type: ContentType::Json,
            data: json_bytes(event.data),
            metadata: json_bytes(event.metadata),
        };
        budget.add(&proposed)?;
        events.push(proposed);
    }
    Ok(events)
}

/// JSON as the text the client sent (an absent or `null` value: nothing).
fn json_bytes(value: Option<Box<RawValue>>) -> DataBytes {
    match value {
        Some(value) if value.get() != "null" => DataBytes::from(value.get().to_owned()),
        _ => DataBytes::new(),
    }
}

/// One event whose data is the whole body; JSON data must parse.
pub fn single(
    id: EventId,
    event_type: String,
    content_type: ContentType,
    body: Bytes,
    max_append_bytes: usize,
) -> Result<ProposedEvent, AtomError> {
    if content_type == ContentType::Json && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        return Err(AtomError::BadRequest("the body is not JSON".into()));
    }
    let event = ProposedEvent { id, event_type, content_type, data: body, metadata: DataBytes::new() };
    AppendSizeBudget::new(max_append_bytes).add(&event)?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_array_keeps_the_clients_json_and_refuses_what_is_malformed() {
        let body = br#"[{"eventId":"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4","eventType":"Placed","data":{"b":1,"a":2}}]"#;
        let events = events(body, 1024).expect("well formed");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.as_ref(), br#"{"b":1,"a":2}"#, "data as sent, keys in order");
        assert!(events[0].metadata.is_empty());
        for bad in [
            &b"{}"[..],
            b"[]",
            b"[{\"eventType\":\"T\",\"data\":{}}]",
            b"[{\"eventId\":\"nope\",\"eventType\":\"T\"}]",
            b"[{\"eventId\":\"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4\",\"eventType\":\"\"}]",
            b"[{\"eventId\":\"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4\",\"eventType\":\"T\",\"extra\":1}]",
            b"[{\"eventId\"",
        ] {
            assert!(matches!(super::events(bad, 1024), Err(AtomError::BadRequest(_))), "{bad:?}");
        }
        let large = format!(
            r#"[{{"eventId":"fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4","eventType":"T","data":"{}"}}]"#,
            "x".repeat(100)
        );
        assert!(matches!(super::events(large.as_bytes(), 50), Err(AtomError::PayloadTooLarge(_))));
    }
}
