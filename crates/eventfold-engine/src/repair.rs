//! Repairing a database no process holds: every damaged log segment is
//! replaced by one that keeps each frame that verifies at its position (the
//! damaged file is set aside, never deleted: `eventfold_log::salvage_log`),
//! then the index is rebuilt from the log by the engine's own open, the
//! same path that rebuilds a lost index.
//!
//! What was lost is reported exactly: the damaged byte ranges with their
//! files, offsets and positions, and, where the old index could still be
//! read, the stream and revision of every event whose frame was in one.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use eventfold_log::salvage_log;
use eventfold_store::{DamagedRange, VerifyReport};

use crate::engine::lock_directory;
use crate::verify::{VerifyProgress, VerifyStage, damaged_range, verify_locked};
use crate::{Engine, EngineConfig, EngineError};

/// What a repair did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The verification made before anything was changed; its
    /// `index.events_in_damage` names the events lost.
    pub before: VerifyReport,
    pub repaired: Vec<RepairedSegment>,
    /// The empty segment added for the writer when the segment it appended
    /// to was replaced.
    pub new_segment: Option<String>,
}

/// One damaged segment and its replacement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairedSegment {
    pub file: String,
    /// Where the damaged original was moved.
    pub set_aside: String,
    pub frames_kept: u64,
    /// Frames of a transaction never finished at the end of the segment the
    /// writer appended to: never acknowledged, and cut at open as well.
    pub unfinished_frames_dropped: u64,
    /// The damaged ranges: the positions in them are lost.
    pub lost: Vec<DamagedRange>,
}

/// Repairs the database in `dir`: fails with [`EngineError::Locked`] while
/// a server runs on it. Blocks until done (the index rebuild reads the
/// whole log).
pub fn repair_offline(dir: &Path, progress: &mut dyn FnMut(VerifyProgress)) -> Result<RepairReport, EngineError> {
    let config = EngineConfig::new(dir);
    let lock = lock_directory(&config)?;
    let before = verify_locked(&config, progress)?;
    let label = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs()).to_string();
    let salvage = salvage_log(&config.log_dir(), &label, &mut |step| {
        progress(VerifyProgress { stage: VerifyStage::Salvage, done: step.bytes_done, total: step.bytes_total })
    })?;
    let repaired = salvage
        .salvaged
        .iter()
        .map(|segment| RepairedSegment {
            file: segment.path.display().to_string(),
            set_aside: segment.set_aside.display().to_string(),
            frames_kept: segment.frames_kept,
            unfinished_frames_dropped: segment.unfinished_frames_dropped,
            lost: segment.lost.iter().map(damaged_range).collect(),
        })
        .collect();

    // The index is rebuilt whatever it looked like: it may name positions
    // the salvage removed, and rebuilding is what a damaged one needs.
    let index_path = config.index_path();
    if index_path.exists() {
        fs::remove_file(&index_path).map_err(|source| EngineError::Io { op: "remove", path: index_path, source })?;
    }
    // Opening replays the whole log into the new index and makes it
    // durable; dropping the engine stops its writer and releases the lock.
    drop(Engine::open_locked(config, lock)?);
    Ok(RepairReport { before, repaired, new_segment: salvage.new_segment.map(|path| path.display().to_string()) })
}
