//! Small helpers for the events this crate writes: JSON documents, and
//! stream metadata (`$$<stream>`), which is how old checkpoints, replayed
//! parked events and superseded config changes are hidden from reads.

use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedRevision, METADATA_EVENT_TYPE, ProposedEvent,
    ReadError, ReadStreamRequest, RecordedEvent, StreamName,
};
use futures::StreamExt;
use serde::Serialize;

pub(crate) fn json_event(event_type: &str, document: &impl Serialize) -> Result<ProposedEvent, AppendError> {
    let data = serde_json::to_vec(document)
        .map_err(|error| AppendError::InvalidEvent { reason: format!("cannot encode {event_type}: {error}") })?;
    Ok(ProposedEvent::json(event_type, data))
}

pub(crate) async fn append_any(
    store: &dyn EventStore,
    stream: &StreamName,
    events: Vec<ProposedEvent>,
) -> Result<AppendOutcome, AppendError> {
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events)).await
}

/// Replaces the metadata of `stream` with `document` (a JSON object with
/// `$tb`, `$maxCount`, ...).
pub(crate) async fn set_metadata(
    store: &dyn EventStore,
    stream: &StreamName,
    document: serde_json::Value,
) -> Result<(), AppendError> {
    let metadata_stream = StreamName::new(eventfold_store::metadata_stream_of(stream.as_str()))
        .map_err(|error| AppendError::InvalidEvent { reason: format!("metadata stream of `{stream}`: {error}") })?;
    append_any(store, &metadata_stream, vec![json_event(METADATA_EVENT_TYPE, &document)?]).await.map(|_| ())
}

/// The last event of `stream`, if it has any visible one.
pub(crate) async fn last_event(
    store: &dyn EventStore,
    stream: &StreamName,
) -> Result<Option<RecordedEvent>, ReadError> {
    let mut request = ReadStreamRequest::backwards(stream.clone());
    request.max_count = 1;
    match store.read_stream(request).await {
        Ok(mut events) => events.next().await.transpose(),
        Err(ReadError::StreamNotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The metadata document of `stream`, if one was written.
pub(crate) async fn metadata(
    store: &dyn EventStore,
    stream: &StreamName,
) -> Result<Option<serde_json::Value>, ReadError> {
    let Ok(metadata_stream) = StreamName::new(eventfold_store::metadata_stream_of(stream.as_str())) else {
        return Ok(None);
    };
    let last = last_event(store, &metadata_stream).await?;
    Ok(last.and_then(|event| serde_json::from_slice(&event.data).ok()))
}
