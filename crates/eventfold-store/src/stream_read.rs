//! A read of one stream with its bounds, as KurrentDB answers it to clients
//! that ask for them (its gRPC protocol's compatibility level 1): the events,
//! then the stream's last revision; and when a forward read finds nothing,
//! first the revision it would have to start at to find something.
//!
//! Built on [`EventStore`] alone, so every face and every backend answers
//! the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::stream::BoxStream;

use crate::{
    CurrentRevision, Direction, EventStore, ReadError, ReadStreamRequest, RecordedEvent, RevisionFrom,
    refuse_metadata_of_tombstoned,
};

/// What a read of one stream yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamReadItem {
    Event(RecordedEvent),
    /// A forward read found no event from its start: the next revision the
    /// stream will have, when that is not where the read started.
    FirstStreamPosition(u64),
    /// The read is over: the stream's last revision, read or not.
    LastStreamPosition(u64),
}

pub type StreamReadItems = BoxStream<'static, Result<StreamReadItem, ReadError>>;

/// Reads a stream as [`EventStore::read_stream`] does, followed by its
/// bounds. Errors before the first event (not found, deleted) come back as
/// the error, as from `read_stream`; so does the metadata stream of a
/// tombstoned stream ([`refuse_metadata_of_tombstoned`]).
pub async fn read_stream_with_bounds(
    store: Arc<dyn EventStore>,
    request: ReadStreamRequest,
) -> Result<StreamReadItems, ReadError> {
    let stream = request.stream.clone();
    let forwards = request.direction == Direction::Forwards;
    let start = match request.from {
        RevisionFrom::Start => Some(0),
        RevisionFrom::Revision(revision) => Some(revision),
        RevisionFrom::End => None,
    };
    refuse_metadata_of_tombstoned(store.as_ref(), &stream).await?;
    let events = store.read_stream(request).await?;
    // What the events were, for the bounds that follow them.
    let any_event = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let (saw_event, saw_failure) = (Arc::clone(&any_event), Arc::clone(&failed));
    let events = events
        .inspect(move |event| match event {
            Ok(_) => saw_event.store(true, Ordering::Relaxed),
            Err(_) => saw_failure.store(true, Ordering::Relaxed),
        })
        .map(|event| event.map(StreamReadItem::Event));
    // The bounds are looked up once the events are sent, so they are as
    // recent as the read's end: what KurrentDB reports too.
    let bounds = futures::stream::once(async move {
        if failed.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let any_event = any_event.load(Ordering::Relaxed);
        let last = match store.stream_revision(&stream).await {
            Ok(CurrentRevision::Current(last)) => last,
            // Gone meanwhile (or never there): no bounds to tell.
            Ok(CurrentRevision::NoStream) | Err(_) => return Vec::new(),
        };
        let mut bounds = Vec::with_capacity(2);
        let next = last.saturating_add(1);
        if forwards && !any_event && start != Some(next) {
            bounds.push(Ok(StreamReadItem::FirstStreamPosition(next)));
        }
        bounds.push(Ok(StreamReadItem::LastStreamPosition(last)));
        bounds
    })
    .flat_map(futures::stream::iter);
    Ok(events.chain(bounds).boxed())
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::StreamName;
    use crate::testing::{MemoryStore, recorded};

    fn read(store: &Arc<MemoryStore>, stream: &str) -> Result<Vec<StreamReadItem>, ReadError> {
        let store: Arc<dyn EventStore> = Arc::clone(store) as Arc<dyn EventStore>;
        let request = ReadStreamRequest::forwards(StreamName::new(stream).expect("valid stream name"));
        block_on(async {
            let items = read_stream_with_bounds(store, request).await?;
            items.collect::<Vec<_>>().await.into_iter().collect()
        })
    }

    #[test]
    fn events_come_with_the_last_revision_and_tombstoned_metadata_is_deleted() {
        let store = Arc::new(MemoryStore::default());
        store.push(recorded("cart-1", 0, "Added", "{}"));
        store.push(recorded("$$cart-1", 0, "$metadata", "{}"));
        let items = read(&store, "cart-1").expect("read");
        assert!(matches!(items.as_slice(), [StreamReadItem::Event(_), StreamReadItem::LastStreamPosition(0)]));
        assert!(read(&store, "$$cart-1").is_ok());

        store.tombstone("cart-1");
        let deleted = |stream: &str| Err(ReadError::StreamDeleted { stream: StreamName::new(stream).expect("name") });
        assert_eq!(read(&store, "$$cart-1"), deleted("$$cart-1"));
        assert_eq!(read(&store, "cart-1"), deleted("cart-1"));
    }
}
