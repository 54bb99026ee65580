//! A projection's task: reads `$all` from its checkpoint, runs each batch
//! through the query, and commits effects and checkpoint together. It
//! reports every step in its status, and any failure faults it with the
//! reason: it never stops silently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_store::{
    EventStore, Position, RecordedEvent, SubscribeFrom, SubscribeToAllRequest, SubscriptionError, SubscriptionItem,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use crate::checkpoint::{self, Checkpoint};
use crate::commit::{Committed, Pending, StandingStates};
use crate::commits::{Commits, Committer};
use crate::mode::Mode;
use crate::names::ProjectionStreams;
use crate::processor::{Batch, Fault, Processor};
use crate::read_ahead::read_ahead;
use crate::record::ProjectionRecord;
use crate::run_as::RunAsAccess;
use crate::runtime::{Effect, RuntimeError, RuntimeLimits, compile};
use crate::states::{PartitionState, StateCache};
use crate::status::{Status, StatusCell};

/// How a projection is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Write what was processed, then stop (`Stopped`).
    Checkpoint,
    /// Stop at once, dropping what is not yet checkpointed (`Aborted`).
    Abort,
}

/// When a continuous projection writes a checkpoint without anything to
/// emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    pub after_events: usize,
    pub after: Duration,
    /// Keeps one transaction well under the store's largest append.
    pub max_bytes: usize,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { after_events: 4000, after: Duration::from_millis(500), max_bytes: 256 * 1024 }
    }
}

/// Events handed to the engine at once.
const BATCH_EVENTS: usize = 512;

pub struct Runner {
    pub name: String,
    pub record: ProjectionRecord,
    pub store: Arc<dyn EventStore>,
    pub status: StatusCell,
    pub states: StateCache,
    pub limits: RuntimeLimits,
    pub policy: CheckpointPolicy,
}

enum Outcome {
    Stopped(StopMode),
    Completed,
    Faulted(String),
}

impl Runner {
    pub async fn run(self, mut stop: watch::Receiver<Option<StopMode>>) {
        self.status.update(|live| {
            *live = crate::status::LiveStatus {
                status: Status::Starting,
                epoch: self.record.epoch,
                version: self.record.version,
                ..Default::default()
            };
        });
        let outcome = self.process(&mut stop).await;
        match outcome {
            Outcome::Stopped(StopMode::Checkpoint) => self.status.set(Status::Stopped, ""),
            Outcome::Stopped(StopMode::Abort) => self.status.set(Status::Aborted, ""),
            Outcome::Completed => self.status.set(Status::Completed, ""),
            Outcome::Faulted(reason) => {
                tracing::warn!(projection = %self.name, %reason, "projection faulted");
                self.status.set(Status::Faulted, reason);
            }
        }
    }

