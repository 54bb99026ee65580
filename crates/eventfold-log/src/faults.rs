//! Injected I/O failures, so that tests can make the writer meet a full disk
//! or a process out of file descriptors at an exact step, deterministically.
//!
//! Built only for this crate's tests and with the `fault-injection` feature
//! (which other crates enable for their tests only); otherwise [`check`] is
//! an empty inline function. A fault is registered for a directory and hits
//! every operation at that step under it until cleared, so tests that run
//! in one process with their own temporary directories do not disturb each
//! other.

/// A step of the writer that a test can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// Creating a new segment's temporary file at a roll.
    CreateSegment,
    /// Opening the other handles a new segment needs (its readers' handle,
    /// the directory's), after its temporary file was written.
    OpenSegment,
    /// Writing the zeros of a preallocation.
    Preallocate,
}

#[cfg(any(test, feature = "fault-injection"))]
mod registry {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use super::FaultPoint;

    static FAULTS: Mutex<Vec<(PathBuf, FaultPoint, i32)>> = Mutex::new(Vec::new());

    /// From now on, `point` fails with the OS error `errno` (for example 24,
    /// `EMFILE`, or 28, `ENOSPC`) for every path under `dir`.
    pub fn inject(dir: &Path, point: FaultPoint, errno: i32) {
        let mut faults = FAULTS.lock().unwrap_or_else(|poison| poison.into_inner());
        faults.retain(|(path, at, _)| !(path == dir && *at == point));
        faults.push((dir.to_path_buf(), point, errno));
    }

    /// The condition cleared: `point` under `dir` works again.
    pub fn clear(dir: &Path, point: FaultPoint) {
        let mut faults = FAULTS.lock().unwrap_or_else(|poison| poison.into_inner());
        faults.retain(|(path, at, _)| !(path == dir && *at == point));
    }

    pub(crate) fn check(path: &Path, point: FaultPoint) -> io::Result<()> {
        let faults = FAULTS.lock().unwrap_or_else(|poison| poison.into_inner());
        match faults.iter().find(|(dir, at, _)| *at == point && path.starts_with(dir)) {
            Some((_, _, errno)) => Err(io::Error::from_raw_os_error(*errno)),
            None => Ok(()),
        }
    }
}

#[cfg(any(test, feature = "fault-injection"))]
pub use registry::{clear, inject};

#[cfg(any(test, feature = "fault-injection"))]
pub(crate) use registry::check;

#[cfg(not(any(test, feature = "fault-injection")))]
#[inline(always)]
pub(crate) fn check(_path: &std::path::Path, _point: FaultPoint) -> std::io::Result<()> {
    Ok(())
}
