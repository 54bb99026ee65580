//! Making a planned batch durable and visible: one write and one `fdatasync`,
//! the index updated (overlapping the sync when the batch is big), then the new
//! end published, every caller answered and the live subscribers fed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use eventfold_index::{IndexSnapshot, IndexUpdate};
use eventfold_log::FrameBatch;
use eventfold_store::{AppendOutcome, CurrentRevision, Position, StorageError, Timestamp};

use super::{Accepted, Planned, Staged, Writer, live};
use crate::caches::WrittenEvent;
use crate::metrics::BatchWritten;

impl Writer {
    /// One metrics update per batch, whatever its size: the hot path pays a
    /// few atomic operations per `fdatasync`, not per event.
    pub(super) fn record_batch(&self, batch: &FrameBatch, appends: usize) {
        let write = self.log.last_write_duration();
        let fsync = self.log.last_sync_duration();
        let written = BatchWritten {
            appends,
            events: batch.frame_count(),
            bytes: batch.len_bytes() as u64,
            flush: write + fsync,
            fsync,
        };
        self.metrics.batch_written(&self.shared.gauges, &written);
        let gauges = &self.shared.gauges;
        gauges.stream_cache_entries.store(self.streams.len() as u64, Ordering::Relaxed);
        gauges.event_id_entries.store(self.recent_ids.len() as u64, Ordering::Relaxed);
    }

    /// Writes the batch durably and indexes it; returns the batch's start and
    /// the index snapshot that shows it, to publish. The index is updated
    /// while the `fdatasync` runs (non-durably, and unseen by readers until
    /// the snapshot is published) when the batch is big enough to gain from
    /// it and the periodic durable index commit is not due: that one waits
    /// for the log (IDX-2). A failure before anything was written refuses
    /// the batch for a while (LOG-9); any failure after the write began
    /// poisons the writer (`health.rs`).
    pub(super) fn write_and_index(
        &mut self,
        batch: &FrameBatch,
        staged: &Staged,
        accepted: &[Accepted],
        next_stream_id: u64,
    ) -> Result<(u64, IndexSnapshot), StorageError> {
        let durable = self.last_index_flush.elapsed() >= self.config.index_flush_interval;
        let batch_bytes = batch.len_bytes() as u64;
        let index = &self.shared.index;
        let update_index = |start: u64, durable: bool| {
            let update = index_update(start, staged, accepted, next_stream_id);
            index.apply(&update, start + batch_bytes, durable).and_then(|()| index.snapshot())
        };
        // Handing the fsync to another thread costs two thread wake-ups
        // (~30 µs on a small machine): worth it only when indexing the batch
        // costs more than that.
        let overlap = !durable && batch.frame_count() >= OVERLAP_MIN_FRAMES;
        let written = if !overlap {
            self.log.write(batch).map(|start| (start, update_index(start, durable)))
        } else {
            self.log.write_with(batch, |start| update_index(start, false))
        };
        let (start, indexed) = match written {
            Ok(written) => written,
            Err(error) => {
                // An overlapped index update may hold this batch, which
                // never became durable: the index must not be flushed.
                self.index_ahead_of_log = self.log.is_poisoned() && overlap;
                return Err(self.log_failed(&error, batch_bytes));
            }
        };
        self.log_succeeded();
        match indexed {
            Ok(snapshot) => {
                if durable {
                    self.last_index_flush = Instant::now();
                    self.shared.gauges.index_checkpoint.store(start + batch_bytes, Ordering::Relaxed);
                }
                self.index_dirty = !durable;
                Ok((start, snapshot))
            }
            Err(error) => Err(self.index_failed(error)),
        }
    }

    pub(super) fn acknowledge(
        &mut self,
        start: u64,
        snapshot: IndexSnapshot,
        staged: Staged,
        accepted: Vec<Accepted>,
        next_stream_id: u64,
        created: Timestamp,
    ) {
        self.next_stream_id = next_stream_id;
        for (name, entry) in staged {
            self.streams.insert(name, entry);
        }
        let mut head = self.shared.head();
        for accepted in &accepted {
            for (request, planned) in accepted.transaction.iter().zip(&accepted.outcomes) {
                let Planned::Write { first_revision, offsets, .. } = planned else {
                    continue;
                };
                for ((index, offset), event) in offsets.iter().enumerate().zip(&request.events) {
                    let position = start + *offset as u64;
                    let revision = first_revision + index as u64;
                    head = head.max(position);
                    self.recent_ids
                        .insert(event.id, WrittenEvent { stream: request.stream.clone(), revision, position });
                }
            }
        }
        #[cfg(test)]
        self.shared.hooks.before_publish();
        self.shared.publish(self.log.end(), head, snapshot);
        // Decided only now: a subscriber counted here gets the batch live,
        // one that registers later reads it from storage, since it reads
        // against the end just published. Decided before the publish, a
        // subscriber registering in between would get it neither way. (Its
        // registration and this count go through the channel's lock, so one
        // of the two sees the other.)
        let live = self.shared.has_live_subscribers().then(|| live::live_batch(start, &accepted, created));
        for accepted in accepted {
            let outcomes = accepted.outcomes.iter().map(|planned| match planned {
                Planned::Done(outcome) => *outcome,
                Planned::Write { first_revision, offsets, .. } => AppendOutcome {
                    current_revision: CurrentRevision::Current(first_revision + offsets.len() as u64 - 1),
                    position: offsets.last().map(|offset| Position(start + *offset as u64)),
                },
            });
            accepted.reply.succeed(outcomes.collect());
        }
        if let Some(batch) = live {
            self.shared.broadcast(Arc::new(batch));
        }
    }
}

/// Batches of at least this many events are indexed while their `fdatasync`
/// runs; smaller ones after it (measured: the hand-off to the sync thread
/// costs more than indexing a few events).
const OVERLAP_MIN_FRAMES: usize = 16;

/// The index entries of a batch written at `start`.
fn index_update(start: u64, staged: &Staged, accepted: &[Accepted], next_stream_id: u64) -> IndexUpdate {
    let mut update = IndexUpdate { next_stream_id, ..IndexUpdate::default() };
    update.streams = staged.iter().map(|(name, entry)| (name.as_str().to_owned(), *entry)).collect();
    for accepted in accepted {
        for planned in &accepted.outcomes {
            if let Planned::Write { stream_id, first_revision, offsets, links } = planned {
                for (index, offset) in offsets.iter().enumerate() {
                    update.events.push((*stream_id, first_revision + index as u64, start + *offset as u64));
                }
                for (link_id, link_revision, offset) in links {
                    update.events.push((*link_id, *link_revision, start + *offset as u64));
                }
            }
        }
    }
    update
}
