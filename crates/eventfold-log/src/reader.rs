use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::LogError;
use crate::format::{
    FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, FRAME_TRAILER_BYTES, SEGMENT_HEADER_BYTES, check_frame, u32_at,
};
use crate::segment::{Segment, SegmentMap};

/// Bytes a scan reads per system call: large enough to amortise the call,
/// small enough that many concurrent scans stay cheap.
const SCAN_CHUNK_BYTES: u64 = 256 * 1024;
/// Bytes read speculatively for one random frame read: most frames fit.
const SINGLE_READ_BYTES: u64 = 4096;
/// Frames at most this far apart are read together by `read_frames_exact`.
const CLUSTER_READ_BYTES: u64 = 128 * 1024;

/// A verified frame read from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub position: u64,
    pub ends_transaction: bool,
    pub payload: Bytes,
    /// Where the next frame starts (or the end of the log).
    pub next_position: u64,
}

/// Reads frames below a caller-supplied end. The caller passes the committed
/// end it has observed, so bytes being written are never read (LOG-2).
#[derive(Clone, Debug)]
pub struct LogReader {
    segments: Arc<SegmentMap>,
}

impl LogReader {
    pub(crate) fn new(segments: Arc<SegmentMap>) -> Self {
        Self { segments }
    }

    /// The first position at or after `position` where a frame can start: a
    /// position inside a segment header (such as 0) moves past the header, a
    /// position that compaction emptied moves to the next frame kept.
    pub fn first_frame_at_or_after(&self, position: u64) -> u64 {
        let first_base = self.segments.first_base().unwrap_or(0);
        let mut position = position.max(first_base);
        // Each turn moves to a later segment, so this ends.
        loop {
            let Some(segment) = self.segments.containing(position) else {
                return position;
            };
            match segment.locate(position) {
                Ok((frame, _)) => return frame,
                Err(next) if next > position => position = next,
                Err(next) => return next,
            }
        }
    }

    /// True when `position` held a frame that compaction removed: callers
    /// holding such a position (a checkpoint, an index entry) move on to the
    /// next frame instead of reporting corruption.
    pub fn was_removed(&self, position: u64) -> bool {
        self.segments.containing(position).is_some_and(|segment| segment.lost(position))
    }

    /// The base of the first compacted segment, if any: past it, a stream's
    /// revisions read from the log may have gaps where events were scavenged.
    pub fn first_compacted_base(&self) -> Option<u64> {
        self.segments.all().iter().find(|segment| segment.is_compacted()).map(|segment| segment.base)
    }

    /// Reads the frame at `position`, or `None` at or past `end`. Bytes that
    /// are not a valid frame are reported as corruption; callers that got the
    /// position from a client map that to "not an event position".
    pub fn read_frame(&self, position: u64, end: u64) -> Result<Option<Frame>, LogError> {
        let position = self.first_frame_at_or_after(position);
        if position >= end {
            return Ok(None);
        }
        let segment = self.segment_at(position)?;
        let Ok((_, offset)) = segment.locate(position) else {
            return Ok(None);
        };
        let available = segment.readable_bytes(offset, end);
        let speculative = read_at_most(&segment, offset, available.min(SINGLE_READ_BYTES))?;
        match check_frame(&speculative) {
            Ok(info) => Ok(Some(frame_from(&segment, offset, &speculative, info))),
            Err(crate::FrameError::ShortPayload) => {
                let payload_bytes = speculative.get(..4).map(u32_at).unwrap_or(0) as u64;
                let frame_bytes = payload_bytes + FRAME_OVERHEAD_BYTES as u64;
                if frame_bytes > available {
                    return Err(corrupt(&segment, offset, "frame runs past the committed end"));
                }
                let whole = read_at_most(&segment, offset, frame_bytes)?;
                let info = check_frame(&whole).map_err(|error| corrupt(&segment, offset, error))?;
                Ok(Some(frame_from(&segment, offset, &whole, info)))
            }
            Err(error) => Err(corrupt(&segment, offset, error)),
        }
    }

    /// Reads the frame at exactly `position`: `None` when compaction removed
    /// it (or at or past `end`), where `read_frame` would return the next one.
    pub fn read_frame_exact(&self, position: u64, end: u64) -> Result<Option<Frame>, LogError> {
        if self.was_removed(position) {
            return Ok(None);
        }
        Ok(self.read_frame(position, end)?.filter(|frame| frame.position == position))
    }

