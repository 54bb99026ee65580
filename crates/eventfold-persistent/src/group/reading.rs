//! Filling the buffer from the source and the retry queue from a parked
//! replay, within the group's bounds: nothing is read while no consumer
//! would take it, and never more than the buffer sizes allow.

use futures::FutureExt;

use super::state::GroupState;
use crate::message::{Delivery, Message, Origin};
use crate::reader::{ReadItem, Reader, cursor_of};
use crate::replay::{Replay, ReplayItem};
use eventfold_store::{RecordedEvent, StorageError, StorageErrorKind};
use eventfold_store::{link_target as target_of, resolve_link as resolve};

/// The most bytes of events a group buffers ahead of its consumers, however
/// large its buffer sizes: bounds its memory whatever the events' size.
pub(crate) const BUFFER_BYTES_MAX: usize = 32 * 1024 * 1024;
/// The most replayed parked events waiting in the retry queue, however
/// large the history buffer size.
const REPLAY_QUEUE_MAX: usize = 4096;

/// The next item of the reader; never ready without one.
pub(super) async fn next_read(reader: &mut Option<Reader>) -> Option<Result<ReadItem, StorageError>> {
    match reader {
        Some(reader) => reader.next().await,
        None => std::future::pending().await,
    }
}

/// The next item of the replay; never ready without one.
pub(super) async fn next_replay(replay: &mut Option<Replay>) -> Option<Result<ReplayItem, StorageError>> {
    match replay {
        Some(replay) => replay.next().await,
        None => std::future::pending().await,
    }
}

impl GroupState {
    /// Whether to read more from the source now.
    pub fn wants_pull(&self) -> bool {
        let Some(reader) = &self.reader else {
            return false;
        };
        let settings = &self.definition.spec.settings;
        let limit = if reader.caught_up() { settings.live_buffer_size } else { settings.history_buffer_size };
        self.consumers.any_accepting() && self.buffer.len() < limit as usize && self.buffer_bytes < BUFFER_BYTES_MAX
    }

    /// Whether to take more parked events into the retry queue now.
    pub fn wants_replay(&self) -> bool {
        let limit = (self.definition.spec.settings.history_buffer_size as usize).min(REPLAY_QUEUE_MAX);
        self.replay.as_ref().is_some_and(|replay| !replay.exhausted())
            && self.consumers.any_accepting()
            && self.retry.len() < limit
    }

    /// Takes one item of the reader, then whatever else it has ready, up to
    /// a read batch.
    pub async fn on_read(&mut self, item: Option<Result<ReadItem, StorageError>>) {
        self.take_read(item).await;
        let batch = self.definition.spec.settings.read_batch_size;
        for _ in 1..batch {
            if !self.wants_pull() {
                break;
            }
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            match reader.next().now_or_never() {
                Some(item) => self.take_read(item).await,
                None => break,
            }
        }
    }

    async fn take_read(&mut self, item: Option<Result<ReadItem, StorageError>>) {
        match item {
            None => {
                let ended = StorageError::new(StorageErrorKind::Closed, "the store ended the subscription");
                self.fail(ended).await;
            }
            Some(Err(error)) => self.fail(error).await,
            Some(Ok(ReadItem::CaughtUp)) => {}
            Some(Ok(ReadItem::Passed(cursor))) => self.progress.passed(cursor),
            Some(Ok(ReadItem::Event(event))) => self.accept(event).await,
        }
    }

    async fn accept(&mut self, event: RecordedEvent) {
        let cursor = cursor_of(self.definition.key().source(), &event);
        let delivery = if self.definition.spec.settings.resolve_links && target_of(&event).is_some() {
            match resolve(self.store.as_ref(), &event).await {
                Ok(Some(target)) => Delivery { event: target, link: Some(event), retry_count: 0 },
                // The target is gone: the link is all there is to deliver.
                Ok(None) => Delivery { event, link: None, retry_count: 0 },
                Err(error) => {
                    self.fail(crate::store_errors::from_read(error)).await;
                    return;
                }
            }
        } else {
            Delivery { event, link: None, retry_count: 0 }
        };
        let sequence = self.progress.read(cursor);
        let message = Message { delivery, origin: Origin::Source(sequence) };
        self.buffer_bytes += message.size_bytes();
        self.buffer.push_back(message);
    }

    /// Takes one parked entry, then whatever else the replay has ready.
    pub async fn on_replay(&mut self, item: Option<Result<ReplayItem, StorageError>>) {
        self.take_replayed(item).await;
        let batch = self.definition.spec.settings.read_batch_size;
        for _ in 1..batch {
            if !self.wants_replay() {
                break;
            }
            let Some(replay) = self.replay.as_mut() else {
                break;
            };
            match replay.next().now_or_never() {
                Some(item) => self.take_replayed(item).await,
                None => break,
            }
        }
    }

    async fn take_replayed(&mut self, item: Option<Result<ReplayItem, StorageError>>) {
        match item {
            // Read to the end; the replay ends once its events are done.
            None => {}
            Some(Err(error)) => {
                tracing::warn!(group = %self.definition.key(), %error, "replaying parked events failed; stopping the replay");
                self.end_replay().await;
            }
            Some(Ok(ReplayItem { delivery: None, .. })) => {}
            Some(Ok(ReplayItem { revision, delivery: Some(delivery) })) => {
                self.retry.push_back(Message { delivery, origin: Origin::Parked(revision) });
            }
        }
    }
}
