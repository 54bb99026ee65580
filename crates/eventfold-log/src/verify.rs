//! Checking every frame of the log, not only the tail that recovery scans:
//! damage in the middle of a segment (bit rot, a bad sector) otherwise stays
//! unnoticed until a read reaches it.
//!
//! The check reads the segment files through handles of its own and never
//! writes, so it runs on a directory no process holds as well as beside a
//! running writer: given the committed end, it reads nothing past it (LOG-2),
//! and a compaction that renames a new file over a sealed segment meanwhile
//! leaves the handle it opened on the old file, whole.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::LogError;
use crate::segment::list_segments;
use crate::segment_scan::{Role, scan_segment};

/// One stretch of a segment file that does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    /// File offset where the damage starts.
    pub offset: u64,
    /// File bytes it covers.
    pub bytes: u64,
    /// Log positions no frame can be read from any more: every frame that
    /// started in this range is lost. Empty for damage that loses no frame
    /// (a segment header).
    pub positions: Range<u64>,
    /// Positions of the lost frames, when the damage shows where they
    /// started (a frame whose length survived, an entry of a compacted
    /// segment's table); empty when only the range is known.
    pub frame_positions: Vec<u64>,
    pub reason: String,
    /// In the segment being appended to, with no valid frame after it: what
    /// a crash during a write leaves, which the next open cuts as a torn tail
    /// when it is shorter than one write (LOG-6).
    pub at_tail: bool,
}

/// What the check found in one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentCheck {
    pub base: u64,
    pub path: PathBuf,
    pub compacted: bool,
    pub file_bytes: u64,
    /// Where the segment's positions end: the next segment's base (or, for
    /// the last segment, the end of its data).
    pub end: u64,
    pub frames: u64,
    pub frame_bytes: u64,
    pub damage: Vec<Damage>,
}

/// What the check found in the whole log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogCheck {
    pub segments: Vec<SegmentCheck>,
}

impl LogCheck {
    pub fn frames(&self) -> u64 {
        self.segments.iter().map(|segment| segment.frames).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.file_bytes).sum()
    }

    pub fn damage(&self) -> impl Iterator<Item = &Damage> {
        self.segments.iter().flat_map(|segment| &segment.damage)
    }

    pub fn is_clean(&self) -> bool {
        self.damage().next().is_none()
    }
}

/// A frame that verified, as the check hands it to its caller.
#[derive(Clone, Debug)]
pub struct CheckedFrame {
    pub position: u64,
    pub ends_transaction: bool,
    pub payload: Bytes,
}

/// What the check meets, in log order: each frame that verifies, and each
/// damaged stretch where it meets one.
pub enum Visit<'a> {
    Frame(&'a CheckedFrame),
    Damage(&'a Damage),
    /// The end of a segment, with its check.
    SegmentEnd(&'a SegmentCheck),
}

/// Bytes checked so far, of how many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Checks every segment in `dir`.
///
/// `committed_end` is the end a running writer has published: nothing at or
/// past it is read, and a segment created after it is skipped. `None` when
/// no process holds the directory: the last segment is then read to the end
/// of its data, and the zeros the writer preallocated after it are not
/// damage.
pub fn verify_log(
    dir: &Path,
    committed_end: Option<u64>,
    visit: &mut dyn FnMut(Visit<'_>) -> Result<(), LogError>,
    progress: &mut dyn FnMut(Progress),
) -> Result<LogCheck, LogError> {
    let mut found = list_segments(dir)?;
    if let Some(end) = committed_end {
        found.retain(|(base, _)| *base < end);
    }
    let mut opened = Vec::with_capacity(found.len());
    let mut bytes_total = 0;
    for (base, path) in found {
        let file = File::open(&path).map_err(LogError::io("open", &path))?;
        let file_bytes = file.metadata().map_err(LogError::io("stat", &path))?.len();
        bytes_total += file_bytes;
        opened.push((base, path, file, file_bytes));
    }
    let mut progress = ProgressCounter::new(bytes_total, progress);
    let mut check = LogCheck::default();
    let count = opened.len();
    let mut expected_base: Option<u64> = None;
    let mut bases: Vec<u64> = opened.iter().map(|(base, ..)| *base).collect();
    bases.push(u64::MAX);
    for (index, (base, path, file, file_bytes)) in opened.into_iter().enumerate() {
        let role = if index + 1 == count {
            Role::Last { committed_end }
        } else {
            Role::Sealed { next_base: bases.get(index + 1).copied().unwrap_or(u64::MAX) }
        };
        let mut segment = scan_segment(base, &path, file, file_bytes, role, visit, &mut progress)?;
        if let Some(expected) = expected_base
            && expected != base
        {
            // Positions between the two are nowhere: report, since a read
            // there fails, though no frame can be named.
            let damage = Damage {
                path: path.clone(),
                offset: 0,
                bytes: 0,
                positions: expected.min(base)..expected.max(base),
                frame_positions: Vec::new(),
                reason: format!("segment starts at {base}, the previous one ends at {expected}"),
                at_tail: false,
            };
            visit(Visit::Damage(&damage))?;
            segment.damage.insert(0, damage);
        }
        expected_base = Some(segment.end);
        visit(Visit::SegmentEnd(&segment))?;
        check.segments.push(segment);
    }
    Ok(check)
}

/// Hands progress to the caller about every mebibyte, not every frame.
pub(crate) struct ProgressCounter<'a> {
    progress: Progress,
    report: &'a mut dyn FnMut(Progress),
}

impl<'a> ProgressCounter<'a> {
    const STEP_BYTES: u64 = 1024 * 1024;

    pub fn new(bytes_total: u64, report: &'a mut dyn FnMut(Progress)) -> Self {
        Self { progress: Progress { bytes_done: 0, bytes_total }, report }
    }

    pub fn advance(&mut self, bytes: u64) {
        let before = self.progress.bytes_done / Self::STEP_BYTES;
        self.progress.bytes_done = (self.progress.bytes_done + bytes).min(self.progress.bytes_total);
        if self.progress.bytes_done / Self::STEP_BYTES != before
            || self.progress.bytes_done == self.progress.bytes_total
        {
            (self.report)(self.progress);
        }
    }
}
