#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index storage: {0}")]
    Storage(#[from] redb::Error),
    #[error("index at {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
}

macro_rules! from_redb {
    ($($kind:ty),*) => {$(
        impl From<$kind> for IndexError {
            fn from(error: $kind) -> Self {
                IndexError::Storage(error.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    redb::CompactionError
);
