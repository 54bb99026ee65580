//! A reader over a log directory that no writer holds, opened without
//! recovery: nothing is cut, created or removed, so that a check can look
//! at the log exactly as it is on disk, damage included.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::compact::load_compacted_layout;
use crate::format::{COMPACTED_FORMAT_VERSION, SEGMENT_HEADER_BYTES, decode_segment_header};
use crate::reader::read_at_most;
use crate::segment::{Layout, Segment, SegmentMap, list_segments};
use crate::{LogError, LogReader};

/// Opens every segment in `dir` for reading and returns the reader and the
/// end of the files. A segment whose header or position table is damaged is
/// read as a plain one: reads there fail the checksum and report it, which
/// is what a check wants to see.
pub fn open_read_only(dir: &Path) -> Result<(LogReader, u64), LogError> {
    let segments = Arc::new(SegmentMap::default());
    let mut end = 0;
    for (base, path) in list_segments(dir)? {
        let file = File::open(&path).map_err(LogError::io("open", &path))?;
        let file_bytes = file.metadata().map_err(LogError::io("stat", &path))?.len();
        let mut segment = Segment::plain(base, path, file);
        let header = read_at_most(&segment, 0, SEGMENT_HEADER_BYTES)?;
        if matches!(decode_segment_header(&header), Ok((_, COMPACTED_FORMAT_VERSION)))
            && let Ok(layout) = load_compacted_layout(&segment)
        {
            segment.layout = Layout::Compacted(layout);
        }
        end = segment.end_position().unwrap_or(base + file_bytes);
        segments.insert(Arc::new(segment));
    }
    Ok((LogReader::new(segments), end))
}