    /// The frames at exactly `positions` (each as [`Self::read_frame_exact`]
    /// would read it), in the same order. Frames that lie close together in
    /// one segment are read with one system call: a stream's events are
    /// often near each other in the log.
    pub fn read_frames_exact(&self, positions: &[u64], end: u64) -> Result<Vec<Option<Frame>>, LogError> {
        let mut order: Vec<usize> = (0..positions.len()).collect();
        order.sort_by_key(|index| positions.get(*index).copied().unwrap_or(0));
        let mut frames = vec![None; positions.len()];
        let mut chunk = Chunk::default();
        for (rank, index) in order.iter().enumerate() {
            let Some(&position) = positions.get(*index) else { continue };
            if position >= end {
                continue;
            }
            let Some(segment) = self.segments.containing(position) else { continue };
            let Ok((found, offset)) = segment.locate(position) else { continue };
            if found != position {
                // Removed by compaction, or inside a segment header: no frame
                // starts there.
                continue;
            }
            let frame = match chunk.frame_at(&segment, offset) {
                Some(frame) => Some(frame),
                None => {
                    // Read up to the furthest later position within reach.
                    let reach = order
                        .get(rank + 1..)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|later| positions.get(*later).copied())
                        .take_while(|later| later - position < CLUSTER_READ_BYTES)
                        .last()
                        .map_or(0, |later| later - position);
                    let want = (reach + SINGLE_READ_BYTES).min(segment.readable_bytes(offset, end));
                    chunk = Chunk {
                        segment: Some(Arc::clone(&segment)),
                        offset,
                        bytes: read_at_most(&segment, offset, want)?,
                    };
                    chunk.frame_at(&segment, offset)
                }
            };
            let frame = match frame {
                Some(frame) => Some(frame),
                // Larger than the chunk, or damaged: the single-frame path
                // reads it whole or reports what is wrong.
                None => self.read_frame_exact(position, end)?,
            };
            if let Some(slot) = frames.get_mut(*index) {
                *slot = frame;
            }
        }
        Ok(frames)
    }

    /// Frames from `from` (a frame position, or a header position such as 0)
    /// up to `end`, in log order.
    pub fn scan_forward(&self, from: u64, end: u64) -> ForwardScan {
        ForwardScan { reader: self.clone(), next: from, end, chunk: Chunk::default() }
    }

    /// Frames that end at or before `before` (a frame boundary such as the
    /// committed end), newest first.
    pub fn scan_backward(&self, before: u64) -> BackwardScan {
        BackwardScan { reader: self.clone(), before, chunk: Chunk::default() }
    }

    pub(crate) fn segments(&self) -> &Arc<SegmentMap> {
        &self.segments
    }

    fn segment_at(&self, position: u64) -> Result<Arc<Segment>, LogError> {
        self.segments.containing(position).ok_or_else(|| LogError::Corrupt {
            segment: "<none>".into(),
            offset: position,
            reason: "no segment holds this position".into(),
        })
    }
}

/// Bytes of one segment read ahead by a scan, addressed by file offset: a
/// compacted segment's frames are not at `base + offset`, so positions come
/// from the segment.
#[derive(Default)]
struct Chunk {
    segment: Option<Arc<Segment>>,
    offset: u64,
    bytes: Bytes,
}

impl Chunk {
    fn holds(&self, segment: &Arc<Segment>) -> bool {
        self.segment.as_ref().is_some_and(|held| Arc::ptr_eq(held, segment))
    }

    /// The frame starting at file `offset`, when the chunk holds all of it.
    fn frame_at(&self, segment: &Arc<Segment>, offset: u64) -> Option<Frame> {
        if !self.holds(segment) {
            return None;
        }
        let start = usize::try_from(offset.checked_sub(self.offset)?).ok()?;
        let bytes = self.bytes.get(start..)?;
        let info = check_frame(bytes).ok()?;
        let frame_bytes = info.frame_bytes();
        Some(Frame {
            position: segment.position_at(offset),
            ends_transaction: info.ends_transaction(),
            payload: self.bytes.slice(start + FRAME_HEADER_BYTES..start + frame_bytes - FRAME_TRAILER_BYTES),
            next_position: segment.position_at(offset + frame_bytes as u64),
        })
    }

    /// The frame ending at file offset `end`, when the chunk holds all of it.
    fn frame_ending_at(&self, segment: &Arc<Segment>, end_offset: u64) -> Option<Frame> {
        if !self.holds(segment) {
            return None;
        }
        let end = usize::try_from(end_offset.checked_sub(self.offset)?).ok()?;
        let trailer = self.bytes.get(end.checked_sub(FRAME_TRAILER_BYTES)?..end)?;
        let frame_bytes = u32_at(trailer) as usize + FRAME_OVERHEAD_BYTES;
        let start = end.checked_sub(frame_bytes)?;
        let bytes = self.bytes.get(start..end)?;
        let info = check_frame(bytes).ok()?;
        Some(Frame {
            position: segment.position_at(self.offset + start as u64),
            ends_transaction: info.ends_transaction(),
            payload: self.bytes.slice(start + FRAME_HEADER_BYTES..end - FRAME_TRAILER_BYTES),
            next_position: segment.position_at(end_offset),
        })
    }
}

/// An iterator over frames in log order, reading in chunks.
pub struct ForwardScan {
    reader: LogReader,
    next: u64,
    end: u64,
    chunk: Chunk,
}

impl ForwardScan {
    /// Where the scan will read next.
    pub fn next_position(&self) -> u64 {
        self.next
    }

