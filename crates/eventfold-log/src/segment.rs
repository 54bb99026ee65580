use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::LogError;
use crate::boundary::BoundaryHints;
use crate::faults::{self, FaultPoint};
use crate::format::{SEGMENT_HEADER_BYTES, encode_segment_header};

const SEGMENT_EXTENSION: &str = "evlog";

/// One segment file, opened for reading. Readers share it through an `Arc`
/// and use positioned reads, so no reader ever moves a shared cursor.
#[derive(Debug)]
pub struct Segment {
    pub base: u64,
    pub path: PathBuf,
    pub file: File,
    pub layout: Layout,
}

/// How positions map to bytes of the file.
#[derive(Debug)]
pub enum Layout {
    /// As written: a frame's position is `base + offset`.
    Plain,
    /// Rewritten by compaction: only some frames are left, each at an offset
    /// its table gives.
    Compacted(CompactedLayout),
}

/// The position table of a compacted segment, held in memory (16 bytes per
/// frame kept).
#[derive(Debug)]
pub struct CompactedLayout {
    /// Where the original segment ended: the next segment's base.
    pub end_position: u64,
    /// Positions of the frames kept, ascending.
    pub positions: Vec<u64>,
    /// File offset of each frame, ascending, parallel to `positions`.
    pub offsets: Vec<u64>,
    /// File offset where the frames end and the table begins.
    pub frames_end: u64,
}

impl Segment {
    pub fn plain(base: u64, path: PathBuf, file: File) -> Self {
        Self { base, path, file, layout: Layout::Plain }
    }

    pub fn is_compacted(&self) -> bool {
        matches!(self.layout, Layout::Compacted(_))
    }

    /// The first frame at or after `position` in this segment, as (position,
    /// file offset); `Err(end)` when a compacted segment has none left there,
    /// with the position where the next segment starts.
    pub fn locate(&self, position: u64) -> Result<(u64, u64), u64> {
        match &self.layout {
            Layout::Plain => {
                let position = position.max(self.base + SEGMENT_HEADER_BYTES);
                Ok((position, position - self.base))
            }
            Layout::Compacted(layout) => {
                let index = layout.positions.partition_point(|kept| *kept < position);
                match (layout.positions.get(index), layout.offsets.get(index)) {
                    (Some(position), Some(offset)) => Ok((*position, *offset)),
                    _ => Err(layout.end_position),
                }
            }
        }
    }

    /// The position of the frame starting at file `offset`; at the end of a
    /// compacted segment's frames, the segment's end position.
    pub fn position_at(&self, offset: u64) -> u64 {
        match &self.layout {
            Layout::Plain => self.base + offset,
            Layout::Compacted(layout) => {
                let index = layout.offsets.partition_point(|kept| *kept < offset);
                layout.positions.get(index).copied().unwrap_or(layout.end_position)
            }
        }
    }

    /// File offset of the boundary before which frames end before
    /// `position`: where a backward scan from `position` starts.
    pub fn boundary_offset(&self, position: u64) -> u64 {
        match &self.layout {
            Layout::Plain => position.saturating_sub(self.base),
            Layout::Compacted(layout) => {
                let index = layout.positions.partition_point(|kept| *kept < position);
                layout.offsets.get(index).copied().unwrap_or(layout.frames_end)
            }
        }
    }

    /// Bytes that may be read as frames from file `offset`, given that
    /// nothing at or past the position `end` may be read.
    pub fn readable_bytes(&self, offset: u64, end: u64) -> u64 {
        match &self.layout {
            Layout::Plain => end.saturating_sub(self.base + offset),
            Layout::Compacted(layout) => {
                if self.position_at(offset) >= end {
                    0
                } else {
                    layout.frames_end.saturating_sub(offset)
                }
            }
        }
    }

    /// The position just past this segment, when it is sealed by compaction.
    pub fn end_position(&self) -> Option<u64> {
        match &self.layout {
            Layout::Plain => None,
            Layout::Compacted(layout) => Some(layout.end_position),
        }
    }

    /// True when `position` was the position of a frame that compaction
    /// removed (or of no frame at all) inside this compacted segment.
    pub fn lost(&self, position: u64) -> bool {
        match &self.layout {
            Layout::Plain => false,
            Layout::Compacted(layout) => {
                position >= self.base
                    && position < layout.end_position
                    && layout.positions.binary_search(&position).is_err()
            }
        }
    }
}

/// The segments of the log by base position. The writer adds one on every
/// roll; readers look positions up here.
#[derive(Debug, Default)]
pub struct SegmentMap {
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    /// Frame starts found by walking plain segments (`boundary.rs`).
    hints: BoundaryHints,
}

impl SegmentMap {
    pub fn insert(&self, segment: Arc<Segment>) {
        let mut segments = self.segments.write().unwrap_or_else(|poison| poison.into_inner());
        segments.insert(segment.base, segment);
    }

