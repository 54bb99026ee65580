use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, ExpectedRevision, Position,
    ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent, ScavengeError, ScavengeOptions, ScavengeStatus,
    StoreHealth, StreamName, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionError, VerifyError,
    VerifyReport,
};

/// A read's events, produced lazily: memory stays bounded whatever the count.
pub type EventStream = BoxStream<'static, Result<RecordedEvent, ReadError>>;

/// A catch-up subscription: history, then `CaughtUp`, then live events.
pub type SubscriptionStream = BoxStream<'static, Result<SubscriptionItem, SubscriptionError>>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionItem {
    Event(RecordedEvent),
    /// History is exhausted; what follows is live. Sent once.
    CaughtUp,
    /// A filtered `$all` subscription has scanned the log up to here.
    Checkpoint(Position),
}

/// An event store backend. The embedded engine and the PostgreSQL backend
/// implement it; every adapter (gRPC, HTTP, CLI) talks only to it.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends to one stream, atomically, after checking `expected`. Returns
    /// only once the events are durable.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let mut outcomes = self.append_transaction(vec![request]).await?;
        outcomes.pop().ok_or_else(|| {
            AppendError::Storage(crate::StorageError::new(
                crate::StorageErrorKind::Corrupt,
                "append answered without an outcome",
            ))
        })
    }

    /// Appends to several streams, each with its own expectation, all or
    /// nothing. Outcomes come back in request order.
    async fn append_transaction(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError>;

    /// Deletes a stream after checking `expected` against it. Errors are
    /// those of an append (wrong expected version, already tombstoned).
    async fn delete_stream(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
    ) -> Result<DeleteOutcome, AppendError>;

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError>;

    async fn read_all(&self, request: ReadAllRequest) -> Result<EventStream, ReadError>;

    async fn subscribe_to_stream(
        &self,
        request: SubscribeToStreamRequest,
    ) -> Result<SubscriptionStream, SubscriptionError>;

    async fn subscribe_to_all(&self, request: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError>;

    /// The stream's last revision as appends see it: a soft-deleted stream
    /// keeps its revision; a tombstoned one is an error.
    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError>;

    /// The position of the last committed event, if any.
    fn head_position(&self) -> Option<Position>;

    /// Whether writes are served now (reads are, whatever this says). A
    /// backend that cannot tell answers `Ok`.
    fn health(&self) -> StoreHealth {
        StoreHealth::Ok
    }

    /// Starts a scavenge in the background and returns its first status.
    /// A second start while one runs answers `InProgress`.
    async fn start_scavenge(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        let _ = options;
        Err(ScavengeError::Unsupported)
    }

    /// Asks the running scavenge `id` to stop; returns its status at once
    /// (still `Running` until it has stopped). An id that is not the running
    /// scavenge's, finished ones included, is `NotFound`, as in EventStoreDB.
    async fn stop_scavenge(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        Err(ScavengeError::NotFound { id: id.to_string() })
    }

    /// The running scavenge, or else the last one since the store opened.
    async fn scavenge_status(&self) -> Option<ScavengeStatus> {
        None
    }

    /// Checks every stored frame and the index against the log, while reads
    /// and appends go on. Returns when the check is done.
    async fn verify_storage(&self) -> Result<VerifyReport, VerifyError> {
        Err(VerifyError::Unsupported)
    }

    /// Copies the store's data to `request.destination` while it keeps
    /// serving; returns once the copy is durable.
    async fn backup(&self, request: crate::BackupRequest) -> Result<crate::BackupReport, crate::BackupError> {
        let _ = request;
        Err(crate::BackupError::Unsupported)
    }
}
