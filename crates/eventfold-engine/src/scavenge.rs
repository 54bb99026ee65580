//! Scavenging: one background thread rewrites the sealed log segments
//! without the events no read can return any more, while reads and appends
//! go on.
//!
//! What goes, decided per event against an index snapshot taken when its
//! segment starts:
//! - events of a tombstoned stream, except the tombstone;
//! - events below the stream's first visible revision (`$tb`, soft delete,
//!   `$maxCount`) and events older than `$maxAge`;
//! - metadata events (`$$<stream>`) older than the stream's latest one.
//!
//! What always stays: the last event of every stream. Replaying the log then
//! still gives every stream its next revision and its metadata, so the index
//! stays derivable from the log after a scavenge (IDX-1).
//!
//! The writer's segment is never touched, and a removal is final: metadata
//! that later lowers `$tb` does not bring scavenged events back.
//!
//! Once every segment is done, the index entries of removed events are
//! deleted through the writer (`index_sweep.rs`).

mod index_sweep;
#[cfg(test)]
mod sweep_tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eventfold_index::{IndexSnapshot, StreamEntry};
use eventfold_log::{CompactionPolicy, Frame, LogError};
use eventfold_store::{
    Position, ScavengeError, ScavengeOptions, ScavengeState, ScavengeStatus, StorageError, StorageErrorKind, Timestamp,
};
use tokio::sync::mpsc;

use crate::effects::is_metadata_stream;
use crate::metrics::ScavengePhase;
use crate::read::oldest_visible;
use crate::record::decode_event;
use crate::shared::Shared;
use crate::storage_error;
use crate::writer::Command;

/// Bytes between two updates of the published progress.
const PROGRESS_EVERY_BYTES: u64 = 4 * 1024 * 1024;
/// Longest sleep of the rate limiter, so a stop request is seen promptly.
const PACE_SLEEP_MAX: Duration = Duration::from_millis(100);

/// The engine's scavenges: at most one runs; the last one's status is kept.
#[derive(Default)]
pub(crate) struct Scavenges {
    current: Mutex<Option<Arc<Run>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Run {
    status: Mutex<ScavengeStatus>,
    stop: AtomicBool,
}

impl Run {
    fn new() -> Self {
        Run {
            status: Mutex::new(ScavengeStatus {
                id: uuid::Uuid::new_v4().to_string(),
                state: ScavengeState::Running,
                started: Timestamp::now(),
                finished: None,
                segments_total: 0,
                segments_done: 0,
                bytes_read: 0,
                bytes_reclaimed: 0,
                events_kept: 0,
                events_removed: 0,
                error: None,
            }),
            stop: AtomicBool::new(false),
        }
    }

    fn status(&self) -> ScavengeStatus {
        self.status.lock().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut ScavengeStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|poison| poison.into_inner()));
    }
}

impl Scavenges {
    /// Starts a scavenge; `commands` reaches the writer, which deletes the
    /// index entries of what it removed.
    pub fn start(
        &self,
        shared: Arc<Shared>,
        commands: mpsc::Sender<Command>,
        options: ScavengeOptions,
    ) -> Result<ScavengeStatus, ScavengeError> {
        let mut current = self.current.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(run) = current.as_ref() {
            let status = run.status();
            if !status.state.is_finished() {
                return Err(ScavengeError::InProgress(Box::new(status)));
            }
        }
        let run = Arc::new(Run::new());
        let status = run.status();
        let worker = Arc::clone(&run);
        let handle = std::thread::Builder::new()
            .name("eventfold-scavenge".into())
            .spawn(move || finish(&worker, scavenge(&shared, &commands, &worker, &options)))
            .map_err(|error| {
                ScavengeError::Storage(StorageError::new(StorageErrorKind::Io, format!("spawn scavenge: {error}")))
            })?;
        *current = Some(run);
        // The previous thread, if any, has finished (its state said so).
        let previous = self.thread.lock().unwrap_or_else(|poison| poison.into_inner()).replace(handle);
        if let Some(previous) = previous {
            let _ = previous.join();
        }
        tracing::info!(id = %status.id, "scavenge started");
        Ok(status)
    }

    pub fn stop(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        let current = self.current.lock().unwrap_or_else(|poison| poison.into_inner());
        let running = current.as_ref().filter(|run| {
            let status = run.status();
            status.id == id && !status.state.is_finished()
        });
        match running {
            Some(run) => {
                run.stop.store(true, Ordering::Release);
                Ok(run.status())
            }
            None => Err(ScavengeError::NotFound { id: id.to_string() }),
        }
    }

    pub fn status(&self) -> Option<ScavengeStatus> {
        self.current.lock().unwrap_or_else(|poison| poison.into_inner()).as_ref().map(|run| run.status())
    }

