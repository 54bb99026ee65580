//! Online backup: a consistent copy of the log while appends and scavenges
//! go on, brought up to date incrementally, with a manifest of checksums.
//!
//! What is copied, and why it is consistent (BAK-1 in `docs/format.md`):
//! - the *durable point* is the committed end read when the backup starts:
//!   every event acknowledged before it is durable and indexed (LOG-2), and
//!   it is always the end of a transaction;
//! - every segment below it is opened at once, before any byte is copied. A
//!   scavenge replaces a sealed segment by renaming a new file over it
//!   (LOG-7), so an open handle keeps reading the file it opened, whole: each
//!   segment is copied either as it was or as compacted, and both hold every
//!   frame at its position. Neither side waits for the other;
//! - the active segment is copied up to the durable point, not to its end:
//!   bytes past it may be a batch whose `fdatasync` is running;
//! - no index: it is derived (IDX-1), and the restored directory rebuilds it
//!   from the log on its first start.
//!
//! The segment that held the durable point may have been sealed and even
//! compacted between reading the point and opening it (its file no longer
//! holds the data at `base + offset`): the snapshot is taken again.
//!
//! Incremental (BAK-2): a plain segment only grows (below a durable point its bytes
//! never change) and a sealed one changes only by compaction, which changes
//! its header version and its footer. So a segment already in the backup
//! with the same version and length (and footer) is kept; a plain segment
//! that grew gets only its new tail, its checksum extended; anything else is
//! copied whole. The manifest is written last, atomically: a backup
//! interrupted part way leaves files that the old manifest no longer
//! matches, which a restore refuses (naming the file) and the next backup
//! into the same destination repairs.

mod copy;
mod manifest;
mod restore;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use eventfold_log::{COMPACTED_FORMAT_VERSION, FORMAT_VERSION, LogError, SEGMENT_HEADER_BYTES, list_segments};
use eventfold_store::BackupReport;

pub use manifest::{MANIFEST_FILE, Manifest, ManifestFile};
pub use restore::{RestoreReport, restore};

use crate::Engine;
use crate::format_version::DATA_FORMAT_VERSION;
use copy::{Pacer, copy_segment};
use manifest::sync_directory;

/// How many times the snapshot is taken again when the log changed under
/// it (see the module comment) before the backup gives up.
const SNAPSHOT_ATTEMPTS: u32 = 5;

/// How a backup runs.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Upper bound on the bytes copied per second.
    pub max_bytes_per_second: Option<u64>,
}

/// Where a backup or a restore is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupProgress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupFailure {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Log(#[from] LogError),
    /// The backup (or the directory to restore into) is not what it must be.
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("a backup is already running")]
    InProgress,
    #[error("the log kept changing under the backup ({SNAPSHOT_ATTEMPTS} tries); try again")]
    Unsettled,
}

