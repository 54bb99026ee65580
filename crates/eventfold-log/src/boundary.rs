//! Finding where a frame starts from any position.
//!
//! Clients hand back positions they computed themselves (a common one is the
//! last position seen plus one), and a read "from" such a position must start
//! at the first frame at or after it. In a plain segment nothing but the
//! frames themselves says where a frame starts: the bytes at an arbitrary
//! position may even look like a valid frame, since event data can hold
//! anything. So the only safe way is to walk the frames from a position known
//! to be a frame start. The segment's first frame is one; to keep the walk
//! short, every walk leaves behind the frame starts it passed, about one per
//! `HINT_SPACING_BYTES`, and later walks begin at the nearest of them.
//!
//! A hint stays true as long as the segment does: frames below the committed
//! end are never rewritten in place, and a compacted segment (whose table
//! gives every frame start exactly) never consults hints.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::format::SEGMENT_HEADER_BYTES;
use crate::{LogError, LogReader};

/// Largest walk between two hints, so a lookup reads about one scan chunk.
const HINT_SPACING_BYTES: u64 = 64 * 1024;
/// Hints kept at most (16 bytes each in the set's nodes, about 16 MiB):
/// past it the set starts over rather than grow with the log.
const HINTS_MAX: usize = 1 << 20;

/// Positions known to be frame starts in plain segments.
#[derive(Debug, Default)]
pub(crate) struct BoundaryHints {
    known: Mutex<BTreeSet<u64>>,
}

impl BoundaryHints {
    /// The greatest hint in `floor..=position`.
    fn nearest(&self, floor: u64, position: u64) -> Option<u64> {
        let known = self.known.lock().unwrap_or_else(|poison| poison.into_inner());
        known.range(floor..=position).next_back().copied()
    }

    fn record(&self, positions: &[u64]) {
        if positions.is_empty() {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(|poison| poison.into_inner());
        if known.len() + positions.len() > HINTS_MAX {
            known.clear();
        }
        known.extend(positions.iter().copied());
    }
}

impl LogReader {
    /// The position of the first frame that starts at or after `position`,
    /// looking only below `end` (the committed end). A position inside a
    /// frame moves to the frame after it; a frame's own position stays; a
    /// position with no frame after it below `end` moves to the end of the
    /// last frame (or stays, when at or past `end`).
    pub fn frame_start_at_or_after(&self, position: u64, end: u64) -> Result<u64, LogError> {
        let candidate = self.first_frame_at_or_after(position);
        if candidate >= end {
            return Ok(candidate);
        }
        let Some(segment) = self.segments().containing(candidate) else {
            return Ok(candidate);
        };
        let first_frame = segment.base + SEGMENT_HEADER_BYTES;
        // A compacted segment's table gives frame starts exactly, and every
        // segment's first frame starts right after its header.
        if segment.is_compacted() || candidate == first_frame {
            return Ok(candidate);
        }
        let hints = self.segments().hints();
        let start = hints.nearest(first_frame, candidate).unwrap_or(first_frame);
        let mut scan = self.scan_forward(start, end);
        let mut passed = Vec::new();
        let mut last_hint = start;
        while let Some(frame) = scan.next_frame()? {
            if frame.position >= candidate {
                hints.record(&passed);
                return Ok(frame.position);
            }
            if frame.position - last_hint >= HINT_SPACING_BYTES {
                passed.push(frame.position);
                last_hint = frame.position;
            }
        }
        hints.record(&passed);
        Ok(scan.next_position().max(candidate))
    }
}
