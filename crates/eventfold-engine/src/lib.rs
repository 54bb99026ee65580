//! The embedded storage engine: the log (truth) and the index (derived),
//! behind [`eventfold_store::EventStore`].
//!
//! Who owns what: one writer thread owns the log's append handle and is the
//! only one that changes the index; readers and subscriptions read the log
//! with positioned reads and the index through snapshots, never past the
//! committed end the writer publishes. `docs/ARCHITECTURE.md` traces an
//! append and a subscription through these pieces.

mod backup;
mod caches;
mod config;
mod effects;
mod engine;
mod format_version;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod hooks;
mod index_sample;
mod metrics;
mod read;
mod record;
mod recovery;
mod repair;
mod scavenge;
mod shared;
mod subscription;
mod verify;
mod writer;

pub use backup::{
    BackupFailure, BackupOptions, BackupProgress, MANIFEST_FILE, Manifest, ManifestFile, RestoreReport, restore,
};
pub use config::EngineConfig;
pub use engine::{Engine, EngineError};
pub use format_version::{DATA_FORMAT_VERSION, FORMAT_VERSION_FILE, read_format_version};
pub use metrics::names as metric_names;
pub use repair::{RepairReport, RepairedSegment, repair_offline};
pub use verify::{VerifyProgress, VerifyStage, verify_offline};

use eventfold_log::LogError;
use eventfold_store::{StorageError, StorageErrorKind};

pub(crate) fn storage_error(error: &LogError) -> StorageError {
    let kind = match error {
        _ if error.is_disk_full() => StorageErrorKind::DiskFull,
        LogError::Poisoned => StorageErrorKind::Poisoned,
        LogError::Corrupt { .. } => StorageErrorKind::Corrupt,
        LogError::Io { .. } | LogError::NotSealed { .. } => StorageErrorKind::Io,
    };
    StorageError::new(kind, error.to_string())
}