    async fn process(&self, stop: &mut watch::Receiver<Option<StopMode>>) -> Outcome {
        let streams = ProjectionStreams::new(&self.name);
        let query = self.record.query.clone();
        let limits = self.limits;
        let compiled = tokio::task::spawn_blocking(move || compile(&query, limits)).await;
        let runtime = match compiled {
            Ok(Ok(runtime)) => runtime,
            Ok(Err(error)) => return Outcome::Faulted(error.to_string()),
            Err(error) => return Outcome::Faulted(format!("the query could not be compiled: {error}")),
        };
        let definition = runtime.definition().clone();
        let access = RunAsAccess::new(&self.store, self.record.run_as.as_ref());
        if let Err(reason) = access.check_sources(&definition).await {
            return Outcome::Faulted(reason);
        }
        let mode = self.record.mode;
        let loaded = if mode.checkpoints() {
            match checkpoint::load(self.store.as_ref(), &streams, self.record.epoch).await {
                Ok(loaded) => loaded,
                Err(error) => return Outcome::Faulted(error.to_string()),
            }
        } else {
            Checkpoint::default()
        };
        let resume = loaded.position.or(self.record.reset_position.map(Position));
        let mut processor = Processor::new(runtime);
        let emit = self.record.emit_enabled && mode == Mode::Continuous;
        let restored = processor
            .runtime()
            .set_emit_enabled(emit)
            .and_then(|()| processor.restore(&loaded.states, loaded.shared.as_deref()));
        if let Err(error) = restored {
            return Outcome::Faulted(error.to_string());
        }
        self.states.clear();
        for partition in loaded.states.keys() {
            let state = processor.runtime().state(partition).ok().flatten();
            let result = processor.runtime().result(partition).ok().flatten();
            self.states.publish(partition.clone(), PartitionState { state, result });
        }
        let committed = Committed {
            checkpoint_revision: loaded.revision,
            position: loaded.position,
            tracked_streams: loaded.emitted_streams.clone(),
            ..Committed::default()
        };
        let standing = StandingStates { root: loaded.states.get("").cloned(), shared: loaded.shared.clone() };
        self.status.update(|live| {
            live.status = Status::Running;
            live.position = resume;
            live.last_checkpoint = loaded.position;
            live.partitions = processor.partitions();
            live.started = Instant::now();
        });
        let from = resume.map_or(SubscribeFrom::Start, SubscribeFrom::After);
        let request = SubscribeToAllRequest { from, filter: None, checkpoint_interval: None };
        let subscription = match self.store.subscribe_to_all(request).await {
            Ok(subscription) => subscription,
            Err(error) => return Outcome::Faulted(format!("the projection cannot read the log: {error}")),
        };
        let mut items = read_ahead(subscription.ready_chunks(BATCH_EVENTS).boxed());
        let mut commits = Commits::new(Committer {
            store: Arc::clone(&self.store),
            status: self.status.clone(),
            streams,
            definition,
            epoch: self.record.epoch,
            version: self.record.version,
            track_emitted_streams: self.record.track_emitted_streams,
            committed,
            access,
        });
        let outcome = self.follow(&mut items, &mut commits, processor, standing, stop).await;
        // Nothing is left writing once the projection says it stopped.
        match (commits.settle().await, outcome) {
            (Err(error), Outcome::Stopped(_) | Outcome::Completed) => Outcome::Faulted(error),
            (_, outcome) => outcome,
        }
    }

    /// Runs the events read into the engine and commits what they did, the
    /// next commit started while the engine goes on, until stopped.
    async fn follow(
        &self,
        items: &mut BoxStream<'static, Vec<Result<SubscriptionItem, SubscriptionError>>>,
        commits: &mut Commits,
        processor: Processor,
        mut standing: StandingStates,
        stop: &mut watch::Receiver<Option<StopMode>>,
    ) -> Outcome {
        let mode = self.record.mode;
        let mut pending = Pending::default();
        let mut last_commit = Instant::now();
        let mut processor = Some(processor);
        loop {
            let commit_due = tokio::time::sleep_until((last_commit + self.policy.after).into());
            let chunk = tokio::select! {
                biased;
                _ = stop.changed() => {
                    let how = (*stop.borrow()).unwrap_or(StopMode::Checkpoint);
                    if how == StopMode::Checkpoint
                        && mode.checkpoints()
                        && !pending.is_empty()
                        && let Err(error) = commits.write(pending.seal(&standing)).await
                    {
                        return Outcome::Faulted(error);
                    }
                    return Outcome::Stopped(how);
                }
                // A commit that failed faults the projection at once, even
                // when no event comes after it.
                written = commits.finished() => {
                    if let Err(error) = written {
                        return Outcome::Faulted(error);
                    }
                    continue;
                }
                () = commit_due, if mode.checkpoints() && !pending.is_empty() => {
                    if let Err(error) = commits.start(pending.seal(&standing)).await {
                        return Outcome::Faulted(error);
                    }
                    last_commit = Instant::now();
                    continue;
                }
                chunk = items.next() => chunk,
            };
            let Some(chunk) = chunk else {
                return Outcome::Faulted("the log subscription ended".into());
            };
            let mut events: Vec<RecordedEvent> = Vec::with_capacity(chunk.len());
            let mut caught_up = false;
            for item in chunk {
                match item {
                    Ok(SubscriptionItem::Event(event)) => events.push(event),
                    Ok(SubscriptionItem::CaughtUp) => caught_up = true,
                    Ok(SubscriptionItem::Checkpoint(_)) => {}
                    Err(error) => return Outcome::Faulted(format!("the projection cannot read the log: {error}")),
                }
            }
            if !events.is_empty() {
                let Some(mut engine) = processor.take() else {
                    return Outcome::Faulted("the projection lost its engine".into());
                };
                let started = Instant::now();
                // The events come back to be freed here, not on the engine's
                // thread, which has the handlers to run.
                let (engine, processed, events) = match tokio::task::spawn_blocking(move || {
                    let processed = engine.process(&events);
                    (engine, processed, events)
                })
                .await
                {
                    Ok(done) => done,
                    Err(error) => return Outcome::Faulted(format!("the projection's engine stopped: {error}")),
                };
                drop(events);
                let elapsed = started.elapsed();
                let partitions = engine.partitions();
                processor = Some(engine);
                let batch = match processed {
                    Ok(batch) => batch,
                    Err(error) => return Outcome::Faulted(fault_reason(&error)),
                };
                self.absorb(batch, &mut pending, &mut standing, elapsed, partitions);
            }
            let over = pending.has_writes()
                || pending.events >= self.policy.after_events
                || pending.bytes >= self.policy.max_bytes
                || last_commit.elapsed() >= self.policy.after;
            if mode.checkpoints() && over && !pending.is_empty() {
                if let Err(error) = commits.start(pending.seal(&standing)).await {
                    return Outcome::Faulted(error);
                }
                last_commit = Instant::now();
            }
            if caught_up && mode != Mode::Continuous {
                return Outcome::Completed;
            }
        }
    }

