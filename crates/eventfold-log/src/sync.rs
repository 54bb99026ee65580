//! A thread that runs the writer's `fdatasync`, so that the writer can do
//! the rest of a batch's work (indexing it) while the disk syncs.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

pub(crate) struct Syncer {
    requests: Option<Sender<Arc<File>>>,
    done: Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    pub fn start() -> io::Result<Self> {
        let (requests, incoming) = mpsc::channel::<Arc<File>>();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new().name("eventfold-sync".into()).spawn(move || {
            for file in incoming {
                if finished.send(file.sync_data()).is_err() {
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

    /// Waits for the sync `begin` started.
    pub fn wait(&self) -> io::Result<()> {
        self.done.recv().unwrap_or_else(|_| Err(io::Error::other("the sync thread stopped")))
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
