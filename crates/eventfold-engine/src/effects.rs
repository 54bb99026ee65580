//! What an event does to stream state beyond taking the next revision of
//! its stream. The writer applies these rules when it appends and recovery
//! applies the same rules when it replays the log, so both derive the same
//! index from the same log.

use eventfold_index::{StreamEntry, TRUNCATE_ALL};
use eventfold_store::{
    AppendRequest, ContentType, EventId, ExpectedRevision, ProposedEvent, RecordedEvent, StreamName,
};

// The `$` names are the store's, shared with every face.
use eventfold_store::{
    CATEGORY_STREAM_PREFIX as CATEGORY_PREFIX, EVENT_TYPE_STREAM_PREFIX as EVENT_TYPE_PREFIX, METADATA_STREAM_PREFIX,
};
pub use eventfold_store::{
    LINK_EVENT_TYPE, METADATA_EVENT_TYPE, STREAMS_STREAM, TOMBSTONE_EVENT_TYPE, metadata_target,
};

/// The settings of a metadata document that change what reads see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub truncate_before: u64,
    pub max_count: Option<u64>,
    pub max_age_seconds: Option<u64>,
}

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

pub fn apply(entry: &mut StreamEntry, retention: Retention) {
    entry.truncate_before = retention.truncate_before;
    entry.max_count = retention.max_count;
    entry.max_age_seconds = retention.max_age_seconds;
}

pub fn apply_own(entry: &mut StreamEntry, effect: &Effect<'_>) {
    if let Effect::Tombstone = effect {
        entry.tombstoned = true;
    }
}

pub fn is_metadata_stream(stream: &str) -> bool {
    stream.starts_with(METADATA_STREAM_PREFIX)
}

pub fn metadata_stream_of(stream: &str) -> String {
    eventfold_store::metadata_stream_of(stream)
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

/// The `$tb` a soft delete writes, as EventStoreDB does (`i64::MAX`, which
/// clients read back): every event the stream has is hidden, and the stream
/// waits to be recreated.
pub const SOFT_DELETED_TRUNCATE_BEFORE: u64 = TRUNCATE_ALL;

/// Whether the next append to the stream recreates it after a soft delete.
pub fn awaits_recreation(entry: &StreamEntry) -> bool {
    !entry.tombstoned && entry.truncate_before >= SOFT_DELETED_TRUNCATE_BEFORE
}

/// The metadata append that goes with the first append to a soft-deleted
/// stream, in the same transaction: as in EventStoreDB, `$tb` goes from
/// "everything" to the revision the stream starts again at (its next one),
/// other keys kept. Replay then derives the same state from the log alone.
pub fn recreation_metadata(metadata_stream: StreamName, previous: Option<&[u8]>, entry: &StreamEntry) -> AppendRequest {
    let document = with_truncate_before(previous, entry.next_revision);
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

/// Streams served from the index alone, as link events to events of other
/// streams: `$ce-<category>`, `$et-<type>`, `$streams`. They hold no records
/// of their own, so they cost index entries, not log bytes.
pub fn is_virtual_stream(stream: &str) -> bool {
    stream.starts_with(CATEGORY_PREFIX) || stream.starts_with(EVENT_TYPE_PREFIX) || stream == STREAMS_STREAM
}

/// The virtual streams an event is linked into. Events of system (`$`)
/// streams are not linked.
pub fn virtual_streams_of(stream: &str, category: &str, event_type: &str, revision: u64) -> Vec<String> {
    let mut links = category_and_type_links(stream, category, event_type);
    if links_first_event(stream, revision) {
        links.push(STREAMS_STREAM.to_owned());
    }
    links
}

/// The `$ce-` and `$et-` streams an event of `stream` is linked into: the
/// same for every event of one type in one stream.
pub fn category_and_type_links(stream: &str, category: &str, event_type: &str) -> Vec<String> {
    if stream.starts_with('$') {
        return Vec::new();
    }
    vec![format!("{CATEGORY_PREFIX}{category}"), format!("{EVENT_TYPE_PREFIX}{event_type}")]
}

/// Whether the event at `revision` of `stream` is linked into `$streams`:
/// the first event of every stream that is not a system stream.
pub fn links_first_event(stream: &str, revision: u64) -> bool {
    revision == 0 && !stream.starts_with('$')
}

/// Whether `event` belongs in the virtual stream `stream`.
pub fn links_into(stream: &str, event: &RecordedEvent) -> bool {
    virtual_streams_of(event.stream.as_str(), event.stream.category(), &event.event_type, event.revision)
        .iter()
        .any(|link| link == stream)
}

/// The link event at `revision` of virtual stream `stream` that points at
/// `target`. Its id is derived from the target's, so reads are repeatable.
pub fn link_event(stream: &eventfold_store::StreamName, revision: u64, target: &RecordedEvent) -> RecordedEvent {
    let mut id = *target.id.0.as_bytes();
    for (byte, salt) in id.iter_mut().zip(stream.as_str().bytes().cycle()) {
        *byte ^= salt;
    }
    RecordedEvent {
        stream: stream.clone(),
        revision,
        position: target.position,
        id: eventfold_store::EventId(uuid::Uuid::from_bytes(id)),
        event_type: LINK_EVENT_TYPE.to_owned(),
        content_type: eventfold_store::ContentType::Binary,
        created: target.created,
        data: format!("{}@{}", target.revision, target.stream).into_bytes().into(),
        metadata: bytes::Bytes::new(),
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
    fn a_soft_deleted_stream_shows_nothing_until_recreated_at_its_next_revision() {
        let mut entry = StreamEntry::new(1);
        entry.next_revision = 3;
        apply(&mut entry, retention_of(&with_truncate_before(None, SOFT_DELETED_TRUNCATE_BEFORE)));
        assert!(entry.is_soft_deleted() && awaits_recreation(&entry));
        assert_eq!(entry.first_visible_revision(), 3);
        let stream = StreamName::new("$$order-1").expect("name");
        let recreation = recreation_metadata(stream, Some(br#"{"$tb":9223372036854775807,"owner":"ann"}"#), &entry);
        let document: serde_json::Value = serde_json::from_slice(&recreation.events[0].data).expect("json");
        assert_eq!(document, serde_json::json!({ "$tb": 3, "owner": "ann" }));
        apply(&mut entry, retention_of(&recreation.events[0].data));
        entry.next_revision = 5;
        assert!(!entry.is_soft_deleted() && !awaits_recreation(&entry));
        assert_eq!(entry.first_visible_revision(), 3);
    }

    #[test]
    fn events_link_into_their_category_type_and_the_streams_list() {
        assert_eq!(virtual_streams_of("order-1", "order", "Placed", 0), vec!["$ce-order", "$et-Placed", "$streams"]);
        assert_eq!(virtual_streams_of("order-1", "order", "Placed", 4), vec!["$ce-order", "$et-Placed"]);
        assert!(virtual_streams_of("$$order-1", "$$order", "$metadata", 0).is_empty());
        assert!(is_virtual_stream("$ce-order") && is_virtual_stream("$streams") && !is_virtual_stream("order"));
    }
}
