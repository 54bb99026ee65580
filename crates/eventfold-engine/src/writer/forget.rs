//! Deleting the index entries of events a scavenge removed from the log.
//!
//! The writer is the only one that writes the index, so a scavenge sends
//! the entries it found here, and the writer deletes them between two
//! batches. What it deletes only ever pointed at positions that hold no frame
//! any more: reads already skipped them, so no answer changes (IDX-3).

use std::time::Instant;

use eventfold_store::{StorageError, StorageErrorKind};

use super::Writer;

impl Writer {
    /// Deletes those of `entries` (stream id, revision, position) whose
    /// position compaction removed, and publishes the index without them.
    /// Returns how many it deleted.
    pub(super) fn forget_index_entries(&mut self, entries: &[(u64, u64, u64)]) -> Result<u64, StorageError> {
        // A writer that refuses writes, or whose index holds a batch the log
        // could not make durable, is left alone: its next snapshot must not
        // be published from here, and the entries keep until a later
        // scavenge.
        if let Some(refusal) = self.health.refusal(Instant::now()) {
            return Err(refusal.clone());
        }
        if self.index_ahead_of_log {
            return Err(StorageError::new(StorageErrorKind::Unavailable, "the index is ahead of the log"));
        }
        // Checked again here, where nothing else changes the index: an entry
        // of a frame the log still holds must never go, whatever the caller
        // sent. Positions are never reused, so a removed one stays removed.
        let (removed, held): (Vec<_>, Vec<_>) =
            entries.iter().copied().partition(|(_, _, position)| self.shared.reader.was_removed(*position));
        if let Some((stream_id, revision, position)) = held.first() {
            tracing::error!(
                stream_id,
                revision,
                position,
                count = held.len(),
                "asked to forget index entries of events the log still holds; kept them"
            );
        }
        if removed.is_empty() {
            return Ok(0);
        }
        // A failure here does not stop writes: if the index is unusable the
        // next batch finds out, and stale entries cost only a later retry.
        let index_error = |error: eventfold_index::IndexError| {
            StorageError::new(StorageErrorKind::Io, format!("index: forgetting scavenged entries: {error}"))
        };
        let forgotten = self.shared.index.forget_events(&removed).map_err(index_error)?;
        let snapshot = self.shared.index.snapshot().map_err(index_error)?;
        self.shared.republish(snapshot);
        // Made durable with the next periodic flush, idle or not.
        self.index_dirty = true;
        Ok(forgotten)
    }
}
