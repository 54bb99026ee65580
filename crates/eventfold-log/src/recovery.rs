//! Opening the log: find the segments, check their headers, and cut a torn
//! tail back to the last whole transaction. The cases and their actions are
//! the recovery table in `docs/format.md`.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;

use crate::compact::load_compacted_layout;
use crate::format::{
    COMPACTED_FORMAT_VERSION, FRAME_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES, check_frame, decode_segment_header, u32_at,
};
use crate::preallocate::Preallocator;
use crate::reader::read_at_most;
use crate::segment::{
    Layout, Segment, SegmentMap, create_segment, list_segments, remove_temporary_files, sync_directory,
};
use crate::sync::Syncer;
use crate::synced_end::SyncedEnd;
use crate::{FrameError, LogError, LogReader, LogWriter};

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// A segment is sealed once the next batch would take it past this size.
    pub segment_bytes_max: u64,
    /// The most bytes one unacknowledged write can leave behind: the writer's
    /// batch limit plus one transaction. Invalid bytes at the tail beyond this
    /// cannot be a torn write, so they are reported as corruption instead of
    /// being cut (LOG-6).
    pub torn_tail_bytes_max: u64,
    /// Zeros the writer keeps written ahead of the data in the active
    /// segment (0: none). A tail of zeros right after a transaction's end is
    /// this preallocation, not a torn write.
    pub preallocate_bytes: u64,
}

impl LogConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes_max: 256 * 1024 * 1024,
            torn_tail_bytes_max: 64 * 1024 * 1024,
            preallocate_bytes: 4 * 1024 * 1024,
        }
    }
}

/// What opening the log found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Global position of the end of the log after recovery.
    pub end: u64,
    /// Bytes cut from the tail: a torn write or an unfinished transaction
    /// (preallocated zeros are cut too, but are not counted).
    pub truncated_bytes: u64,
    /// Why the tail was cut, when it was.
    pub tail_error: Option<FrameError>,
    pub segment_count: usize,
    /// Where the tail scan started: frames before it were not re-verified.
    pub scanned_from: u64,
    /// The end the synced-end record claimed durable, when it held one:
    /// nothing below it was cut (LOG-10).
    pub synced_end: Option<u64>,
}

