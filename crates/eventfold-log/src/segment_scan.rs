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

mod resync;
mod window;

use crate::{FrameError, LogError};
use resync::Resume;
use window::Window;

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
}
