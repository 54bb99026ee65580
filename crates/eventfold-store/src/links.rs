//! Link events (`$>`, data `<revision>@<stream>`): what virtual streams such
//! as `$ce-<category>` and parked streams hold. A read that asks for links
//! to be resolved gets the event a link points at, with the link beside it.
//!
//! Built on [`EventStore`] alone, so every face (gRPC, HTTP) and every
//! subsystem (persistent subscriptions) resolves links the same way.

use futures::StreamExt;

use crate::{
    ContentType, Direction, EventId, EventStore, LINK_EVENT_TYPE, ProposedEvent, ReadError, ReadStreamRequest,
    RecordedEvent, RevisionFrom, StreamName,
};

/// The stream and revision a link points at, if `event` is a well-formed
/// link. A stream name may contain `@`: the revision ends at the first one.
pub fn link_target(event: &RecordedEvent) -> Option<(StreamName, u64)> {
    if event.event_type != LINK_EVENT_TYPE {
        return None;
    }
    let text = std::str::from_utf8(&event.data).ok()?;
    let (revision, stream) = text.split_once('@')?;
    Some((StreamName::new(stream).ok()?, revision.parse().ok()?))
}

/// A new link to `target`, carrying `metadata`.
pub fn link_to(target: &RecordedEvent, metadata: bytes::Bytes) -> ProposedEvent {
    ProposedEvent {
        id: EventId::random(),
        event_type: LINK_EVENT_TYPE.to_owned(),
        content_type: ContentType::Binary,
        data: format!("{}@{}", target.revision, target.stream).into_bytes().into(),
        metadata,
    }
}

/// The event `link` points at; `None` when it is gone (its stream deleted,
/// tombstoned or truncated past it) or `link` is not a link. Other read
/// failures are the caller's to handle.
pub async fn resolve_link(store: &dyn EventStore, link: &RecordedEvent) -> Result<Option<RecordedEvent>, ReadError> {
    let Some((stream, revision)) = link_target(link) else {
        return Ok(None);
    };
    let request = ReadStreamRequest {
        stream,
        from: RevisionFrom::Revision(revision),
        direction: Direction::Forwards,
        max_count: 1,
    };
    let mut events = match store.read_stream(request).await {
        Ok(events) => events,
        Err(ReadError::StreamNotFound { .. } | ReadError::StreamDeleted { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    match events.next().await {
        Some(Ok(event)) if event.revision == revision => Ok(Some(event)),
        // A read from a truncated revision starts at the first one kept:
        // that is another event, so the target is gone.
        Some(Ok(_)) | None => Ok(None),
        Some(Err(error)) => Err(error),
    }
}

/// An event as a read serves it: the event, and the link it was reached
/// through when links are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedEvent {
    pub event: RecordedEvent,
    pub link: Option<RecordedEvent>,
}

impl ResolvedEvent {
    /// `event` as it is, not resolved.
    pub fn unresolved(event: RecordedEvent) -> Self {
        Self { event, link: None }
    }

    /// `event`, resolved when it is a link whose target can be read. A link
    /// whose target is gone, or cannot be read now, is served as it is
    /// (EventStoreDB does the same): a read never fails for a link.
    pub async fn resolve(store: &dyn EventStore, event: RecordedEvent) -> Self {
        if event.event_type != LINK_EVENT_TYPE {
            return Self::unresolved(event);
        }
        match resolve_link(store, &event).await {
            Ok(Some(target)) => Self { event: target, link: Some(event) },
            Ok(None) | Err(_) => Self::unresolved(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::testing::{MemoryStore, recorded};

    fn name(text: &str) -> StreamName {
        StreamName::new(text).expect("valid stream name")
    }

    #[test]
    fn links_name_their_target_and_anything_else_is_not_a_link() {
        let target = link_target(&recorded("$ce-order", 3, "$>", "12@order-7"));
        assert_eq!(target, Some((name("order-7"), 12)));
        assert_eq!(link_target(&recorded("$ce-order", 3, "$>", "x@order-7")), None);
        assert_eq!(link_target(&recorded("$ce-order", 3, "$>", "12")), None);
        assert_eq!(link_target(&recorded("$ce-order", 3, "$>", "12@")), None, "an empty stream name");
        assert_eq!(link_target(&recorded("$ce-order", 3, "OrderPlaced", "12@order-7")), None);
        let at = link_target(&recorded("$ce-order", 3, "$>", "1@a@b"));
        assert_eq!(at, Some((name("a@b"), 1)));
    }

    #[test]
    fn a_new_link_points_at_its_target() {
        let target = recorded("order-7", 12, "Placed", "{}");
        let link = link_to(&target, bytes::Bytes::from_static(b"meta"));
        assert_eq!(link.event_type, LINK_EVENT_TYPE);
        assert_eq!(link.data.as_ref(), b"12@order-7");
        assert_eq!(link.metadata.as_ref(), b"meta");
    }

    #[test]
    fn links_resolve_to_visible_targets_and_stay_links_otherwise() {
        let store = MemoryStore::default();
        store.push(recorded("order-7", 0, "Placed", "{}"));
        store.push(recorded("order-7", 1, "Paid", "{}"));
        store.push(recorded("order-8", 0, "Placed", "{}"));
        store.truncate_before("order-7", 1);
        store.tombstone("order-8");

        let link = |data: &str| recorded("$ce-order", 0, LINK_EVENT_TYPE, data);
        let resolved = block_on(ResolvedEvent::resolve(&store, link("1@order-7")));
        assert_eq!((resolved.event.event_type.as_str(), resolved.event.revision), ("Paid", 1));
        assert_eq!(resolved.link.as_ref().map(|link| link.data.as_ref()), Some(b"1@order-7".as_slice()));

        // Truncated away (the read would start at revision 1), tombstoned,
        // never written, past the end, malformed: the link comes as it is.
        for gone in ["0@order-7", "0@order-8", "0@order-9", "5@order-7", "nonsense"] {
            let gone_link = link(gone);
            let served = block_on(ResolvedEvent::resolve(&store, gone_link.clone()));
            assert_eq!(served, ResolvedEvent::unresolved(gone_link.clone()), "{gone}");
            assert_eq!(block_on(resolve_link(&store, &gone_link)), Ok(None), "{gone}");
        }

        // An ordinary event is never looked up.
        let plain = recorded("order-7", 1, "Paid", "1@order-7");
        assert_eq!(block_on(ResolvedEvent::resolve(&store, plain.clone())), ResolvedEvent::unresolved(plain));
    }

    #[test]
    fn a_failing_read_of_the_target_is_an_error_for_resolve_link_but_not_for_a_read() {
        let store = MemoryStore::default();
        store.fail_reads();
        let link = recorded("$ce-order", 0, LINK_EVENT_TYPE, "0@order-7");
        assert!(matches!(block_on(resolve_link(&store, &link)), Err(ReadError::Storage(_))));
        assert_eq!(block_on(ResolvedEvent::resolve(&store, link.clone())), ResolvedEvent::unresolved(link));
    }
}