pub(crate) fn io_failure(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupFailure {
    let path = path.to_path_buf();
    move |source| BackupFailure::Io { op, path, source }
}

/// One backup at a time per engine.
#[derive(Default)]
pub(crate) struct Backups {
    running: Mutex<()>,
}

/// A segment as the backup found it: open, so it stays the same file.
pub(crate) struct SourceSegment {
    pub name: String,
    pub file: File,
    pub version: u32,
    /// Bytes of it that belong to the backup.
    pub bytes: u64,
}

impl Engine {
    /// Copies the database to `destination` (see the module comment);
    /// `progress` hears of every step. Blocking: run it off the async
    /// threads.
    pub fn backup_to(
        &self,
        destination: &Path,
        options: &BackupOptions,
        progress: &mut dyn FnMut(BackupProgress),
    ) -> Result<BackupReport, BackupFailure> {
        let backups = self.backups();
        let _running = backups.running.try_lock().map_err(|_| BackupFailure::InProgress)?;
        let started = Instant::now();
        let (durable_end, segments) = self.snapshot()?;
        let log_destination = destination.join("log");
        fs::create_dir_all(&log_destination).map_err(io_failure("create", &log_destination))?;
        let previous = Manifest::read(destination)?;
        let mut state = BackupProgress {
            files_total: segments.len() as u64,
            bytes_total: segments.iter().map(|segment| segment.bytes).sum(),
            ..BackupProgress::default()
        };
        progress(state);
        let mut pacer = Pacer::new(options.max_bytes_per_second);
        let mut files = Vec::with_capacity(segments.len());
        let mut files_copied = 0;
        let mut bytes_copied = 0;
        for segment in &segments {
            let path = format!("log/{}", segment.name);
            let before = previous.as_ref().and_then(|manifest| manifest.files.iter().find(|file| file.path == path));
            let (entry, copied) = copy_segment(segment, &path, before, destination, &mut pacer, &mut |bytes| {
                state.bytes_done += bytes;
                progress(state);
            })?;
            if copied > 0 || before != Some(&entry) {
                files_copied += 1;
            }
            bytes_copied += copied;
            // What was not copied is in the backup already.
            state.bytes_done = state.bytes_done.saturating_sub(copied) + segment.bytes;
            state.files_done += 1;
            progress(state);
            files.push(entry);
        }
        sync_directory(&log_destination)?;
        let manifest = Manifest::new(DATA_FORMAT_VERSION, durable_end, files);
        manifest.write(destination)?;
        remove_unlisted(&log_destination, &manifest)?;
        Ok(BackupReport {
            durable_end,
            files: manifest.files.len() as u64,
            files_copied,
            bytes_total: state.bytes_total,
            bytes_copied,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// The durable point and every segment below it, open.
    fn snapshot(&self) -> Result<(u64, Vec<SourceSegment>), BackupFailure> {
        let log_dir = self.config().log_dir();
        for _ in 0..SNAPSHOT_ATTEMPTS {
            let durable_end = self.committed_end().0;
            let mut segments = Vec::new();
            for (base, path) in list_segments(&log_dir)? {
                if base >= durable_end {
                    continue;
                }
                let file = File::open(&path).map_err(io_failure("open", &path))?;
                let mut header = [0_u8; SEGMENT_HEADER_BYTES as usize];
                file.read_exact_at(&mut header, 0).map_err(io_failure("read", &path))?;
                let (_, version) = eventfold_log::decode_segment_header(&header)
                    .map_err(|reason| BackupFailure::Refused { path: path.clone(), reason })?;
                let bytes = file.metadata().map_err(io_failure("stat", &path))?.len();
                let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
                segments.push((base, SourceSegment { name, file, version, bytes }));
            }
            let last_version = segments.last().map(|(_, segment)| segment.version);
            if last_version == Some(COMPACTED_FORMAT_VERSION) {
                // Sealed and compacted since the point was read: again.
                continue;
            }
            if let Some((base, last)) = segments.last_mut() {
                debug_assert_eq!(last.version, FORMAT_VERSION);
                let needed = durable_end - *base;
                if last.bytes < needed {
                    return Err(BackupFailure::Refused {
                        path: log_dir.join(&last.name),
                        reason: format!("holds {} bytes, less than the committed end needs ({needed})", last.bytes),
                    });
                }
                last.bytes = needed;
            }
            return Ok((durable_end, segments.into_iter().map(|(_, segment)| segment).collect()));
        }
        Err(BackupFailure::Unsettled)
    }
}

/// Removes segments (and leftovers of an interrupted copy) that the new
/// manifest does not list.
fn remove_unlisted(log_destination: &Path, manifest: &Manifest) -> Result<(), BackupFailure> {
    for entry in fs::read_dir(log_destination).map_err(io_failure("list", log_destination))? {
        let path = entry.map_err(io_failure("list", log_destination))?.path();
        let name = path.file_name().map(|name| format!("log/{}", name.to_string_lossy())).unwrap_or_default();
        if !manifest.files.iter().any(|file| file.path == name) {
            fs::remove_file(&path).map_err(io_failure("remove", &path))?;
        }
    }
    Ok(())
}

/// [`Engine::backup_to`] for the store's faces: on the blocking pool, its
/// progress in the server's log (one line per tenth).
pub(crate) async fn backup_for_store(
    engine: &Engine,
    request: eventfold_store::BackupRequest,
) -> Result<BackupReport, eventfold_store::BackupError> {
    let engine = engine.clone();
    let job = tokio::task::spawn_blocking(move || {
        let options = BackupOptions { max_bytes_per_second: request.max_bytes_per_second };
        let mut last_tenth = None;
        let destination = request.destination;
        engine.backup_to(&destination, &options, &mut |progress| {
            let tenth = (progress.bytes_done * 10).checked_div(progress.bytes_total).unwrap_or(10);
            if last_tenth != Some(tenth) {
                last_tenth = Some(tenth);
                tracing::info!(
                    destination = %destination.display(),
                    bytes_done = progress.bytes_done,
                    bytes_total = progress.bytes_total,
                    "backup at {}%",
                    tenth * 10
                );
            }
        })
    });
    match job.await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(BackupFailure::InProgress)) => Err(eventfold_store::BackupError::InProgress),
        Ok(Err(failure)) => Err(eventfold_store::BackupError::Failed { reason: failure.to_string() }),
        Err(error) => Err(eventfold_store::BackupError::Failed { reason: format!("the backup task ended: {error}") }),
    }
}
