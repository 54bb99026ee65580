//! One connector's task: subscribe from the checkpoint, filter, transform, batch,
//! deliver with retries, dead-letter what cannot be delivered, checkpoint,
//! and start over from the last delivered event after any fault, until it
//! is told to stop.
//!
//! A batch the sink fails past the retry limit, or rejects, is split in
//! halves, each delivered in order, down to the single event at fault,
//! which goes to the dead-letter stream: a poison event costs a few extra
//! requests and never stalls the connector. A target that cannot be
//! reached is waited for, with backoff, however long.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{
    EventStore, RecordedEvent, SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionItem,
    SubscriptionStream,
};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::batch::Batch;
use crate::checkpoint;
use crate::dead_letter::dead_letter;
use crate::settings::{ConnectorSettings, InitialPosition, Source};
use crate::sink::{Sink, SinkError};
use crate::status::{ConnectorState, SharedStatus};
use crate::transform::{TransformSettings, Transformer};

/// How often a filtered `$all` subscription reports how far it scanned
/// (in events scanned), so that a connector whose filter skips most of the
/// log need not scan it again after a restart.
const SCAN_CHECKPOINT_INTERVAL: u32 = 500;
/// How long a delivery in flight may go on once the connector is told to
/// stop (the manager waits 10 s for a task to end).
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the gauges are set again while nothing moves: the exporter
/// forgets a gauge left alone for 30 s.
const GAUGE_REFRESH: Duration = Duration::from_secs(5);

pub(crate) struct Runner {
    pub id: String,
    pub store: Arc<dyn EventStore>,
    pub settings: ConnectorSettings,
    pub status: SharedStatus,
    pub stop: watch::Receiver<bool>,
}

/// Why delivery was cut short.
enum Interrupt {
    Stopped,
    /// Start over from the stored checkpoint (the reason is logged).
    Restart(String),
}

/// What becomes of an event from the subscription.
enum Prepared {
    /// To the sink as `event`; `original` is the log's event when a
    /// transform made `event`.
    Deliver {
        event: RecordedEvent,
        original: Option<RecordedEvent>,
    },
    Skip(RecordedEvent),
}

enum Attempt {
    Delivered,
    GaveUp(String),
}

struct Progress {
    /// Where delivery resumes; `None` until loaded (and again after a
    /// fault of a sink that keeps the checkpoint, which may or may not have
    /// committed its last batch).
    resume: Option<Option<u64>>,
    /// The value last written as the checkpoint.
    committed: Option<u64>,
    events_since_commit: u64,
    last_commit: Instant,
    /// The log position of the last event delivered, for the lag.
    last_log_position: Option<u64>,
}

impl Runner {
    pub async fn run(mut self) {
        let mut sink = self.settings.sink.build(&self.id);
        self.status.set_state(ConnectorState::Running);
        let mut progress = Progress {
            resume: None,
            committed: None,
            events_since_commit: 0,
            last_commit: Instant::now(),
            last_log_position: None,
        };
        let mut transformer = match self.settings.transform.as_ref().map(TransformSettings::start).transpose() {
            Ok(transformer) => transformer,
            Err(reason) => {
                let reason = format!("starting the transform: {reason}");
                self.status.error(&reason);
                self.status.set_state(ConnectorState::Faulted { reason });
                return;
            }
        };
        let mut faults_in_a_row = 0;
        loop {
            match self.session(sink.as_mut(), &mut transformer, &mut progress, &mut faults_in_a_row).await {
                Interrupt::Stopped => break,
                Interrupt::Restart(reason) => {
                    tracing::warn!(connector = %self.id, %reason, "connector restarting from its checkpoint");
                    self.status.error(&reason);
                    // Faulted while it waits; running again once it resumes.
                    self.status.set_state(ConnectorState::Faulted { reason });
                    faults_in_a_row += 1;
                    if sink.keeps_checkpoint() {
                        progress.resume = None;
                    }
                    if self.sleep(self.settings.retry.delay(faults_in_a_row)).await.is_err() {
                        break;
                    }
                }
            }
        }
        if !sink.keeps_checkpoint()
            && let Some(Some(position)) = progress.resume
            && progress.committed != Some(position)
            && let Err(error) = checkpoint::save(self.store.as_ref(), &self.id, Some(position)).await
        {
            tracing::warn!(connector = %self.id, %error, "cannot write the connector's last checkpoint");
        }
        self.status.set_state(ConnectorState::Stopped);
    }

