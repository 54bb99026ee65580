//! `$all` filters: building a regex filter from any pattern either works or
//! gives a short error, never a panic; matching any stream name or event type
//! never panics; prefix filters match exactly what `starts_with` says.
#![no_main]

use bytes::Bytes;
use eventfold_store::{ContentType, EventFilter, EventId, Position, RecordedEvent, StreamName, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Input: pattern, then a line feed, then the text to match (both as
    // stream name and as event type).
    let text = String::from_utf8_lossy(data);
    let (pattern, subject) = text.split_once('\n').unwrap_or((&text, "order-1"));
    let Ok(stream) = StreamName::new(if subject.is_empty() { "x" } else { subject }) else { return };
    let event = RecordedEvent {
        stream,
        revision: 0,
        position: Position(32),
        id: EventId::random(),
        event_type: subject.to_owned(),
        content_type: ContentType::Json,
        created: Timestamp(0),
        data: Bytes::new(),
        metadata: Bytes::new(),
    };
    for build in [EventFilter::stream_name_regex, EventFilter::event_type_regex] {
        match build(pattern) {
            Ok(filter) => {
                filter.matches(&event);
            }
            // The pattern and the reason are each cut to a number of
            // characters, so the whole message stays short.
            Err(error) => {
                let length = error.to_string().chars().count();
                assert!(length < 400, "errors stay short: {length} characters");
            }
        }
    }
    let prefixes: Vec<String> = pattern.split('|').map(str::to_owned).collect();
    let expected = prefixes.iter().any(|prefix| subject.starts_with(prefix.as_str()));
    assert_eq!(EventFilter::EventTypePrefix(prefixes.clone()).matches(&event), expected);
    let expected = prefixes.iter().any(|prefix| event.stream.as_str().starts_with(prefix.as_str()));
    assert_eq!(EventFilter::StreamNamePrefix(prefixes).matches(&event), expected);
});
