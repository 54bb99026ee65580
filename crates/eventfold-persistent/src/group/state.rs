//! A group's state, as its task owns it, and the handling of one command.
//! The other files of this module add the rest of its methods: delivery,
//! reading, saving and info.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{EventFilter, EventStore, StorageError, StorageErrorKind};
use tokio::time::Instant;

use super::metrics::{self, GroupMetrics};
use super::{Command, Connected, Flow};
use crate::checkpoint;
use crate::consumer::DropReason;
use crate::consumers::Consumers;
use crate::definition::{Cursor, Origin, SharedDefinition};
use crate::error::ConnectError;
use crate::in_flight::InFlight;
use crate::info::Meter;
use crate::message::Message;
use crate::parked::{Parked, ToPark};
use crate::progress::Progress;
use crate::reader::Reader;
use crate::replay::Replay;
use crate::timeouts::TimeoutClock;

/// How long the task sleeps when nothing is scheduled; it wakes earlier for
/// any command, disconnect or event.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

pub(crate) struct GroupState {
    pub definition: SharedDefinition,
    pub store: Arc<dyn EventStore>,
    /// The compiled `$all` filter.
    pub filter: Option<EventFilter>,
    pub consumers: Consumers,
    /// Read from the source, waiting for a consumer.
    pub buffer: VecDeque<Message>,
    pub buffer_bytes: usize,
    /// To deliver before the buffer: timed out, nacked, from a consumer
    /// that left, or replayed from the parked stream.
    pub retry: VecDeque<Message>,
    pub in_flight: InFlight,
    pub progress: Progress,
    /// Opened when the first consumer connects.
    pub reader: Option<Reader>,
    /// Why reading last failed; cleared when a reader opens again.
    pub failure: Option<String>,
    pub parked: Parked,
    pub replay: Option<Replay>,
    /// Events to park at the next save.
    pub to_park: Vec<ToPark>,
    pub last_checkpoint_at: Instant,
    /// Events delivered, for statistics.
    pub meter: Meter,
    /// When unacked events count as timed out.
    pub timeouts: TimeoutClock,
    pub metrics: GroupMetrics,
}

impl GroupState {
    pub async fn load(
        definition: SharedDefinition,
        store: Arc<dyn EventStore>,
        timeout_tick: Duration,
    ) -> Result<GroupState, StorageError> {
        let key = definition.key();
        let checkpoint = checkpoint::load(store.as_ref(), key, definition.incarnation).await?;
        let parked = Parked::load(store.as_ref(), key).await?;
        let filter = match &definition.spec.filter {
            Some(filter) => Some(filter.compile().map_err(|error| {
                StorageError::new(StorageErrorKind::Corrupt, format!("stored filter of {key}: {error}"))
            })?),
            None => None,
        };
        Ok(GroupState {
            metrics: GroupMetrics::new(key.source(), key.group()),
            progress: Progress::new(checkpoint, origin_cursor(definition.origin)),
            definition,
            store,
            filter,
            consumers: Consumers::default(),
            buffer: VecDeque::new(),
            buffer_bytes: 0,
            retry: VecDeque::new(),
            in_flight: InFlight::default(),
            reader: None,
            failure: None,
            parked,
            replay: None,
            to_park: Vec::new(),
            last_checkpoint_at: Instant::now(),
            meter: Meter::new(),
            timeouts: TimeoutClock::new(timeout_tick),
        })
    }

