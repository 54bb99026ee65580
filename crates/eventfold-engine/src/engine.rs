use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use eventfold_index::{Index, IndexError};
use eventfold_log::LogError;
use eventfold_store::{
    AllFrom, AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, Direction,
    EventStore, EventStream, ExpectedRevision, Position, ReadAllRequest, ReadError, ReadStreamRequest, RevisionFrom,
    ScavengeError, ScavengeOptions, ScavengeStatus, StorageError, StorageErrorKind, StoreHealth, StreamName,
    SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionError, SubscriptionStream, Timestamp,
    VerifyError, VerifyReport,
};
use tokio::sync::{mpsc, oneshot};

use crate::EngineConfig;
use crate::caches::{RecentEventIds, StreamCache};
use crate::index_sample::{Sample, check_sample};
use crate::metrics::WriterMetrics;
use crate::metrics::{EngineGauges, IndexStatus, ScavengePhase};
use crate::read::{
    AllBackwards, AllForwards, StreamRead, all_page_backwards, all_page_forwards_read, frame_start_blocking,
    index_failure, internal, paged, stream_page_read,
};
use crate::record::{EVENT_RECORD_FIXED_BYTES, decode_event, encoded_size};
use crate::recovery::replay;
use crate::scavenge::Scavenges;
use crate::shared::Shared;
use crate::subscription::{Subscription, Target};
use crate::verify::verify_online;
use crate::writer::{Command, Writer, WriterHealth};

/// Why the engine could not open.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("corrupt event record at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("data directory {path} is in use by another process")]
    Locked { path: PathBuf },
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    DataFormat { path: PathBuf, reason: String },
}

/// The embedded event store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    config: EngineConfig,
    /// `None` once shut down.
    commands: Option<mpsc::Sender<Command>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    scavenges: Scavenges,
    backups: crate::backup::Backups,
    _lock: File,
}

impl Engine {
    /// Opens (or creates) the database in `config.dir`: recovers the log's
    /// tail, brings the index up to the log, and starts the writer thread.
    pub fn open(config: EngineConfig) -> Result<Self, EngineError> {
        fs::create_dir_all(&config.dir).map_err(|source| EngineError::Io {
            op: "create",
            path: config.dir.clone(),
            source,
        })?;
        let lock = lock_directory(&config)?;
        Self::open_locked(config, lock)
    }

