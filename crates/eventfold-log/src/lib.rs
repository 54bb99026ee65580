//! The append-only log: the single source of truth of an eventfold database.
//!
//! The log is a directory of segment files. Each segment starts with a
//! [`SEGMENT_HEADER_BYTES`]-byte header, then holds frames back to back. A
//! frame is `length | flags | crc32c | payload | length`; the layout and the
//! invariants (`LOG-n`) are in `docs/format.md`.
//!
//! Positions are global byte offsets: a segment's base position is where the
//! previous one ended, so a frame's position is `segment base + offset in
//! file`. Position 0 is always inside the first segment's header, never a
//! frame.
//!
//! The log knows nothing of events: payloads are opaque bytes. What it does
//! know is transactions: the last frame of each transaction carries a flag, and
//! recovery never keeps a transaction whose last frame is missing.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod batch;
mod boundary;
mod compact;
mod compacted_writer;
mod error;
pub mod faults;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod preallocate;
mod read_only;
mod reader;
mod recovery;
mod salvage;
mod segment;
mod segment_scan;
mod sync;
mod synced_end;
mod verify;
mod writer;

pub use batch::{BatchMark, FrameBatch, PayloadSizeError};
pub use compact::{CompactionOutcome, CompactionPolicy, SealedSegment};
pub use error::{FrameError, LogError};
pub use format::{
    COMPACTED_FORMAT_VERSION, FORMAT_VERSION, FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, FRAME_PAYLOAD_MAX_BYTES,
    FRAME_TRAILER_BYTES, SEGMENT_HEADER_BYTES, decode_segment_header,
};
pub use read_only::open_read_only;
pub use reader::{BackwardScan, ForwardScan, Frame, LogReader};
pub use recovery::{LogConfig, RecoveryReport, open};
pub use salvage::{DAMAGED_FOLDER, SalvageReport, SalvagedSegment, salvage_log};
pub use segment::list_segments;
pub use synced_end::{SYNCED_END_FILE, reset_synced_end};
pub use verify::{CheckedFrame, Damage, LogCheck, Progress, SegmentCheck, Visit, verify_log};
pub use writer::LogWriter;

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod verify_tests;
