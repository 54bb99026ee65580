//! Byte layouts of the segment header and of a frame. Everything is little
//! endian; checksums are CRC32C (Castagnoli). See `docs/format.md`.

use crate::FrameError;

pub const SEGMENT_MAGIC: [u8; 8] = *b"EVFOLDLG";
/// Version of a segment as the writer makes it: frames back to back, so a
/// frame's position is the segment base plus its offset in the file.
pub const FORMAT_VERSION: u32 = 1;
/// Version of a segment rewritten by compaction: the frames that were kept,
/// back to back, then a table of their original positions and a footer.
pub const COMPACTED_FORMAT_VERSION: u32 = 2;

pub const COMPACTED_FOOTER_MAGIC: [u8; 8] = *b"EVFOLDCT";
/// Footer of a compacted segment, its last bytes:
pub const COMPACTED_FOOTER_BYTES: u64 = 8 // magic "EVFOLDCT"
    + 8 // end position: where the original segment ended (the next segment's base)
    + 8 // frame count
    + 4 // crc32c of the position table
    + 4; // crc32c of the 28 bytes before it
const _: () = assert!(COMPACTED_FOOTER_BYTES == 32);
/// One entry of a compacted segment's table: (position, file offset).
pub const COMPACTED_TABLE_ENTRY_BYTES: u64 = 16;

/// Segment header:
pub const SEGMENT_HEADER_BYTES: u64 = 8 // magic "EVFOLDLG"
    + 4 // format version
    + 4 // reserved, zero
    + 8 // base position: global position of the segment's byte 0
    + 4 // reserved, zero
    + 4; // crc32c of the 28 bytes before it
const _: () = assert!(SEGMENT_HEADER_BYTES == 32);

/// Frame header, before the payload:
pub const FRAME_HEADER_BYTES: usize = 4 // payload length
    + 4 // flags
    + 4; // crc32c over length, flags and payload
const _: () = assert!(FRAME_HEADER_BYTES == 12);

/// Frame trailer, after the payload: the payload length again, so that a
/// reader can walk the log backwards.
pub const FRAME_TRAILER_BYTES: usize = 4;
pub const FRAME_OVERHEAD_BYTES: usize = FRAME_HEADER_BYTES + FRAME_TRAILER_BYTES;

/// Largest payload a frame may carry. Bounds what a corrupt length field can
/// make a reader allocate.
pub const FRAME_PAYLOAD_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Flag bit: this frame is the last of its transaction.
pub const FLAG_ENDS_TRANSACTION: u32 = 1;
const FLAGS_KNOWN: u32 = FLAG_ENDS_TRANSACTION;

pub fn encode_segment_header(base: u64) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    encode_versioned_header(base, FORMAT_VERSION)
}

pub fn encode_versioned_header(base: u64, version: u32) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut body = Vec::with_capacity(SEGMENT_HEADER_BYTES as usize);
    body.extend_from_slice(&SEGMENT_MAGIC);
    body.extend_from_slice(&version.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&base.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let mut header = [0u8; SEGMENT_HEADER_BYTES as usize];
    header.copy_from_slice(&body);
    header
}

/// Returns the base position and format version written in a segment header.
pub fn decode_segment_header(header: &[u8]) -> Result<(u64, u32), String> {
    let field = |range: std::ops::Range<usize>| header.get(range).ok_or("segment header is short");
    let magic = field(0..8)?;
    if magic != SEGMENT_MAGIC {
        return Err("bad segment magic".into());
    }
    let stored_crc = u32_at(field(28..32)?);
    if crc32c::crc32c(field(0..28)?) != stored_crc {
        return Err("segment header checksum mismatch".into());
    }
    let version = u32_at(field(8..12)?);
    if version != FORMAT_VERSION && version != COMPACTED_FORMAT_VERSION {
        return Err(format!("unsupported log format version {version}"));
    }
    Ok((u64_at(field(16..24)?), version))
}

