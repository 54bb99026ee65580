//! The table and footer at the end of a compacted segment: any bytes either
//! decode or are refused, never a panic; a table that decodes is ordered,
//! within the file, and encodes back to the same bytes.
#![no_main]

use crc32c::crc32c;
use eventfold_log::SEGMENT_HEADER_BYTES;
use eventfold_log::fuzzing::{
    COMPACTED_FOOTER_BYTES, COMPACTED_TABLE_ENTRY_BYTES, CompactedFooter, decode_compacted_footer,
    decode_compacted_table, encode_compacted_footer,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the base and whether the checksums are fixed up
    // first: without that, almost no mutation gets past the checksums to
    // the checks behind them.
    let Some((&mode, file)) = data.split_first() else { return };
    let base = u64::from(mode >> 1) * 4096;
    let mut file = file.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut file);
    }
    let tail = file.len().saturating_sub(COMPACTED_FOOTER_BYTES as usize);
    if let Ok(footer) = decode_compacted_footer(&file[tail..]) {
        assert_eq!(&encode_compacted_footer(&footer)[..], &file[tail..], "a checked footer re-encodes to itself");
    }
    let Ok(table) = decode_compacted_table(&file, base) else { return };
    let entries = table.positions.len();
    assert_eq!(entries, table.offsets.len());
    assert!(table.frames_end >= SEGMENT_HEADER_BYTES);
    assert_eq!(
        table.frames_end + entries as u64 * COMPACTED_TABLE_ENTRY_BYTES + COMPACTED_FOOTER_BYTES,
        file.len() as u64
    );
    assert!(table.positions.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(table.offsets.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(
        table
            .positions
            .iter()
            .all(|position| *position >= base + SEGMENT_HEADER_BYTES && *position < table.end_position)
    );
    assert!(table.offsets.iter().all(|offset| *offset >= SEGMENT_HEADER_BYTES && *offset < table.frames_end));
    // Encoding the decoded table gives back the file's tail.
    let mut encoded = Vec::new();
    for (position, offset) in table.positions.iter().zip(&table.offsets) {
        encoded.extend_from_slice(&position.to_le_bytes());
        encoded.extend_from_slice(&offset.to_le_bytes());
    }
    let footer =
        CompactedFooter { end_position: table.end_position, frame_count: entries as u64, table_crc: crc32c(&encoded) };
    encoded.extend_from_slice(&encode_compacted_footer(&footer));
    assert_eq!(&file[table.frames_end as usize..], &encoded[..]);
});

/// Rewrites the footer's two checksums to match the bytes they cover, taking
/// the table to be as long as the footer's frame count says when it fits.
fn fix_checksums(file: &mut [u8]) {
    let Some(footer_offset) = file.len().checked_sub(COMPACTED_FOOTER_BYTES as usize) else { return };
    let count = u64::from_le_bytes(file[footer_offset + 16..footer_offset + 24].try_into().unwrap_or_default());
    let table_bytes = count.saturating_mul(COMPACTED_TABLE_ENTRY_BYTES);
    if let Some(table_start) = (footer_offset as u64).checked_sub(table_bytes) {
        let crc = crc32c(&file[table_start as usize..footer_offset]);
        file[footer_offset + 24..footer_offset + 28].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c(&file[footer_offset..footer_offset + 28]);
    file[footer_offset + 28..footer_offset + 32].copy_from_slice(&crc.to_le_bytes());
}
