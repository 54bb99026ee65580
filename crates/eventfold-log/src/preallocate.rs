//! Zeros written and synced ahead of the data, on a thread of their own.
//!
//! Preallocating on the writer's thread stalls every append waiting in the
//! queue for as long as a few megabytes of zeros take to write and sync
//! (15–30 ms on a small machine, many times a second under load). This
//! thread does it while the writer goes on appending below the region it
//! fills: the writer starts a job when less than half of the preallocated
//! space is left, and waits for it only when a batch would reach into it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;

use crate::faults::{self, FaultPoint};

/// One region to fill: `from..to` of the segment at `path`, which ends at
/// `from`.
pub(crate) struct Job {
    pub path: PathBuf,
    pub from: u64,
    pub to: u64,
}

/// How a job ended.
pub(crate) enum Outcome {
    /// `from..to` holds synced zeros.
    Filled { to: u64 },
    /// The zeros could not be written (no space): none were kept.
    Refused(io::Error),
    /// The sync failed: the file's state is unknown (LOG-5).
    SyncFailed(io::Error),
}

pub(crate) struct Preallocator {
    jobs: Option<Sender<Job>>,
    done: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
    /// The end of the region the running job fills.
    running: Option<u64>,
}

impl Preallocator {
    pub fn start() -> io::Result<Self> {
        let (jobs, incoming) = mpsc::channel::<Job>();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new().name("eventfold-prealloc".into()).spawn(move || {
            for job in incoming {
                if finished.send(fill_apart(&job)).is_err() {
                    return;
                }
            }
        })?;
        Ok(Self { jobs: Some(jobs), done, thread: Some(thread), running: None })
    }

    /// The end of the region being filled, while a job runs.
    pub fn running(&self) -> Option<u64> {
        self.running
    }

    /// Starts filling `job.from..job.to`; false when the thread is gone (the
    /// writer then preallocates on its own thread when it must).
    pub fn begin(&mut self, job: Job) -> bool {
        debug_assert!(self.running.is_none(), "one preallocation at a time");
        let to = job.to;
        let started = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if started {
            self.running = Some(to);
        }
        started
    }

    /// The outcome of the running job if it has ended, without waiting.
    pub fn poll(&mut self) -> Option<Outcome> {
        self.running?;
        match self.done.try_recv() {
            Ok(outcome) => {
                self.running = None;
                Some(outcome)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.running = None;
                Some(Outcome::SyncFailed(io::Error::other("the preallocation thread stopped")))
            }
        }
    }

    /// Waits for the running job, if any.
    pub fn wait(&mut self) -> Option<Outcome> {
        self.running?;
        self.running = None;
        Some(
            self.done
                .recv()
                .unwrap_or_else(|_| Outcome::SyncFailed(io::Error::other("the preallocation thread stopped"))),
        )
    }
}

impl Drop for Preallocator {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// [`fill`] through a handle of its own. A sync reports a write-back error
/// once per open file; on the appends' handle it could take the error that
/// the next append's `fdatasync` must see. With its own handle, both see it.
fn fill_apart(job: &Job) -> Outcome {
    match OpenOptions::new().write(true).open(&job.path) {
        Ok(file) => fill(&file, job),
        // Out of file descriptors: the writer preallocates itself if it must.
        Err(error) => Outcome::Refused(error),
    }
}

/// Writes zeros over `from..to` of `file` and syncs data and size. Zeros
/// that could not all be written are cut back off: the disk is likely full.
pub(crate) fn fill(file: &File, job: &Job) -> Outcome {
    if let Err(error) = write_zeros(file, &job.path, job.from, job.to) {
        if let Err(cut) = file.set_len(job.from) {
            tracing::warn!(error = %cut, "could not cut back an unfinished preallocation");
        }
        return Outcome::Refused(error);
    }
    match file.sync_all() {
        Ok(()) => Outcome::Filled { to: job.to },
        Err(error) => Outcome::SyncFailed(error),
    }
}

fn write_zeros(file: &File, path: &Path, from: u64, to: u64) -> io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut offset = from;
    while offset < to {
        let length = (to - offset).min(ZEROS.len() as u64) as usize;
        let zeros = ZEROS.get(..length).unwrap_or_default();
        file.write_all_at(zeros, offset)?;
        faults::check(path, FaultPoint::Preallocate)?;
        offset += length as u64;
    }
    Ok(())
}
