use crate::access::AccessDenied;
use crate::{CurrentRevision, ExpectedRevision, Position, StreamName};

/// A failure of the storage underneath, as opposed to a refusal of the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StorageError {
    pub kind: StorageErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// Out of disk space. Transient: nothing of the refused request was
    /// written, and the store takes writes again once space is freed.
    #[error("disk full")]
    DiskFull,
    /// A resource other than space is missing for now (no file descriptor
    /// for a new log segment, say). Transient, as `DiskFull`.
    #[error("temporarily unavailable")]
    Unavailable,
    #[error("i/o error")]
    Io,
    #[error("corrupt data")]
    Corrupt,
    /// An earlier write or fsync failed; the store refuses writes until it is
    /// reopened, because the state of the file after a failed fsync is unknown.
    #[error("store poisoned by an earlier failure")]
    Poisoned,
    #[error("store is shut down")]
    Closed,
}

impl StorageErrorKind {
    /// True for a refusal that clears by itself once its condition does:
    /// the request may simply be tried again later.
    pub fn is_transient(self) -> bool {
        matches!(self, StorageErrorKind::DiskFull | StorageErrorKind::Unavailable)
    }
}

impl StorageError {
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    #[error("WrongExpectedVersion: stream `{stream}` expected {expected}, actual {actual}")]
    WrongExpectedVersion { stream: StreamName, expected: ExpectedRevision, actual: CurrentRevision },
    #[error("stream `{stream}` is deleted")]
    StreamDeleted { stream: StreamName },
    #[error("append of {size_bytes} bytes exceeds the maximum append size of {max_bytes} bytes")]
    MaximumAppendSizeExceeded { size_bytes: usize, max_bytes: usize },
    #[error("invalid event: {reason}")]
    InvalidEvent { reason: String },
    /// The access policy refuses the write (or delete) to this stream.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("stream `{stream}` not found")]
    StreamNotFound { stream: StreamName },
    #[error("stream `{stream}` is deleted")]
    StreamDeleted { stream: StreamName },
    #[error("position {position} is not the position of an event in the log")]
    InvalidPosition { position: Position },
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    #[error("stream `{stream}` is deleted")]
    StreamDeleted { stream: StreamName },
    #[error("position {position} is not the position of an event in the log")]
    InvalidPosition { position: Position },
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<ReadError> for SubscriptionError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::StreamDeleted { stream } => SubscriptionError::StreamDeleted { stream },
            ReadError::InvalidPosition { position } => SubscriptionError::InvalidPosition { position },
            ReadError::AccessDenied(denied) => SubscriptionError::AccessDenied(denied),
            ReadError::Storage(storage) => SubscriptionError::Storage(storage),
            ReadError::StreamNotFound { stream } => SubscriptionError::Storage(StorageError::new(
                crate::StorageErrorKind::Corrupt,
                format!("stream `{stream}` vanished during a subscription"),
            )),
        }
    }
}
