//! The backup manifest (`manifest.json`, `docs/format.md`): what a backup
//! holds, with a length and a CRC32C per file, so that a restore refuses a
//! truncated or changed backup and names the file.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BackupFailure;

pub const MANIFEST_FILE: &str = "manifest.json";
/// What `kind` says, so that another JSON file is not taken for a manifest.
const MANIFEST_KIND: &str = "eventfold-backup";
/// Version of the manifest's own layout.
const MANIFEST_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub kind: String,
    pub manifest_version: u32,
    /// The data directory format the files are in (`format-version`).
    pub data_format_version: u32,
    /// Every event acknowledged before this log position is in the files.
    pub durable_end: u64,
    pub created_unix_ms: u64,
    pub files: Vec<ManifestFile>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    /// Relative to the backup: `log/<base>.evlog`.
    pub path: String,
    pub bytes: u64,
    pub crc32c: u32,
    /// The segment header's version (1 plain, 2 compacted).
    pub segment_version: u32,
}

impl Manifest {
    pub fn new(data_format_version: u32, durable_end: u64, files: Vec<ManifestFile>) -> Self {
        let created_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
        Self {
            kind: MANIFEST_KIND.to_owned(),
            manifest_version: MANIFEST_VERSION,
            data_format_version,
            durable_end,
            created_unix_ms,
            files,
        }
    }

    /// The manifest of the backup in `dir`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>, BackupFailure> {
        let path = dir.join(MANIFEST_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(BackupFailure::Io { op: "read", path, source }),
        };
        let manifest: Self = serde_json::from_slice(&text).map_err(|error| BackupFailure::Refused {
            path: path.clone(),
            reason: format!("not a manifest: {error}"),
        })?;
        if manifest.kind != MANIFEST_KIND || manifest.manifest_version != MANIFEST_VERSION {
            return Err(BackupFailure::Refused {
                path,
                reason: format!(
                    "a manifest of kind `{}` version {}; this eventfold reads `{MANIFEST_KIND}` version {MANIFEST_VERSION}",
                    manifest.kind, manifest.manifest_version
                ),
            });
        }
        for file in &manifest.files {
            if !is_segment_path(&file.path) {
                return Err(BackupFailure::Refused {
                    path,
                    reason: format!("names `{}`, which is not a log segment of a backup", file.path),
                });
            }
        }
        Ok(Some(manifest))
    }

    /// Writes the manifest durably and atomically: a crash leaves the old
    /// one or the new one.
    pub fn write(&self, dir: &Path) -> Result<(), BackupFailure> {
        let path = dir.join(MANIFEST_FILE);
        let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(|error| BackupFailure::Refused {
            path: path.clone(),
            reason: format!("encoding the manifest: {error}"),
        })?;
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| BackupFailure::Io { op, path, source }
        };
        let mut file = File::create(&temporary).map_err(io("create", &temporary))?;
        file.write_all(&text).map_err(io("write", &temporary))?;
        file.sync_all().map_err(io("sync", &temporary))?;
        fs::rename(&temporary, &path).map_err(io("rename", &path))?;
        sync_directory(dir)
    }
}

/// `log/` followed by a segment's file name (20 digits and `.evlog`):
/// nothing a tampered manifest names can lead a restore elsewhere.
pub fn is_segment_path(path: &str) -> bool {
    path.strip_prefix("log/")
        .and_then(|name| name.strip_suffix(".evlog"))
        .is_some_and(|base| base.len() == 20 && base.bytes().all(|byte| byte.is_ascii_digit()))
}

pub fn sync_directory(dir: &Path) -> Result<(), BackupFailure> {
    File::open(dir).and_then(|handle| handle.sync_all()).map_err(|source| BackupFailure::Io {
        op: "sync",
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_segment_names_are_accepted_from_a_manifest() {
        assert!(is_segment_path("log/00000000000000000000.evlog"));
        for bad in ["../x", "log/../../etc/passwd", "log/1.evlog", "index.redb", "log/0000000000000000000a.evlog"] {
            assert!(!is_segment_path(bad), "{bad}");
        }
    }
}
