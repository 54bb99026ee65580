//! Entry points for the fuzz targets in `fuzz/`: the byte-level decoders of
//! segment headers, frames and compacted-segment tables, which are otherwise
//! private to this crate. Not part of the crate's API.

use crate::FrameBatch;
use crate::compact::{compacted_footer_offset, decode_position_table, position_table_bytes};
pub use crate::format::{
    COMPACTED_FOOTER_BYTES, COMPACTED_FORMAT_VERSION, COMPACTED_TABLE_ENTRY_BYTES, CompactedFooter, FrameInfo,
    check_frame, decode_compacted_footer, decode_segment_header, encode_compacted_footer, encode_versioned_header,
};

/// The bytes a batch would write to the log.
pub fn batch_bytes(batch: &FrameBatch) -> &[u8] {
    batch.as_bytes()
}

/// The frames' table of a compacted segment, as decoded from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedTable {
    pub end_position: u64,
    pub positions: Vec<u64>,
    pub offsets: Vec<u64>,
    pub frames_end: u64,
}

/// Decodes the footer and position table at the end of `file`, a whole
/// compacted segment with base `base`, as opening the log does from disk.
pub fn decode_compacted_table(file: &[u8], base: u64) -> Result<CompactedTable, String> {
    let footer_offset =
        compacted_footer_offset(file.len() as u64).ok_or("compacted segment is shorter than its header and footer")?;
    let footer_bytes = file.get(footer_offset as usize..).ok_or("footer outside the file")?;
    let footer = decode_compacted_footer(footer_bytes)?;
    let table_bytes = position_table_bytes(&footer, footer_offset).ok_or("position table larger than the file")?;
    let frames_end = footer_offset - table_bytes;
    let table = file.get(frames_end as usize..footer_offset as usize).ok_or("position table outside the file")?;
    if footer.end_position <= base {
        return Err("end position before the base".into());
    }
    let layout = decode_position_table(table, &footer, base, frames_end)?;
    Ok(CompactedTable {
        end_position: layout.end_position,
        positions: layout.positions,
        offsets: layout.offsets,
        frames_end: layout.frames_end,
    })
}