    /// Adds a processed batch to what the next checkpoint writes, and
    /// publishes its states at once.
    fn absorb(
        &self,
        batch: Batch,
        pending: &mut Pending,
        standing: &mut StandingStates,
        elapsed: Duration,
        partitions: usize,
    ) {
        for change in batch.changes.partitions {
            if change.partition.is_empty() {
                standing.root.clone_from(&change.state);
            }
            pending.bytes += change.state.as_ref().map_or(0, String::len) * 2;
            self.states.publish(
                change.partition.clone(),
                PartitionState { state: change.state.clone(), result: change.result.clone() },
            );
            pending.changed.insert(change.partition.clone(), change);
        }
        if batch.changes.shared.is_some() {
            standing.shared.clone_from(&batch.changes.shared);
        }
        for effect in batch.changes.effects {
            match effect {
                Effect::Log(message) => tracing::info!(projection = %self.name, "{message}"),
                other => {
                    pending.bytes += effect_bytes(&other);
                    pending.effects.push(other);
                }
            }
        }
        pending.new_partitions.extend(batch.new_partitions);
        pending.events += batch.handled;
        if let Some(position) = batch.last_position {
            pending.position = Some(position);
        }
        let buffered = pending.events;
        self.status.update(|live| {
            live.events_processed += batch.handled as u64;
            live.position = batch.last_position.or(live.position);
            live.partitions = partitions;
            live.buffered = buffered;
            live.processing_nanos += elapsed.as_nanos();
        });
    }
}

fn effect_bytes(effect: &Effect) -> usize {
    match effect {
        Effect::Emit { stream, event_type, data, metadata, .. } => {
            stream.len() + event_type.len() + data.len() + metadata.as_ref().map_or(0, String::len) + 128
        }
        Effect::Link { stream, target, metadata, .. } | Effect::LinkStream { stream, target, metadata, .. } => {
            stream.len() + target.len() + metadata.as_ref().map_or(0, String::len) + 128
        }
        Effect::Log(_) => 0,
    }
}

/// KurrentDB's clients look for the handler's message in the reason; the
/// event it stopped at follows.
fn fault_reason(fault: &Fault) -> String {
    let reason = match &fault.error {
        RuntimeError::Threw(message) => format!("The projection's handler threw: {message}"),
        other => other.to_string(),
    };
    match &fault.event {
        Some(event) => format!("{reason} (at event {event})"),
        None => reason,
    }
}
