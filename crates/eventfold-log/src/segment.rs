use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::LogError;
use crate::format::{SEGMENT_HEADER_BYTES, encode_segment_header};

const SEGMENT_EXTENSION: &str = "evlog";

/// One segment file, opened for reading. Readers share it through an `Arc`
/// and use positioned reads, so no reader ever moves a shared cursor.
#[derive(Debug)]
pub struct Segment {
    pub base: u64,
    pub path: PathBuf,
    pub file: File,
}

/// The segments of the log by base position. The writer adds one on every
/// roll; readers look positions up here.
#[derive(Debug, Default)]
pub struct SegmentMap {
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
}

impl SegmentMap {
    pub fn insert(&self, segment: Arc<Segment>) {
        let mut segments = self.segments.write().unwrap_or_else(|poison| poison.into_inner());
        segments.insert(segment.base, segment);
    }

    /// The segment holding `position`: the one with the greatest base not
    /// above it.
    pub fn containing(&self, position: u64) -> Option<Arc<Segment>> {
        let segments = self.segments.read().unwrap_or_else(|poison| poison.into_inner());
        segments.range(..=position).next_back().map(|(_, segment)| Arc::clone(segment))
    }

    pub fn first_base(&self) -> Option<u64> {
        let segments = self.segments.read().unwrap_or_else(|poison| poison.into_inner());
        segments.keys().next().copied()
    }

    pub fn len(&self) -> usize {
        self.segments.read().unwrap_or_else(|poison| poison.into_inner()).len()
    }
}

pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.{SEGMENT_EXTENSION}"))
}

/// Segment files in `dir`, by base position parsed from their names.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(LogError::io("list", dir))? {
        let path = entry.map_err(LogError::io("list", dir))?.path();
        let is_segment = path.extension().is_some_and(|extension| extension == SEGMENT_EXTENSION);
        let base = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse::<u64>().ok());
        match (is_segment, base) {
            (true, Some(base)) => found.push((base, path)),
            (true, None) => {
                return Err(LogError::Corrupt {
                    segment: path,
                    offset: 0,
                    reason: "segment file name is not a base position".into(),
                });
            }
            (false, _) => {}
        }
    }
    found.sort();
    Ok(found)
}

/// Creates a segment durably: header written to a temporary file, synced,
/// renamed into place, directory synced (LOG-4), so a crash never leaves a
/// segment without a whole header.
pub fn create_segment(dir: &Path, base: u64) -> Result<PathBuf, LogError> {
    let path = segment_path(dir, base);
    let temporary = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(LogError::io("create", &temporary))?;
    file.write_all(&encode_segment_header(base)).map_err(LogError::io("write", &temporary))?;
    file.sync_all().map_err(LogError::io("fsync", &temporary))?;
    fs::rename(&temporary, &path).map_err(LogError::io("rename", &path))?;
    sync_directory(dir)?;
    debug_assert_eq!(fs::metadata(&path).map(|m| m.len()).ok(), Some(SEGMENT_HEADER_BYTES));
    Ok(path)
}

pub fn sync_directory(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|directory| directory.sync_all()).map_err(LogError::io("fsync directory", dir))
}

/// Removes leftovers of a segment creation that crashed before its rename.
pub fn remove_temporary_files(dir: &Path) -> Result<(), LogError> {
    for entry in fs::read_dir(dir).map_err(LogError::io("list", dir))? {
        let path = entry.map_err(LogError::io("list", dir))?.path();
        if path.extension().is_some_and(|extension| extension == "tmp") {
            fs::remove_file(&path).map_err(LogError::io("remove", &path))?;
        }
    }
    Ok(())
}
