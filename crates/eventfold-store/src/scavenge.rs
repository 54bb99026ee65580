//! Scavenging: rewriting sealed parts of the log without the events nobody
//! can read any more (deleted, tombstoned, truncated, past `$maxCount` or
//! `$maxAge`), to give their space back. One scavenge runs at a time; reads
//! and appends go on meanwhile.

use crate::Timestamp;

/// How a scavenge is run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScavengeOptions {
    /// Upper bound on the bytes a scavenge reads and writes per second, so
    /// that it does not starve appends and reads of disk bandwidth. `None`:
    /// as fast as the disk goes.
    pub max_bytes_per_second: Option<u64>,
}

/// Where a scavenge is, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScavengeState {
    Running,
    Completed,
    /// Stopped on request; the segments already rewritten stay rewritten.
    Stopped,
    Failed,
}

impl ScavengeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ScavengeState::Running => "running",
            ScavengeState::Completed => "completed",
            ScavengeState::Stopped => "stopped",
            ScavengeState::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        self != ScavengeState::Running
    }
}

/// A snapshot of one scavenge's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScavengeStatus {
    /// Unique per scavenge (a UUID in text form, as EventStoreDB's clients expect).
    pub id: String,
    pub state: ScavengeState,
    pub started: Timestamp,
    /// Set once the state is no longer `Running`.
    pub finished: Option<Timestamp>,
    /// Sealed segments this scavenge looks at.
    pub segments_total: u64,
    /// Of those, the ones done (rewritten or found to have nothing to reclaim).
    pub segments_done: u64,
    /// Log bytes read so far.
    pub bytes_read: u64,
    /// Log bytes given back to the file system so far.
    pub bytes_reclaimed: u64,
    pub events_kept: u64,
    pub events_removed: u64,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScavengeError {
    /// Another scavenge is running; its status is attached.
    #[error("scavenge {} is already in progress", .0.id)]
    InProgress(Box<ScavengeStatus>),
    /// No scavenge of this id is running or known.
    #[error("scavenge id `{id}` was invalid")]
    NotFound { id: String },
    /// The backend has no scavenge (it reclaims space by other means).
    #[error("this storage backend does not scavenge")]
    Unsupported,
    #[error(transparent)]
    Storage(#[from] crate::StorageError),
    /// The caller may not run this operation.
    #[error(transparent)]
    AccessDenied(#[from] crate::AccessDenied),
}
