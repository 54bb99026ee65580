//! Salvage: replacing each damaged segment with one that holds every frame
//! of it that still verifies, at its original position, so that the log
//! opens again and serves everything the damage spared.
//!
//! The replacement is a compacted segment (format version 2), the layout a
//! scavenge writes: positions cannot move (index entries, checkpoints and
//! clients hold them), and that layout keeps frames at their positions
//! whatever is missing between them. The damaged file is never deleted: it
//! is set aside under `damaged/` in the log directory, where the log does
//! not look.
//!
//! Only for a directory no writer holds: the caller takes the directory
//! lock.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::LogError;
use crate::compacted_writer::CompactedWriter;
use crate::segment::{create_segment, list_segments, remove_temporary_files, sync_directory};
use crate::segment_scan::{Role, scan_segment};
use crate::verify::{Damage, LogCheck, Progress, ProgressCounter, SegmentCheck, Visit, verify_log};

/// Folder of the log directory where damaged segment files are set aside.
pub const DAMAGED_FOLDER: &str = "damaged";

/// What salvaging one damaged segment did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SalvagedSegment {
    pub base: u64,
    /// The segment file, now the replacement.
    pub path: PathBuf,
    /// Where the damaged original now is.
    pub set_aside: PathBuf,
    pub frames_kept: u64,
    /// Frames of a transaction whose last frame never came, at the end of
    /// the segment the writer appended to: never acknowledged, and cut by
    /// recovery as well.
    pub unfinished_frames_dropped: u64,
    /// What could not be kept: the positions lost, exactly.
    pub lost: Vec<Damage>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SalvageReport {
    /// The check made before anything was changed.
    pub check: LogCheck,
    pub salvaged: Vec<SalvagedSegment>,
    /// A new empty segment for the writer, made when the segment it
    /// appended to was replaced (a compacted segment is never written to).
    pub new_segment: Option<PathBuf>,
}

/// Checks every segment of the log in `dir` and replaces each damaged one.
/// `label` tells set-aside files of different runs apart (a time stamp).
pub fn salvage_log(dir: &Path, label: &str, progress: &mut dyn FnMut(Progress)) -> Result<SalvageReport, LogError> {
    remove_temporary_files(dir)?;
    let check = verify_log(dir, None, &mut |_| Ok(()), progress)?;
    let mut report = SalvageReport { check: check.clone(), ..SalvageReport::default() };
    let count = check.segments.len();
    for (index, segment) in check.segments.iter().enumerate() {
        if segment.damage.is_empty() {
            continue;
        }
        let role = match check.segments.get(index + 1) {
            Some(next) => Role::Sealed { next_base: next.base },
            None => Role::Last { committed_end: None },
        };
        report.salvaged.push(salvage_segment(dir, segment, role, label)?);
        if index + 1 == count {
            report.new_segment = Some(after_last(dir)?);
        }
    }
    if report.new_segment.is_none() && check.segments.last().is_some_and(|last| last.compacted) {
        // A salvage stopped between replacing the last segment and adding
        // the writer's: finish it.
        report.new_segment = Some(after_last(dir)?);
    }
    Ok(report)
}

fn salvage_segment(dir: &Path, found: &SegmentCheck, role: Role, label: &str) -> Result<SalvagedSegment, LogError> {
    let temporary = found.path.with_extension("salvage.tmp");
    let frames_expected = usize::try_from(found.frames).unwrap_or(0);
    let mut writer = CompactedWriter::create(&temporary, found.base, frames_expected)?;
    let file = File::open(&found.path).map_err(LogError::io("open", &found.path))?;
    let file_bytes = file.metadata().map_err(LogError::io("stat", &found.path))?.len();
    let mut quiet = |_: Progress| {};
    let mut progress = ProgressCounter::new(file_bytes, &mut quiet);
    let mut unfinished = 0;
    let written = scan_segment(
        found.base,
        &found.path,
        file,
        file_bytes,
        role,
        &mut |visit| {
            match visit {
                Visit::Frame(frame) => {
                    writer.push(frame.position, frame.ends_transaction, &frame.payload)?;
                }
                // A torn write at the end: its transaction was never
                // acknowledged, so its frames go, as recovery would cut them.
                Visit::Damage(damage) if damage.at_tail => unfinished += writer.drop_open_transaction(),
                // Frames before a gap end their transaction: what followed
                // them is lost, and replay must not wait for it.
                Visit::Damage(damage) if !damage.positions.is_empty() => writer.end_transaction(),
                Visit::Damage(_) | Visit::SegmentEnd(_) => {}
            }
            Ok(())
        },
        &mut progress,
    );
    let result = written.and_then(|check| {
        if matches!(role, Role::Last { .. }) {
            unfinished += writer.drop_open_transaction();
        }
        let frames_kept = writer.frames() as u64;
        writer.finish(check.end)?;
        Ok((check, unfinished, frames_kept))
    });
    let (check, unfinished_frames_dropped, frames_kept) = match result {
        Ok(done) => done,
        Err(error) => {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
    };
    let set_aside = set_aside(dir, &found.path, label)?;
    fs::rename(&temporary, &found.path).map_err(LogError::io("rename", &found.path))?;
    sync_directory(dir)?;
    tracing::warn!(
        segment = %found.path.display(),
        set_aside = %set_aside.display(),
        frames_kept,
        damaged_ranges = check.damage.len(),
        "replaced a damaged log segment with the frames that verify"
    );
    Ok(SalvagedSegment {
        base: found.base,
        path: found.path.clone(),
        set_aside,
        frames_kept,
        unfinished_frames_dropped,
        lost: check.damage,
    })
}

/// Keeps the original file under `damaged/` before the replacement is
/// renamed over it: a hard link, so that a crash at any point leaves the
/// segment (old or new) in place and the original kept once the link is.
fn set_aside(dir: &Path, path: &Path, label: &str) -> Result<PathBuf, LogError> {
    let folder = dir.join(DAMAGED_FOLDER);
    fs::create_dir_all(&folder).map_err(LogError::io("create directory", &folder))?;
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut target = folder.join(format!("{name}.{label}"));
    let mut attempt = 1;
    while target.exists() {
        attempt += 1;
        target = folder.join(format!("{name}.{label}-{attempt}"));
    }
    if fs::hard_link(path, &target).is_err() {
        // A file system without hard links: a copy keeps the bytes as well.
        fs::copy(path, &target).map_err(LogError::io("copy", &target))?;
        File::open(&target).and_then(|file| file.sync_all()).map_err(LogError::io("fsync", &target))?;
    }
    sync_directory(&folder)?;
    sync_directory(dir)?;
    Ok(target)
}

/// Adds an empty segment after the last one, where its positions end.
fn after_last(dir: &Path) -> Result<PathBuf, LogError> {
    let segments = list_segments(dir)?;
    let Some((base, path)) = segments.last() else {
        return create_segment(dir, 0);
    };
    let file = File::open(path).map_err(LogError::io("open", path))?;
    let file_bytes = file.metadata().map_err(LogError::io("stat", path))?.len();
    let mut quiet = |_: Progress| {};
    let mut progress = ProgressCounter::new(file_bytes, &mut quiet);
    let role = Role::Last { committed_end: None };
    let last = scan_segment(*base, path, file, file_bytes, role, &mut |_| Ok(()), &mut progress)?;
    create_segment(dir, last.end)
}
