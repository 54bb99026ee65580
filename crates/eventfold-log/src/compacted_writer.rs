//! Writing a segment in the compacted layout (format version 2): chosen
//! frames back to back, each at its original position, then the position
//! table and the footer (`docs/format.md`). Compaction (`compact.rs`) and
//! salvage (`salvage.rs`) both write their segments through here, so there
//! is one writer of that layout.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::format::{
    COMPACTED_FORMAT_VERSION, COMPACTED_TABLE_ENTRY_BYTES, CompactedFooter, SEGMENT_HEADER_BYTES,
    encode_compacted_footer, encode_versioned_header,
};
use crate::segment::CompactedLayout;
use crate::{BatchMark, FrameBatch, LogError};

/// Bytes of frames buffered before they are written out.
const WRITE_CHUNK_BYTES: usize = 1024 * 1024;

pub(crate) struct CompactedWriter {
    file: File,
    path: PathBuf,
    /// Frames not written yet. Written only between transactions, so that
    /// the flag of a transaction's last kept frame can still be set.
    batch: FrameBatch,
    /// Bytes of the file written so far.
    file_len: u64,
    positions: Vec<u64>,
    offsets: Vec<u64>,
    /// The batch and table as they were after the last whole transaction.
    after_transaction: (BatchMark, usize),
}

impl CompactedWriter {
    /// Creates (truncating) `path` and writes the version 2 header for a
    /// segment whose base is `base`.
    pub fn create(path: &Path, base: u64, frames_expected: usize) -> Result<Self, LogError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(LogError::io("create", path))?;
        file.write_all(&encode_versioned_header(base, COMPACTED_FORMAT_VERSION))
            .map_err(LogError::io("write", path))?;
        let batch = FrameBatch::new();
        let after_transaction = (batch.mark(), 0);
        Ok(Self {
            file,
            path: path.to_path_buf(),
            batch,
            file_len: SEGMENT_HEADER_BYTES,
            positions: Vec::with_capacity(frames_expected),
            offsets: Vec::with_capacity(frames_expected),
            after_transaction,
        })
    }

    /// Adds a frame that was at `position`. Returns the bytes written to the
    /// file by this call (0 while they are only buffered).
    pub fn push(&mut self, position: u64, ends_transaction: bool, payload: &[u8]) -> Result<u64, LogError> {
        debug_assert!(self.positions.last().is_none_or(|last| position > *last), "positions ascend");
        let offset =
            self.batch.push(ends_transaction, |buffer| buffer.extend_from_slice(payload)).map_err(|error| {
                LogError::Corrupt { segment: self.path.clone(), offset: position, reason: error.to_string() }
            })?;
        self.positions.push(position);
        self.offsets.push(self.file_len + offset as u64);
        if ends_transaction {
            self.after_transaction = (self.batch.mark(), self.positions.len());
        }
        if self.batch.len_bytes() >= WRITE_CHUNK_BYTES && !self.batch.has_open_transaction() {
            return self.flush();
        }
        Ok(0)
    }

    /// Makes the last frame pushed the end of its transaction: its own last
    /// frame was dropped (compaction) or lost (salvage).
    pub fn end_transaction(&mut self) {
        if self.batch.has_open_transaction() {
            self.batch.end_transaction();
            self.after_transaction = (self.batch.mark(), self.positions.len());
        }
    }

    /// Drops the frames of a transaction whose last frame never came: the
    /// unfinished tail of the segment the writer was appending to, which
    /// recovery would cut too.
    pub fn drop_open_transaction(&mut self) -> u64 {
        if !self.batch.has_open_transaction() {
            return 0;
        }
        let (mark, kept) = self.after_transaction;
        let dropped = self.positions.len().saturating_sub(kept) as u64;
        self.batch.rollback(mark);
        self.positions.truncate(kept);
        self.offsets.truncate(kept);
        dropped
    }

    pub fn frames(&self) -> usize {
        self.positions.len()
    }

    /// Writes the rest of the frames, the table and the footer, and syncs the
    /// file. `end_position` is where the original segment ended: the next
    /// segment's base. Returns the layout and the bytes written by this call.
    pub fn finish(mut self, end_position: u64) -> Result<(CompactedLayout, u64), LogError> {
        self.batch.end_transaction();
        let mut written = self.flush()?;
        let mut table = Vec::with_capacity(self.positions.len() * COMPACTED_TABLE_ENTRY_BYTES as usize);
        for (position, offset) in self.positions.iter().zip(&self.offsets) {
            table.extend_from_slice(&position.to_le_bytes());
            table.extend_from_slice(&offset.to_le_bytes());
        }
        let footer = CompactedFooter {
            end_position,
            frame_count: self.positions.len() as u64,
            table_crc: crc32c::crc32c(&table),
        };
        self.file.write_all(&table).map_err(LogError::io("write", &self.path))?;
        self.file.write_all(&encode_compacted_footer(&footer)).map_err(LogError::io("write", &self.path))?;
        self.file.sync_all().map_err(LogError::io("fsync", &self.path))?;
        written += table.len() as u64;
        let layout = CompactedLayout {
            end_position,
            positions: self.positions,
            offsets: self.offsets,
            frames_end: self.file_len,
        };
        Ok((layout, written))
    }

    fn flush(&mut self) -> Result<u64, LogError> {
        self.file.write_all(self.batch.as_bytes()).map_err(LogError::io("write", &self.path))?;
        let written = self.batch.len_bytes() as u64;
        self.file_len += written;
        self.batch.clear();
        self.after_transaction = (self.batch.mark(), self.positions.len());
        Ok(written)
    }
}
