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

/// A checkpoint that also carries rows not yet written: when one commit's
/// rows are more than one append may hold, they go in several appends,
/// each with a checkpoint holding the state and the rows still to write,
/// so that a crash between two of them neither loses nor repeats a row.
pub fn with_unwritten_rows(state: serde_json::Value, unwritten: &[ProposedEvent]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = unwritten
        .iter()
        .map(|event| {
            json!({
                "id": event.id.0.to_string(),
                "data": String::from_utf8_lossy(&event.data),
                "metadata": String::from_utf8_lossy(&event.metadata),
            })
        })
        .collect();
    json!({ "$state": state, "$unwrittenRows": rows })
}

/// A loaded checkpoint's state, and the rows it carries still to write
/// (see [`with_unwritten_rows`]), as the events to append first.
pub fn split_unwritten(
    checkpoint: serde_json::Value,
    event_type: &str,
) -> Result<(serde_json::Value, Vec<ProposedEvent>), SqlError> {
    let serde_json::Value::Object(mut fields) = checkpoint else { return Ok((checkpoint, Vec::new())) };
    let (Some(state), Some(rows)) = (fields.remove("$state"), fields.remove("$unwrittenRows")) else {
        return Ok((serde_json::Value::Object(fields), Vec::new()));
    };
    let wrong = || SqlError::plan("the checkpoint's unwritten rows are malformed");
    let rows = rows.as_array().ok_or_else(wrong)?;
    let events = rows
        .iter()
        .map(|row| {
            let id = row["id"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok()).ok_or_else(wrong)?;
            let data = row["data"].as_str().ok_or_else(wrong)?;
            let metadata = row["metadata"].as_str().ok_or_else(wrong)?;
            Ok(ProposedEvent {
                id: EventId(id),
                event_type: event_type.to_owned(),
                content_type: ContentType::Json,
                data: Bytes::copy_from_slice(data.as_bytes()),
                metadata: Bytes::copy_from_slice(metadata.as_bytes()),
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    Ok((state, events))
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

    #[test]
    fn unwritten_rows_travel_with_the_state_and_come_back_as_they_were() {
        let row = ProposedEvent::json("QueryResult", r#"{"n":1}"#);
        let row = ProposedEvent { metadata: Bytes::from_static(br#"{"$position":7}"#), ..row };
        let state = json!({ "position": 7, "groups": [] });
        let carried = with_unwritten_rows(state.clone(), std::slice::from_ref(&row));
        let (restored, rows) = split_unwritten(carried, "QueryResult").expect("splits");
        assert_eq!(restored, state);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].id, &rows[0].data, &rows[0].metadata), (row.id, &row.data, &row.metadata));
        let (plain, none) = split_unwritten(state.clone(), "QueryResult").expect("a plain state");
        assert_eq!((plain, none.len()), (state, 0));
        assert!(split_unwritten(json!({ "$state": {}, "$unwrittenRows": [{ "id": 3 }] }), "QueryResult").is_err());
    }
}
