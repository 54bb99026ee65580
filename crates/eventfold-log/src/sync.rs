//! A thread that runs the writer's `fdatasync`, so that the writer can do
//! the rest of a batch's work (indexing it) while the disk syncs.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) struct Syncer {
    requests: Option<Sender<Arc<File>>>,
    /// Each sync's result and how long the `fdatasync` itself took (the
    /// writer times it here, not around its wait, which overlaps other work).
    done: Receiver<(io::Result<()>, Duration)>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    pub fn start() -> io::Result<Self> {
        let (requests, incoming) = mpsc::channel::<Arc<File>>();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new().name("eventfold-sync".into()).spawn(move || {
            for file in incoming {
                let began = Instant::now();
                let synced = file.sync_data();
                if finished.send((synced, began.elapsed())).is_err() {
                    return;
                }
            }
        })?;
        Ok(Self { requests: Some(requests), done, thread: Some(thread) })
    }

    /// Starts syncing `file`; false when the thread is gone (the caller then
    /// syncs itself).
    pub fn begin(&self, file: Arc<File>) -> bool {
        self.requests.as_ref().is_some_and(|requests| requests.send(file).is_ok())
    }

    /// Waits for the sync `begin` started; returns its result and duration.
    pub fn wait(&self) -> (io::Result<()>, Duration) {
        self.done.recv().unwrap_or_else(|_| (Err(io::Error::other("the sync thread stopped")), Duration::ZERO))
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
