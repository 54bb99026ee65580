//! Catch-up subscriptions: pages from the table until the sequenced end,
//! then a wait for the head to move, then pages again. The cursor is a
//! position (or revision), and positions become visible as a growing prefix
//! (PG-3), so a page read after the wait neither misses nor repeats an
//! event. A consumer that stops pulling costs nothing: the stream is lazy.

use std::collections::VecDeque;
use std::time::Duration;

use deadpool_postgres::Pool;
use eventfold_store::{
    EventFilter, ReadError, StorageError, StreamName, SubscriptionError, SubscriptionItem, SubscriptionStream,
    Timestamp, oldest_visible,
};
use futures::StreamExt;
use tokio::sync::watch;

use crate::errors::{pool as pool_error, storage};
use crate::read::{PAGE_EVENTS, all_page, stream_page, stream_state};
use crate::rows::{dense_at_or_before, external};

/// The longest a live subscriber waits without news before it looks again
/// itself: the floor under the head's own polling.
const LIVE_RECHECK: Duration = Duration::from_secs(1);

pub enum Target {
    All {
        /// Last position delivered or scanned.
        after: u64,
        filter: Option<EventFilter>,
        checkpoint_interval: Option<u32>,
        scanned_since_checkpoint: u64,
    },
    Stream {
        stream: StreamName,
        next_revision: u64,
    },
}

pub struct Subscription {
    pool: Pool,
    head: watch::Receiver<u64>,
    target: Target,
    caught_up_sent: bool,
    pending: VecDeque<SubscriptionItem>,
    finished: bool,
}

impl Subscription {
    pub fn new(pool: Pool, head: watch::Receiver<u64>, target: Target) -> Self {
        Self { pool, head, target, caught_up_sent: false, pending: VecDeque::new(), finished: false }
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
            // Marked seen before the read: a head that moves during the read
            // wakes the wait after it.
            self.head.borrow_and_update();
            let exhausted = match self.page().await {
                Ok(exhausted) => exhausted,
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            };
            if exhausted && !self.caught_up_sent {
                self.caught_up_sent = true;
                if let Target::All { after, filter: Some(_), checkpoint_interval: Some(_), .. } = &self.target {
                    self.pending.push_back(SubscriptionItem::Checkpoint(external(*after)));
                }
                self.pending.push_back(SubscriptionItem::CaughtUp);
                continue;
            }
            if !exhausted || !self.pending.is_empty() {
                continue;
            }
            match tokio::time::timeout(LIVE_RECHECK, self.head.changed()).await {
                Ok(Ok(())) | Err(_) => {}
                // The store is gone: the subscription ends.
                Ok(Err(_)) => self.finished = true,
            }
        }
    }

    /// Reads one page into `pending`; true when it reached the end.
    async fn page(&mut self) -> Result<bool, SubscriptionError> {
        match &mut self.target {
            Target::All { after, filter, checkpoint_interval, scanned_since_checkpoint } => {
                let last = sequenced_end(&self.pool).await?;
                if last <= *after {
                    return Ok(true);
                }
                // Positions are dense: a window of N positions is N scanned
                // events, so checkpoints count exactly what was scanned
                // even when the filter ran in the database.
                let window = match (filter.as_ref(), *checkpoint_interval) {
                    (Some(_), Some(interval)) => u64::from(interval.max(1)).min(PAGE_EVENTS as u64 * 8),
                    _ => PAGE_EVENTS as u64,
                };
                let upper = last.min(after.saturating_add(window));
                let filtered = filter.is_some();
                let limit = if filtered { i64::MAX } else { PAGE_EVENTS };
                let events = all_page(&self.pool, *after, Some(upper), true, limit, filter.as_ref()).await?;
                let reached = if filtered || events.len() as i64 == limit {
                    events
                        .last()
                        .map_or(upper, |event| if filtered { upper } else { dense_at_or_before(event.position) })
                } else {
                    upper
                };
                self.pending.extend(events.into_iter().map(SubscriptionItem::Event));
                if let (Some(_), Some(interval)) = (filter.as_ref(), *checkpoint_interval) {
                    *scanned_since_checkpoint += reached - *after;
                    if *scanned_since_checkpoint >= u64::from(interval.max(1)) {
                        *scanned_since_checkpoint = 0;
                        self.pending.push_back(SubscriptionItem::Checkpoint(external(reached)));
                    }
                }
                *after = reached;
                Ok(false)
            }
            Target::Stream { stream, next_revision } => {
                let Some((source, state)) = stream_state(&self.pool, stream).await? else {
                    return Ok(true);
                };
                if state.tombstoned {
                    return Err(SubscriptionError::StreamDeleted { stream: stream.clone() });
                }
                *next_revision = (*next_revision).max(state.first_visible_revision());
                let oldest = oldest_visible(state.max_age_seconds, Timestamp::now());
                // Retention hides old events; the page is read without it so
                // the cursor moves past them, then they are dropped.
                let events =
                    stream_page(&self.pool, stream, &source, *next_revision, true, PAGE_EVENTS, Timestamp(i64::MIN))
                        .await
                        .map_err(ReadError::Storage)?;
                let exhausted = (events.len() as i64) < PAGE_EVENTS;
                if let Some(last) = events.last() {
                    *next_revision = last.revision + 1;
                }
                let visible = events.into_iter().filter(|event| event.created >= oldest);
                self.pending.extend(visible.map(SubscriptionItem::Event));
                Ok(exhausted)
            }
        }
    }
}

/// The last sequenced position, from the counter row: everything at or
/// below it is visible to any read that starts after this one.
async fn sequenced_end(pool: &Pool) -> Result<u64, StorageError> {
    let client = pool.get().await.map_err(|error| pool_error(&error))?;
    let row = client
        .query_one("SELECT last_position FROM eventfold_sequencer WHERE id = 1", &[])
        .await
        .map_err(|error| storage(&error))?;
    let last: i64 = row.try_get(0).map_err(|error| storage(&error))?;
    crate::rows::to_u64(last)
}
