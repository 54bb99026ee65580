//! A continuous query's checkpoint in `$query-{name}-checkpoint`: the
//! state's JSON text in one `$QueryCheckpoint` event, or, when that text is
//! larger than one append may be, in `$QueryCheckpointPart` events written
//! first (each in an append of its own) and a `$QueryCheckpoint` event that
//! names them, written last with the rows it goes with. A crash between the
//! parts and that last append leaves parts no checkpoint names: the
//! previous checkpoint still holds, and the parts are never read.
//!
//! The stream keeps its newest [`KEPT_EVENTS`] events (`$maxCount`): only
//! the latest checkpoint and its parts are ever read.

use bytes::Bytes;
use eventfold_store::{
    AppendRequest, ContentType, CurrentRevision, Direction, EventId, EventStore, ExpectedRevision, ProposedEvent,
    ReadError, ReadStreamRequest, RevisionFrom, StreamName, metadata_event, metadata_stream_of,
};
use futures::StreamExt;
use serde_json::json;

use crate::error::SqlError;

/// The type of a checkpoint event in `$query-{name}-checkpoint`.
pub const CHECKPOINT_EVENT_TYPE: &str = "$QueryCheckpoint";
/// The type of one part of a checkpoint too large for one event.
pub const CHECKPOINT_PART_EVENT_TYPE: &str = "$QueryCheckpointPart";

/// The most state text one event holds: well within the default maximum
/// append size, with room for the rows that go with the checkpoint.
const PART_BYTES: usize = 256 * 1024;
/// The most parts a checkpoint may have: bounds the state a query may hold
/// (and stays within what the stream keeps).
const PARTS_MAX: usize = 256;
/// Events the checkpoint stream keeps.
const KEPT_EVENTS: u64 = 2 * PARTS_MAX as u64 + 16;

/// The checkpoint event to append with the rows, after writing any parts
/// it needs. `state` is the state's JSON text.
pub async fn prepare(store: &dyn EventStore, stream: &StreamName, state: String) -> Result<ProposedEvent, SqlError> {
    if state.len() <= PART_BYTES {
        return Ok(ProposedEvent::json(CHECKPOINT_EVENT_TYPE, state));
    }
    let parts = split(&state, PART_BYTES);
    if parts.len() > PARTS_MAX {
        return Err(SqlError::evaluation(format!(
            "the query's state is {} bytes, more than a checkpoint holds ({} bytes); narrow the query \
             (fewer groups, shorter windows or a shorter bound)",
            state.len(),
            PART_BYTES * PARTS_MAX
        )));
    }
    let mut first = None;
    for part in &parts {
        let event = ProposedEvent {
            id: EventId(uuid::Uuid::new_v4()),
            event_type: CHECKPOINT_PART_EVENT_TYPE.to_owned(),
            content_type: ContentType::Binary,
            data: Bytes::copy_from_slice(part.as_bytes()),
            metadata: Bytes::new(),
        };
        let outcome = store
            .append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, vec![event]))
            .await
            .map_err(|error| SqlError::evaluation(format!("writing a checkpoint part: {error}")))?;
        if let CurrentRevision::Current(revision) = outcome.current_revision {
            first.get_or_insert(revision);
        }
    }
    let first = first.ok_or_else(|| SqlError::evaluation("a checkpoint part was written at no revision"))?;
    let manifest = json!({ "$parts": { "first": first, "count": parts.len() } });
    Ok(ProposedEvent::json(CHECKPOINT_EVENT_TYPE, manifest.to_string()))
}

/// The stream's metadata with its `$maxCount` set, appended once per start
/// with the first checkpoint; what else the metadata holds (the truncation
/// a delete of an earlier query of the same name left) is kept.
pub async fn retention(store: &dyn EventStore, stream: &StreamName) -> Result<AppendRequest, SqlError> {
    let metadata = StreamName::new(metadata_stream_of(stream.as_str()))
        .map_err(|error| SqlError::evaluation(format!("the checkpoint's metadata stream: {error}")))?;
    let current = read(store, &metadata, RevisionFrom::End, Direction::Backwards, 1).await?;
    let mut document = current
        .first()
        .and_then(|(_, data)| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data).ok())
        .unwrap_or_default();
    document.insert("$maxCount".to_owned(), json!(KEPT_EVENTS));
    let document = serde_json::Value::Object(document).to_string().into_bytes();
    Ok(AppendRequest::new(metadata, ExpectedRevision::Any, vec![metadata_event(document)]))
}

/// The latest checkpoint's state, `None` when there is none yet. Parts
/// after the latest checkpoint (a crash before it was written) are passed
/// over.
pub async fn load(store: &dyn EventStore, stream: &StreamName) -> Result<Option<serde_json::Value>, SqlError> {
    let newest = read(store, stream, RevisionFrom::End, Direction::Backwards, KEPT_EVENTS).await?;
    let Some((_, data)) = newest.into_iter().find(|(event_type, _)| event_type == CHECKPOINT_EVENT_TYPE) else {
        return Ok(None);
    };
    let unreadable = |error: serde_json::Error| SqlError::plan(format!("the checkpoint is not JSON: {error}"));
    let checkpoint: serde_json::Value = serde_json::from_slice(&data).map_err(unreadable)?;
    let Some(parts) = checkpoint.get("$parts") else { return Ok(Some(checkpoint)) };
    let (Some(first), Some(count)) = (parts["first"].as_u64(), parts["count"].as_u64()) else {
        return Err(SqlError::plan("the checkpoint names its parts wrongly"));
    };
    let parts = read(store, stream, RevisionFrom::Revision(first), Direction::Forwards, count).await?;
    if parts.len() as u64 != count || parts.iter().any(|(event_type, _)| event_type != CHECKPOINT_PART_EVENT_TYPE) {
        return Err(SqlError::plan(format!("the checkpoint's {count} parts are not all there")));
    }
    let text: Vec<u8> = parts.into_iter().flat_map(|(_, data)| data.to_vec()).collect();
    serde_json::from_slice(&text).map(Some).map_err(unreadable)
}

/// Each event's type and data.
async fn read(
    store: &dyn EventStore,
    stream: &StreamName,
    from: RevisionFrom,
    direction: Direction,
    max_count: u64,
) -> Result<Vec<(String, Bytes)>, SqlError> {
    let request = ReadStreamRequest { stream: stream.clone(), from, direction, max_count };
    let events = match store.read_stream(request).await {
        Ok(events) => events,
        Err(ReadError::StreamNotFound { .. }) => return Ok(Vec::new()),
        Err(error) => return Err(error.into()),
    };
    let events: Vec<_> = events.collect().await;
    events.into_iter().map(|event| event.map(|event| (event.event_type, event.data)).map_err(SqlError::from)).collect()
}

/// `text` cut into pieces of at most `bytes` bytes, at character boundaries.
fn split(text: &str, bytes: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, after) = rest.split_at(end);
        parts.push(part);
        rest = after;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_at_character_boundaries_and_joins_back() {
        let text = "aé€😀".repeat(1000);
        let parts = split(&text, 7);
        assert!(parts.iter().all(|part| part.len() <= 7 && !part.is_empty()));
        assert_eq!(parts.concat(), text);
        assert_eq!(split("", 7), Vec::<&str>::new());
    }
}