    async fn session(
        &mut self,
        sink: &mut dyn Sink,
        transformer: &mut Option<Transformer>,
        progress: &mut Progress,
        faults: &mut u32,
    ) -> Interrupt {
        let resume = match progress.resume {
            Some(resume) => resume,
            None => {
                let loaded = if sink.keeps_checkpoint() {
                    self.interruptible(sink.stored_checkpoint())
                        .await
                        .map(|loaded| loaded.map_err(|error| error.to_string()))
                } else {
                    Ok(checkpoint::load(self.store.as_ref(), &self.id).await.map_err(|error| error.to_string()))
                };
                match loaded {
                    Err(interrupt) => return interrupt,
                    Ok(Err(reason)) => return Interrupt::Restart(format!("reading the checkpoint: {reason}")),
                    Ok(Ok(resume)) => {
                        progress.committed = resume;
                        // "Latest" on `$all` is pinned to the head now and
                        // checkpointed soon, so that a restart before the
                        // first event does not skip what came meanwhile.
                        let resume = match (resume, self.settings.initial, &self.settings.source) {
                            (None, InitialPosition::Latest, Source::All) => {
                                self.store.head_position().map(|head| head.0)
                            }
                            _ => resume,
                        };
                        progress.resume = Some(resume);
                        resume
                    }
                }
            }
        };
        let mut subscription = match self.subscribe(resume).await {
            Ok(subscription) => subscription,
            Err(reason) => return Interrupt::Restart(reason),
        };
        self.status.set_state(ConnectorState::Running);
        self.report(progress);
        let mut batch = Batch::new(self.settings.batch);
        // The log's events that the batch's transformed ones came from, by
        // log position: a dead letter is always the log's event.
        let mut originals: BTreeMap<u64, RecordedEvent> = BTreeMap::new();
        let mut refresh = tokio::time::interval(GAUGE_REFRESH);
        loop {
            let deadline = batch.deadline();
            let checkpoint_due = self.checkpoint_due_at(progress);
            // Events ready now go into the batch before its deadline is
            // looked at: a batch goes when it is full, or when its time is up
            // and nothing more is ready.
            tokio::select! {
                biased;
                () = stopped(self.stop.clone()) => return Interrupt::Stopped,
                item = subscription.next() => match item {
                    Some(Ok(SubscriptionItem::Event(event))) => {
                        match self.prepare(event, transformer.as_mut()).await {
                            Err(interrupt) => return interrupt,
                            Ok(Prepared::Deliver { event, original }) => {
                                if let Some(original) = original {
                                    originals.insert(event.position.0, original);
                                }
                                batch.push(event);
                            }
                            Ok(Prepared::Skip(event)) => {
                                if batch.is_empty() {
                                    progress.resume = Some(Some(self.resume_value(&event)));
                                    progress.last_log_position = Some(event.position.0);
                                }
                            }
                        }
                        // Full, or its time is up though events keep coming.
                        let overdue = batch.deadline().is_some_and(|deadline| deadline <= Instant::now());
                        if (batch.is_full() || overdue)
                            && let Err(interrupt) = self.flush(sink, &mut batch, &mut originals, progress, faults).await
                        {
                            return interrupt;
                        }
                    }
                    Some(Ok(SubscriptionItem::Checkpoint(position))) => {
                        if batch.is_empty() && self.settings.source == Source::All {
                            progress.resume = Some(Some(position.0));
                            progress.last_log_position = Some(position.0);
                        }
                    }
                    Some(Ok(SubscriptionItem::CaughtUp)) => {}
                    Some(Err(error)) => return Interrupt::Restart(format!("subscription: {error}")),
                    None => return Interrupt::Restart("the subscription ended".into()),
                },
                () = sleep_until_some(deadline) => {
                    if let Err(interrupt) = self.flush(sink, &mut batch, &mut originals, progress, faults).await {
                        return interrupt;
                    }
                }
                () = sleep_until_some(checkpoint_due) => {
                    if let Err(interrupt) = self.commit(sink, progress).await {
                        return interrupt;
                    }
                }
                _ = refresh.tick() => {
                    self.status.set_state(ConnectorState::Running);
                    self.report(progress);
                }
            }
        }
    }

