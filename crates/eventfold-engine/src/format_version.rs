//! The data directory's format version (`format-version`, `docs/format.md`).
//!
//! A directory without the file is of version 1: every directory made
//! before the file existed. Version 2 is version 1 with the file. On open:
//! - a newer version than this build knows is refused, with both numbers,
//!   before anything is read or written;
//! - an older one is opened as it is and left at its version unless
//!   `EngineConfig::upgrade_format` asks to migrate it in place; either
//!   way the log says which;
//! - a new directory is created at the current version.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::{EngineConfig, EngineError};

pub const FORMAT_VERSION_FILE: &str = "format-version";
/// The version this build writes.
pub const DATA_FORMAT_VERSION: u32 = 2;
/// The version of a directory without the file.
const UNVERSIONED: u32 = 1;

/// The version the file records; `None` when there is no file.
pub fn read_format_version(dir: &Path) -> Result<Option<u32>, EngineError> {
    let path = dir.join(FORMAT_VERSION_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EngineError::Io { op: "read", path, source }),
    };
    match text.trim_end_matches('\n').parse::<u32>() {
        Ok(version) if version >= UNVERSIONED => Ok(Some(version)),
        _ => Err(EngineError::DataFormat {
            path,
            reason: format!("holds `{}`, not a format version (a decimal number, then a newline)", text.trim()),
        }),
    }
}

/// Records `version` durably: written to a temporary file, synced, renamed,
/// the directory synced.
pub fn write_format_version(dir: &Path, version: u32) -> std::io::Result<()> {
    let path = dir.join(FORMAT_VERSION_FILE);
    let temporary = dir.join(format!("{FORMAT_VERSION_FILE}.tmp"));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(format!("{version}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, &path)?;
    fs::File::open(dir)?.sync_all()
}

/// Checks (and, for a new directory or on request, records) the version of
/// `config.dir`, which the caller has locked.
pub(crate) fn check_on_open(config: &EngineConfig) -> Result<(), EngineError> {
    let dir = &config.dir;
    let recorded = read_format_version(dir)?;
    let has_data = config.log_dir().exists() || config.index_path().exists();
    let version = match (recorded, has_data) {
        (Some(version), _) => version,
        (None, true) => UNVERSIONED,
        (None, false) => {
            return write_format_version(dir, DATA_FORMAT_VERSION).map_err(|source| EngineError::Io {
                op: "write",
                path: dir.join(FORMAT_VERSION_FILE),
                source,
            });
        }
    };
    if version > DATA_FORMAT_VERSION {
        return Err(EngineError::DataFormat {
            path: dir.join(FORMAT_VERSION_FILE),
            reason: format!(
                "the data directory is of format version {version}, made by a newer eventfold; this one knows \
                 versions 1 to {DATA_FORMAT_VERSION}: run a newer eventfold (nothing was changed)"
            ),
        });
    }
    if version < DATA_FORMAT_VERSION {
        if config.upgrade_format {
            write_format_version(dir, DATA_FORMAT_VERSION).map_err(|source| EngineError::Io {
                op: "write",
                path: dir.join(FORMAT_VERSION_FILE),
                source,
            })?;
            tracing::warn!(
                dir = %dir.display(),
                from = version,
                to = DATA_FORMAT_VERSION,
                "data directory migrated in place to the current format version"
            );
        } else {
            tracing::info!(
                dir = %dir.display(),
                version,
                current = DATA_FORMAT_VERSION,
                "data directory opened at its older format version, unchanged; --upgrade-format migrates it in \
                 place (take a backup first)"
            );
        }
    }
    Ok(())
}
