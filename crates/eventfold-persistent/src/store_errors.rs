//! Store errors this crate does not expect, folded into [`StorageError`]:
//! the streams it reads and writes are its own, so a refusal there (a
//! tombstone someone wrote, a wrong expected version) is a damaged store as
//! far as a group is concerned.

use eventfold_store::{AppendError, ReadError, StorageError, StorageErrorKind, SubscriptionError};

pub(crate) fn from_read(error: ReadError) -> StorageError {
    match error {
        ReadError::Storage(storage) => storage,
        other => StorageError::new(StorageErrorKind::Corrupt, other.to_string()),
    }
}

pub(crate) fn from_append(error: AppendError) -> StorageError {
    match error {
        AppendError::Storage(storage) => storage,
        other => StorageError::new(StorageErrorKind::Corrupt, other.to_string()),
    }
}

pub(crate) fn from_subscription(error: SubscriptionError) -> StorageError {
    match error {
        SubscriptionError::Storage(storage) => storage,
        other => StorageError::new(StorageErrorKind::Corrupt, other.to_string()),
    }
}

/// The store is shutting down: nothing to report, just stop.
pub(crate) fn is_closed(error: &StorageError) -> bool {
    error.kind == StorageErrorKind::Closed
}
