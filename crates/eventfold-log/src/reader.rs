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
    /// position inside a segment header (such as 0) moves past the header.
    pub fn first_frame_at_or_after(&self, position: u64) -> u64 {
        let first_base = self.segments.first_base().unwrap_or(0);
        let position = position.max(first_base);
        match self.segments.containing(position) {
            Some(segment) if position - segment.base < SEGMENT_HEADER_BYTES => segment.base + SEGMENT_HEADER_BYTES,
            _ => position,
        }
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
        let offset = position - segment.base;
        let available = end - position;
        let speculative = read_at_most(&segment, offset, available.min(SINGLE_READ_BYTES))?;
        match check_frame(&speculative) {
            Ok(info) => Ok(Some(frame_from(position, &speculative, info))),
            Err(crate::FrameError::ShortPayload) => {
                let payload_bytes = speculative.get(..4).map(u32_at).unwrap_or(0) as u64;
                let frame_bytes = payload_bytes + FRAME_OVERHEAD_BYTES as u64;
                if frame_bytes > available {
                    return Err(corrupt(&segment, offset, "frame runs past the committed end"));
                }
                let whole = read_at_most(&segment, offset, frame_bytes)?;
                let info = check_frame(&whole).map_err(|error| corrupt(&segment, offset, error))?;
                Ok(Some(frame_from(position, &whole, info)))
            }
            Err(error) => Err(corrupt(&segment, offset, error)),
        }
    }

    /// Frames from `from` (a frame position, or a header position such as 0)
    /// up to `end`, in log order.
    pub fn scan_forward(&self, from: u64, end: u64) -> ForwardScan {
        ForwardScan { reader: self.clone(), next: from, end, chunk: Bytes::new(), chunk_start: 0 }
    }

    /// Frames that end at or before `before` (a frame boundary such as the
    /// committed end), newest first.
    pub fn scan_backward(&self, before: u64) -> BackwardScan {
        BackwardScan { reader: self.clone(), before, chunk: Bytes::new(), chunk_start: 0 }
    }

    fn segment_at(&self, position: u64) -> Result<Arc<Segment>, LogError> {
        self.segments.containing(position).ok_or_else(|| LogError::Corrupt {
            segment: "<none>".into(),
            offset: position,
            reason: "no segment holds this position".into(),
        })
    }
}

/// An iterator over frames in log order, reading in chunks.
pub struct ForwardScan {
    reader: LogReader,
    next: u64,
    end: u64,
    chunk: Bytes,
    chunk_start: u64,
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
        if let Some(frame) = self.frame_in_chunk(position) {
            self.next = frame.next_position;
            return Ok(Some(frame));
        }
        let segment = self.reader.segment_at(position)?;
        let offset = position - segment.base;
        let mut want = (self.end - position).min(SCAN_CHUNK_BYTES);
        let mut chunk = read_at_most(&segment, offset, want)?;
        if let Err(crate::FrameError::ShortPayload) = check_frame(&chunk) {
            // A frame larger than a chunk: read it whole.
            let payload_bytes = chunk.get(..4).map(u32_at).unwrap_or(0) as u64;
            want = (payload_bytes + FRAME_OVERHEAD_BYTES as u64).min(self.end - position);
            chunk = read_at_most(&segment, offset, want)?;
        }
        self.chunk = chunk;
        self.chunk_start = position;
        match self.frame_in_chunk(position) {
            Some(frame) => {
                self.next = frame.next_position;
                Ok(Some(frame))
            }
            None => {
                let error = check_frame(&self.chunk)
                    .err()
                    .map_or("frame runs past the committed end".to_string(), |e| e.to_string());
                Err(corrupt(&segment, offset, error))
            }
        }
    }

    fn frame_in_chunk(&self, position: u64) -> Option<Frame> {
        let start = usize::try_from(position.checked_sub(self.chunk_start)?).ok()?;
        let bytes = self.chunk.get(start..)?;
        let info = check_frame(bytes).ok()?;
        let frame_bytes = info.frame_bytes();
        let payload = self.chunk.slice(start + FRAME_HEADER_BYTES..start + frame_bytes - FRAME_TRAILER_BYTES);
        Some(Frame {
            position,
            ends_transaction: info.ends_transaction(),
            payload,
            next_position: position + frame_bytes as u64,
        })
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
    chunk: Bytes,
    chunk_start: u64,
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
            let end_offset = self.before - segment.base;
            if end_offset <= SEGMENT_HEADER_BYTES {
                // Start of this segment's frames: continue at the end of the previous one.
                self.before = segment.base;
                continue;
            }
            if let Some(frame) = self.frame_ending_in_chunk(self.before) {
                self.before = frame.position;
                return Ok(Some(frame));
            }
            let chunk_offset = end_offset.saturating_sub(SCAN_CHUNK_BYTES).max(SEGMENT_HEADER_BYTES);
            self.chunk = read_at_most(&segment, chunk_offset, end_offset - chunk_offset)?;
            self.chunk_start = segment.base + chunk_offset;
            if self.frame_ending_in_chunk(self.before).is_none() {
                // A frame larger than the chunk: read it whole from its trailer.
                let trailer =
                    read_at_most(&segment, end_offset - FRAME_TRAILER_BYTES as u64, FRAME_TRAILER_BYTES as u64)?;
                let frame_bytes = u64::from(u32_at(&trailer)) + FRAME_OVERHEAD_BYTES as u64;
                let frame_offset = end_offset
                    .checked_sub(frame_bytes)
                    .filter(|offset| *offset >= SEGMENT_HEADER_BYTES)
                    .ok_or_else(|| corrupt(&segment, end_offset, "trailer length points before the segment"))?;
                self.chunk = read_at_most(&segment, frame_offset, frame_bytes)?;
                self.chunk_start = segment.base + frame_offset;
            }
            let frame = self
                .frame_ending_in_chunk(self.before)
                .ok_or_else(|| corrupt(&segment, end_offset, "no valid frame ends here"))?;
            self.before = frame.position;
            return Ok(Some(frame));
        }
    }

    fn frame_ending_in_chunk(&self, before: u64) -> Option<Frame> {
        let end = usize::try_from(before.checked_sub(self.chunk_start)?).ok()?;
        let trailer = self.chunk.get(end.checked_sub(FRAME_TRAILER_BYTES)?..end)?;
        let frame_bytes = u32_at(trailer) as usize + FRAME_OVERHEAD_BYTES;
        let start = end.checked_sub(frame_bytes)?;
        let bytes = self.chunk.get(start..end)?;
        let info = check_frame(bytes).ok()?;
        Some(Frame {
            position: self.chunk_start + start as u64,
            ends_transaction: info.ends_transaction(),
            payload: self.chunk.slice(start + FRAME_HEADER_BYTES..end - FRAME_TRAILER_BYTES),
            next_position: before,
        })
    }
}

impl Iterator for BackwardScan {
    type Item = Result<Frame, LogError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

fn frame_from(position: u64, bytes: &Bytes, info: crate::format::FrameInfo) -> Frame {
    Frame {
        position,
        ends_transaction: info.ends_transaction(),
        payload: bytes.slice(FRAME_HEADER_BYTES..info.frame_bytes() - FRAME_TRAILER_BYTES),
        next_position: position + info.frame_bytes() as u64,
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
