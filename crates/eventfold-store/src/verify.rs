//! Verifying storage: every frame's checksum and the stream index against
//! the log, so that damage in the middle of the log or in the index is found
//! before a read hits it. The report is plain data, the same whether the
//! check ran on a directory no server holds or inside a running server.

use crate::StorageError;

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when a running store checked itself (up to its committed end).
    pub online: bool,
    pub segments: Vec<SegmentReport>,
    pub damaged: Vec<DamagedRange>,
    pub index: IndexReport,
}

impl VerifyReport {
    pub fn frames_checked(&self) -> u64 {
        self.segments.iter().map(|segment| segment.frames).sum()
    }

    pub fn bytes_checked(&self) -> u64 {
        self.segments.iter().map(|segment| segment.bytes).sum()
    }

    /// Nothing damaged in the log and nothing wrong with the index.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.index.is_clean()
    }
}

/// One log segment as the check saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentReport {
    pub file: String,
    /// Position of the segment's first byte.
    pub base: u64,
    /// Rewritten by a scavenge or a repair (format version 2).
    pub compacted: bool,
    /// Bytes of the file.
    pub bytes: u64,
    /// Frames that verified.
    pub frames: u64,
}

/// A stretch of a segment file that does not verify.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DamagedRange {
    pub file: String,
    /// Offset in the file where the damage starts, and how many bytes.
    pub offset: u64,
    pub bytes: u64,
    /// Log positions `position_start..position_end` whose frames are lost
    /// (empty when the damage loses none, as in a segment header).
    pub position_start: u64,
    pub position_end: u64,
    /// Positions of the lost frames where the damage shows them; empty when
    /// only the range is known.
    pub frame_positions: Vec<u64>,
    pub reason: String,
    /// At the end of the segment being appended to with nothing valid after
    /// it: what a crash during a write leaves (the next start cuts it as a
    /// torn tail when it is shorter than one write).
    pub at_tail: bool,
}

/// The stream index checked against the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// The log position the index reflects; events past it are indexed by
    /// replay at the next start, so they are not checked.
    pub checkpoint: u64,
    /// Index entries (streams' and `$ce-`/`$et-`/`$streams` links) read and
    /// followed to the log.
    pub entries_checked: u64,
    /// Events of the log looked up in the index.
    pub events_checked: u64,
    /// Every problem found; `mismatches` holds the first ones.
    pub mismatch_count: u64,
    pub mismatches: Vec<IndexMismatch>,
    /// Events the index names at positions inside damaged ranges: what the
    /// damage lost, by stream and revision.
    pub events_in_damage: Vec<LostEvent>,
    /// The index could not be read at all (the next start rebuilds it).
    pub unreadable: Option<String>,
}

impl IndexReport {
    pub fn is_clean(&self) -> bool {
        self.mismatch_count == 0 && self.unreadable.is_none()
    }
}

/// An index entry and the log disagree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexMismatch {
    pub stream: String,
    pub revision: u64,
    pub position: u64,
    pub problem: String,
}

/// An event whose frame is in a damaged range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LostEvent {
    pub stream: String,
    pub revision: u64,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// This backend has no verification of its own.
    #[error("this store cannot verify its storage")]
    Unsupported,
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The caller may not run this operation.
    #[error(transparent)]
    AccessDenied(#[from] crate::AccessDenied),
}
