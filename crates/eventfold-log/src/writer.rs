use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::format::SEGMENT_HEADER_BYTES;
use crate::segment::{Segment, SegmentMap, create_segment};
use crate::sync::Syncer;
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
    /// and synced ahead of the data (see `preallocate`).
    pub(crate) allocated: u64,
    pub(crate) segment_bytes_max: u64,
    pub(crate) preallocate_bytes: u64,
    pub(crate) poisoned: bool,
    pub(crate) syncer: Syncer,
}

impl LogWriter {
    /// Global position one past the last durable byte: where the next frame goes.
    pub fn end(&self) -> u64 {
        self.active_base + self.active_len
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
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
        let synced = self.active.sync_data();
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
        let synced = if overlapped { self.syncer.wait() } else { self.active.sync_data() };
        self.finish(batch, synced)?;
        Ok((start, result))
    }

    /// Rolls and preallocates when due, then writes the batch at the end;
    /// returns its start. Nothing is durable yet.
    fn write_unsynced(&mut self, batch: &FrameBatch) -> Result<u64, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        debug_assert!(!batch.has_open_transaction(), "a batch must end on a transaction boundary");
        let batch_bytes = batch.len_bytes() as u64;
        if self.active_len > SEGMENT_HEADER_BYTES && self.active_len + batch_bytes > self.segment_bytes_max {
            self.roll()?;
        }
        let needed = self.active_len + batch_bytes;
        if self.preallocate_bytes > 0 && needed > self.allocated {
            self.preallocate(needed)?;
        }
        if let Err(error) = self.active.write_all_at(batch.as_bytes(), self.active_len) {
            // Cut whatever part landed, so that no stale bytes ever lie
            // between the end of the log and the zeros after it.
            let undone = self.active.set_len(self.active_len).is_ok();
            self.allocated = self.active_len;
            if !undone {
                self.poisoned = true;
            }
            return Err(LogError::Io { op: "write", path: self.active_path.clone(), source: error });
        }
        Ok(self.end())
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
        Ok(())
    }

    /// Writes and syncs zeros past the end, so that later appends overwrite
    /// blocks the file already has: their `fdatasync` then carries no file
    /// size or block allocation, which on a journaling file system saves a
    /// journal commit per append. Never past the segment's size limit, unless
    /// the batch itself goes past it.
    fn preallocate(&mut self, needed: u64) -> Result<(), LogError> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        let target = (self.active_len + self.preallocate_bytes).min(self.segment_bytes_max).max(needed);
        let mut offset = self.allocated.max(self.active_len);
        while offset < target {
            let length = (target - offset).min(ZEROS.len() as u64) as usize;
            let zeros = ZEROS.get(..length).unwrap_or_default();
            self.active.write_all_at(zeros, offset).map_err(LogError::io("preallocate", &self.active_path))?;
            offset += length as u64;
        }
        // Sync data and size: from now on only data changes below `target`.
        self.active.sync_all().map_err(LogError::io("fsync", &self.active_path))?;
        self.allocated = target;
        Ok(())
    }

    /// Seals the active segment and starts the next at the current end. The
    /// active segment holds only durable, whole transactions at this point.
    fn roll(&mut self) -> Result<(), LogError> {
        if self.allocated > self.active_len {
            // A sealed segment ends where its data ends: the next segment's
            // base. Cut the preallocated zeros before the next one exists.
            self.active.set_len(self.active_len).map_err(LogError::io("truncate", &self.active_path))?;
            self.active.sync_all().map_err(LogError::io("fsync", &self.active_path))?;
            self.allocated = self.active_len;
        }
        let base = self.end();
        let path = create_segment(&self.dir, base).inspect_err(|_| self.poisoned = true)?;
        let append = OpenOptions::new().write(true).open(&path).map_err(LogError::io("open", &path))?;
        let read = File::open(&path).map_err(LogError::io("open", &path))?;
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
