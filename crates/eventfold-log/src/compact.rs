//! Compaction: rewriting a sealed segment without the frames a policy drops,
//! keeping every kept frame at its original position.
//!
//! Positions are byte offsets of the original log, so a compacted segment
//! cannot place frames at `base + offset`. It holds the kept frames back to
//! back, then a table of (position, file offset), then a footer (format in
//! `docs/format.md`). Readers resolve positions through the table.
//!
//! Crash safety: the new file is written under a temporary name, synced, and
//! renamed over the old one, then the directory is synced. A crash at any
//! point leaves either the old segment or the new one, both whole; leftovers
//! of the temporary file are removed on the next open. Readers that already
//! hold the old file keep reading it: the rename does not close it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compacted_writer::CompactedWriter;
use crate::format::{
    COMPACTED_FOOTER_BYTES, COMPACTED_TABLE_ENTRY_BYTES, CompactedFooter, SEGMENT_HEADER_BYTES,
    decode_compacted_footer, u64_at,
};
use crate::reader::read_at_most;
use crate::segment::{CompactedLayout, Layout, Segment, sync_directory};
use crate::{Frame, LogError, LogReader};

/// Decides, frame by frame, what a compaction keeps, and paces it.
pub trait CompactionPolicy {
    type Error: From<LogError>;

    /// Whether `frame` stays. Called once per frame, in log order.
    fn keep(&mut self, frame: &Frame) -> Result<bool, Self::Error>;

    /// Called after each `bytes` read or written. May sleep to hold a rate
    /// limit, or fail to abandon the compaction (the segment stays as it was).
    fn pace(&mut self, bytes: u64) -> Result<(), Self::Error>;
}

/// A segment that no longer receives writes, so compaction may rewrite it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSegment {
    pub base: u64,
    /// The next segment's base.
    pub end: u64,
    /// Size of its file now.
    pub file_bytes: u64,
    pub compacted: bool,
}

/// What compacting one segment did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionOutcome {
    pub frames_kept: u64,
    pub frames_removed: u64,
    /// Bytes of the segment file before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// False when the policy kept every frame: the file was left untouched.
    pub rewritten: bool,
    /// Bytes read and written to do it.
    pub bytes_read: u64,
}

impl LogReader {
    /// Every segment but the last: the last is the writer's, and only it ever
    /// grows, so these are immutable except through compaction.
    pub fn sealed_segments(&self) -> Result<Vec<SealedSegment>, LogError> {
        let segments = self.segments().all();
        let mut sealed = Vec::new();
        for pair in segments.windows(2) {
            let [segment, next] = pair else { continue };
            let file_bytes = segment.file.metadata().map_err(LogError::io("stat", &segment.path))?.len();
            sealed.push(SealedSegment {
                base: segment.base,
                end: next.base,
                file_bytes,
                compacted: segment.is_compacted(),
            });
        }
        Ok(sealed)
    }

    /// Rewrites the sealed segment at `base` without the frames `policy`
    /// drops. Transactions stay whole where their frames are kept: the last
    /// kept frame of a transaction carries its end flag. Only one compaction
    /// may run at a time (the engine runs one scavenge at a time).
    pub fn compact_segment<P: CompactionPolicy>(
        &self,
        base: u64,
        policy: &mut P,
    ) -> Result<CompactionOutcome, P::Error> {
        // Sealed: some segment follows it; its successor's base is its end.
        let segments = self.segments().all();
        let sealed = segments.windows(2).find_map(|pair| match pair {
            [segment, next] if segment.base == base => Some((Arc::clone(segment), next.base)),
            _ => None,
        });
        let Some((segment, end)) = sealed else {
            return Err(LogError::NotSealed { base }.into());
        };
        let file_bytes = segment.file.metadata().map_err(LogError::io("stat", &segment.path))?.len();

        // Pass 1 decides; pass 2 writes only when something goes, so a
        // segment with nothing to reclaim costs a read, never a rewrite.
        let mut decisions = Vec::new();
        let mut outcome = CompactionOutcome { bytes_before: file_bytes, ..CompactionOutcome::default() };
        for frame in self.scan_forward(base, end) {
            let frame = frame?;
            let keep = policy.keep(&frame)?;
            decisions.push(keep);
            if keep {
                outcome.frames_kept += 1;
            } else {
                outcome.frames_removed += 1;
            }
            let frame_bytes = frame_bytes(&frame);
            outcome.bytes_read += frame_bytes;
            policy.pace(frame_bytes)?;
        }
        if outcome.frames_removed == 0 {
            outcome.bytes_after = outcome.bytes_before;
            return Ok(outcome);
        }

        let temporary = temporary_path(&segment);
        let written = write_compacted(self, &segment, end, &decisions, &temporary, policy, &mut outcome);
        let layout = match written {
            Ok(layout) => layout,
            Err(error) => {
                let _ = fs::remove_file(&temporary);
                return Err(error);
            }
        };
        fs::rename(&temporary, &segment.path).map_err(LogError::io("rename", &segment.path))?;
        let dir = segment.path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        sync_directory(&dir)?;
        let file = File::open(&segment.path).map_err(LogError::io("open", &segment.path))?;
        outcome.bytes_after = file.metadata().map_err(LogError::io("stat", &segment.path))?.len();
        outcome.rewritten = true;
        self.segments().insert(Arc::new(Segment {
            base,
            path: segment.path.clone(),
            file,
            layout: Layout::Compacted(layout),
        }));
        Ok(outcome)
    }
}

