//! Restore (BAK-3): checks a backup against its manifest while copying it into a
//! new data directory, which then opens like any other.
//!
//! The files are copied into `<db>.restoring` and checked on the way (length
//! and CRC32C per file); only when all match is that directory renamed to
//! `<db>`, so a refused or interrupted restore leaves no data directory
//! that looks whole. The synced-end record is set to the backup's durable
//! point (the copies are synced: LOG-10 holds), and the index is left to
//! be rebuilt from the log on the first start.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use eventfold_log::reset_synced_end;

use super::manifest::sync_directory;
use super::{BackupFailure, BackupProgress, Manifest, io_failure};
use crate::format_version::{DATA_FORMAT_VERSION, write_format_version};

const CHUNK_BYTES: usize = 1024 * 1024;

/// A finished restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreReport {
    pub durable_end: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Lays out the backup in `backup` as the new data directory `db`, which
/// must not exist or be empty.
pub fn restore(
    backup: &Path,
    db: &Path,
    progress: &mut dyn FnMut(BackupProgress),
) -> Result<RestoreReport, BackupFailure> {
    let manifest = Manifest::read(backup)?.ok_or_else(|| BackupFailure::Refused {
        path: backup.join(super::MANIFEST_FILE),
        reason: "missing: not a backup, or one whose first run did not finish".into(),
    })?;
    if manifest.data_format_version > DATA_FORMAT_VERSION {
        return Err(BackupFailure::Refused {
            path: backup.join(super::MANIFEST_FILE),
            reason: format!(
                "the backup is of data format version {}; this eventfold knows versions up to {DATA_FORMAT_VERSION}: \
                 restore it with a newer eventfold",
                manifest.data_format_version
            ),
        });
    }
    refuse_existing(db)?;
    let staging = staging_path(db);
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_failure("remove", &staging))?;
    }
    let outcome = lay_out(backup, &staging, &manifest, progress);
    if let Err(error) = outcome {
        let _ = fs::remove_dir_all(&staging);
        return Err(error);
    }
    if db.exists() {
        // Empty (checked above): replaced by the staged directory.
        fs::remove_dir(db).map_err(io_failure("remove", db))?;
    }
    fs::rename(&staging, db).map_err(io_failure("rename", db))?;
    if let Some(parent) = db.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        sync_directory(parent)?;
    }
    Ok(RestoreReport {
        durable_end: manifest.durable_end,
        files: manifest.files.len() as u64,
        bytes: manifest.files.iter().map(|file| file.bytes).sum(),
    })
}

fn staging_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    db.with_file_name(name)
}

fn refuse_existing(db: &Path) -> Result<(), BackupFailure> {
    match fs::read_dir(db) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupFailure::Refused {
                    path: db.to_path_buf(),
                    reason: "is not empty: a restore lays out a new data directory".into(),
                });
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BackupFailure::Io { op: "list", path: db.to_path_buf(), source }),
    }
}

fn lay_out(
    backup: &Path,
    staging: &Path,
    manifest: &Manifest,
    progress: &mut dyn FnMut(BackupProgress),
) -> Result<(), BackupFailure> {
    let log_dir = staging.join("log");
    fs::create_dir_all(&log_dir).map_err(io_failure("create", &log_dir))?;
    let mut state = BackupProgress {
        files_total: manifest.files.len() as u64,
        bytes_total: manifest.files.iter().map(|file| file.bytes).sum(),
        ..BackupProgress::default()
    };
    progress(state);
    let mut buffer = vec![0_u8; CHUNK_BYTES];
    for entry in &manifest.files {
        let source_path = backup.join(&entry.path);
        let source = File::open(&source_path).map_err(|error| BackupFailure::Refused {
            path: source_path.clone(),
            reason: format!("listed in the manifest but unreadable: {error}"),
        })?;
        let length = source.metadata().map_err(io_failure("stat", &source_path))?.len();
        if length != entry.bytes {
            let what = if length < entry.bytes { "truncated" } else { "longer than it was" };
            return Err(BackupFailure::Refused {
                path: source_path,
                reason: format!("{what}: {length} bytes, the manifest says {}", entry.bytes),
            });
        }
        let target_path = staging.join(&entry.path);
        let mut target = File::create(&target_path).map_err(io_failure("create", &target_path))?;
        let mut crc = 0;
        let mut offset = 0;
        while offset < length {
            let chunk_length = usize::try_from(length - offset).map_or(CHUNK_BYTES, |left| left.min(CHUNK_BYTES));
            let chunk = buffer.get_mut(..chunk_length).ok_or_else(|| BackupFailure::Refused {
                path: source_path.clone(),
                reason: "chunk out of range".into(),
            })?;
            source.read_exact_at(chunk, offset).map_err(io_failure("read", &source_path))?;
            crc = crc32c::crc32c_append(crc, chunk);
            target.write_all(chunk).map_err(io_failure("write", &target_path))?;
            offset += chunk_length as u64;
            state.bytes_done += chunk_length as u64;
            progress(state);
        }
        if crc != entry.crc32c {
            return Err(BackupFailure::Refused {
                path: source_path,
                reason: format!(
                    "checksum mismatch (CRC32C {crc:08x}, the manifest says {:08x}): the file changed since the backup",
                    entry.crc32c
                ),
            });
        }
        target.sync_all().map_err(io_failure("sync", &target_path))?;
        state.files_done += 1;
        progress(state);
    }
    if manifest.durable_end > 0 && !manifest.files.is_empty() {
        reset_synced_end(&log_dir, Some(manifest.durable_end))?;
    }
    write_format_version(staging, manifest.data_format_version)
        .map_err(io_failure("write", &staging.join(crate::FORMAT_VERSION_FILE)))?;
    sync_directory(&log_dir)?;
    sync_directory(staging)
}
