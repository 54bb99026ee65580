//! Streams served from an index rather than stored: `$ce-<category>`,
//! `$et-<type>` and `$streams`, each a stream of link events to events of
//! other streams. Every backend names and fills them by these rules.

use crate::{
    CATEGORY_STREAM_PREFIX, EVENT_TYPE_STREAM_PREFIX, EventId, LINK_EVENT_TYPE, RecordedEvent, STREAMS_STREAM,
    StreamName,
};

pub fn is_virtual_stream(stream: &str) -> bool {
    stream.starts_with(CATEGORY_STREAM_PREFIX)
        || stream.starts_with(EVENT_TYPE_STREAM_PREFIX)
        || stream == STREAMS_STREAM
}

/// The virtual streams an event is linked into. Events of system (`$`)
/// streams are not linked.
pub fn virtual_streams_of(stream: &str, category: &str, event_type: &str, revision: u64) -> Vec<String> {
    let mut links = category_and_type_links(stream, category, event_type);
    if links_first_event(stream, revision) {
        links.push(STREAMS_STREAM.to_owned());
    }
    links
}

/// The `$ce-` and `$et-` streams an event of `stream` is linked into: the
/// same for every event of one type in one stream.
pub fn category_and_type_links(stream: &str, category: &str, event_type: &str) -> Vec<String> {
    if stream.starts_with('$') {
        return Vec::new();
    }
    vec![format!("{CATEGORY_STREAM_PREFIX}{category}"), format!("{EVENT_TYPE_STREAM_PREFIX}{event_type}")]
}

/// Whether the event at `revision` of `stream` is linked into `$streams`:
/// the first event of every stream that is not a system stream.
pub fn links_first_event(stream: &str, revision: u64) -> bool {
    revision == 0 && !stream.starts_with('$')
}

/// Whether `event` belongs in the virtual stream `stream`.
pub fn links_into(stream: &str, event: &RecordedEvent) -> bool {
    virtual_streams_of(event.stream.as_str(), event.stream.category(), &event.event_type, event.revision)
        .iter()
        .any(|link| link == stream)
}

/// The link event at `revision` of virtual stream `stream` that points at
/// `target`. Its id is derived from the target's, so reads are repeatable.
pub fn link_event(stream: &StreamName, revision: u64, target: &RecordedEvent) -> RecordedEvent {
    let mut id = *target.id.0.as_bytes();
    for (byte, salt) in id.iter_mut().zip(stream.as_str().bytes().cycle()) {
        *byte ^= salt;
    }
    RecordedEvent {
        stream: stream.clone(),
        revision,
        position: target.position,
        id: EventId(uuid::Uuid::from_bytes(id)),
        event_type: LINK_EVENT_TYPE.to_owned(),
        content_type: crate::ContentType::Binary,
        created: target.created,
        data: format!("{}@{}", target.revision, target.stream).into_bytes().into(),
        metadata: bytes::Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_link_into_their_category_type_and_the_streams_list() {
        assert_eq!(virtual_streams_of("order-1", "order", "Placed", 0), vec!["$ce-order", "$et-Placed", "$streams"]);
        assert_eq!(virtual_streams_of("order-1", "order", "Placed", 4), vec!["$ce-order", "$et-Placed"]);
        assert!(virtual_streams_of("$$order-1", "$$order", "$metadata", 0).is_empty());
        assert!(is_virtual_stream("$ce-order") && is_virtual_stream("$streams") && !is_virtual_stream("order"));
    }
}