fn frame_bytes(frame: &Frame) -> u64 {
    frame.payload.len() as u64 + crate::FRAME_OVERHEAD_BYTES as u64
}

fn temporary_path(segment: &Segment) -> PathBuf {
    segment.path.with_extension("compact.tmp")
}

/// Pass 2: writes the kept frames, the table and the footer to `temporary`
/// and syncs it. Returns the layout the new file has.
fn write_compacted<P: CompactionPolicy>(
    reader: &LogReader,
    segment: &Segment,
    end: u64,
    decisions: &[bool],
    temporary: &Path,
    policy: &mut P,
    outcome: &mut CompactionOutcome,
) -> Result<CompactedLayout, P::Error> {
    let frames_expected = usize::try_from(outcome.frames_kept).unwrap_or(0);
    let mut writer = CompactedWriter::create(temporary, segment.base, frames_expected)?;
    let mut decided = decisions.iter();
    for frame in reader.scan_forward(segment.base, end) {
        let frame = frame?;
        let Some(keep) = decided.next() else {
            return Err(changed_under_compaction(segment).into());
        };
        outcome.bytes_read += frame_bytes(&frame);
        policy.pace(frame_bytes(&frame))?;
        let written = if *keep {
            writer.push(frame.position, frame.ends_transaction, &frame.payload)?
        } else {
            if frame.ends_transaction {
                // The transaction's last frame goes; its last kept frame ends it.
                writer.end_transaction();
            }
            0
        };
        if written > 0 {
            policy.pace(written)?;
        }
    }
    if decided.next().is_some() {
        return Err(changed_under_compaction(segment).into());
    }
    let (layout, written) = writer.finish(end)?;
    policy.pace(written)?;
    Ok(layout)
}

/// Reads the table and footer of a compacted segment and checks them.
pub(crate) fn load_compacted_layout(segment: &Segment) -> Result<CompactedLayout, LogError> {
    let file_len = segment.file.metadata().map_err(LogError::io("stat", &segment.path))?.len();
    let footer_offset = compacted_footer_offset(file_len)
        .ok_or_else(|| corrupt(segment, 0, "compacted segment is shorter than its header and footer"))?;
    let footer = read_at_most(segment, footer_offset, COMPACTED_FOOTER_BYTES)?;
    let footer = decode_compacted_footer(&footer).map_err(|reason| corrupt(segment, footer_offset, reason))?;
    let table_bytes = position_table_bytes(&footer, footer_offset)
        .ok_or_else(|| corrupt(segment, footer_offset, "position table larger than the file"))?;
    let frames_end = footer_offset - table_bytes;
    let table = read_at_most(segment, frames_end, table_bytes)?;
    if footer.end_position <= segment.base {
        return Err(corrupt(segment, footer_offset, "end position before the base"));
    }
    decode_position_table(&table, &footer, segment.base, frames_end)
        .map_err(|reason| corrupt(segment, frames_end, reason))
}

/// Where the footer of a compacted segment of `file_len` bytes starts, if
/// the file is long enough to hold a header and a footer.
pub(crate) fn compacted_footer_offset(file_len: u64) -> Option<u64> {
    file_len.checked_sub(COMPACTED_FOOTER_BYTES).filter(|offset| *offset >= SEGMENT_HEADER_BYTES)
}

/// Size of the position table the footer announces, if it fits between the
/// header and the footer (a corrupt count must not overflow or over-read).
pub(crate) fn position_table_bytes(footer: &CompactedFooter, footer_offset: u64) -> Option<u64> {
    footer
        .frame_count
        .checked_mul(COMPACTED_TABLE_ENTRY_BYTES)
        .filter(|bytes| *bytes <= footer_offset.saturating_sub(SEGMENT_HEADER_BYTES))
}

/// Checks a compacted segment's position table against its footer and
/// decodes it. Kept apart from the file reads so that it can be tested on
/// bytes alone.
pub(crate) fn decode_position_table(
    table: &[u8],
    footer: &CompactedFooter,
    base: u64,
    frames_end: u64,
) -> Result<CompactedLayout, String> {
    let expected_bytes = footer.frame_count.checked_mul(COMPACTED_TABLE_ENTRY_BYTES);
    if Some(table.len() as u64) != expected_bytes || crc32c::crc32c(table) != footer.table_crc {
        return Err("position table checksum mismatch".into());
    }
    let mut positions = Vec::with_capacity(table.len() / COMPACTED_TABLE_ENTRY_BYTES as usize);
    let mut offsets = Vec::with_capacity(positions.capacity());
    for entry in table.chunks_exact(COMPACTED_TABLE_ENTRY_BYTES as usize) {
        let (position, offset) = entry.split_at(8);
        let (position, offset) = (u64_at(position), u64_at(offset));
        let ascending =
            positions.last().is_none_or(|last| position > *last) && offsets.last().is_none_or(|last| offset > *last);
        let inside = position >= base.saturating_add(SEGMENT_HEADER_BYTES)
            && position < footer.end_position
            && offset >= SEGMENT_HEADER_BYTES
            && offset < frames_end;
        if !ascending || !inside {
            return Err("position table entries out of order or out of range".into());
        }
        positions.push(position);
        offsets.push(offset);
    }
    Ok(CompactedLayout { end_position: footer.end_position, positions, offsets, frames_end })
}

fn changed_under_compaction(segment: &Segment) -> LogError {
    corrupt(segment, 0, "sealed segment changed while it was being compacted")
}

fn corrupt(segment: &Segment, offset: u64, reason: impl Into<String>) -> LogError {
    LogError::Corrupt { segment: segment.path.clone(), offset, reason: reason.into() }
}
