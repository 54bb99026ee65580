//! Write-back of the index file between its durable commits.
//!
//! Commits that are not durable still hand their pages to the kernel; the
//! periodic durable commit then has to write all of them at once, on the
//! log writer's thread, while every append waits (tens of milliseconds
//! after a second of heavy appends). This thread asks the kernel to write
//! them back a little at a time instead, so that the durable commit finds
//! little left to do.
//!
//! It is safe whatever redb does: a sync only makes writes that were
//! already issued durable, never earlier than redb's own syncs would, and
//! redb writes its header (the only thing that makes a commit visible after
//! a crash) on durable commits alone. It syncs through a handle of its own,
//! so a write-back error it meets is still reported to redb's own sync.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often pending pages are written back: often enough that a durable
/// commit after a second of appends finds a tenth of them, seldom enough
/// that an idle index costs nothing and a busy one a few syncs a second.
pub(crate) const WRITEBACK_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) struct Writeback {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Writeback {
    /// Starts writing back `path` every `interval` while `pending` says that
    /// a commit left pages to write.
    pub fn start(path: &Path, interval: Duration, pending: Arc<AtomicBool>) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("eventfold-index-wb".into()).spawn(move || {
            loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                if pending.swap(false, Ordering::AcqRel)
                    && let Err(error) = file.sync_data()
                {
                    // redb's own sync meets the same error and fails its
                    // commit; here it is only a missed head start.
                    tracing::warn!(%error, "could not write back the index file");
                }
            }
        })?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