    /// Opens the database for a caller that already holds its directory
    /// lock (a repair, which rebuilds the index this way).
    pub(crate) fn open_locked(config: EngineConfig, lock: File) -> Result<Self, EngineError> {
        let started = Instant::now();
        crate::format_version::check_on_open(&config)?;
        let index_path = config.index_path();
        let opened = Index::open(&index_path).and_then(|index| {
            let checkpoint = index.snapshot()?.checkpoint()?;
            Ok((index, checkpoint))
        });
        let (index, mut checkpoint) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                tracing::warn!(%error, "index unusable; rebuilding it from the log");
                (rebuild_index_file(&index_path)?, 0)
            }
        };
        let (log, reader, report) = eventfold_log::open(&config.log_config(), checkpoint)?;
        let index = if checkpoint > report.end {
            // The index claims more than the log holds: it cannot be trusted.
            tracing::warn!(checkpoint, log_end = report.end, "index is ahead of the log; rebuilding it");
            drop(index);
            checkpoint = 0;
            rebuild_index_file(&index_path)?
        } else {
            match check_sample(&index, &reader, checkpoint) {
                Ok(Sample::Consistent) => index,
                Ok(Sample::Inconsistent(reason)) => {
                    tracing::warn!(%reason, "index disagrees with the log; rebuilding it");
                    drop(index);
                    checkpoint = 0;
                    rebuild_index_file(&index_path)?
                }
                Err(error) => {
                    // Damage in the log itself: reads report it where they
                    // meet it, and `eventfold admin verify` finds all of it.
                    tracing::warn!(%error, "could not check the index against the log");
                    index
                }
            }
        };
        let gauges = EngineGauges::default();
        gauges.statuses.index(IndexStatus::Rebuilding);
        let replayed = replay(&index, &reader, checkpoint, report.end)?;
        gauges.statuses.index(IndexStatus::Idle);
        gauges.statuses.scavenge(ScavengePhase::Idle);
        // Replay ends with a durable commit (IDX-2).
        gauges.index_checkpoint.store(report.end, std::sync::atomic::Ordering::Relaxed);
        let (head, last_created) = match reader.scan_backward(report.end).next_frame()? {
            Some(frame) => (frame.position, last_created(&frame)),
            None => (0, Timestamp::default()),
        };
        let snapshot = index.snapshot()?;
        let shared =
            Arc::new(Shared::new(reader, index, snapshot, report.end, head, config.live_buffer_batches, gauges));
        let (commands, receiver) = mpsc::channel(config.queue_depth.max(1));
        let writer = Writer {
            shared: Arc::clone(&shared),
            log,
            config: config.clone(),
            streams: StreamCache::new(config.stream_cache_capacity),
            recent_ids: RecentEventIds::new(config.idempotency_window),
            next_stream_id: replayed.next_stream_id,
            last_created,
            last_index_flush: Instant::now(),
            index_dirty: false,
            index_ahead_of_log: false,
            health: WriterHealth::default(),
            metrics: WriterMetrics::register(),
        };
        let writer = std::thread::Builder::new()
            .name("eventfold-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|source| EngineError::Io { op: "spawn writer", path: config.dir.clone(), source })?;
        tracing::info!(
            dir = %config.dir.display(),
            end = report.end,
            segments = report.segment_count,
            truncated_bytes = report.truncated_bytes,
            replayed_events = replayed.events,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "engine opened"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                config,
                commands: Some(commands),
                writer: Mutex::new(Some(writer)),
                scavenges: Scavenges::default(),
                backups: crate::backup::Backups::default(),
                _lock: lock,
            }),
        })
    }

    /// Sets the gauges that describe the engine's state (checkpoints,
    /// statuses, recent maxima, cache sizes, the last scavenge's progress)
    /// through the `metrics` facade. Whoever serves the metrics calls it
    /// before each scrape; counters and histograms need no such call.
    pub fn record_metrics(&self) {
        let shared = &self.inner.shared;
        shared.gauges.record(shared.committed_end());
        if let Some(status) = self.inner.scavenges.status() {
            crate::metrics::scavenge_progress(&status);
        }
    }

    /// Waits for queued appends, makes the index durable and stops the
    /// writer. Later appends fail with `Closed`.
    pub async fn shutdown(&self) {
        let engine = self.clone();
        let _ = tokio::task::spawn_blocking(move || engine.inner.scavenges.shutdown()).await;
        if let Some(commands) = &self.inner.commands {
            let (reply, done) = oneshot::channel();
            if commands.send(Command::Shutdown { reply }).await.is_ok() {
                let _ = done.await;
            }
        }
        let handle = self.inner.writer.lock().unwrap_or_else(|poison| poison.into_inner()).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// End of the committed log: the position the next event will get (or
    /// a later one, when a segment rolls).
    pub fn committed_end(&self) -> Position {
        Position(self.inner.shared.committed_end())
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub(crate) fn backups(&self) -> &crate::backup::Backups {
        &self.inner.backups
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    fn check_append(&self, requests: &[AppendRequest]) -> Result<(), AppendError> {
        let max_bytes = self.inner.config.max_append_bytes;
        eventfold_store::check_append(requests, max_bytes)?;
        let encoded_bytes: usize = requests
            .iter()
            .flat_map(|request| request.events.iter().map(|event| encoded_size(&request.stream, event)))
            .sum();
        // Per-event overhead (the stream name repeated in every record) can
        // make a small append large on disk; bound what one write can tear.
        let encoded_max = self.inner.config.batch_bytes_max.max(max_bytes + EVENT_RECORD_FIXED_BYTES);
        if encoded_bytes > encoded_max {
            return Err(AppendError::MaximumAppendSizeExceeded { size_bytes: encoded_bytes, max_bytes: encoded_max });
        }
        Ok(())
    }

    /// [`Self::stream_entry`] on the blocking pool: index reads may touch disk.
    async fn stream_entry_blocking(
        &self,
        stream: &StreamName,
    ) -> Result<Option<eventfold_index::StreamEntry>, StorageError> {
        let engine = self.clone();
        let stream = stream.clone();
        tokio::task::spawn_blocking(move || engine.stream_entry(&stream)).await.map_err(internal)?
    }

    fn stream_entry(&self, stream: &StreamName) -> Result<Option<eventfold_index::StreamEntry>, StorageError> {
        self.inner.shared.snapshot().stream(stream.as_str()).map_err(index_failure)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.scavenges.shutdown();
        // Closing the queue ends the writer's loop; it flushes the index.
        self.commands.take();
        let handle = self.writer.get_mut().unwrap_or_else(|poison| poison.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn closed() -> StorageError {
    StorageError::new(StorageErrorKind::Closed, "the store is shut down")
}

pub(crate) fn lock_directory(config: &EngineConfig) -> Result<File, EngineError> {
    let path = config.dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| EngineError::Io { op: "open", path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Locked { path: config.dir.clone() }),
        Err(std::fs::TryLockError::Error(source)) => Err(EngineError::Io { op: "lock", path, source }),
    }
}

fn rebuild_index_file(path: &std::path::Path) -> Result<Index, EngineError> {
    if path.exists() {
        fs::remove_file(path).map_err(|source| EngineError::Io { op: "remove", path: path.to_path_buf(), source })?;
    }
    Ok(Index::open(path)?)
}

#[async_trait]
impl EventStore for Engine {
    async fn append_transaction(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        self.check_append(&requests)?;
        let commands = self.inner.commands.as_ref().ok_or_else(closed)?;
        let (reply, outcome) = oneshot::channel();
        commands
            .send(Command::Append { transaction: requests, reply, queued: Instant::now() })
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }

    async fn delete_stream(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
    ) -> Result<DeleteOutcome, AppendError> {
        let commands = self.inner.commands.as_ref().ok_or_else(closed)?;
        let (reply, outcome) = oneshot::channel();
        commands
            .send(Command::Delete { stream, expected, mode, reply, queued: Instant::now() })
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
        let entry = match self.stream_entry_blocking(&request.stream).await? {
            Some(entry) if entry.tombstoned => return Err(ReadError::StreamDeleted { stream: request.stream }),
            // No event, or every event truncated (a soft delete): not found.
            Some(entry) if entry.next_revision > entry.first_visible_revision() => entry,
            _ => return Err(ReadError::StreamNotFound { stream: request.stream }),
        };
        let forwards = request.direction == Direction::Forwards;
        let floor = entry.first_visible_revision();
        let next = match (request.from, forwards) {
            (RevisionFrom::Start, true) => Some(floor),
            (RevisionFrom::Start, false) => Some(floor),
            (RevisionFrom::End, true) => None,
            (RevisionFrom::End, false) => Some(u64::MAX),
            (RevisionFrom::Revision(revision), true) => Some(revision.max(floor)),
            (RevisionFrom::Revision(revision), false) => (revision >= floor).then_some(revision),
        };
        let state = StreamRead {
            shared: Arc::clone(&self.inner.shared),
            stream: request.stream,
            stream_id: entry.id,
            max_age_seconds: entry.max_age_seconds,
            next,
            floor,
            forwards,
            remaining: request.max_count,
        };
        Ok(paged(state, stream_page_read))
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<EventStream, ReadError> {
        let shared = Arc::clone(&self.inner.shared);
        let end = shared.committed_end();
        let from = match request.from {
            AllFrom::Start => 0,
            AllFrom::End => end,
            AllFrom::Position(position) => position.0,
        };
        // Any position reads from the first event at or after it (backwards:
        // before it), as KurrentDB does: clients compute positions, such as
        // the last one seen plus one.
        let start = frame_start_blocking(&shared, from, end).await.map_err(ReadError::Storage)?;
        match request.direction {
            Direction::Forwards => {
                let state =
                    AllForwards { shared, resume_at: start, remaining: request.max_count, filter: request.filter };
                Ok(paged(state, all_page_forwards_read))
            }
            Direction::Backwards => {
                // Frames that end at or before `start` lie wholly before the
                // position, so the event at it (if any) is not read.
                let before = start.min(end);
                let state = AllBackwards { shared, before, remaining: request.max_count, filter: request.filter };
                Ok(paged(state, all_page_backwards))
            }
        }
    }

    async fn subscribe_to_stream(
        &self,
        request: SubscribeToStreamRequest,
    ) -> Result<SubscriptionStream, SubscriptionError> {
        let next_revision = match request.from {
            SubscribeFrom::Start => 0,
            SubscribeFrom::After(revision) => revision.saturating_add(1),
            SubscribeFrom::End => {
                let entry = self.stream_entry_blocking(&request.stream).await?;
                entry.map_or(0, |entry| entry.next_revision)
            }
        };
        let target = Target::Stream { stream: request.stream, next_revision, last_position: None };
        Ok(Subscription::new(Arc::clone(&self.inner.shared), target).into_stream())
    }

    async fn subscribe_to_all(&self, request: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
        let shared = Arc::clone(&self.inner.shared);
        let (after, resume_at) = match request.from {
            SubscribeFrom::Start => (None, None),
            SubscribeFrom::End => (None, Some(shared.committed_end())),
            SubscribeFrom::After(position) => {
                let end = shared.committed_end();
                let start = frame_start_blocking(&shared, position.0, end).await.map_err(SubscriptionError::Storage)?;
                if position.0 >= end {
                    // Past the end: no frame is known to start there, so
                    // the reads start at the end and skip what lies at or
                    // before the position.
                    (Some(position.0), Some(end))
                } else if start == position.0 {
                    // An event's position: what follows it.
                    (Some(position.0), None)
                } else {
                    // Inside an event, in a segment header or at an event
                    // scavenged since: every event from the next frame on
                    // lies after the position.
                    (None, Some(start))
                }
            }
        };
        let target = Target::All {
            after,
            resume_at,
            filter: request.filter,
            checkpoint_interval: request.checkpoint_interval,
            scanned_since_checkpoint: 0,
        };
        Ok(Subscription::new(shared, target).into_stream())
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError> {
        Ok(match self.stream_entry_blocking(stream).await? {
            Some(entry) if entry.tombstoned => return Err(ReadError::StreamDeleted { stream: stream.clone() }),
            Some(entry) if entry.next_revision > 0 => CurrentRevision::Current(entry.next_revision - 1),
            _ => CurrentRevision::NoStream,
        })
    }

    fn head_position(&self) -> Option<Position> {
        match self.inner.shared.head() {
            0 => None,
            head => Some(Position(head)),
        }
    }

    fn health(&self) -> StoreHealth {
        self.inner.shared.health()
    }

    async fn start_scavenge(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        // Once the writer has stopped, so has the engine: nothing may rewrite
        // its segments any more.
        let commands = match self.inner.commands.as_ref() {
            Some(commands) if !commands.is_closed() => commands.clone(),
            _ => return Err(ScavengeError::Storage(closed())),
        };
        self.inner.scavenges.start(Arc::clone(&self.inner.shared), commands, options)
    }

    async fn stop_scavenge(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        self.inner.scavenges.stop(id)
    }

    async fn verify_storage(&self) -> Result<VerifyReport, VerifyError> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || verify_online(&engine.inner.shared, &engine.inner.config))
            .await
            .map_err(internal)?
            .map_err(|error| VerifyError::Storage(StorageError::new(StorageErrorKind::Io, error.to_string())))
    }

    async fn scavenge_status(&self) -> Option<ScavengeStatus> {
        self.inner.scavenges.status()
    }

    async fn backup(
        &self,
        request: eventfold_store::BackupRequest,
    ) -> Result<eventfold_store::BackupReport, eventfold_store::BackupError> {
        crate::backup::backup_for_store(self, request).await
    }
}

/// When the newest event was stamped, so that the writer never stamps one
/// earlier. A head frame that cannot be decoded leaves no floor: reads report
/// that damage where they meet it.
fn last_created(head: &eventfold_log::Frame) -> Timestamp {
    match decode_event(&head.payload, Position(head.position)) {
        Ok(Some(event)) => event.created,
        _ => Timestamp::default(),
    }
}
