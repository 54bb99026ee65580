//! The dead-letter stream `$connectors-<id>-dlq`: an event the sink
//! rejected, or failed past the retry limit, is copied there (same type,
//! data and content type) with metadata that says where it came from and
//! why it failed, and the connector goes on with the next event. A copy
//! rather than a link: it stays readable whatever happens to its source.

use eventfold_store::{AppendError, EventId, EventStore, ProposedEvent, RecordedEvent};
use serde_json::json;

use crate::streams::{append_any, dead_letter_stream};

/// Longest error text kept with a dead letter.
const ERROR_MAX_CHARS: usize = 1000;

pub async fn dead_letter(
    store: &dyn EventStore,
    connector: &str,
    event: &RecordedEvent,
    error: &str,
) -> Result<(), AppendError> {
    let original_metadata: Option<serde_json::Value> = serde_json::from_slice(&event.metadata).ok();
    let metadata = json!({
        "$connector": connector,
        "$error": error.chars().take(ERROR_MAX_CHARS).collect::<String>(),
        "$originalStream": event.stream.as_str(),
        "$originalRevision": event.revision,
        "$originalPosition": event.position.0,
        "$originalEventId": event.id.to_string(),
        "$originalMetadata": original_metadata,
    });
    let metadata = serde_json::to_vec(&metadata)
        .map_err(|error| AppendError::InvalidEvent { reason: format!("encoding dead-letter metadata: {error}") })?;
    let copy = ProposedEvent {
        id: EventId::random(),
        event_type: event.event_type.clone(),
        content_type: event.content_type,
        data: event.data.clone(),
        metadata: metadata.into(),
    };
    append_any(store, &dead_letter_stream(connector), vec![copy]).await.map(|_| ())
}
