//! A stretch of a segment file read with one system call, for the walk.

use bytes::Bytes;

use crate::LogError;
use crate::reader::read_at_most;
use crate::segment::Segment;

/// Bytes read per system call.
pub(super) const CHUNK_BYTES: u64 = 1024 * 1024;

/// So that walking small frames does not cost one read each.
#[derive(Default)]
pub(super) struct Window {
    start: u64,
    bytes: Bytes,
}

impl Window {
    /// Up to `length` bytes at `offset`; fewer only at `limit` or the end of
    /// the file.
    pub fn get(&mut self, segment: &Segment, offset: u64, length: u64, limit: u64) -> Result<Bytes, LogError> {
        let length = length.min(limit.saturating_sub(offset));
        let window_end = self.start + self.bytes.len() as u64;
        if offset < self.start || offset + length > window_end {
            let want = length.max(CHUNK_BYTES).min(limit.saturating_sub(offset));
            self.bytes = read_at_most(segment, offset, want)?;
            self.start = offset;
        }
        let from = usize::try_from(offset - self.start).unwrap_or(usize::MAX).min(self.bytes.len());
        let to = from.saturating_add(usize::try_from(length).unwrap_or(usize::MAX)).min(self.bytes.len());
        Ok(self.bytes.slice(from..to))
    }
}
