//! A replay of parked events: reads the parked stream from its `$tb` up to
//! the end it had when the replay was asked for, resolves each link, and
//! tracks which replayed events are done so that the parked stream is
//! truncated only past those (a restart mid-replay replays the rest again).

use std::collections::BTreeSet;
use std::sync::Arc;

use eventfold_store::{Direction, EventStore, ReadError, ReadStreamRequest, RevisionFrom, StorageError, StreamName};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::message::Delivery;
use crate::store_errors;
use eventfold_store::resolve_link as resolve;

pub(crate) struct Replay {
    items: BoxStream<'static, Result<ReplayItem, StorageError>>,
    /// Replayed revisions not done yet.
    unfinished: BTreeSet<u64>,
    /// Every revision below this was read.
    read_up_to: u64,
    end: u64,
    /// A read failed: the replay stops where it got to.
    failed: bool,
}

/// One parked entry; `delivery` is `None` when the event it points at is
/// gone (nothing to replay, so it is done at once).
pub(crate) struct ReplayItem {
    pub revision: u64,
    pub delivery: Option<Delivery>,
}

impl Replay {
    pub fn new(store: Arc<dyn EventStore>, stream: StreamName, from: u64, end: u64) -> Replay {
        let request = ReadStreamRequest {
            stream,
            from: RevisionFrom::Revision(from),
            direction: Direction::Forwards,
            max_count: end.saturating_sub(from),
        };
        let reader = Arc::clone(&store);
        let links =
            futures::stream::once(async move { reader.read_stream(request).await }).flat_map(|events| match events {
                Ok(events) => events.boxed(),
                Err(ReadError::StreamNotFound { .. }) => futures::stream::empty().boxed(),
                Err(error) => futures::stream::once(async { Err(error) }).boxed(),
            });
        let items = links
            .then(move |link| {
                let store = Arc::clone(&store);
                async move {
                    let link = link.map_err(store_errors::from_read)?;
                    let target = resolve(store.as_ref(), &link).await.map_err(store_errors::from_read)?;
                    let delivery = target.map(|event| Delivery { event, link: None, retry_count: 0 });
                    Ok(ReplayItem { revision: link.revision, delivery })
                }
            })
            .boxed();
        Replay { items, unfinished: BTreeSet::new(), read_up_to: from, end, failed: false }
    }

    /// The next parked entry; `None` once every one up to the end was read.
    pub async fn next(&mut self) -> Option<Result<ReplayItem, StorageError>> {
        if self.failed {
            return None;
        }
        let item = self.items.next().await;
        match &item {
            Some(Ok(item)) => {
                self.read_up_to = item.revision + 1;
                if item.delivery.is_some() {
                    self.unfinished.insert(item.revision);
                }
            }
            // The read ended: entries up to the end that did not come were
            // hidden meanwhile, so there is nothing left to replay.
            None => self.read_up_to = self.end,
            Some(Err(_)) => self.failed = true,
        }
        item
    }

    pub fn finish(&mut self, revision: u64) {
        self.unfinished.remove(&revision);
    }

    /// Parked entries below this are done and may be hidden.
    pub fn done_before(&self) -> u64 {
        self.unfinished.first().copied().unwrap_or(self.read_up_to)
    }

    /// Nothing more to read (the end was reached, or a read failed).
    pub fn exhausted(&self) -> bool {
        self.failed || self.read_up_to >= self.end
    }

    pub fn is_complete(&self) -> bool {
        self.read_up_to >= self.end && self.unfinished.is_empty()
    }
}