/// The decoded footer of a compacted segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactedFooter {
    pub end_position: u64,
    pub frame_count: u64,
    pub table_crc: u32,
}

pub fn encode_compacted_footer(footer: &CompactedFooter) -> [u8; COMPACTED_FOOTER_BYTES as usize] {
    let mut body = Vec::with_capacity(COMPACTED_FOOTER_BYTES as usize);
    body.extend_from_slice(&COMPACTED_FOOTER_MAGIC);
    body.extend_from_slice(&footer.end_position.to_le_bytes());
    body.extend_from_slice(&footer.frame_count.to_le_bytes());
    body.extend_from_slice(&footer.table_crc.to_le_bytes());
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let mut encoded = [0u8; COMPACTED_FOOTER_BYTES as usize];
    encoded.copy_from_slice(&body);
    encoded
}

pub fn decode_compacted_footer(bytes: &[u8]) -> Result<CompactedFooter, String> {
    let field = |range: std::ops::Range<usize>| bytes.get(range).ok_or("compacted segment footer is short");
    if field(0..8)? != COMPACTED_FOOTER_MAGIC {
        return Err("bad compacted segment footer magic".into());
    }
    if crc32c::crc32c(field(0..28)?) != u32_at(field(28..32)?) {
        return Err("compacted segment footer checksum mismatch".into());
    }
    Ok(CompactedFooter {
        end_position: u64_at(field(8..16)?),
        frame_count: u64_at(field(16..24)?),
        table_crc: u32_at(field(24..28)?),
    })
}

/// The decoded header of a frame whose checksum has been verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub payload_bytes: usize,
    pub flags: u32,
}

impl FrameInfo {
    pub fn frame_bytes(&self) -> usize {
        self.payload_bytes + FRAME_OVERHEAD_BYTES
    }

    pub fn ends_transaction(&self) -> bool {
        self.flags & FLAG_ENDS_TRANSACTION != 0
    }
}

/// Checks the frame at the start of `bytes`: every frame in the log is read
/// through here (LOG-3: no byte is served unless its checksum matched).
pub fn check_frame(bytes: &[u8]) -> Result<FrameInfo, FrameError> {
    let header = bytes.get(..FRAME_HEADER_BYTES).ok_or(FrameError::ShortHeader)?;
    let (length_and_flags, crc) = header.split_at(8);
    let (length, flags) = length_and_flags.split_at(4);
    let payload_bytes = u32_at(length) as usize;
    let flags = u32_at(flags);
    if payload_bytes == 0 || payload_bytes > FRAME_PAYLOAD_MAX_BYTES {
        return Err(FrameError::BadLength);
    }
    let frame_bytes = payload_bytes + FRAME_OVERHEAD_BYTES;
    let frame = bytes.get(..frame_bytes).ok_or(FrameError::ShortPayload)?;
    let payload = frame.get(FRAME_HEADER_BYTES..frame_bytes - FRAME_TRAILER_BYTES).ok_or(FrameError::ShortPayload)?;
    let checksum = crc32c::crc32c_append(crc32c::crc32c(length_and_flags), payload);
    if checksum != u32_at(crc) {
        return Err(FrameError::BadChecksum);
    }
    if flags & !FLAGS_KNOWN != 0 {
        return Err(FrameError::BadFlags);
    }
    let trailer = frame.get(frame_bytes - FRAME_TRAILER_BYTES..).ok_or(FrameError::ShortPayload)?;
    if u32_at(trailer) as usize != payload_bytes {
        return Err(FrameError::BadTrailer);
    }
    Ok(FrameInfo { payload_bytes, flags })
}

/// Reads a little-endian u32 from the first four bytes; callers pass slices
/// of at least that length.
pub fn u32_at(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    for (target, source) in word.iter_mut().zip(bytes) {
        *target = *source;
    }
    u32::from_le_bytes(word)
}

pub fn u64_at(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    for (target, source) in word.iter_mut().zip(bytes) {
        *target = *source;
    }
    u64::from_le_bytes(word)
}
