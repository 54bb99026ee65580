//! Database failures as the store's errors, mapped once here.

use eventfold_store::{StorageError, StorageErrorKind};
use tokio_postgres::error::SqlState;

/// Whether the transaction may simply be run again: a serialization
/// failure or a deadlock victim (both roll the whole transaction back).
pub fn is_retryable(error: &tokio_postgres::Error) -> bool {
    matches!(error.code(), Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED)
}

pub fn storage(error: &tokio_postgres::Error) -> StorageError {
    let kind = match error.code() {
        Some(code) if *code == SqlState::DISK_FULL => StorageErrorKind::DiskFull,
        Some(_) => StorageErrorKind::Io,
        // No SQL state: the connection itself failed. The request may be
        // retried (an append with the same event ids is idempotent).
        None => StorageErrorKind::Unavailable,
    };
    StorageError::new(kind, format!("postgresql: {}", describe(error)))
}

pub fn pool(error: &deadpool_postgres::PoolError) -> StorageError {
    match error {
        deadpool_postgres::PoolError::Backend(error) => storage(error),
        other => StorageError::new(StorageErrorKind::Unavailable, format!("postgresql pool: {other}")),
    }
}

/// A value the database holds that eventfold never writes.
pub fn corrupt(message: impl Into<String>) -> StorageError {
    StorageError::new(StorageErrorKind::Corrupt, message)
}

/// The server's message when there is one (`Error`'s own text is only
/// "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}
