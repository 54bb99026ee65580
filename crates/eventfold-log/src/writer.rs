use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::format::SEGMENT_HEADER_BYTES;
use crate::preallocate::{self, Job, Outcome, Preallocator};
use crate::segment::{NewSegment, Segment, SegmentMap};
use crate::sync::Syncer;
use crate::synced_end::SyncedEnd;
use crate::{FrameBatch, LogError};

/// The only writer of the log. It owns the active segment's append handle;
/// the engine runs it on one thread, which is what makes group commit work.
pub struct LogWriter {
    pub(crate) dir: PathBuf,
    pub(crate) segments: Arc<SegmentMap>,
    pub(crate) active: Arc<File>,
    pub(crate) active_path: PathBuf,
    pub(crate) active_base: u64,
    /// Bytes in the active segment that are durable.
    pub(crate) active_len: u64,
    /// Length of the active segment's file: zeros past `active_len`, written
    /// and synced ahead of the data (see `preallocate`). A region past it may
    /// be being filled by the preallocation thread; nothing writes there
    /// until that is done.
    pub(crate) allocated: u64,
    pub(crate) segment_bytes_max: u64,
    pub(crate) preallocate_bytes: u64,
    pub(crate) poisoned: bool,
    /// Where the end is recorded after each `fdatasync` (LOG-10).
    pub(crate) synced_end: SyncedEnd,
    pub(crate) syncer: Syncer,
    pub(crate) preallocator: Preallocator,
    /// How long the last batch's `write` (with any roll or preallocation
    /// wait before it) and its `fdatasync` took, for the engine's metrics.
    pub(crate) last_write: Duration,
    pub(crate) last_sync: Duration,
}

