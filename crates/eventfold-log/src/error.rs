use std::io;
use std::path::PathBuf;

/// Why bytes at some offset are not a valid frame. Recovery uses the kind to
/// tell a torn tail (expected after a crash) from damage (not expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("fewer bytes than a frame header")]
    ShortHeader,
    #[error("fewer bytes than the header's length announces")]
    ShortPayload,
    #[error("length field is zero or above the maximum frame size")]
    BadLength,
    #[error("unknown flag bits")]
    BadFlags,
    #[error("checksum mismatch")]
    BadChecksum,
    #[error("trailing length differs from the leading length")]
    BadTrailer,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    #[error("corrupt log segment {segment} at offset {offset}: {reason}")]
    Corrupt { segment: PathBuf, offset: u64, reason: String },
    /// A write or fsync failed earlier. The file's durable state is unknown
    /// (LOG-5), so the writer refuses all further writes until reopened.
    #[error("log writer is poisoned by an earlier failed write or fsync")]
    Poisoned,
    /// Compaction was asked for a segment that is not sealed (the writer's,
    /// or one that does not exist).
    #[error("no sealed log segment starts at {base}")]
    NotSealed { base: u64 },
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io { op, path, source }
    }

    /// True when the failure is the disk running out of space.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, LogError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}