    async fn subscribe(&self, resume: Option<u64>) -> Result<SubscriptionStream, String> {
        match &self.settings.source {
            Source::All => {
                let from = match (resume, self.settings.initial) {
                    (Some(position), _) => SubscribeFrom::After(eventfold_store::Position(position)),
                    (None, InitialPosition::Earliest) => SubscribeFrom::Start,
                    (None, InitialPosition::Latest) => SubscribeFrom::End,
                };
                let request = SubscribeToAllRequest {
                    from,
                    filter: self.settings.filter.clone(),
                    checkpoint_interval: self.settings.filter.as_ref().map(|_| SCAN_CHECKPOINT_INTERVAL),
                };
                self.store.subscribe_to_all(request).await.map_err(|error| format!("subscribing to $all: {error}"))
            }
            Source::Stream(stream) => {
                let from = match (resume, self.settings.initial) {
                    (Some(revision), _) => SubscribeFrom::After(revision),
                    (None, InitialPosition::Earliest) => SubscribeFrom::Start,
                    (None, InitialPosition::Latest) => SubscribeFrom::End,
                };
                let request = SubscribeToStreamRequest { stream: stream.clone(), from };
                self.store
                    .subscribe_to_stream(request)
                    .await
                    .map_err(|error| format!("subscribing to {stream}: {error}"))
            }
        }
    }

    /// The event as the sink is to see it, or skipped: filtered out,
    /// dropped by the transform, or dead-lettered because the transform
    /// failed on it.
    async fn prepare(
        &self,
        event: RecordedEvent,
        transformer: Option<&mut Transformer>,
    ) -> Result<Prepared, Interrupt> {
        if !self.settings.delivers(&event) {
            return Ok(Prepared::Skip(event));
        }
        let Some(transformer) = transformer else { return Ok(Prepared::Deliver { event, original: None }) };
        match transformer.apply(&event) {
            Ok(Some(transformed)) => Ok(Prepared::Deliver { event: transformed, original: Some(event) }),
            Ok(None) => Ok(Prepared::Skip(event)),
            Err(reason) => {
                self.dead_letter(&event, &reason).await?;
                Ok(Prepared::Skip(event))
            }
        }
    }

    /// What the checkpoint holds after `event`: its log position on `$all`,
    /// its revision on one stream.
    fn resume_value(&self, event: &RecordedEvent) -> u64 {
        match self.settings.source {
            Source::All => event.position.0,
            Source::Stream(_) => event.revision,
        }
    }

    /// Delivers the batch: halves what fails down to single events, which
    /// are dead-lettered.
    async fn flush(
        &self,
        sink: &mut dyn Sink,
        batch: &mut Batch,
        originals: &mut BTreeMap<u64, RecordedEvent>,
        progress: &mut Progress,
        faults: &mut u32,
    ) -> Result<(), Interrupt> {
        let events = batch.take();
        let originals = std::mem::take(originals);
        // Ranges still to deliver, the next on top.
        let mut pending = Vec::with_capacity(8);
        pending.push(0..events.len());
        while let Some(range) = pending.pop() {
            let slice = &events[range.clone()];
            let Some(last) = slice.last() else { continue };
            let through = self.resume_value(last);
            match self.attempt(sink, slice, through).await? {
                Attempt::Delivered => {
                    *faults = 0;
                    self.status.delivered(slice.len() as u64);
                }
                Attempt::GaveUp(reason) if slice.len() > 1 => {
                    let middle = range.start + slice.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                    tracing::debug!(connector = %self.id, %reason, "splitting a failed batch");
                    continue;
                }
                Attempt::GaveUp(reason) => {
                    self.dead_letter(originals.get(&last.position.0).unwrap_or(last), &reason).await?;
                    // The sink that keeps the checkpoint records that this
                    // event is done with, so it is not retried on restart.
                    if sink.keeps_checkpoint()
                        && let Attempt::GaveUp(reason) = self.attempt(sink, &[], through).await?
                    {
                        tracing::warn!(connector = %self.id, %reason, "cannot record a dead-lettered event's checkpoint");
                    }
                }
            }
            progress.resume = Some(Some(through));
            progress.events_since_commit += slice.len() as u64;
            if sink.keeps_checkpoint() {
                progress.committed = Some(through);
                progress.events_since_commit = 0;
                progress.last_commit = Instant::now();
            }
            progress.last_log_position = Some(last.position.0);
            self.report(progress);
        }
        if progress.events_since_commit >= self.settings.checkpoint.every_events {
            self.commit(sink, progress).await?;
        }
        Ok(())
    }

