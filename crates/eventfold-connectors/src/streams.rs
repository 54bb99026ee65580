//! The streams this subsystem writes, and small helpers to write them.
//!
//! - `$connectors`: every definition change (created, settings replaced,
//!   started, stopped, deleted), one event each; a load folds them.
//! - `$connectors/<id>/checkpoints`: an at-least-once connector's
//!   checkpoints (the last one counts; `$maxCount` keeps a few visible).
//! - `$connectors-<id>-dlq`: events given up on, copied with the error.

use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedRevision, METADATA_EVENT_TYPE, ProposedEvent,
    ReadError, ReadStreamRequest, RecordedEvent, StreamName,
};
use futures::StreamExt;
use serde::Serialize;

pub const DEFINITIONS_STREAM: &str = "$connectors";
/// Checkpoint events kept readable; older ones are hidden.
const CHECKPOINTS_KEPT: u64 = 8;

/// Connector ids name streams and URL paths: letters, digits, `-`, `_`, `.`.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 100 {
        return Err("must be 1 to 100 characters long".into());
    }
    if !id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')) {
        return Err("may hold only letters, digits, `-`, `_` and `.`".into());
    }
    Ok(())
}

pub fn definitions_stream() -> StreamName {
    known_name(DEFINITIONS_STREAM)
}

pub fn checkpoint_stream(id: &str) -> StreamName {
    known_name(&format!("$connectors/{id}/checkpoints"))
}

pub fn dead_letter_stream(id: &str) -> StreamName {
    known_name(&format!("$connectors-{id}-dlq"))
}

/// Names built from a checked id are valid; a failure here is a bug.
fn known_name(name: &str) -> StreamName {
    match StreamName::new(name) {
        Ok(stream) => stream,
        Err(error) => unreachable!("`{name}` is a valid stream name: {error}"),
    }
}

pub fn json_event(event_type: &str, document: &impl Serialize) -> Result<ProposedEvent, AppendError> {
    let data = serde_json::to_vec(document)
        .map_err(|error| AppendError::InvalidEvent { reason: format!("cannot encode {event_type}: {error}") })?;
    Ok(ProposedEvent::json(event_type, data))
}

pub async fn append_any(
    store: &dyn EventStore,
    stream: &StreamName,
    events: Vec<ProposedEvent>,
) -> Result<AppendOutcome, AppendError> {
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events)).await
}

/// Keeps only the last few checkpoints of `id` readable.
pub async fn limit_checkpoints(store: &dyn EventStore, id: &str) -> Result<(), AppendError> {
    let stream = known_name(&eventfold_store::metadata_stream_of(checkpoint_stream(id).as_str()));
    let document = serde_json::json!({ "$maxCount": CHECKPOINTS_KEPT });
    append_any(store, &stream, vec![json_event(METADATA_EVENT_TYPE, &document)?]).await.map(|_| ())
}

/// The last event of `stream`, if it has a visible one.
pub async fn last_event(store: &dyn EventStore, stream: &StreamName) -> Result<Option<RecordedEvent>, ReadError> {
    let mut request = ReadStreamRequest::backwards(stream.clone());
    request.max_count = 1;
    match store.read_stream(request).await {
        Ok(mut events) => events.next().await.transpose(),
        Err(ReadError::StreamNotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_they_name_streams() {
        assert!(check_id("orders-to-pg_1.v2").is_ok());
        for bad in ["", "a/b", "a b", "$x", "é", &"x".repeat(101)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(checkpoint_stream("a").as_str(), "$connectors/a/checkpoints");
        assert_eq!(dead_letter_stream("a").as_str(), "$connectors-a-dlq");
    }
}
