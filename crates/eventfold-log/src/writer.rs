use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::format::SEGMENT_HEADER_BYTES;
use crate::segment::{Segment, SegmentMap, create_segment};
use crate::{FrameBatch, LogError};

/// The only writer of the log. It owns the active segment's append handle;
/// the engine runs it on one thread, which is what makes group commit work.
pub struct LogWriter {
    pub(crate) dir: PathBuf,
    pub(crate) segments: Arc<SegmentMap>,
    pub(crate) active: File,
    pub(crate) active_path: PathBuf,
    pub(crate) active_base: u64,
    /// Bytes in the active segment that are durable.
    pub(crate) active_len: u64,
    pub(crate) segment_bytes_max: u64,
    pub(crate) poisoned: bool,
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
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        debug_assert!(!batch.has_open_transaction(), "a batch must end on a transaction boundary");
        let batch_bytes = batch.len_bytes() as u64;
        if self.active_len > SEGMENT_HEADER_BYTES && self.active_len + batch_bytes > self.segment_bytes_max {
            self.roll()?;
        }
        let start = self.end();
        if let Err(error) = self.active.write_all(batch.as_bytes()) {
            let undone = self.active.set_len(self.active_len).is_ok();
            if !undone {
                self.poisoned = true;
            }
            return Err(LogError::Io { op: "write", path: self.active_path.clone(), source: error });
        }
        if let Err(error) = self.active.sync_data() {
            self.poisoned = true;
            return Err(LogError::Io { op: "fdatasync", path: self.active_path.clone(), source: error });
        }
        self.active_len += batch_bytes;
        Ok(start)
    }

    /// Seals the active segment and starts the next at the current end. The
    /// active segment holds only durable, whole transactions at this point.
    fn roll(&mut self) -> Result<(), LogError> {
        let base = self.end();
        let path = create_segment(&self.dir, base).inspect_err(|_| self.poisoned = true)?;
        let append = OpenOptions::new().append(true).open(&path).map_err(LogError::io("open", &path))?;
        let read = File::open(&path).map_err(LogError::io("open", &path))?;
        self.segments.insert(Arc::new(Segment::plain(base, path.clone(), read)));
        self.active = append;
        self.active_path = path;
        self.active_base = base;
        self.active_len = SEGMENT_HEADER_BYTES;
        tracing::debug!(base, "rolled to a new log segment");
        Ok(())
    }
}
