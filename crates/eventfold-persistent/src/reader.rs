//! A group's view of its source: a catch-up subscription of the store from
//! the group's checkpoint (or origin). The store's subscription is pulled,
//! reads history page by page and falls back to storage when it lags, so
//! the group decides how much it holds by how much it pulls.

use eventfold_store::{
    AllFrom, Direction, EventFilter, EventStore, Position, ReadAllRequest, RecordedEvent, StorageError, SubscribeFrom,
    SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionItem, SubscriptionStream,
};
use futures::StreamExt;

use crate::definition::Cursor;
use crate::key::Source;
use crate::store_errors;

/// A filtered `$all` group learns it may checkpoint past events it does not
/// want every this many scanned events.
const FILTER_CHECKPOINT_INTERVAL: u32 = 1024;

/// Where reading resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    Start,
    After(Cursor),
    /// A `$all` position, included.
    AtOrAfter(Cursor),
}

pub(crate) enum ReadItem {
    Event(RecordedEvent),
    /// History is exhausted; what follows is live.
    CaughtUp,
    /// Nothing the group wants up to this cursor.
    Passed(Cursor),
}

pub(crate) struct Reader {
    items: SubscriptionStream,
    /// An event to hand out before the subscription's (see `open`).
    first: Option<RecordedEvent>,
    /// Events before this position are dropped (see `open`).
    min_position: Option<u64>,
    source_is_all: bool,
    caught_up: bool,
}

/// The cursor of an event in a group's source.
pub(crate) fn cursor_of(source: &Source, event: &RecordedEvent) -> Cursor {
    match source {
        Source::Stream(_) => event.revision,
        Source::All => event.position.0,
    }
}

impl Reader {
    pub async fn open(
        store: &dyn EventStore,
        source: &Source,
        filter: Option<EventFilter>,
        resume: Resume,
    ) -> Result<Reader, StorageError> {
        let (items, first, min_position) = match source {
            Source::Stream(stream) => {
                let from = match resume {
                    Resume::Start | Resume::AtOrAfter(0) => SubscribeFrom::Start,
                    Resume::After(revision) => SubscribeFrom::After(revision),
                    Resume::AtOrAfter(revision) => SubscribeFrom::After(revision - 1),
                };
                let request = SubscribeToStreamRequest { stream: stream.clone(), from };
                let items = store.subscribe_to_stream(request).await.map_err(store_errors::from_subscription)?;
                (items, None, None)
            }
            Source::All => open_all(store, filter, resume).await?,
        };
        Ok(Reader { items, first, min_position, source_is_all: matches!(source, Source::All), caught_up: false })
    }

    /// Whether history is exhausted.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// The next item; `None` when the store ended the subscription. Cancel
    /// safe: an item is never lost by dropping the future.
    pub async fn next(&mut self) -> Option<Result<ReadItem, StorageError>> {
        if let Some(event) = self.first.take() {
            return Some(Ok(ReadItem::Event(event)));
        }
        loop {
            let item = match self.items.next().await? {
                Ok(item) => item,
                Err(error) => return Some(Err(store_errors::from_subscription(error))),
            };
            let too_early = |position: Position| self.min_position.is_some_and(|min| position.0 < min);
            return Some(Ok(match item {
                SubscriptionItem::Event(event) if too_early(event.position) => continue,
                SubscriptionItem::Event(event) => ReadItem::Event(event),
                SubscriptionItem::CaughtUp => {
                    self.caught_up = true;
                    ReadItem::CaughtUp
                }
                SubscriptionItem::Checkpoint(position) if too_early(position) || !self.source_is_all => continue,
                SubscriptionItem::Checkpoint(position) => ReadItem::Passed(position.0),
            }));
        }
    }
}

/// A subscription to `$all`. The store's subscriptions start after a
/// position, but a group may start *at* one: the event there (or the first
/// after it) is read first and handed out before the subscription, which
/// starts after it. With no event there yet, the subscription starts after
/// the current head and drops anything before the position.
async fn open_all(
    store: &dyn EventStore,
    filter: Option<EventFilter>,
    resume: Resume,
) -> Result<(SubscriptionStream, Option<RecordedEvent>, Option<u64>), StorageError> {
    let checkpoint_interval = filter.is_some().then_some(FILTER_CHECKPOINT_INTERVAL);
    let subscribe = |from: SubscribeFrom<Position>, filter: Option<EventFilter>| async move {
        store
            .subscribe_to_all(SubscribeToAllRequest { from, filter, checkpoint_interval })
            .await
            .map_err(store_errors::from_subscription)
    };
    match resume {
        Resume::Start => Ok((subscribe(SubscribeFrom::Start, filter).await?, None, None)),
        Resume::After(position) => Ok((subscribe(SubscribeFrom::After(Position(position)), filter).await?, None, None)),
        Resume::AtOrAfter(position) => {
            let request = ReadAllRequest {
                from: AllFrom::Position(Position(position)),
                direction: Direction::Forwards,
                max_count: 1,
                filter: None,
            };
            let mut events = store.read_all(request).await.map_err(store_errors::from_read)?;
            match events.next().await.transpose().map_err(store_errors::from_read)? {
                Some(event) => {
                    let wanted = filter.as_ref().is_none_or(|filter| filter.matches(&event));
                    let items = subscribe(SubscribeFrom::After(event.position), filter).await?;
                    Ok((items, wanted.then_some(event), None))
                }
                None => {
                    let from = store.head_position().map_or(SubscribeFrom::Start, SubscribeFrom::After);
                    Ok((subscribe(from, filter).await?, None, Some(position)))
                }
            }
        }
    }
}
