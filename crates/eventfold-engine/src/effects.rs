//! What an event does to stream state beyond taking the next revision of
//! its stream. The rules themselves are the store's (`eventfold_store`'s
//! stream metadata, stream state and virtual streams), shared with every
//! backend; this module applies them to the index's [`StreamEntry`]. The
//! writer applies them when it appends and recovery when it replays the
//! log, so both derive the same index from the same log.

use eventfold_index::StreamEntry;
use eventfold_store::{AppendRequest, Retention, StreamName, StreamState};
pub use eventfold_store::{
    Effect, SOFT_DELETED_TRUNCATE_BEFORE, STREAMS_STREAM, TOMBSTONE_EVENT_TYPE, category_and_type_links, effect_of,
    is_virtual_stream, link_event, links_first_event, links_into, metadata_event, metadata_target, system_event,
    virtual_streams_of, with_truncate_before,
};

// The index keeps the same truncate-all value as the store's soft delete.
const _: () = assert!(SOFT_DELETED_TRUNCATE_BEFORE == eventfold_index::TRUNCATE_ALL);

/// The index entry as the store's rules see it.
pub fn state_of(entry: &StreamEntry) -> StreamState {
    StreamState {
        next_revision: entry.next_revision,
        truncate_before: entry.truncate_before,
        tombstoned: entry.tombstoned,
        max_count: entry.max_count,
        max_age_seconds: entry.max_age_seconds,
    }
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
    stream.starts_with(eventfold_store::METADATA_STREAM_PREFIX)
}

pub fn metadata_stream_of(stream: &str) -> String {
    eventfold_store::metadata_stream_of(stream)
}

/// Whether the next append to the stream recreates it after a soft delete.
pub fn awaits_recreation(entry: &StreamEntry) -> bool {
    state_of(entry).awaits_recreation()
}

/// See [`eventfold_store::recreation_metadata`].
pub fn recreation_metadata(metadata_stream: StreamName, previous: Option<&[u8]>, entry: &StreamEntry) -> AppendRequest {
    eventfold_store::recreation_metadata(metadata_stream, previous, entry.next_revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventfold_store::retention_of;

    #[test]
    fn the_index_entry_follows_the_stores_soft_delete_rules() {
        let mut entry = StreamEntry::new(1);
        entry.next_revision = 3;
        apply(&mut entry, retention_of(&with_truncate_before(None, SOFT_DELETED_TRUNCATE_BEFORE)));
        assert!(entry.is_soft_deleted() && awaits_recreation(&entry));
        assert_eq!(entry.first_visible_revision(), state_of(&entry).first_visible_revision());
        let stream = StreamName::new("$$order-1").expect("name");
        let recreation = recreation_metadata(stream, Some(br#"{"$tb":9223372036854775807,"owner":"ann"}"#), &entry);
        apply(&mut entry, retention_of(&recreation.events[0].data));
        entry.next_revision = 5;
        assert!(!entry.is_soft_deleted() && !awaits_recreation(&entry));
        assert_eq!(entry.first_visible_revision(), 3);
        assert_eq!(state_of(&entry).first_visible_revision(), 3);
    }
}