    /// Stops the running scavenge, if any, and waits for its thread: nothing
    /// may rewrite segments once the engine has stopped.
    pub fn shutdown(&self) {
        if let Some(run) = self.current.lock().unwrap_or_else(|poison| poison.into_inner()).as_ref() {
            run.stop.store(true, Ordering::Release);
        }
        let handle = self.thread.lock().unwrap_or_else(|poison| poison.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// Why a scavenge ended early.
enum Abort {
    Stopped,
    Failed(String),
}

impl From<LogError> for Abort {
    fn from(error: LogError) -> Self {
        Abort::Failed(storage_error(&error).to_string())
    }
}

fn finish(run: &Run, result: Result<(), Abort>) {
    run.update(|status| {
        status.finished = Some(Timestamp::now());
        match result {
            Ok(()) => status.state = ScavengeState::Completed,
            Err(Abort::Stopped) => status.state = ScavengeState::Stopped,
            Err(Abort::Failed(error)) => {
                status.state = ScavengeState::Failed;
                status.error = Some(error);
            }
        }
    });
    let status = run.status();
    tracing::info!(
        id = %status.id,
        state = status.state.as_str(),
        segments = status.segments_done,
        bytes_reclaimed = status.bytes_reclaimed,
        events_removed = status.events_removed,
        error = status.error.as_deref().unwrap_or(""),
        "scavenge finished"
    );
}

fn scavenge(
    shared: &Shared,
    commands: &mpsc::Sender<Command>,
    run: &Run,
    options: &ScavengeOptions,
) -> Result<(), Abort> {
    let statuses = &shared.gauges.statuses;
    statuses.scavenge(ScavengePhase::ChunkExecution);
    let compacted = compact_sealed_segments(shared, run, options);
    let swept = compacted.and_then(|()| {
        // After the log: a crash in between leaves entries of removed
        // positions, which reads skip and the next scavenge deletes (IDX-3).
        statuses.scavenge(ScavengePhase::IndexExecution);
        index_sweep::forget_removed_entries(shared, commands, &run.stop)
    });
    statuses.scavenge(ScavengePhase::Idle);
    let forgotten = swept?;
    tracing::debug!(forgotten, "deleted the index entries of removed events");
    Ok(())
}

/// Rewrites every sealed segment without the events that go.
fn compact_sealed_segments(shared: &Shared, run: &Run, options: &ScavengeOptions) -> Result<(), Abort> {
    let sealed = shared.reader.sealed_segments()?;
    run.update(|status| status.segments_total = sealed.len() as u64);
    let mut pacer = Pacer::new(options.max_bytes_per_second);
    let mut read_before = 0;
    for segment in sealed {
        if run.stop.load(Ordering::Acquire) {
            return Err(Abort::Stopped);
        }
        let snapshot = shared.snapshot();
        let mut policy = Policy { snapshot, streams: HashMap::new(), pacer: &mut pacer, run, unpublished: 0 };
        let outcome = shared.reader.compact_segment(segment.base, &mut policy)?;
        // Progress within a segment counts every paced byte, written ones
        // too; once it is done, the count is the bytes it read.
        read_before += outcome.bytes_read;
        run.update(|status| {
            status.segments_done += 1;
            status.bytes_read = read_before;
            status.bytes_reclaimed += outcome.bytes_before.saturating_sub(outcome.bytes_after);
            status.events_kept += outcome.frames_kept;
            status.events_removed += outcome.frames_removed;
        });
        tracing::debug!(base = segment.base, ?outcome, "scavenged a segment");
    }
    Ok(())
}

/// The rules of the module comment, applied to one segment's frames.
struct Policy<'a> {
    snapshot: Arc<IndexSnapshot>,
    /// Stream state per stream name, looked up once per segment.
    streams: HashMap<String, Option<StreamEntry>>,
    pacer: &'a mut Pacer,
    run: &'a Run,
    /// Bytes paced but not yet added to the published status.
    unpublished: u64,
}

impl Policy<'_> {
    fn entry(&mut self, stream: &str) -> Result<Option<StreamEntry>, Abort> {
        if let Some(entry) = self.streams.get(stream) {
            return Ok(*entry);
        }
        let entry = self.snapshot.stream(stream).map_err(|error| Abort::Failed(format!("index: {error}")))?;
        self.streams.insert(stream.to_string(), entry);
        Ok(entry)
    }
}

impl CompactionPolicy for Policy<'_> {
    type Error = Abort;

    fn keep(&mut self, frame: &Frame) -> Result<bool, Abort> {
        let event = decode_event(&frame.payload, Position(frame.position))
            .map_err(|error| Abort::Failed(format!("record at position {}: {error}", frame.position)))?;
        // Records of kinds this version does not know are kept as they are.
        let Some(event) = event else { return Ok(true) };
        let Some(entry) = self.entry(event.stream.as_str())? else { return Ok(true) };
        Ok(keeps(&entry, is_metadata_stream(event.stream.as_str()), event.revision, event.created))
    }

