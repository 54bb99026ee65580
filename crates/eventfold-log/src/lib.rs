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
mod error;
pub mod faults;
mod format;
#[doc(hidden)]
pub mod fuzzing;
mod preallocate;
mod reader;
mod recovery;
mod segment;
mod sync;
mod synced_end;
mod writer;

pub use batch::{BatchMark, FrameBatch, PayloadSizeError};
pub use compact::{CompactionOutcome, CompactionPolicy, SealedSegment};
pub use error::{FrameError, LogError};
pub use format::{
    COMPACTED_FORMAT_VERSION, FORMAT_VERSION, FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, FRAME_PAYLOAD_MAX_BYTES,
    FRAME_TRAILER_BYTES, SEGMENT_HEADER_BYTES, decode_segment_header,
};
pub use reader::{BackwardScan, ForwardScan, Frame, LogReader};
pub use recovery::{LogConfig, RecoveryReport, open};
pub use segment::list_segments;
pub use synced_end::{SYNCED_END_FILE, reset_synced_end};
pub use writer::LogWriter;

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
