//! Catch-up subscriptions: history from storage, then live events from the
//! writer's broadcast, with no gap and no duplicate.
//!
//! The subscription registers for live batches *before* each history pass,
//! so every batch committed after its last storage read is in its receiver;
//! a position (or revision) cursor drops what the history already gave. The
//! broadcast buffer is bounded: a subscriber that falls behind it gets
//! `Lagged`, forgets the buffer and reads storage again from its cursor. So a
//! slow consumer costs disk reads, never unbounded memory, and since the
//! stream is pulled, a consumer that stops polling stops all work for it.

use std::collections::VecDeque;
use std::sync::Arc;

use eventfold_store::{
    EventFilter, Position, ReadError, StorageError, StorageErrorKind, StreamName, SubscriptionError, SubscriptionItem,
    SubscriptionStream,
};
use futures::StreamExt;
use tokio::sync::broadcast;

use crate::effects::{is_virtual_stream, link_event, links_into};
use crate::read::{PAGE_EVENTS, all_page_forwards, index_failure, internal, oldest_visible, stream_page};
use crate::shared::{CommittedBatch, Shared};

pub(crate) enum Target {
    All {
        /// Last position delivered or scanned; later events only.
        after: Option<u64>,
        /// Frame boundary where the next history page starts, when known.
        resume_at: Option<u64>,
        filter: Option<EventFilter>,
        checkpoint_interval: Option<u32>,
        scanned_since_checkpoint: u32,
    },
    Stream {
        stream: StreamName,
        next_revision: u64,
        /// Position of the last event delivered; what tells a virtual
        /// stream's live links from those history already gave.
        last_position: Option<u64>,
    },
}

pub(crate) struct Subscription {
    shared: Arc<Shared>,
    /// `None` only while a history page is being read on the blocking pool.
    target: Option<Target>,
    receiver: Option<broadcast::Receiver<Arc<CommittedBatch>>>,
    live: bool,
    caught_up_sent: bool,
    pending: VecDeque<SubscriptionItem>,
    finished: bool,
}

impl Subscription {
    pub fn new(shared: Arc<Shared>, target: Target) -> Self {
        Self {
            shared,
            target: Some(target),
            receiver: None,
            live: false,
            caught_up_sent: false,
            pending: VecDeque::new(),
            finished: false,
        }
    }

    pub fn into_stream(self) -> SubscriptionStream {
        futures::stream::unfold(self, |mut subscription| async move {
            let item = subscription.next_item().await?;
            Some((item, subscription))
        })
        .boxed()
    }

    async fn next_item(&mut self) -> Option<Result<SubscriptionItem, SubscriptionError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(Ok(item));
            }
            if self.finished {
                return None;
            }
            let step = if self.live { self.receive_live().await } else { self.read_history().await };
            if let Err(error) = step {
                self.finished = true;
                return Some(Err(error));
            }
        }
    }

    async fn read_history(&mut self) -> Result<(), SubscriptionError> {
        if self.receiver.is_none() {
            // Registered before the storage read: nothing can fall between.
            let Some(receiver) = self.shared.subscribe_live() else {
                return Err(closed());
            };
            self.receiver = Some(receiver);
        }
        let shared = Arc::clone(&self.shared);
        let Some(mut target) = self.target.take() else {
            return Err(SubscriptionError::Storage(internal("subscription lost its cursor")));
        };
        let joined = tokio::task::spawn_blocking(move || {
            let page = history_page(&shared, &mut target);
            (target, page)
        })
        .await;
        let (target, page) = joined.map_err(|error| SubscriptionError::Storage(internal(error)))?;
        self.target = Some(target);
        let (items, exhausted) = page?;
        let (events, bytes) = items.iter().fold((0, 0), |(events, bytes), item| match item {
            SubscriptionItem::Event(event) => (events + 1, bytes + crate::read::event_bytes(event)),
            _ => (events, bytes),
        });
        crate::metrics::events_read(events, bytes);
        self.pending.extend(items);
        if exhausted {
            self.live = true;
            if !self.caught_up_sent {
                self.caught_up_sent = true;
                if let Some(Target::All { after: Some(after), filter: Some(_), checkpoint_interval: Some(_), .. }) =
                    &self.target
                {
                    self.pending.push_back(SubscriptionItem::Checkpoint(Position(*after)));
                }
                self.pending.push_back(SubscriptionItem::CaughtUp);
            }
        }
        Ok(())
    }

    async fn receive_live(&mut self) -> Result<(), SubscriptionError> {
        let (Some(receiver), Some(target)) = (self.receiver.as_mut(), self.target.as_mut()) else {
            self.live = false;
            return Ok(());
        };
        match receiver.recv().await {
            Ok(batch) => {
                if !accept_live(target, &batch, &mut self.pending) {
                    // A gap (cannot happen while the writer publishes in
                    // order, but storage is the safe answer): catch up.
                    self.live = false;
                    self.receiver = None;
                }
                Ok(())
            }
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::debug!(skipped, "subscriber fell behind the live buffer; reading from storage");
                crate::metrics::subscription_fell_back();
                self.live = false;
                self.receiver = None;
                Ok(())
            }
            Err(broadcast::error::RecvError::Closed) => Err(closed()),
        }
    }
}

