//! Link events (`$>`, data `<revision>@<stream>`): what virtual streams such
//! as `$ce-<category>` hold, and what this crate writes to a parked stream.

use eventfold_store::{
    ContentType, EventStore, ProposedEvent, ReadError, ReadStreamRequest, RecordedEvent, RevisionFrom, StreamName,
};
use futures::StreamExt;

pub(crate) const LINK_EVENT_TYPE: &str = "$>";

/// The event a link points at, if `event` is a well-formed link.
pub(crate) fn target_of(event: &RecordedEvent) -> Option<(StreamName, u64)> {
    if event.event_type != LINK_EVENT_TYPE {
        return None;
    }
    let text = std::str::from_utf8(&event.data).ok()?;
    let (revision, stream) = text.split_once('@')?;
    Some((StreamName::new(stream).ok()?, revision.parse().ok()?))
}

/// A link to `target`, carrying `metadata`.
pub(crate) fn link_to(target: &RecordedEvent, metadata: bytes::Bytes) -> ProposedEvent {
    ProposedEvent {
        id: eventfold_store::EventId::random(),
        event_type: LINK_EVENT_TYPE.to_owned(),
        content_type: ContentType::Binary,
        data: format!("{}@{}", target.revision, target.stream).into_bytes().into(),
        metadata,
    }
}

/// The event `link` points at; `None` when it is gone (its stream deleted or
/// truncated) or `link` is not a link.
pub(crate) async fn resolve(store: &dyn EventStore, link: &RecordedEvent) -> Result<Option<RecordedEvent>, ReadError> {
    let Some((stream, revision)) = target_of(link) else {
        return Ok(None);
    };
    let request = ReadStreamRequest {
        stream,
        from: RevisionFrom::Revision(revision),
        direction: eventfold_store::Direction::Forwards,
        max_count: 1,
    };
    let mut events = match store.read_stream(request).await {
        Ok(events) => events,
        Err(ReadError::StreamNotFound { .. } | ReadError::StreamDeleted { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    match events.next().await {
        Some(Ok(event)) if event.revision == revision => Ok(Some(event)),
        // The target was truncated away: the read started after it.
        Some(Ok(_)) | None => Ok(None),
        Some(Err(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{EventId, Position, Timestamp};

    use super::*;

    fn recorded(event_type: &str, data: &str) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new("$ce-order").expect("valid name"),
            revision: 3,
            position: Position(100),
            id: EventId::random(),
            event_type: event_type.into(),
            content_type: ContentType::Binary,
            created: Timestamp(0),
            data: Bytes::from(data.to_owned()),
            metadata: Bytes::new(),
        }
    }

    #[test]
    fn links_name_their_target_and_anything_else_is_not_a_link() {
        let target = target_of(&recorded("$>", "12@order-7"));
        assert_eq!(target, Some((StreamName::new("order-7").expect("valid name"), 12)));
        assert_eq!(target_of(&recorded("$>", "x@order-7")), None);
        assert_eq!(target_of(&recorded("$>", "12")), None);
        assert_eq!(target_of(&recorded("OrderPlaced", "12@order-7")), None);
        // Stream names may contain '@': the revision is before the first one.
        let at = target_of(&recorded("$>", "1@a@b"));
        assert_eq!(at, Some((StreamName::new("a@b").expect("valid name"), 1)));
    }
}
