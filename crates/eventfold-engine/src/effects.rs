//! What an event does to its stream's state beyond taking the next
//! revision. The writer applies these when it appends and recovery applies
//! the same rules when it replays the log, so both derive the same state.

use eventfold_index::StreamEntry;

/// The event a tombstone writes: the stream is deleted for good.
pub const TOMBSTONE_EVENT_TYPE: &str = "$streamDeleted";
/// Stream metadata, written to `$$<stream>`.
pub const METADATA_EVENT_TYPE: &str = "$metadata";
const METADATA_STREAM_PREFIX: &str = "$$";

pub enum Effect<'a> {
    None,
    /// The event's own stream is tombstoned.
    Tombstone,
    /// Metadata of `stream` changed its truncate-before revision.
    TruncateBefore {
        stream: &'a str,
        revision: u64,
    },
}

pub fn effect_of<'a>(stream: &'a str, event_type: &str, data: &[u8]) -> Effect<'a> {
    if event_type == TOMBSTONE_EVENT_TYPE {
        return Effect::Tombstone;
    }
    match stream.strip_prefix(METADATA_STREAM_PREFIX) {
        Some(target) if event_type == METADATA_EVENT_TYPE && !target.is_empty() => {
            Effect::TruncateBefore { stream: target, revision: truncate_before_of(data) }
        }
        _ => Effect::None,
    }
}

/// `$tb` of a metadata document; the latest metadata event replaces the
/// previous one whole, so a document without `$tb` means no truncation.
pub fn truncate_before_of(metadata: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(metadata)
        .ok()
        .and_then(|document| document.get("$tb").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

pub fn metadata_stream_of(stream: &str) -> String {
    format!("{METADATA_STREAM_PREFIX}{stream}")
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

/// Applies an event of `entry`'s own stream (revision already advanced by
/// the caller).
pub fn apply_own(entry: &mut StreamEntry, effect: &Effect<'_>) {
    if let Effect::Tombstone = effect {
        entry.tombstoned = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_events_set_the_target_streams_truncate_before() {
        match effect_of("$$order-1", METADATA_EVENT_TYPE, br#"{"$tb": 7, "$maxCount": 3}"#) {
            Effect::TruncateBefore { stream, revision } => assert_eq!((stream, revision), ("order-1", 7)),
            _ => panic!("a metadata event truncates"),
        }
        assert!(matches!(effect_of("order-1", METADATA_EVENT_TYPE, b"{}"), Effect::None));
        assert!(matches!(effect_of("order-1", TOMBSTONE_EVENT_TYPE, b"{}"), Effect::Tombstone));
        assert_eq!(truncate_before_of(b"not json"), 0);
    }

    #[test]
    fn soft_delete_keeps_other_metadata_keys() {
        let document = with_truncate_before(Some(br#"{"$maxCount":5,"owner":"ann"}"#), 9);
        let parsed: serde_json::Value = serde_json::from_slice(&document).expect("json");
        assert_eq!(parsed["$tb"], 9);
        assert_eq!(parsed["$maxCount"], 5);
        assert_eq!(parsed["owner"], "ann");
    }
}