    /// One delivery with its retries.
    async fn attempt(&self, sink: &mut dyn Sink, events: &[RecordedEvent], through: u64) -> Result<Attempt, Interrupt> {
        let policy = self.settings.retry;
        let mut retries = 0;
        let mut waits = 0;
        loop {
            let outcome = self.deliver_or_stop(sink, events, through).await?;
            let error = match outcome {
                Ok(()) => {
                    if waits > 0 {
                        self.status.set_state(ConnectorState::Running);
                    }
                    return Ok(Attempt::Delivered);
                }
                Err(error) => error,
            };
            self.status.error(&error.to_string());
            let delay = match error {
                SinkError::Unavailable(reason) => {
                    if sink.keeps_checkpoint() {
                        // Whether the last transaction committed is known
                        // only to the target: ask it again.
                        return Err(Interrupt::Restart(reason));
                    }
                    waits += 1;
                    self.status.set_state(ConnectorState::Faulted { reason: format!("target unavailable: {reason}") });
                    policy.delay(waits)
                }
                SinkError::Transient(reason) => {
                    retries += 1;
                    if retries > policy.max_retries {
                        return Ok(Attempt::GaveUp(reason));
                    }
                    policy.delay(retries)
                }
                SinkError::Rejected(reason) => return Ok(Attempt::GaveUp(reason)),
            };
            self.sleep(delay).await.map_err(|()| Interrupt::Stopped)?;
        }
    }

    /// One delivery. Told to stop meanwhile, the delivery in flight gets
    /// [`STOP_GRACE`] to finish, so that a clean stop does not send it
    /// again after the next start; past that it is abandoned (delivered
    /// again later: at least once).
    async fn deliver_or_stop(
        &self,
        sink: &mut dyn Sink,
        events: &[RecordedEvent],
        through: u64,
    ) -> Result<Result<(), SinkError>, Interrupt> {
        if *self.stop.borrow() {
            return Err(Interrupt::Stopped);
        }
        let delivery = sink.deliver(events, through);
        tokio::pin!(delivery);
        tokio::select! {
            biased;
            outcome = &mut delivery => Ok(outcome),
            () = stopped(self.stop.clone()) => {
                tokio::time::timeout(STOP_GRACE, delivery).await.map_err(|_| Interrupt::Stopped)
            }
        }
    }

    /// Writes a dead letter, retrying a store that refuses for now.
    async fn dead_letter(&self, event: &RecordedEvent, reason: &str) -> Result<(), Interrupt> {
        let mut failures = 0;
        loop {
            match dead_letter(self.store.as_ref(), &self.id, event, reason).await {
                Ok(()) => {
                    self.status.dead_lettered();
                    tracing::warn!(connector = %self.id, stream = %event.stream, revision = event.revision, %reason, "event dead-lettered");
                    return Ok(());
                }
                Err(error) => {
                    failures += 1;
                    self.status.error(&format!("writing a dead letter: {error}"));
                    self.sleep(self.settings.retry.delay(failures)).await.map_err(|()| Interrupt::Stopped)?;
                }
            }
        }
    }

    /// When the checkpoint is next due, if there is progress to record.
    fn checkpoint_due_at(&self, progress: &Progress) -> Option<Instant> {
        let position = progress.resume.flatten();
        (position.is_some() && position != progress.committed)
            .then(|| progress.last_commit + self.settings.checkpoint.every)
    }

    /// Records the checkpoint: in the log, or through a sink that keeps it
    /// (progress made by skipping filtered events only).
    async fn commit(&self, sink: &mut dyn Sink, progress: &mut Progress) -> Result<(), Interrupt> {
        let Some(Some(position)) = progress.resume else { return Ok(()) };
        if progress.committed == Some(position) {
            return Ok(());
        }
        if sink.keeps_checkpoint() {
            if let Attempt::GaveUp(reason) = self.attempt(sink, &[], position).await? {
                return Err(Interrupt::Restart(reason));
            }
        } else if let Err(error) = checkpoint::save(self.store.as_ref(), &self.id, Some(position)).await {
            // Not fatal: delivery goes on, and the next checkpoint covers it.
            self.status.error(&format!("writing the checkpoint: {error}"));
        }
        progress.committed = Some(position);
        progress.events_since_commit = 0;
        progress.last_commit = Instant::now();
        Ok(())
    }

    fn report(&self, progress: &Progress) {
        let head = self.store.head_position().map(|head| head.0);
        let lag = match (head, progress.last_log_position) {
            (Some(head), Some(position)) => Some(head.saturating_sub(position)),
            _ => None,
        };
        self.status.set_position(progress.resume.flatten(), lag);
    }

    async fn interruptible<T>(&self, work: impl Future<Output = T>) -> Result<T, Interrupt> {
        tokio::select! {
            biased;
            () = stopped(self.stop.clone()) => Err(Interrupt::Stopped),
            value = work => Ok(value),
        }
    }

    /// Sleeps, unless told to stop first (`Err`).
    async fn sleep(&self, delay: Duration) -> Result<(), ()> {
        tokio::select! {
            biased;
            () = stopped(self.stop.clone()) => Err(()),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves once the connector is told to stop (or its manager is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}
