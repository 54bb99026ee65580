//! What a stream's `$metadata` document means: the retention settings reads
//! obey (`$tb`, `$maxCount`, `$maxAge`), the document a soft delete writes,
//! and which documents are refused. Every backend derives stream state from
//! these rules, so a stream reads the same on each.

use crate::{
    AppendRequest, ContentType, EventId, ExpectedRevision, METADATA_EVENT_TYPE, ProposedEvent, StreamName,
    TOMBSTONE_EVENT_TYPE, metadata_target,
};

/// The `$tb` a soft delete writes, as EventStoreDB does (`i64::MAX`, which
/// clients read back): every event the stream has is hidden, and the stream
/// waits to be recreated.
pub const SOFT_DELETED_TRUNCATE_BEFORE: u64 = i64::MAX as u64;

/// The settings of a metadata document that change what reads see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub truncate_before: u64,
    pub max_count: Option<u64>,
    pub max_age_seconds: Option<u64>,
}

/// What an event does to stream state beyond taking the next revision.
pub enum Effect<'a> {
    None,
    /// The event's own stream is tombstoned.
    Tombstone,
    /// The metadata of `stream` changed.
    Metadata {
        stream: &'a str,
        retention: Retention,
    },
}

pub fn effect_of<'a>(stream: &'a str, event_type: &str, data: &[u8]) -> Effect<'a> {
    if event_type == TOMBSTONE_EVENT_TYPE {
        return Effect::Tombstone;
    }
    match metadata_target(stream) {
        Some(target) if event_type == METADATA_EVENT_TYPE => {
            Effect::Metadata { stream: target, retention: retention_of(data) }
        }
        _ => Effect::None,
    }
}

/// The retention settings of a metadata document. The latest metadata event
/// replaces the previous one whole, so a missing key means "none". As in
/// EventStoreDB, a `$maxCount` or `$maxAge` of 0 is no limit at all (not
/// "keep nothing").
pub fn retention_of(metadata: &[u8]) -> Retention {
    let document = serde_json::from_slice::<serde_json::Value>(metadata).ok();
    let number = |key: &str| document.as_ref().and_then(|document| document.get(key)?.as_u64());
    let positive = |key: &str| number(key).filter(|value| *value > 0);
    Retention {
        truncate_before: number("$tb").unwrap_or(0),
        max_count: positive("$maxCount"),
        max_age_seconds: positive("$maxAge"),
    }
}

/// Why a metadata document is refused: EventStoreDB's reserved keys must
/// have their types, and the document must be a JSON object.
pub fn check_metadata(metadata: &[u8]) -> Result<(), String> {
    let document = serde_json::from_slice::<serde_json::Value>(metadata)
        .map_err(|error| format!("stream metadata is not valid JSON: {error}"))?;
    let object = document.as_object().ok_or("stream metadata must be a JSON object")?;
    for key in ["$tb", "$maxCount", "$maxAge", "$cacheControl"] {
        if let Some(value) = object.get(key)
            && !value.is_u64()
            && !value.is_null()
        {
            return Err(format!("stream metadata `{key}` must be a non-negative integer"));
        }
    }
    if let Some(acl) = object.get("$acl")
        && !acl.is_object()
        && !acl.is_null()
    {
        return Err("stream metadata `$acl` must be an object".into());
    }
    Ok(())
}

/// The metadata document with `$tb` set to `revision`, keeping every other
/// key of `previous` (a soft delete must not drop the stream's settings).
pub fn with_truncate_before(previous: Option<&[u8]>, revision: u64) -> Vec<u8> {
    let mut document = previous
        .and_then(|bytes| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes).ok())
        .unwrap_or_default();
    document.insert("$tb".to_owned(), serde_json::Value::from(revision));
    serde_json::to_vec(&document).unwrap_or_else(|_| format!("{{\"$tb\":{revision}}}").into_bytes())
}