impl LogWriter {
    /// Global position one past the last durable byte: where the next frame goes.
    pub fn end(&self) -> u64 {
        self.active_base + self.active_len
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// How long the `fdatasync` of the last batch written took (zero before
    /// the first). The log keeps no metrics itself; the engine records this.
    pub fn last_sync_duration(&self) -> Duration {
        self.last_sync
    }

    /// How long the `write` of the last batch written took, with whatever
    /// roll or wait for preallocated space came before it.
    pub fn last_write_duration(&self) -> Duration {
        self.last_write
    }

    /// Writes `batch` with one `write` and one `fdatasync`, and returns the
    /// global position of its first byte: frame positions are that plus the
    /// offsets `FrameBatch::push` returned. When this returns `Ok`, every
    /// frame of the batch is durable (LOG-2).
    ///
    /// A failed write is undone by truncating back, so the log stays as it
    /// was and a later batch may succeed (a full disk can be cleared). A
    /// failed fsync poisons the writer (LOG-5).
    pub fn write(&mut self, batch: &FrameBatch) -> Result<u64, LogError> {
        let start = self.write_unsynced(batch)?;
        let began = Instant::now();
        let synced = self.active.sync_data();
        self.last_sync = began.elapsed();
        self.finish(batch, synced)?;
        Ok(start)
    }

    /// As [`Self::write`], running `while_syncing(start)` on this thread while
    /// another thread runs the `fdatasync`: the batch's other work overlaps
    /// the disk's. Whatever `while_syncing` does must stay invisible until
    /// this returns `Ok`, since the batch is not durable before.
    pub fn write_with<R>(
        &mut self,
        batch: &FrameBatch,
        while_syncing: impl FnOnce(u64) -> R,
    ) -> Result<(u64, R), LogError> {
        let start = self.write_unsynced(batch)?;
        let overlapped = self.syncer.begin(Arc::clone(&self.active));
        let result = while_syncing(start);
        let (synced, sync_duration) = if overlapped {
            self.syncer.wait()
        } else {
            let began = Instant::now();
            (self.active.sync_data(), began.elapsed())
        };
        self.last_sync = sync_duration;
        self.finish(batch, synced)?;
        Ok((start, result))
    }

    /// Rolls and preallocates when due, then writes the batch at the end;
    /// returns its start. Nothing is durable yet.
    fn write_unsynced(&mut self, batch: &FrameBatch) -> Result<u64, LogError> {
        let began = Instant::now();
        let start = self.write_unsynced_untimed(batch)?;
        self.last_write = began.elapsed();
        Ok(start)
    }

    fn write_unsynced_untimed(&mut self, batch: &FrameBatch) -> Result<u64, LogError> {
        debug_assert!(!batch.has_open_transaction(), "a batch must end on a transaction boundary");
        self.prepare(batch.len_bytes() as u64)?;
        if let Err(error) = self.active.write_all_at(batch.as_bytes(), self.active_len) {
            // Cut whatever part landed, so that no stale bytes ever lie
            // between the end of the log and the zeros after it; a running
            // preallocation must not write its zeros after the cut.
            self.settle_preallocation()?;
            let undone = self.active.set_len(self.active_len).is_ok();
            self.allocated = self.active_len;
            if !undone {
                self.poisoned = true;
            }
            return Err(LogError::Io { op: "write", path: self.active_path.clone(), source: error });
        }
        Ok(self.end())
    }

    /// Makes room for a batch of `batch_bytes`: rolls to a new segment and
    /// preallocates, when due. The writer calls it before every write; the
    /// engine also calls it alone, to find out whether a resource that was
    /// missing (space, file descriptors) is back.
    ///
    /// A failure here happened before any byte of a batch was written and
    /// left the log as it was (LOG-9): the writer stays usable and the same
    /// call may succeed later. Only a failed fsync poisons it (LOG-5).
    pub fn prepare(&mut self, batch_bytes: u64) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        if let Some(outcome) = self.preallocator.poll() {
            self.take_preallocation(outcome)?;
        }
        if self.active_len > SEGMENT_HEADER_BYTES && self.active_len + batch_bytes > self.segment_bytes_max {
            // The sealed segment is cut back to its data: no zeros may
            // still be on their way to it.
            self.settle_preallocation()?;
            self.roll()?;
        }
        let needed = self.active_len + batch_bytes;
        if self.preallocate_bytes > 0 && needed > self.allocated {
            // The batch reaches into the region being filled, or past it.
            self.settle_preallocation()?;
            if needed > self.allocated {
                self.preallocate(needed)?;
            }
        }
        self.preallocate_ahead(needed);
        Ok(())
    }

    /// Starts filling the next region on the preallocation thread when less
    /// than half of the preallocated space is left after a batch ending at
    /// `needed`, so that the writer rarely waits for zeros.
    fn preallocate_ahead(&mut self, needed: u64) {
        if self.preallocate_bytes == 0 || self.preallocator.running().is_some() {
            return;
        }
        let target = (self.allocated + self.preallocate_bytes).min(self.segment_bytes_max);
        let low = self.allocated.saturating_sub(needed) < self.preallocate_bytes / 2;
        if !low || target <= self.allocated {
            return;
        }
        self.preallocator.begin(Job { path: self.active_path.clone(), from: self.allocated, to: target });
    }

    /// Waits for a running preallocation and takes its outcome.
    pub(crate) fn settle_preallocation(&mut self) -> Result<(), LogError> {
        match self.preallocator.wait() {
            Some(outcome) => self.take_preallocation(outcome),
            None => Ok(()),
        }
    }

    /// A finished preallocation: the filled region becomes usable. One that
    /// could not write its zeros changed nothing (the writer preallocates on
    /// its own thread when it must, and meets the error then, LOG-9); one
    /// whose sync failed poisons the writer, as the file shares the
    /// appends' handle and so their error state (LOG-5).
    fn take_preallocation(&mut self, outcome: Outcome) -> Result<(), LogError> {
        match outcome {
            Outcome::Filled { to } => {
                self.allocated = self.allocated.max(to);
                Ok(())
            }
            Outcome::Refused(error) => {
                tracing::debug!(%error, "preallocation ahead of the data refused");
                Ok(())
            }
            Outcome::SyncFailed(error) => self.synced(Err(error), "fsync"),
        }
    }

