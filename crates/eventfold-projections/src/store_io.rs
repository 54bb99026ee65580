//! Small reads over the store that the subsystem makes again and again.

use eventfold_store::{EventStore, ReadError, ReadStreamRequest, RecordedEvent, StreamName};
use futures::StreamExt;

use crate::error::ProjectionError;

pub fn stream_name(name: &str) -> Result<StreamName, ProjectionError> {
    StreamName::new(name).map_err(|error| ProjectionError::InvalidArgument(format!("stream `{name}`: {error}")))
}

pub fn storage(error: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Storage(error.to_string())
}

/// The last event of `stream`, `None` when it has none (or is deleted).
pub async fn last_event(store: &dyn EventStore, stream: &str) -> Result<Option<RecordedEvent>, ProjectionError> {
    let mut request = ReadStreamRequest::backwards(stream_name(stream)?);
    request.max_count = 1;
    match store.read_stream(request).await {
        Ok(mut events) => events.next().await.transpose().map_err(storage),
        Err(ReadError::StreamNotFound { .. } | ReadError::StreamDeleted { .. }) => Ok(None),
        Err(error) => Err(storage(error)),
    }
}

/// Every event of `stream`, oldest first; none when it does not exist.
pub async fn all_events(store: &dyn EventStore, stream: &str) -> Result<Vec<RecordedEvent>, ProjectionError> {
    match store.read_stream(ReadStreamRequest::forwards(stream_name(stream)?)).await {
        Ok(events) => events.map(|event| event.map_err(storage)).collect::<Vec<_>>().await.into_iter().collect(),
        Err(ReadError::StreamNotFound { .. } | ReadError::StreamDeleted { .. }) => Ok(Vec::new()),
        Err(error) => Err(storage(error)),
    }
}