/// The metadata append that goes with the first append to a soft-deleted
/// stream, in the same transaction: as in EventStoreDB, `$tb` goes from
/// "everything" to the revision the stream starts again at (its next one),
/// other keys kept. Replaying the events then derives the same state.
pub fn recreation_metadata(metadata_stream: StreamName, previous: Option<&[u8]>, next_revision: u64) -> AppendRequest {
    let document = with_truncate_before(previous, next_revision);
    AppendRequest::new(metadata_stream, ExpectedRevision::Any, vec![metadata_event(document)])
}

/// A `$metadata` event holding `document`.
pub fn metadata_event(document: Vec<u8>) -> ProposedEvent {
    system_event(METADATA_EVENT_TYPE, document)
}

/// An event the store writes itself (metadata, tombstone): JSON, a new id.
pub fn system_event(event_type: &str, document: Vec<u8>) -> ProposedEvent {
    ProposedEvent {
        id: EventId::random(),
        event_type: event_type.to_owned(),
        content_type: ContentType::Json,
        data: document.into(),
        metadata: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_events_set_the_target_streams_retention() {
        match effect_of("$$order-1", METADATA_EVENT_TYPE, br#"{"$tb": 7, "$maxCount": 3}"#) {
            Effect::Metadata { stream, retention } => {
                assert_eq!(stream, "order-1");
                assert_eq!(retention, Retention { truncate_before: 7, max_count: Some(3), max_age_seconds: None });
            }
            _ => panic!("a metadata event changes retention"),
        }
        assert!(matches!(effect_of("order-1", METADATA_EVENT_TYPE, b"{}"), Effect::None));
        assert!(matches!(effect_of("order-1", TOMBSTONE_EVENT_TYPE, b"{}"), Effect::Tombstone));
        assert_eq!(retention_of(b"not json"), Retention::default());
    }

    #[test]
    fn zero_max_count_and_max_age_mean_no_limit() {
        let retention = retention_of(br#"{"$maxCount": 0, "$maxAge": 0, "$tb": 0}"#);
        assert_eq!(retention, Retention::default());
        assert!(check_metadata(br#"{"$maxCount": 0, "$maxAge": 0}"#).is_ok());
        let retention = retention_of(br#"{"$maxCount": 1, "$maxAge": 1}"#);
        assert_eq!(retention, Retention { truncate_before: 0, max_count: Some(1), max_age_seconds: Some(1) });
    }

    #[test]
    fn metadata_with_wrong_types_is_refused() {
        assert!(check_metadata(br#"{"$maxCount": 5, "$maxAge": 60, "$tb": 2, "owner": "ann"}"#).is_ok());
        assert!(check_metadata(b"not json").is_err());
        assert!(check_metadata(b"[1]").is_err());
        assert!(check_metadata(br#"{"$maxCount": "five"}"#).is_err());
        assert!(check_metadata(br#"{"$maxAge": -1}"#).is_err());
        assert!(check_metadata(br#"{"$acl": 3}"#).is_err());
    }

    #[test]
    fn soft_delete_keeps_other_metadata_keys() {
        let document = with_truncate_before(Some(br#"{"$maxCount":5,"owner":"ann"}"#), 9);
        let parsed: serde_json::Value = serde_json::from_slice(&document).expect("json");
        assert_eq!(parsed["$tb"], 9);
        assert_eq!(parsed["$maxCount"], 5);
        assert_eq!(parsed["owner"], "ann");
    }

    #[test]
    fn recreation_sets_truncate_before_to_the_next_revision_and_keeps_other_keys() {
        let stream = StreamName::new("$$order-1").expect("name");
        let recreation = recreation_metadata(stream, Some(br#"{"$tb":9223372036854775807,"owner":"ann"}"#), 3);
        let document: serde_json::Value = serde_json::from_slice(&recreation.events[0].data).expect("json");
        assert_eq!(document, serde_json::json!({ "$tb": 3, "owner": "ann" }));
    }
}
