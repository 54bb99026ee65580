//! Walking one segment file frame by frame for `verify.rs`, going on past
//! damage: after a frame that does not verify, the walk looks for where the
//! valid frames start again, so that one bad sector loses the frames it hit
//! and no more.

use std::fs::File;
use std::path::Path;

use bytes::Bytes;

use crate::compact::load_compacted_layout;
use crate::format::{
    COMPACTED_FORMAT_VERSION, FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, FRAME_PAYLOAD_MAX_BYTES, FRAME_TRAILER_BYTES,
    FrameInfo, SEGMENT_HEADER_BYTES, check_frame, decode_segment_header, u32_at,
};
use crate::reader::read_at_most;
use crate::segment::{CompactedLayout, Segment};
use crate::verify::{CheckedFrame, Damage, ProgressCounter, SegmentCheck, Visit};
use crate::{FrameError, LogError};

/// Bytes read per system call.
const CHUNK_BYTES: u64 = 1024 * 1024;

/// Where a segment stands in the log, which decides where its frames end.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Role {
    /// Followed by another segment starting at `next_base`.
    Sealed { next_base: u64 },
    /// The segment the writer appends to: read up to the committed end when
    /// a writer runs, else to the end of the data (zeros after it are the
    /// writer's preallocation).
    Last { committed_end: Option<u64> },
}

type Visitor<'a> = dyn FnMut(Visit<'_>) -> Result<(), LogError> + 'a;

pub(crate) fn scan_segment(
    base: u64,
    path: &Path,
    file: File,
    file_bytes: u64,
    role: Role,
    visit: &mut Visitor<'_>,
    progress: &mut ProgressCounter<'_>,
) -> Result<SegmentCheck, LogError> {
    let segment = Segment::plain(base, path.to_path_buf(), file);
    let mut check = SegmentCheck {
        base,
        path: path.to_path_buf(),
        compacted: false,
        file_bytes,
        end: base + file_bytes,
        frames: 0,
        frame_bytes: 0,
        damage: Vec::new(),
    };
    let header = read_at_most(&segment, 0, SEGMENT_HEADER_BYTES)?;
    let compacted = match decode_segment_header(&header) {
        Ok((header_base, version)) => {
            if header_base != base {
                let reason = format!("segment header names base {header_base}, the file name {base}");
                record(&mut check, visit, header_damage(path, base, reason))?;
            }
            version == COMPACTED_FORMAT_VERSION
        }
        Err(reason) => {
            record(&mut check, visit, header_damage(path, base, format!("segment header: {reason}")))?;
            // The header no longer says the layout; a compacted segment's
            // footer still does.
            load_compacted_layout(&segment).is_ok()
        }
    };
    let mut scan = Scan { segment: &segment, window: Window::default(), check, visit, progress, advanced: 0 };
    if compacted {
        scan.compacted(role)?;
    } else {
        scan.plain(role)?;
    }
    // The header, a table, preallocated zeros: the rest of the file.
    scan.advance(file_bytes.saturating_sub(scan.advanced));
    let Scan { check, .. } = scan;
    Ok(check)
}

fn header_damage(path: &Path, base: u64, reason: String) -> Damage {
    Damage {
        path: path.to_path_buf(),
        offset: 0,
        bytes: SEGMENT_HEADER_BYTES,
        positions: base..base,
        frame_positions: Vec::new(),
        reason,
        at_tail: false,
    }
}

fn record(check: &mut SegmentCheck, visit: &mut Visitor<'_>, damage: Damage) -> Result<(), LogError> {
    visit(Visit::Damage(&damage))?;
    check.damage.push(damage);
    Ok(())
}

struct Scan<'s, 'v, 'w, 'p, 'q> {
    segment: &'s Segment,
    window: Window,
    check: SegmentCheck,
    visit: &'v mut Visitor<'w>,
    progress: &'p mut ProgressCounter<'q>,
    /// Bytes of the file handed to `progress` so far.
    advanced: u64,
}

/// A frame found walking back from a sure frame start: verified, or lost
/// with sure bounds (and why).
struct Piece {
    start: u64,
    end: u64,
    found: Result<(FrameInfo, Bytes), String>,
}

/// Where valid frames start again after a damaged one.
enum Resume {
    /// At this file offset; `exact` when the damaged frame's own length
    /// survived, so the damage is exactly that one frame.
    At { offset: u64, exact: bool },
    /// Nowhere before the end.
    Nowhere,
}