/// Opens (or creates) the log in `config.dir` and recovers its tail.
///
/// Every frame of the last segment is checked, so opening reads at most one
/// segment whatever the size of the log (earlier segments are sealed and
/// were checked when they were last; `eventfold admin verify` checks them
/// all).
///
/// Only bytes past the durable end may be cut as a torn tail (LOG-10): an
/// invalid frame below it is damage to acknowledged data, and opening fails
/// with [`LogError::Corrupt`] naming the file and offset. The durable end is
/// the larger of the synced-end record and `known_durable`, a position the
/// caller knows to be durable (the index's checkpoint, IDX-2).
pub fn open(config: &LogConfig, known_durable: u64) -> Result<(LogWriter, LogReader, RecoveryReport), LogError> {
    fs::create_dir_all(&config.dir).map_err(LogError::io("create directory", &config.dir))?;
    remove_temporary_files(&config.dir)?;
    let (mut synced_end, claimed_end) = SyncedEnd::open(&config.dir)?;
    let mut found = list_segments(&config.dir)?;
    if found.is_empty() {
        let path = create_segment(&config.dir, 0)?;
        found.push((0, path));
    }

    let segments = Arc::new(SegmentMap::default());
    let mut expected_base = None;
    for (base, path) in &found {
        let file = File::open(path).map_err(LogError::io("open", path))?;
        let mut segment = Segment::plain(*base, path.clone(), file);
        let header = read_at_most(&segment, 0, SEGMENT_HEADER_BYTES)?;
        let (header_base, version) = decode_segment_header(&header).map_err(|reason| LogError::Corrupt {
            segment: path.clone(),
            offset: 0,
            reason,
        })?;
        if header_base != *base {
            return Err(corrupt(path, 0, format!("header says base {header_base}, file name says {base}")));
        }
        if let Some(expected) = expected_base
            && expected != *base
        {
            return Err(corrupt(path, 0, format!("segment starts at {base}, previous one ends at {expected}")));
        }
        if version == COMPACTED_FORMAT_VERSION {
            segment.layout = Layout::Compacted(load_compacted_layout(&segment)?);
        }
        let end = match segment.end_position() {
            Some(end) => end,
            None => base + segment.file.metadata().map_err(LogError::io("stat", path))?.len(),
        };
        expected_base = Some(end);
        segments.insert(Arc::new(segment));
    }

    let (last_base, last_path) = found.last().cloned().ok_or_else(|| corrupt(&config.dir, 0, "no segment"))?;
    let last = segments.containing(last_base).ok_or_else(|| corrupt(&last_path, 0, "segment vanished"))?;
    if last.is_compacted() {
        // Compaction only rewrites sealed segments; the writer's is never one.
        return Err(corrupt(&last_path, 0, "the last segment is a compacted one"));
    }
    let file_length = last.file.metadata().map_err(LogError::io("stat", &last_path))?.len();
    let scan_start = SEGMENT_HEADER_BYTES;
    // The part of the last segment that must not be cut (none when the
    // durable end lies in an earlier segment). A checkpoint past the end of
    // the file says nothing of this log: the engine rebuilds that index.
    let checkpoint = known_durable.saturating_sub(last_base);
    let checkpoint = if checkpoint <= file_length { checkpoint } else { 0 };
    let durable = claimed_end.map_or(0, |end| end.saturating_sub(last_base)).max(checkpoint);
    if durable > file_length {
        return Err(corrupt(
            &last_path,
            file_length,
            format!(
                "the log ends at {} but was synced up to {}: acknowledged data is missing; {REPAIR_HINT}",
                last_base + file_length,
                last_base + durable
            ),
        ));
    }
    let limits = TailLimits { durable, torn_tail_bytes_max: config.torn_tail_bytes_max };
    let tail = scan_tail(&last, scan_start, file_length, &limits)?;

    let append = OpenOptions::new().write(true).open(&last_path).map_err(LogError::io("open", &last_path))?;
    if tail.keep < file_length {
        // Cut the tail (LOG-6), and make the cut durable before anything new
        // is written after it.
        append.set_len(tail.keep).map_err(LogError::io("truncate", &last_path))?;
        append.sync_all().map_err(LogError::io("fsync", &last_path))?;
        sync_directory(&config.dir)?;
        if tail.error.is_some() {
            tracing::warn!(
                segment = %last_path.display(),
                cut_bytes = file_length - tail.keep,
                reason = ?tail.error,
                "truncated a torn log tail"
            );
        }
    } else {
        // What is kept is served from now on, so it must be durable first:
        // a crash of the previous process may have left it written but not
        // synced.
        append.sync_data().map_err(LogError::io("fdatasync", &last_path))?;
    }
    synced_end.record(last_base + tail.keep);
    let report = RecoveryReport {
        end: last_base + tail.keep,
        truncated_bytes: if tail.error.is_some() { file_length - tail.keep } else { 0 },
        tail_error: tail.error,
        segment_count: segments.len(),
        scanned_from: last_base + scan_start,
        synced_end: claimed_end,
    };
    let writer = LogWriter {
        dir: config.dir.clone(),
        segments: Arc::clone(&segments),
        active: Arc::new(append),
        active_path: last_path,
        active_base: last_base,
        active_len: tail.keep,
        allocated: tail.keep,
        segment_bytes_max: config.segment_bytes_max,
        preallocate_bytes: config.preallocate_bytes,
        poisoned: false,
        synced_end,
        syncer: Syncer::start().map_err(LogError::io("start the sync thread", &config.dir))?,
        preallocator: Preallocator::start().map_err(LogError::io("start the preallocation thread", &config.dir))?,
        last_write: std::time::Duration::ZERO,
        last_sync: std::time::Duration::ZERO,
    };
    Ok((writer, LogReader::new(segments), report))
}

struct TailScan {
    /// Bytes of the segment to keep: the end of its last whole transaction.
    keep: u64,
    error: Option<FrameError>,
}

