use crate::format::{FLAG_ENDS_TRANSACTION, FRAME_HEADER_BYTES, FRAME_PAYLOAD_MAX_BYTES};

/// Frames encoded in memory, waiting for one `write` + `fdatasync`.
///
/// Payloads are encoded straight into the batch buffer (no copy). Offsets are
/// relative to the batch start; the writer turns them into positions once it
/// knows where the batch lands.
#[derive(Default)]
pub struct FrameBatch {
    bytes: Vec<u8>,
    frames: usize,
    open_transaction: bool,
    last_frame: Option<usize>,
}

/// A point a batch can be rolled back to.
#[derive(Clone, Copy, Debug)]
pub struct BatchMark {
    bytes: usize,
    frames: usize,
    open_transaction: bool,
    last_frame: Option<usize>,
}

impl FrameBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.frames = 0;
        self.open_transaction = false;
        self.last_frame = None;
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn frame_count(&self) -> usize {
        self.frames
    }

    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// True when the last frame pushed did not end its transaction.
    pub fn has_open_transaction(&self) -> bool {
        self.open_transaction
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn mark(&self) -> BatchMark {
        BatchMark {
            bytes: self.bytes.len(),
            frames: self.frames,
            open_transaction: self.open_transaction,
            last_frame: self.last_frame,
        }
    }

    pub fn rollback(&mut self, mark: BatchMark) {
        self.bytes.truncate(mark.bytes);
        self.frames = mark.frames;
        self.open_transaction = mark.open_transaction;
        self.last_frame = mark.last_frame;
    }

    /// Marks the last frame pushed as the end of its transaction, when it is
    /// not already. Lets a caller push frames before it knows which is last.
    pub fn end_transaction(&mut self) {
        let Some(frame_start) = self.last_frame.filter(|_| self.open_transaction) else {
            return;
        };
        let frame_end = self.bytes.len() - crate::format::FRAME_TRAILER_BYTES;
        let Some(frame) = self.bytes.get_mut(frame_start..frame_end) else {
            return;
        };
        let (header, payload) = frame.split_at_mut(FRAME_HEADER_BYTES);
        let (length_and_flags, crc) = header.split_at_mut(8);
        if let Some(flags) = length_and_flags.get_mut(4..8) {
            flags.copy_from_slice(&FLAG_ENDS_TRANSACTION.to_le_bytes());
        }
        let checksum = crc32c::crc32c_append(crc32c::crc32c(length_and_flags), payload);
        crc.copy_from_slice(&checksum.to_le_bytes());
        self.open_transaction = false;
    }

    /// Appends one frame whose payload `encode` writes into the buffer it is
    /// given (after what is already there). Returns the frame's offset within
    /// the batch. A payload that is empty or larger than
    /// [`FRAME_PAYLOAD_MAX_BYTES`] is refused and leaves the batch unchanged.
    pub fn push(
        &mut self,
        ends_transaction: bool,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<usize, PayloadSizeError> {
        let frame_start = self.bytes.len();
        let flags = if ends_transaction { FLAG_ENDS_TRANSACTION } else { 0 };
        self.bytes.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
        encode(&mut self.bytes);
        let payload_bytes = self.bytes.len() - frame_start - FRAME_HEADER_BYTES;
        let length = match u32::try_from(payload_bytes) {
            Ok(length) if payload_bytes > 0 && payload_bytes <= FRAME_PAYLOAD_MAX_BYTES => length,
            _ => {
                self.bytes.truncate(frame_start);
                return Err(PayloadSizeError { payload_bytes });
            }
        };
        let mut length_and_flags = [0u8; 8];
        length_and_flags[..4].copy_from_slice(&length.to_le_bytes());
        length_and_flags[4..].copy_from_slice(&flags.to_le_bytes());
        let payload = self.bytes.get(frame_start + FRAME_HEADER_BYTES..).unwrap_or_default();
        let checksum = crc32c::crc32c_append(crc32c::crc32c(&length_and_flags), payload);
        if let Some(header) = self.bytes.get_mut(frame_start..frame_start + FRAME_HEADER_BYTES) {
            let (first, crc) = header.split_at_mut(8);
            first.copy_from_slice(&length_and_flags);
            crc.copy_from_slice(&checksum.to_le_bytes());
        }
        self.bytes.extend_from_slice(&length.to_le_bytes());
        self.frames += 1;
        self.open_transaction = !ends_transaction;
        self.last_frame = Some(frame_start);
        Ok(frame_start)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame payload of {payload_bytes} bytes is empty or above the maximum")]
pub struct PayloadSizeError {
    pub payload_bytes: usize,
}