impl Scan<'_, '_, '_, '_, '_> {
    fn advance(&mut self, bytes: u64) {
        self.advanced += bytes;
        self.progress.advance(bytes);
    }

    fn compacted(&mut self, role: Role) -> Result<(), LogError> {
        let base = self.segment.base;
        let layout = match load_compacted_layout(self.segment) {
            Ok(layout) => layout,
            Err(error) => {
                // Without its table no frame's position is known: every
                // position of the segment is lost.
                let end = match role {
                    Role::Sealed { next_base } => next_base,
                    Role::Last { .. } => base + self.check.file_bytes,
                };
                self.check.end = end;
                let bytes = self.check.file_bytes.saturating_sub(SEGMENT_HEADER_BYTES);
                let damage = Damage {
                    path: self.segment.path.clone(),
                    offset: SEGMENT_HEADER_BYTES,
                    bytes,
                    positions: base..end,
                    frame_positions: Vec::new(),
                    reason: format!("compacted segment's position table: {error}"),
                    at_tail: false,
                };
                return record(&mut self.check, self.visit, damage);
            }
        };
        self.check.compacted = true;
        self.check.end = layout.end_position;
        for (index, (position, offset)) in layout.positions.iter().zip(&layout.offsets).enumerate() {
            let next_offset = layout.offsets.get(index + 1).copied().unwrap_or(layout.frames_end);
            let length = next_offset.saturating_sub(*offset);
            let found = self.frame_at(*offset, layout.frames_end)?;
            match found {
                Ok((info, payload)) if info.frame_bytes() as u64 == length => {
                    self.frame(*position, info, payload)?;
                }
                result => {
                    let reason = match result {
                        Ok(_) => "frame length differs from the position table".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    self.compacted_damage(&layout, *position, *offset, length, reason)?;
                }
            }
        }
        Ok(())
    }

    fn compacted_damage(
        &mut self,
        layout: &CompactedLayout,
        position: u64,
        offset: u64,
        length: u64,
        reason: String,
    ) -> Result<(), LogError> {
        // A kept frame is copied byte for byte, so it covered as many
        // positions as it has bytes (bounded by the next kept one).
        let next_position = layout.positions.iter().find(|kept| **kept > position).copied();
        let end = (position + length).min(next_position.unwrap_or(layout.end_position));
        let damage = Damage {
            path: self.segment.path.clone(),
            offset,
            bytes: length,
            positions: position..end.max(position + 1),
            frame_positions: vec![position],
            reason,
            at_tail: false,
        };
        self.advance(length);
        record(&mut self.check, self.visit, damage)
    }

    fn plain(&mut self, role: Role) -> Result<(), LogError> {
        let base = self.segment.base;
        let file_bytes = self.check.file_bytes;
        let (limit, zeros_end_data) = match role {
            Role::Sealed { .. } => (file_bytes, false),
            Role::Last { committed_end: Some(end) } => (end.saturating_sub(base).min(file_bytes), false),
            Role::Last { committed_end: None } => (file_bytes, true),
        };
        let mut offset = SEGMENT_HEADER_BYTES.min(limit);
        let mut data_end = limit;
        while offset < limit {
            let error = match self.frame_at(offset, limit)? {
                Ok((info, payload)) => {
                    self.frame(base + offset, info, payload)?;
                    offset += info.frame_bytes() as u64;
                    continue;
                }
                Err(error) => error,
            };
            if zeros_end_data && self.zeros(offset, limit)? {
                // The writer's preallocation: the data ends here.
                data_end = offset;
                break;
            }
            let (damage_end, exact, at_tail) = match self.resume_after(offset, limit, zeros_end_data)? {
                Resume::At { offset: resume, exact } => (resume, exact, false),
                Resume::Nowhere if zeros_end_data => (self.nonzero_end(offset, limit)?, false, true),
                // Below a committed end, or in a sealed segment, nothing was
                // being written: this is damage, not a torn write.
                Resume::Nowhere => (limit, false, false),
            };
            // Valid frames just before the resume point may have been passed
            // over (more damage right after them kept them from being
            // confirmed going forwards): walk back to them from the resume
            // point, a sure frame start, through the trailing lengths.
            let pieces = if exact || at_tail { Vec::new() } else { self.walk_back(offset, damage_end)? };
            let gap_end = pieces.first().map_or(damage_end, |piece| piece.start);
            self.damage(offset, gap_end, exact, at_tail, error.to_string())?;
            for piece in pieces {
                match piece.found {
                    Ok((info, payload)) => self.frame(base + piece.start, info, payload)?,
                    Err(reason) => self.damage(piece.start, piece.end, true, false, reason)?,
                }
            }
            offset = damage_end;
            if at_tail {
                data_end = damage_end;
                break;
            }
        }
        self.check.end = base + data_end;
        Ok(())
    }

    /// Records the damaged stretch `start..end` of the file; `exact` when it
    /// is one frame whose bounds are known.
    fn damage(&mut self, start: u64, end: u64, exact: bool, at_tail: bool, reason: String) -> Result<(), LogError> {
        let base = self.segment.base;
        let damage = Damage {
            path: self.segment.path.clone(),
            offset: start,
            bytes: end - start,
            positions: base + start..base + end,
            frame_positions: if exact { vec![base + start] } else { Vec::new() },
            reason,
            at_tail,
        };
        self.advance(end - start);
        record(&mut self.check, self.visit, damage)
    }

    /// The frames that end, one after the other, at `end` (a frame start the
    /// forward walk confirmed), going back towards `damaged` (where the
    /// damage began), in file order. A frame that does not verify but whose
    /// leading and trailing lengths agree is passed over as one lost frame;
    /// the walk stops at the first frame whose bounds are not sure.
    fn walk_back(&mut self, damaged: u64, mut end: u64) -> Result<Vec<Piece>, LogError> {
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

    fn frame(&mut self, position: u64, info: FrameInfo, payload: Bytes) -> Result<(), LogError> {
        let frame = CheckedFrame { position, ends_transaction: info.ends_transaction(), payload };
        (self.visit)(Visit::Frame(&frame))?;
        self.check.frames += 1;
        self.check.frame_bytes += info.frame_bytes() as u64;
        self.advance(info.frame_bytes() as u64);
        Ok(())
    }

    /// The frame at `offset`, reading nothing at or past `limit`.
    fn frame_at(&mut self, offset: u64, limit: u64) -> Result<Result<(FrameInfo, Bytes), FrameError>, LogError> {
        let header = self.window.get(self.segment, offset, FRAME_HEADER_BYTES as u64, limit)?;
        let announced = header.get(..4).map_or(0, |length| u64::from(u32_at(length)));
        let want = if announced as usize > FRAME_PAYLOAD_MAX_BYTES {
            FRAME_HEADER_BYTES as u64
        } else {
            announced + FRAME_OVERHEAD_BYTES as u64
        };
        let bytes = self.window.get(self.segment, offset, want, limit)?;
        Ok(check_frame(&bytes).map(|info| {
            let payload = bytes.slice(FRAME_HEADER_BYTES..info.frame_bytes() - FRAME_TRAILER_BYTES);
            (info, payload)
        }))
    }

    /// True when a valid frame starts at `offset`, or the data ends there.
    fn continues_at(&mut self, offset: u64, limit: u64, zeros_end_data: bool) -> Result<bool, LogError> {
        Ok(offset == limit || self.frame_at(offset, limit)?.is_ok() || (zeros_end_data && self.zeros(offset, limit)?))
    }

    fn resume_after(&mut self, offset: u64, limit: u64, zeros_end_data: bool) -> Result<Resume, LogError> {
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

    /// True when every byte from `offset` to `limit` is zero.
    fn zeros(&mut self, offset: u64, limit: u64) -> Result<bool, LogError> {
        Ok(self.nonzero_end(offset, limit)? == offset)
    }

    /// The end of the last non-zero byte in `offset..limit` (`offset` when
    /// there is none).
    fn nonzero_end(&mut self, offset: u64, limit: u64) -> Result<u64, LogError> {
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

/// A stretch of the file read with one system call, so that walking small
/// frames does not cost one read each.
#[derive(Default)]
struct Window {
    start: u64,
    bytes: Bytes,
}

impl Window {
    /// Up to `length` bytes at `offset`; fewer only at `limit` or the end of
    /// the file.
    fn get(&mut self, segment: &Segment, offset: u64, length: u64, limit: u64) -> Result<Bytes, LogError> {
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
