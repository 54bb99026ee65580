//! The stream index: for each stream its id and next revision, and for each
//! event its log position under `(stream id, revision)`. Stored in redb.
//!
//! The index is derived state (IDX-1): everything in it can be rebuilt from
//! the log. It records the log position it reflects (its checkpoint) in the
//! same transaction as the entries, so after a crash the engine replays only
//! the log after that checkpoint.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod error;
mod index;
mod read_only;
mod writeback;

pub use error::IndexError;
pub use index::{Index, IndexSnapshot, IndexUpdate, StreamEntry, TRUNCATE_ALL};
pub use read_only::ReadOnlyIndex;