/// Delivers the batch's events that are new to this subscription. Returns
/// false when the batch shows events were missed.
fn accept_live(target: &mut Target, batch: &CommittedBatch, pending: &mut VecDeque<SubscriptionItem>) -> bool {
    match target {
        Target::All { after, resume_at, filter, checkpoint_interval, scanned_since_checkpoint } => {
            for event in &batch.events {
                if after.is_some_and(|after| event.position.0 <= after) {
                    continue;
                }
                *after = Some(event.position.0);
                *resume_at = None;
                let wanted = filter.as_ref().is_none_or(|filter| filter.matches(event));
                if wanted {
                    pending.push_back(SubscriptionItem::Event(event.clone()));
                }
                count_for_checkpoint(filter, *checkpoint_interval, scanned_since_checkpoint, event.position.0, pending);
            }
            true
        }
        Target::Stream { stream, next_revision, last_position } if is_virtual_stream(stream.as_str()) => {
            // Links are numbered in commit order, as the writer numbers them,
            // so the next matching live event gets the next revision. Events
            // at or before the last one delivered came from history already.
            for event in batch.events.iter().filter(|event| links_into(stream.as_str(), event)) {
                if last_position.is_some_and(|last| event.position.0 <= last) {
                    continue;
                }
                pending.push_back(SubscriptionItem::Event(link_event(stream, *next_revision, event)));
                *next_revision += 1;
                *last_position = Some(event.position.0);
            }
            true
        }
        Target::Stream { stream, next_revision, .. } => {
            for event in batch.events.iter().filter(|event| event.stream == *stream) {
                if event.revision < *next_revision {
                    continue;
                }
                if event.revision > *next_revision {
                    return false;
                }
                *next_revision = event.revision + 1;
                pending.push_back(SubscriptionItem::Event(event.clone()));
            }
            true
        }
    }
}

fn count_for_checkpoint(
    filter: &Option<EventFilter>,
    interval: Option<u32>,
    scanned: &mut u32,
    position: u64,
    pending: &mut VecDeque<SubscriptionItem>,
) {
    let (Some(_), Some(interval)) = (filter, interval) else {
        return;
    };
    *scanned += 1;
    if *scanned >= interval.max(1) {
        *scanned = 0;
        pending.push_back(SubscriptionItem::Checkpoint(Position(position)));
    }
}

/// Reads the next page of history; returns the items and whether history
/// is exhausted (the read reached the committed end).
fn history_page(shared: &Shared, target: &mut Target) -> Result<(Vec<SubscriptionItem>, bool), SubscriptionError> {
    match target {
        Target::All { after, resume_at, filter, checkpoint_interval, scanned_since_checkpoint } => {
            let start = match (*resume_at, *after) {
                (Some(resume_at), _) => resume_at,
                (None, None) => 0,
                (None, Some(after)) => {
                    let frame = shared
                        .reader
                        .read_frame(after, shared.committed_end())
                        .map_err(|_| SubscriptionError::InvalidPosition { position: Position(after) })?;
                    match frame {
                        Some(frame) if frame.position == after => frame.next_position,
                        // Scavenged since: the frame read is the next one kept.
                        Some(frame) if shared.reader.was_removed(after) => frame.position,
                        Some(_) => {
                            return Err(SubscriptionError::InvalidPosition { position: Position(after) });
                        }
                        None => after.max(shared.committed_end()),
                    }
                }
            };
            let tracking = filter.is_some() && checkpoint_interval.is_some();
            let mut page = all_page_forwards(shared, start, filter.as_ref(), PAGE_EVENTS, tracking)?;
            // Only a start past the then end can read events at or before
            // `after`; everywhere else the page starts after it.
            if let Some(after) = *after {
                page.events.retain(|event| event.position.0 > after);
            }
            *resume_at = Some(page.resume_at);
            if page.last_scanned.is_some() {
                *after = page.last_scanned;
            }
            if !tracking {
                return Ok((page.events.into_iter().map(SubscriptionItem::Event).collect(), page.exhausted));
            }
            let mut items = VecDeque::with_capacity(page.events.len());
            let mut events = page.events.into_iter().peekable();
            for position in page.scanned {
                if events.peek().is_some_and(|event| event.position.0 == position) {
                    items.extend(events.next().map(SubscriptionItem::Event));
                }
                count_for_checkpoint(filter, *checkpoint_interval, scanned_since_checkpoint, position, &mut items);
            }
            Ok((items.into(), page.exhausted))
        }
        Target::Stream { stream, next_revision, last_position } => {
            let snapshot = shared.snapshot();
            let entry =
                snapshot.stream(stream.as_str()).map_err(|error| SubscriptionError::Storage(index_failure(error)))?;
            drop(snapshot);
            let Some(entry) = entry else {
                return Ok((Vec::new(), true));
            };
            if entry.tombstoned {
                return Err(SubscriptionError::StreamDeleted { stream: stream.clone() });
            }
            *next_revision = (*next_revision).max(entry.first_visible_revision());
            let page =
                stream_page(shared, stream, entry.id, *next_revision, true, PAGE_EVENTS).map_err(ReadError::Storage)?;
            let (mut events, exhausted) = (page.events, !page.more);
            if let Some(last) = page.last_revision {
                *next_revision = last + 1;
            }
            if let Some(last) = events.last() {
                *last_position = Some(last.position.0);
            }
            let oldest = oldest_visible(entry.max_age_seconds);
            events.retain(|event| event.created >= oldest);
            Ok((events.into_iter().map(SubscriptionItem::Event).collect(), exhausted))
        }
    }
}

fn closed() -> SubscriptionError {
    SubscriptionError::Storage(StorageError::new(StorageErrorKind::Closed, "the store shut down"))
}
