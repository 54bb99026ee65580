//! Verifying a database: every frame of every segment (`eventfold_log::verify_log`),
//! then the index against the log both ways: each event of the log must be
//! indexed at its position, and each index entry must point at a frame of
//! the event it names. Damage that no read has reached yet is found here.
//!
//! Two ways in, one check: [`verify_offline`] on a directory no process
//! holds (it takes the directory lock, reads the index read-only and the log
//! without recovery, and changes nothing), and `EventStore::verify_storage`
//! inside a running engine, which reads sealed segments and the active one
//! up to the committed end and the index through the published snapshot, so
//! appends go on meanwhile.

mod index_pass;

use std::ops::Range;
use std::path::Path;

use eventfold_index::{Index, IndexError, IndexSnapshot, ReadOnlyIndex};
use eventfold_log::{Damage, LogCheck, LogReader, open_read_only, verify_log};
use eventfold_store::{DamagedRange, IndexReport, SegmentReport, VerifyReport};

pub(crate) use index_pass::{IndexPass, event_owns_entry, indexed_at};

use crate::engine::lock_directory;
use crate::shared::Shared;
use crate::{EngineConfig, EngineError};

/// The part of a verification in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyStage {
    /// Reading every frame of the log (units: bytes).
    Log,
    /// Following every index entry to the log (units: entries).
    Index,
    /// Rewriting damaged segments, in a repair (units: bytes).
    Salvage,
}

impl VerifyStage {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyStage::Log => "log",
            VerifyStage::Index => "index",
            VerifyStage::Salvage => "salvage",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyProgress {
    pub stage: VerifyStage,
    pub done: u64,
    pub total: u64,
}

/// Verifies the database in `dir`, which no process may hold: fails with
/// [`EngineError::Locked`] while a server runs on it (verify through the
/// server instead).
pub fn verify_offline(dir: &Path, progress: &mut dyn FnMut(VerifyProgress)) -> Result<VerifyReport, EngineError> {
    let config = EngineConfig::new(dir);
    let _lock = lock_directory(&config)?;
    verify_locked(&config, progress)
}

/// The offline check, for a caller that holds the directory lock.
pub(crate) fn verify_locked(
    config: &EngineConfig,
    progress: &mut dyn FnMut(VerifyProgress),
) -> Result<VerifyReport, EngineError> {
    let log_dir = config.log_dir();
    let opened = OpenedIndex::open(&config.index_path());
    let snapshot = match &opened {
        Ok(index) => index.snapshot().map_err(|error| error.to_string()),
        Err(reason) => Err(reason.clone()),
    };
    let mut pass = IndexPass::new(snapshot.as_ref().map_err(Clone::clone));
    let check = verify_log(&log_dir, None, &mut |visit| pass.visit(&visit), &mut |step| {
        progress(VerifyProgress { stage: VerifyStage::Log, done: step.bytes_done, total: step.bytes_total })
    })?;
    if pass.can_read() {
        let (reader, _) = open_read_only(&log_dir)?;
        let end = pass.checkpoint();
        pass.entries(&reader, end, &damaged_positions(&check), &mut |done, total| {
            progress(VerifyProgress { stage: VerifyStage::Index, done, total })
        });
    }
    Ok(report(false, &check, pass.finish()))
}

/// The check inside a running engine: nothing past the committed end is
/// read, and the index is the snapshot readers see.
pub(crate) fn verify_online(shared: &Shared, config: &EngineConfig) -> Result<VerifyReport, EngineError> {
    // The writer publishes a batch's snapshot before its end: taken in the
    // other order, the snapshot's checkpoint is never past the end.
    let snapshot = shared.snapshot();
    let end = shared.committed_end();
    let mut pass = IndexPass::new(Ok(&snapshot));
    let check = verify_log(&config.log_dir(), Some(end), &mut |visit| pass.visit(&visit), &mut |_| {})?;
    let reader: &LogReader = &shared.reader;
    let checkpoint = pass.checkpoint().min(end);
    pass.entries(reader, checkpoint, &damaged_positions(&check), &mut |_, _| {});
    Ok(report(true, &check, pass.finish()))
}

/// The index file opened for reading. Read-only when redb allows; a file a
/// crash left needing redb's recovery is opened the way the engine opens it,
/// which runs that recovery (the index is derived state, and the next start
/// would do the same).
enum OpenedIndex {
    ReadOnly(ReadOnlyIndex),
    ReadWrite(Index),
}

impl OpenedIndex {
    fn open(path: &Path) -> Result<Self, String> {
        if !path.exists() {
            return Err("no index file (the next start builds it from the log)".into());
        }
        match ReadOnlyIndex::open(path) {
            Ok(index) => Ok(Self::ReadOnly(index)),
            Err(read_only) => Index::open(path)
                .map(Self::ReadWrite)
                .map_err(|error| format!("{error} (read-only: {read_only}); the next start rebuilds it")),
        }
    }

    fn snapshot(&self) -> Result<IndexSnapshot, IndexError> {
        match self {
            Self::ReadOnly(index) => index.snapshot(),
            Self::ReadWrite(index) => index.snapshot(),
        }
    }
}

fn damaged_positions(check: &LogCheck) -> Vec<Range<u64>> {
    check.damage().map(|damage| damage.positions.clone()).filter(|range| !range.is_empty()).collect()
}

pub(crate) fn damaged_range(damage: &Damage) -> DamagedRange {
    DamagedRange {
        file: damage.path.display().to_string(),
        offset: damage.offset,
        bytes: damage.bytes,
        position_start: damage.positions.start,
        position_end: damage.positions.end,
        frame_positions: damage.frame_positions.clone(),
        reason: damage.reason.clone(),
        at_tail: damage.at_tail,
    }
}

fn report(online: bool, check: &LogCheck, index: IndexReport) -> VerifyReport {
    let segments = check
        .segments
        .iter()
        .map(|segment| SegmentReport {
            file: segment.path.display().to_string(),
            base: segment.base,
            compacted: segment.compacted,
            bytes: segment.file_bytes,
            frames: segment.frames,
        })
        .collect();
    VerifyReport { online, segments, damaged: check.damage().map(damaged_range).collect(), index }
}