/// What the tail scan may cut.
struct TailLimits {
    /// Offset in the segment below which every byte was synced: nothing
    /// below it is a torn write (LOG-10).
    durable: u64,
    /// The most bytes one write can tear (LOG-6).
    torn_tail_bytes_max: u64,
}

/// Where a refusal to open points the operator.
const REPAIR_HINT: &str = "`eventfold admin verify` lists the damage and `eventfold admin repair` moves it aside";

fn scan_tail(segment: &Segment, start: u64, file_length: u64, limits: &TailLimits) -> Result<TailScan, LogError> {
    const CHUNK_BYTES: u64 = 1024 * 1024;
    let mut offset = start;
    let mut transaction_end = start;
    let mut chunk = bytes::Bytes::new();
    let mut chunk_offset = start;
    while offset < file_length {
        let bytes = usize::try_from(offset - chunk_offset).ok().and_then(|at| chunk.get(at..)).unwrap_or_default();
        match check_frame(bytes) {
            Ok(info) => {
                offset += info.frame_bytes() as u64;
                if info.ends_transaction() {
                    transaction_end = offset;
                }
            }
            Err(FrameError::ShortHeader | FrameError::ShortPayload)
                if chunk_offset + (chunk.len() as u64) < file_length =>
            {
                // The chunk ends before the file does: read on from this frame,
                // whole even when it is larger than a chunk.
                let announced = bytes.get(..4).map_or(0, |length| u64::from(u32_at(length)));
                let want = CHUNK_BYTES.max(announced + FRAME_OVERHEAD_BYTES as u64).min(file_length - offset);
                chunk = read_at_most(segment, offset, want)?;
                chunk_offset = offset;
            }
            Err(error) => {
                if offset == transaction_end
                    && offset >= limits.durable
                    && zeros_to_the_end(segment, offset, file_length)?
                {
                    // The writer's preallocation: the log simply ends here.
                    return Ok(TailScan { keep: transaction_end, error: None });
                }
                return cut(segment, transaction_end, offset, file_length, error, limits);
            }
        }
    }
    if transaction_end < file_length {
        // Whole frames, but the transaction's last frame never made it.
        return cut(segment, transaction_end, offset, file_length, FrameError::ShortPayload, limits);
    }
    Ok(TailScan { keep: transaction_end, error: None })
}

/// True when every byte of the segment from `offset` on is zero.
fn zeros_to_the_end(segment: &Segment, mut offset: u64, file_length: u64) -> Result<bool, LogError> {
    const CHUNK_BYTES: u64 = 1024 * 1024;
    while offset < file_length {
        let chunk = read_at_most(segment, offset, CHUNK_BYTES.min(file_length - offset))?;
        if chunk.is_empty() {
            break;
        }
        if chunk.iter().any(|byte| *byte != 0) {
            return Ok(false);
        }
        offset += chunk.len() as u64;
    }
    Ok(true)
}

fn cut(
    segment: &Segment,
    transaction_end: u64,
    bad_offset: u64,
    file_length: u64,
    error: FrameError,
    limits: &TailLimits,
) -> Result<TailScan, LogError> {
    if transaction_end < limits.durable {
        // Not a torn write: these bytes were synced and acknowledged.
        return Err(corrupt(
            &segment.path,
            bad_offset,
            format!(
                "{error} below the synced end of the log (offset {}): acknowledged data is damaged; {REPAIR_HINT}",
                limits.durable
            ),
        ));
    }
    if file_length - transaction_end > limits.torn_tail_bytes_max {
        return Err(corrupt(
            &segment.path,
            bad_offset,
            format!(
                "{error} with {} bytes after it: more than one write can tear, refusing to cut",
                file_length - bad_offset
            ),
        ));
    }
    Ok(TailScan { keep: transaction_end, error: Some(error) })
}

fn corrupt(path: &std::path::Path, offset: u64, reason: impl Into<String>) -> LogError {
    LogError::Corrupt { segment: path.to_path_buf(), offset, reason: reason.into() }
}