    fn pace(&mut self, bytes: u64) -> Result<(), Abort> {
        self.unpublished += bytes;
        if self.unpublished >= PROGRESS_EVERY_BYTES {
            let published = std::mem::take(&mut self.unpublished);
            self.run.update(|status| status.bytes_read += published);
        }
        self.pacer.pace(bytes, &self.run.stop)
    }
}

/// Whether an event at `revision` of a stream in state `entry` can still be
/// read (or must stay for the log to derive the stream's state).
pub(crate) fn keeps(entry: &StreamEntry, metadata_stream: bool, revision: u64, created: Timestamp) -> bool {
    let last = entry.next_revision.checked_sub(1);
    if Some(revision) == last {
        return true;
    }
    if entry.tombstoned || metadata_stream {
        return false;
    }
    revision >= entry.first_visible_revision() && created >= oldest_visible(entry.max_age_seconds)
}

/// Holds a scavenge to a byte rate, checking for a stop request while it
/// waits.
struct Pacer {
    bytes_per_second: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Pacer {
    fn new(bytes_per_second: Option<u64>) -> Self {
        Self { bytes_per_second: bytes_per_second.filter(|rate| *rate > 0), started: Instant::now(), bytes: 0 }
    }

    fn pace(&mut self, bytes: u64, stop: &AtomicBool) -> Result<(), Abort> {
        self.bytes += bytes;
        loop {
            if stop.load(Ordering::Acquire) {
                return Err(Abort::Stopped);
            }
            match self.wait(self.started.elapsed()) {
                Some(wait) => std::thread::sleep(wait.min(PACE_SLEEP_MAX)),
                None => return Ok(()),
            }
        }
    }

    /// How much longer to wait, `elapsed` after the start, to stay at the rate.
    fn wait(&self, elapsed: Duration) -> Option<Duration> {
        let rate = self.bytes_per_second?;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        due.checked_sub(elapsed).filter(|wait| !wait.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(next_revision: u64) -> StreamEntry {
        StreamEntry { next_revision, ..StreamEntry::new(1) }
    }

    #[test]
    fn the_last_event_of_a_stream_always_stays() {
        let mut tombstoned = entry(5);
        tombstoned.tombstoned = true;
        assert!(keeps(&tombstoned, false, 4, Timestamp::now()));
        assert!(!keeps(&tombstoned, false, 3, Timestamp::now()));
        let mut deleted = entry(5);
        deleted.truncate_before = 5;
        assert!(keeps(&deleted, false, 4, Timestamp::now()));
        assert!(!keeps(&deleted, false, 0, Timestamp::now()));
        assert!(keeps(&entry(3), true, 2, Timestamp::now()));
        assert!(!keeps(&entry(3), true, 1, Timestamp::now()), "older metadata goes");
    }

    #[test]
    fn truncation_count_and_age_decide_the_rest() {
        let mut truncated = entry(10);
        truncated.truncate_before = 4;
        assert!(!keeps(&truncated, false, 3, Timestamp::now()));
        assert!(keeps(&truncated, false, 4, Timestamp::now()));
        let mut counted = entry(10);
        counted.max_count = Some(2);
        assert!(!keeps(&counted, false, 7, Timestamp::now()));
        assert!(keeps(&counted, false, 8, Timestamp::now()));
        let mut aged = entry(10);
        aged.max_age_seconds = Some(60);
        let old = Timestamp(Timestamp::now().ticks() - 120 * 10_000_000);
        assert!(!keeps(&aged, false, 1, old));
        assert!(keeps(&aged, false, 1, Timestamp::now()));
        assert!(keeps(&entry(10), false, 0, old), "no retention: everything stays");
    }

    #[test]
    fn the_pacer_holds_the_rate_and_sees_a_stop() {
        let stop = AtomicBool::new(false);
        let mut pacer = Pacer::new(Some(10_000_000));
        pacer.bytes = 1_000_000;
        assert_eq!(pacer.wait(Duration::ZERO), Some(Duration::from_millis(100)), "1 MB at 10 MB/s is 100 ms");
        assert_eq!(pacer.wait(Duration::from_millis(40)), Some(Duration::from_millis(60)));
        assert_eq!(pacer.wait(Duration::from_millis(100)), None);
        assert_eq!(Pacer::new(None).wait(Duration::ZERO), None, "no limit, no wait");
        stop.store(true, Ordering::Release);
        assert!(matches!(pacer.pace(1, &stop), Err(Abort::Stopped)));
    }
}
