//! What the crate's unit tests share: settings from `key = value` pairs,
//! and an event as the store would hand it to a filter or a sink.

use bytes::Bytes;
use eventfold_store::{ContentType, EventId, Position, RecordedEvent, StreamName, Timestamp};

use crate::settings::RawSettings;

pub(crate) fn raw(pairs: &[(&str, &str)]) -> RawSettings {
    pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

/// A JSON event of `stream` at `revision` and `position`, with no metadata.
pub(crate) fn recorded(
    stream: &str,
    event_type: &str,
    revision: u64,
    position: u64,
    data: impl Into<Bytes>,
) -> RecordedEvent {
    RecordedEvent {
        stream: StreamName::new(stream).expect("a valid stream name"),
        revision,
        position: Position(position),
        id: EventId::random(),
        event_type: event_type.into(),
        content_type: ContentType::Json,
        created: Timestamp(0),
        data: data.into(),
        metadata: Bytes::new(),
    }
}