    pub async fn handle(&mut self, command: Command) -> Flow {
        match command {
            Command::Connect { options, reply } => {
                let max = self.definition.spec.settings.max_subscriber_count;
                if max != 0 && self.consumers.len() >= max as usize {
                    let _ = reply.send(Err(ConnectError::MaximumSubscribersReached(self.definition.key().clone())));
                    return Flow::Continue;
                }
                let (id, receiver) = self.consumers.add(options, self.definition.spec.settings.extra_statistics);
                // The reply goes first: a reader that fails to open drops the
                // consumer, and it must be able to see why.
                let _ = reply.send(Ok(Connected { id, receiver }));
                self.ensure_reader().await;
            }
            Command::Ack { ids, .. } => {
                for id in ids {
                    self.ack(id);
                }
            }
            Command::Nack { ids, action, reason } => {
                for id in ids {
                    self.nack(id, action, &reason);
                }
            }
            Command::StopConsumer { consumer } => self.consumers.stop(consumer),
            Command::ReplayParked { stop_at, reply } => {
                self.metrics.replay_requested();
                if self.replay.is_none() {
                    self.replay = self.parked.replay(Arc::clone(&self.store), stop_at);
                }
                let _ = reply.send(Ok(()));
            }
            Command::TruncateParked { stop_at, reply } => {
                let _ = reply.send(self.parked.discard(self.store.as_ref(), stop_at).await);
            }
            Command::Info { reply } => {
                let _ = reply.send(self.info());
            }
            Command::Shutdown { reason, reply } => {
                self.stop(reason).await;
                let _ = reply.send(());
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Everything due after a wake: timeouts, parking, dispatch, then
    /// whatever progress can be saved.
    pub async fn settle(&mut self, now: Instant) {
        self.expire(self.timeouts.last_tick(now));
        self.flush_parks().await;
        self.dispatch();
        self.save_progress(now, false).await;
    }

    /// When the task must wake without a command or an event.
    pub fn next_wake(&self) -> Instant {
        // Never later than the next refresh of the metrics (`metrics.rs`).
        let idle = Instant::now() + IDLE_WAKE.min(metrics::REFRESH);
        let deadline = self.in_flight.next_deadline().map_or(idle, |deadline| self.timeouts.first_tick_after(deadline));
        deadline.min(self.next_save().unwrap_or(idle))
    }

    /// Starts reading from where the group got to (its last checkpoint, or
    /// its origin), unless a reader is open.
    pub async fn ensure_reader(&mut self) {
        if self.reader.is_some() {
            return;
        }
        let resume = match self.progress.last_checkpoint() {
            Some(cursor) => crate::reader::Resume::After(cursor),
            None => match self.definition.origin {
                Origin::Start => crate::reader::Resume::Start,
                Origin::After(cursor) => crate::reader::Resume::After(cursor),
                Origin::AtOrAfter(cursor) => crate::reader::Resume::AtOrAfter(cursor),
            },
        };
        let source = self.definition.key().source().clone();
        match Reader::open(self.store.as_ref(), &source, self.filter.clone(), resume).await {
            Ok(reader) => {
                self.reader = Some(reader);
                self.failure = None;
            }
            Err(error) => self.fail(error).await,
        }
    }

    /// Reading failed: every consumer is dropped and everything read since
    /// the last checkpoint will be read again when one connects.
    pub async fn fail(&mut self, error: StorageError) {
        self.reader = None;
        if crate::store_errors::is_closed(&error) {
            // The store is shutting down; the manager stops the group next.
            return;
        }
        let key = self.definition.key();
        tracing::warn!(group = %key, %error, "persistent subscription cannot read its source; dropping its consumers");
        self.flush_parks().await;
        self.save_progress(Instant::now(), true).await;
        self.consumers.drop_all(&DropReason::Failed(error.to_string()));
        self.failure = Some(error.to_string());
        self.buffer.clear();
        self.buffer_bytes = 0;
        self.retry.clear();
        self.in_flight.drain();
        self.to_park.clear();
        self.replay = None;
        self.progress = Progress::new(self.progress.last_checkpoint(), origin_cursor(self.definition.origin));
    }

    /// The last checkpoint and parked truncation, then every consumer goes.
    pub async fn stop(&mut self, reason: DropReason) {
        self.flush_parks().await;
        self.save_progress(Instant::now(), true).await;
        self.consumers.drop_all(&reason);
    }
}

/// The cursor the tracker starts after, for a group without a checkpoint.
fn origin_cursor(origin: Origin) -> Option<Cursor> {
    match origin {
        Origin::After(cursor) => Some(cursor),
        Origin::Start | Origin::AtOrAfter(_) => None,
    }
}
