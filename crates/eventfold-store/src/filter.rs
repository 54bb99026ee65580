use std::fmt;
use std::sync::Arc;

use crate::RecordedEvent;

/// Which events of `$all` a read or subscription wants. Kept as data rather
/// than a closure so that a backend can push it down (PostgreSQL `LIKE`/`~`).
#[derive(Clone)]
pub enum EventFilter {
    StreamNamePrefix(Vec<String>),
    StreamNameRegex(Regex),
    EventTypePrefix(Vec<String>),
    EventTypeRegex(Regex),
}

/// A compiled regular expression. Clients send patterns with look-around by
/// default (`^(?!\$).*`), hence the backtracking engine.
#[derive(Clone)]
pub struct Regex {
    source: Arc<str>,
    compiled: Arc<fancy_regex::Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter regex `{pattern}`: {reason}")]
pub struct FilterError {
    pub pattern: String,
    pub reason: String,
}

impl EventFilter {
    pub fn stream_name_regex(pattern: &str) -> Result<Self, FilterError> {
        Regex::new(pattern).map(Self::StreamNameRegex)
    }

    pub fn event_type_regex(pattern: &str) -> Result<Self, FilterError> {
        Regex::new(pattern).map(Self::EventTypeRegex)
    }

    pub fn matches(&self, event: &RecordedEvent) -> bool {
        match self {
            EventFilter::StreamNamePrefix(prefixes) => {
                prefixes.iter().any(|prefix| event.stream.as_str().starts_with(prefix.as_str()))
            }
            EventFilter::StreamNameRegex(regex) => regex.is_match(event.stream.as_str()),
            EventFilter::EventTypePrefix(prefixes) => {
                prefixes.iter().any(|prefix| event.event_type.starts_with(prefix.as_str()))
            }
            EventFilter::EventTypeRegex(regex) => regex.is_match(&event.event_type),
        }
    }
}

impl Regex {
    pub fn new(pattern: &str) -> Result<Self, FilterError> {
        let compiled = fancy_regex::Regex::new(pattern)
            .map_err(|error| FilterError { pattern: pattern.to_owned(), reason: error.to_string() })?;
        Ok(Self { source: Arc::from(pattern), compiled: Arc::new(compiled) })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// A pattern that fails at run time (backtrack limit) matches nothing
    /// rather than failing the whole subscription.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text).unwrap_or(false)
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "/{}/", self.source)
    }
}

impl fmt::Debug for EventFilter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventFilter::StreamNamePrefix(prefixes) => {
                write!(formatter, "stream name prefix {prefixes:?}")
            }
            EventFilter::StreamNameRegex(regex) => write!(formatter, "stream name {regex:?}"),
            EventFilter::EventTypePrefix(prefixes) => {
                write!(formatter, "event type prefix {prefixes:?}")
            }
            EventFilter::EventTypeRegex(regex) => write!(formatter, "event type {regex:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{ContentType, EventId, Position, StreamName, Timestamp};

    fn event(stream: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new(stream).expect("valid name"),
            revision: 0,
            position: Position(32),
            id: EventId::random(),
            event_type: event_type.into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::new(),
            metadata: Bytes::new(),
        }
    }

    #[test]
    fn lookahead_regex_excludes_system_events_as_clients_expect() {
        let filter = EventFilter::event_type_regex(r"^(?!\$).*").expect("valid regex");
        assert!(filter.matches(&event("order-1", "OrderPlaced")));
        assert!(!filter.matches(&event("order-1", "$metadata")));
    }

    #[test]
    fn prefixes_match_any_of_the_list() {
        let filter = EventFilter::StreamNamePrefix(vec!["order-".into(), "cart-".into()]);
        assert!(filter.matches(&event("cart-9", "x")));
        assert!(!filter.matches(&event("user-9", "x")));
    }

    #[test]
    fn invalid_regex_is_an_error_not_a_panic() {
        let error = EventFilter::stream_name_regex("(unclosed").expect_err("must fail");
        assert_eq!(error.pattern, "(unclosed");
    }
}
