//! An online backup, as the faces ask for it and report it. How the copy is
//! made is the backend's business (the engine's: `eventfold-engine/src/backup`).

use std::path::PathBuf;

/// What to back up to, and how fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    /// A directory on the server's machine; a previous backup there is
    /// brought up to date (only what changed is copied).
    pub destination: PathBuf,
    /// Upper bound on the bytes read and written per second.
    pub max_bytes_per_second: Option<u64>,
}

/// A finished backup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupReport {
    /// Every event acknowledged before this log position is in the backup.
    pub durable_end: u64,
    /// Files the backup holds.
    pub files: u64,
    /// Files (whole or their new tail) copied by this backup.
    pub files_copied: u64,
    /// Bytes the backup holds.
    pub bytes_total: u64,
    /// Bytes this backup copied.
    pub bytes_copied: u64,
    pub elapsed_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error("this store does not make backups")]
    Unsupported,
    #[error("a backup is already running")]
    InProgress,
    #[error("backup failed: {reason}")]
    Failed { reason: String },
    /// The caller may not run this operation.
    #[error(transparent)]
    AccessDenied(#[from] crate::AccessDenied),
}