    /// Takes the batch's `fdatasync` result: on success the batch is durable
    /// and the end moves past it; on failure the writer is poisoned (LOG-5).
    fn finish(&mut self, batch: &FrameBatch, synced: std::io::Result<()>) -> Result<(), LogError> {
        if let Err(error) = synced {
            self.poisoned = true;
            return Err(LogError::Io { op: "fdatasync", path: self.active_path.clone(), source: error });
        }
        self.active_len += batch.len_bytes() as u64;
        self.allocated = self.allocated.max(self.active_len);
        // Before the batch is acknowledged: an acknowledged frame is always
        // below the recorded end, so recovery never cuts it as torn.
        self.synced_end.record(self.end());
        Ok(())
    }

    /// Fails with the error of a failed fsync, after poisoning the writer:
    /// the kernel may have dropped dirty pages of the file (LOG-5).
    fn synced(&mut self, synced: std::io::Result<()>, op: &'static str) -> Result<(), LogError> {
        synced.map_err(|source| {
            self.poisoned = true;
            LogError::Io { op, path: self.active_path.clone(), source }
        })
    }

    /// Writes and syncs zeros past the end, so that later appends overwrite
    /// blocks the file already has: their `fdatasync` then carries no file
    /// size or block allocation, which on a journaling file system saves a
    /// journal commit per append. Never past the segment's size limit, unless
    /// the batch itself goes past it.
    fn preallocate(&mut self, needed: u64) -> Result<(), LogError> {
        let target = (self.active_len + self.preallocate_bytes).min(self.segment_bytes_max).max(needed);
        let from = self.allocated.max(self.active_len);
        let job = Job { path: self.active_path.clone(), from, to: target };
        match preallocate::fill(&self.active, &job) {
            Outcome::Filled { to } => {
                // Data and size are synced: from now on only data changes below `to`.
                self.allocated = to;
                Ok(())
            }
            // No data moved and the zeros were given back (they would be
            // harmless, LOG-8, but the disk is likely full).
            Outcome::Refused(source) => Err(LogError::Io { op: "preallocate", path: self.active_path.clone(), source }),
            Outcome::SyncFailed(error) => self.synced(Err(error), "fsync"),
        }
    }

    /// Seals the active segment and starts the next at the current end. The
    /// active segment holds only durable, whole transactions at this point.
    /// Until the new segment is in the directory, every failure leaves the
    /// writer on the active segment, able to roll again later (LOG-9).
    fn roll(&mut self) -> Result<(), LogError> {
        if self.allocated > self.active_len {
            // A sealed segment ends where its data ends: the next segment's
            // base. Cut the preallocated zeros before the next one exists;
            // once cut, a retried roll does not cut again.
            self.active.set_len(self.active_len).map_err(LogError::io("truncate", &self.active_path))?;
            self.allocated = self.active_len;
            let synced = self.active.sync_all();
            self.synced(synced, "fsync")?;
        }
        let base = self.end();
        let segment = NewSegment::prepare(&self.dir, base)?;
        segment.rename_into_place()?;
        // From here the new segment is in the log: the writer moves to it
        // whatever happens, or stops.
        segment.sync_directory().inspect_err(|_| self.poisoned = true)?;
        let NewSegment { path, append, read, .. } = segment;
        self.segments.insert(Arc::new(Segment::plain(base, path.clone(), read)));
        self.active = Arc::new(append);
        self.active_path = path;
        self.active_base = base;
        self.active_len = SEGMENT_HEADER_BYTES;
        self.allocated = SEGMENT_HEADER_BYTES;
        tracing::debug!(base, "rolled to a new log segment");
        Ok(())
    }
}
