//! Finding where valid frames start again after a damaged one, and the
//! valid frames just before that point which more damage hid from the
//! forward walk.

use bytes::Bytes;

use super::Scan;
use super::window::CHUNK_BYTES;
use crate::LogError;
use crate::format::{
    FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, FRAME_PAYLOAD_MAX_BYTES, FRAME_TRAILER_BYTES, FrameInfo, u32_at,
};
use crate::reader::read_at_most;

/// A frame found walking back from a sure frame start: verified, or lost
/// with sure bounds (and why).
pub(super) struct Piece {
    pub start: u64,
    pub end: u64,
    pub found: Result<(FrameInfo, Bytes), String>,
}

/// Where valid frames start again after a damaged one.
pub(super) enum Resume {
    /// At this file offset; `exact` when the damaged frame's own length
    /// survived, so the damage is exactly that one frame.
    At { offset: u64, exact: bool },
    /// Nowhere before the end.
    Nowhere,
}

impl Scan<'_, '_, '_, '_, '_> {
    /// True when a valid frame starts at `offset`, or the data ends there.
    fn continues_at(&mut self, offset: u64, limit: u64, zeros_end_data: bool) -> Result<bool, LogError> {
        Ok(offset == limit || self.frame_at(offset, limit)?.is_ok() || (zeros_end_data && self.zeros(offset, limit)?))
    }

    pub(super) fn resume_after(&mut self, offset: u64, limit: u64, zeros_end_data: bool) -> Result<Resume, LogError> {
        // The common case, a flipped bit in a payload: the length and the
        // trailer still agree, and the next frame is where they say.
        let header = self.window.get(self.segment, offset, FRAME_HEADER_BYTES as u64, limit)?;
        let announced = header.get(..4).map_or(0, |length| u64::from(u32_at(length)));
        if announced > 0 && announced as usize <= FRAME_PAYLOAD_MAX_BYTES {
            let next = offset + announced + FRAME_OVERHEAD_BYTES as u64;
            let trailer_offset = next - FRAME_TRAILER_BYTES as u64;
            if next <= limit {
                let trailer = self.window.get(self.segment, trailer_offset, FRAME_TRAILER_BYTES as u64, limit)?;
                if trailer.len() == FRAME_TRAILER_BYTES
                    && u64::from(u32_at(&trailer)) == announced
                    && self.continues_at(next, limit, zeros_end_data)?
                {
                    return Ok(Resume::At { offset: next, exact: true });
                }
            }
        }
        // The length itself is damaged: look byte by byte for a frame that
        // verifies and is followed by another one (or by the end), which
        // bytes inside some event's payload are not, short of a checksum
        // collision or a payload that holds whole frames. Failing that (more
        // damage follows closely), a frame that verifies alone will do: a
        // valid frame between two damaged stretches is still kept.
        for confirmed in [true, false] {
            if let Some(resume) = self.search(offset + 1, limit, zeros_end_data, confirmed)? {
                return Ok(Resume::At { offset: resume, exact: false });
            }
        }
        Ok(Resume::Nowhere)
    }

    /// The first offset from `from` where a frame verifies (and, when
    /// `confirmed`, valid frames or the end follow it).
    fn search(
        &mut self,
        from: u64,
        limit: u64,
        zeros_end_data: bool,
        confirmed: bool,
    ) -> Result<Option<u64>, LogError> {
        let mut candidate = from;
        while candidate + FRAME_OVERHEAD_BYTES as u64 <= limit {
            let header = self.window.get(self.segment, candidate, 8, limit)?;
            let (length, flags) = match (header.get(..4), header.get(4..8)) {
                (Some(length), Some(flags)) => (u64::from(u32_at(length)), u32_at(flags)),
                _ => break,
            };
            let plausible = length > 0
                && length as usize <= FRAME_PAYLOAD_MAX_BYTES
                && flags <= 1
                && candidate + length + FRAME_OVERHEAD_BYTES as u64 <= limit;
            if plausible && let Ok((info, _)) = self.frame_at(candidate, limit)? {
                let next = candidate + info.frame_bytes() as u64;
                if !confirmed || self.continues_at(next, limit, zeros_end_data)? {
                    return Ok(Some(candidate));
                }
            }
            candidate += 1;
        }
        Ok(None)
    }

    /// The frames that end, one after the other, at `end` (a frame start the
    /// forward walk confirmed), going back towards `damaged` (where the
    /// damage began), in file order. A frame that does not verify but whose
    /// leading and trailing lengths agree is passed over as one lost frame;
    /// the walk stops at the first frame whose bounds are not sure.
    pub(super) fn walk_back(&mut self, damaged: u64, mut end: u64) -> Result<Vec<Piece>, LogError> {
        let mut pieces = Vec::new();
        while end > damaged + FRAME_OVERHEAD_BYTES as u64 {
            let trailer = self.window.get(self.segment, end - FRAME_TRAILER_BYTES as u64, 4, end)?;
            let length = u64::from(u32_at(&trailer));
            if trailer.len() < FRAME_TRAILER_BYTES || length == 0 || length as usize > FRAME_PAYLOAD_MAX_BYTES {
                break;
            }
            let Some(start) = end.checked_sub(length + FRAME_OVERHEAD_BYTES as u64).filter(|start| *start > damaged)
            else {
                break;
            };
            let found = match self.frame_at(start, end)? {
                Ok((info, payload)) if start + info.frame_bytes() as u64 == end => Ok((info, payload)),
                result => {
                    let header = self.window.get(self.segment, start, 4, end)?;
                    if header.len() < 4 || u64::from(u32_at(&header)) != length {
                        break;
                    }
                    Err(result.err().map_or_else(|| "frame length differs".to_owned(), |error| error.to_string()))
                }
            };
            pieces.push(Piece { start, end, found });
            end = start;
        }
        pieces.reverse();
        Ok(pieces)
    }

    /// True when every byte from `offset` to `limit` is zero.
    pub(super) fn zeros(&mut self, offset: u64, limit: u64) -> Result<bool, LogError> {
        Ok(self.nonzero_end(offset, limit)? == offset)
    }

    /// The end of the last non-zero byte in `offset..limit` (`offset` when
    /// there is none).
    pub(super) fn nonzero_end(&mut self, offset: u64, limit: u64) -> Result<u64, LogError> {
        let mut end = offset;
        let mut at = offset;
        while at < limit {
            let chunk = read_at_most(self.segment, at, CHUNK_BYTES.min(limit - at))?;
            if chunk.is_empty() {
                break;
            }
            if let Some(last) = chunk.iter().rposition(|byte| *byte != 0) {
                end = at + last as u64 + 1;
            }
            at += chunk.len() as u64;
        }
        Ok(end)
    }
}