    pub fn next_frame(&mut self) -> Result<Option<Frame>, LogError> {
        let position = self.reader.first_frame_at_or_after(self.next);
        if position >= self.end {
            self.next = position.max(self.next);
            return Ok(None);
        }
        let segment = self.reader.segment_at(position)?;
        let Ok((_, offset)) = segment.locate(position) else {
            self.next = position.max(self.next);
            return Ok(None);
        };
        if let Some(frame) = self.chunk.frame_at(&segment, offset) {
            self.next = frame.next_position;
            return Ok(Some(frame));
        }
        let available = segment.readable_bytes(offset, self.end);
        let mut want = available.min(SCAN_CHUNK_BYTES);
        let mut bytes = read_at_most(&segment, offset, want)?;
        if let Err(crate::FrameError::ShortPayload) = check_frame(&bytes) {
            // A frame larger than a chunk: read it whole.
            let payload_bytes = bytes.get(..4).map(u32_at).unwrap_or(0) as u64;
            want = (payload_bytes + FRAME_OVERHEAD_BYTES as u64).min(available);
            bytes = read_at_most(&segment, offset, want)?;
        }
        self.chunk = Chunk { segment: Some(Arc::clone(&segment)), offset, bytes };
        match self.chunk.frame_at(&segment, offset) {
            Some(frame) => {
                self.next = frame.next_position;
                Ok(Some(frame))
            }
            None => {
                let error = check_frame(&self.chunk.bytes)
                    .err()
                    .map_or("frame runs past the committed end".to_string(), |e| e.to_string());
                Err(corrupt(&segment, offset, error))
            }
        }
    }
}

impl Iterator for ForwardScan {
    type Item = Result<Frame, LogError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// An iterator over frames from newest to oldest, reading in chunks.
pub struct BackwardScan {
    reader: LogReader,
    before: u64,
    chunk: Chunk,
}

impl BackwardScan {
    pub fn next_frame(&mut self) -> Result<Option<Frame>, LogError> {
        loop {
            if self.before == 0 {
                return Ok(None);
            }
            let Some(segment) = self.reader.segments.containing(self.before - 1) else {
                return Ok(None);
            };
            let end_offset = segment.boundary_offset(self.before);
            if end_offset <= SEGMENT_HEADER_BYTES {
                // Start of this segment's frames: continue at the end of the previous one.
                self.before = segment.base;
                continue;
            }
            if let Some(frame) = self.chunk.frame_ending_at(&segment, end_offset) {
                self.before = frame.position;
                return Ok(Some(frame));
            }
            let chunk_offset = end_offset.saturating_sub(SCAN_CHUNK_BYTES).max(SEGMENT_HEADER_BYTES);
            self.chunk = Chunk {
                segment: Some(Arc::clone(&segment)),
                offset: chunk_offset,
                bytes: read_at_most(&segment, chunk_offset, end_offset - chunk_offset)?,
            };
            if self.chunk.frame_ending_at(&segment, end_offset).is_none() {
                // A frame larger than the chunk: read it whole from its trailer.
                let trailer =
                    read_at_most(&segment, end_offset - FRAME_TRAILER_BYTES as u64, FRAME_TRAILER_BYTES as u64)?;
                let frame_bytes = u64::from(u32_at(&trailer)) + FRAME_OVERHEAD_BYTES as u64;
                let frame_offset = end_offset
                    .checked_sub(frame_bytes)
                    .filter(|offset| *offset >= SEGMENT_HEADER_BYTES)
                    .ok_or_else(|| corrupt(&segment, end_offset, "trailer length points before the segment"))?;
                self.chunk = Chunk {
                    segment: Some(Arc::clone(&segment)),
                    offset: frame_offset,
                    bytes: read_at_most(&segment, frame_offset, frame_bytes)?,
                };
            }
            let frame = self
                .chunk
                .frame_ending_at(&segment, end_offset)
                .ok_or_else(|| corrupt(&segment, end_offset, "no valid frame ends here"))?;
            self.before = frame.position;
            return Ok(Some(frame));
        }
    }
}

impl Iterator for BackwardScan {
    type Item = Result<Frame, LogError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

fn frame_from(segment: &Segment, offset: u64, bytes: &Bytes, info: crate::format::FrameInfo) -> Frame {
    Frame {
        position: segment.position_at(offset),
        ends_transaction: info.ends_transaction(),
        payload: bytes.slice(FRAME_HEADER_BYTES..info.frame_bytes() - FRAME_TRAILER_BYTES),
        next_position: segment.position_at(offset + info.frame_bytes() as u64),
    }
}

/// Reads up to `length` bytes at `offset`; fewer only at the end of the file.
pub(crate) fn read_at_most(segment: &Segment, offset: u64, length: u64) -> Result<Bytes, LogError> {
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    let mut buffer = BytesMut::zeroed(length);
    let mut filled = 0;
    while filled < length {
        let target = buffer.get_mut(filled..).unwrap_or_default();
        match segment.file.read_at(target, offset + filled as u64) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(LogError::Io { op: "read", path: segment.path.clone(), source: error });
            }
        }
    }
    buffer.truncate(filled);
    Ok(buffer.freeze())
}

fn corrupt(segment: &Segment, offset: u64, reason: impl ToString) -> LogError {
    LogError::Corrupt { segment: segment.path.clone(), offset, reason: reason.to_string() }
}