    /// The segment holding `position`: the one with the greatest base not
    /// above it.
    pub fn containing(&self, position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|poison| poison.into_inner());
        segments.range(..=position).next_back().map(|(_, segment)| Arc::clone(segment))
    }

    /// Every segment, by base.
    pub fn all(&self) -> Vec<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|poison| poison.into_inner());
        segments.values().map(Arc::clone).collect()
    }

    pub fn first_base(&self) -> Option<u64> {
        let segments = self.segments.read().unwrap_or_else(|poison| poison.into_inner());
        segments.keys().next().copied()
    }

    pub(crate) fn hints(&self) -> &BoundaryHints {
        &self.hints
    }

    pub fn len(&self) -> usize {
        self.segments.read().unwrap_or_else(|poison| poison.into_inner()).len()
    }
}

pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.{SEGMENT_EXTENSION}"))
}

/// Segment files in `dir`, by base position parsed from their names.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(LogError::io("list", dir))? {
        let path = entry.map_err(LogError::io("list", dir))?.path();
        let is_segment = path.extension().is_some_and(|extension| extension == SEGMENT_EXTENSION);
        let base = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse::<u64>().ok());
        match (is_segment, base) {
            (true, Some(base)) => found.push((base, path)),
            (true, None) => {
                return Err(LogError::Corrupt {
                    segment: path,
                    offset: 0,
                    reason: "segment file name is not a base position".into(),
                });
            }
            (false, _) => {}
        }
    }
    found.sort();
    Ok(found)
}

/// Creates a segment durably: header written to a temporary file, synced,
/// renamed into place, directory synced (LOG-4), so a crash never leaves a
/// segment without a whole header.
pub fn create_segment(dir: &Path, base: u64) -> Result<PathBuf, LogError> {
    let segment = NewSegment::prepare(dir, base)?;
    segment.rename_into_place()?;
    segment.sync_directory()?;
    Ok(segment.path)
}

/// A segment made ready for the writer but not yet in the directory. Every
/// resource the writer needs from it (both file handles, the directory's
/// handle for its fsync) is taken before the rename, so that running out of
/// file descriptors or space leaves the log as it was, with no half-made
/// segment in it: the roll can simply be tried again later.
pub struct NewSegment {
    pub path: PathBuf,
    /// The handle appends go through.
    pub append: File,
    /// The handle readers share.
    pub read: File,
    temporary: PathBuf,
    directory: File,
}

impl NewSegment {
    /// Writes and syncs the header into a temporary file and opens the
    /// handles. On failure the temporary file is removed again.
    pub fn prepare(dir: &Path, base: u64) -> Result<Self, LogError> {
        let path = segment_path(dir, base);
        let temporary = path.with_extension("tmp");
        faults::check(&temporary, FaultPoint::CreateSegment).map_err(LogError::io("create", &temporary))?;
        let mut append = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .map_err(LogError::io("create", &temporary))?;
        let rest = (|| {
            append.write_all(&encode_segment_header(base)).map_err(LogError::io("write", &temporary))?;
            // The file is not in the log yet: a failed sync here loses
            // nothing the log holds, so it only refuses the roll.
            append.sync_all().map_err(LogError::io("fsync", &temporary))?;
            faults::check(&temporary, FaultPoint::OpenSegment).map_err(LogError::io("open", &temporary))?;
            let read = append.try_clone().map_err(LogError::io("open", &temporary))?;
            let directory = File::open(dir).map_err(LogError::io("open directory", dir))?;
            Ok((read, directory))
        })();
        match rest {
            Ok((read, directory)) => Ok(Self { path, append, read, temporary, directory }),
            Err(error) => {
                drop(append);
                remove_leftover(&temporary);
                Err(error)
            }
        }
    }

    /// Puts the segment in the directory. On failure it is not there and the
    /// temporary file is removed: nothing changed.
    pub fn rename_into_place(&self) -> Result<(), LogError> {
        fs::rename(&self.temporary, &self.path).map_err(LogError::io("rename", &self.path)).inspect_err(|_| {
            remove_leftover(&self.temporary);
        })?;
        debug_assert_eq!(fs::metadata(&self.path).map(|m| m.len()).ok(), Some(SEGMENT_HEADER_BYTES));
        Ok(())
    }

    /// Makes the rename durable. A failure is a failed fsync (LOG-5).
    pub fn sync_directory(&self) -> Result<(), LogError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        self.directory.sync_all().map_err(LogError::io("fsync directory", dir))
    }
}

/// Best effort: a leftover `.tmp` is harmless (the next roll truncates it,
/// the next open removes it).
fn remove_leftover(temporary: &Path) {
    if let Err(error) = fs::remove_file(temporary) {
        tracing::warn!(%error, path = %temporary.display(), "could not remove an unfinished segment");
    }
}

pub fn sync_directory(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|directory| directory.sync_all()).map_err(LogError::io("fsync directory", dir))
}

/// Removes leftovers of a segment creation that crashed before its rename.
pub fn remove_temporary_files(dir: &Path) -> Result<(), LogError> {
    for entry in fs::read_dir(dir).map_err(LogError::io("list", dir))? {
        let path = entry.map_err(LogError::io("list", dir))?.path();
        if path.extension().is_some_and(|extension| extension == "tmp") {
            fs::remove_file(&path).map_err(LogError::io("remove", &path))?;
        }
    }
    Ok(())
}
