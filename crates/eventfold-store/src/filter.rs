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

/// Longest filter regex accepted, in bytes. A filter names streams or event
/// types, each at most [`crate::STREAM_NAME_MAX_BYTES`] long; 64 KiB still
/// holds an alternation of dozens of full-length names, while parsing and
/// compiling it stays within a few megabytes. Unbounded, a 15 MB pattern
/// took gigabytes to compile.
pub const FILTER_REGEX_MAX_BYTES: usize = 64 * 1024;
/// Size limit of each compiled automaton the regex delegates to (the
/// `regex` crate's NFA), and of each one's lazy DFA cache.
const DELEGATE_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;
const DELEGATE_DFA_CACHE_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Instructions of the backtracking program (patterns with look-around):
/// bounds what a nested or recursive pattern can expand to.
const PROGRAM_INSTRUCTIONS_MAX: usize = 256 * 1024;
/// Backtracking steps per match before a pattern is given up on (it then
/// matches nothing): bounds the time one event costs.
const BACKTRACK_STEPS_MAX: usize = 1_000_000;
/// How much of a pattern, and of the reason it failed, an error repeats:
/// errors travel in gRPC headers, which have a size limit of their own.
const ERROR_PATTERN_MAX_CHARS: usize = 64;
const ERROR_REASON_MAX_CHARS: usize = 256;

/// A regex that cannot be used. Both fields are shortened (ending in `…`
/// when cut), so that the error stays small whatever the pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter regex `{pattern}`: {reason}")]
pub struct FilterError {
    /// The start of the pattern.
    pub pattern: String,
    pub reason: String,
}

impl FilterError {
    fn new(pattern: &str, reason: &str) -> Self {
        Self { pattern: shorten(pattern, ERROR_PATTERN_MAX_CHARS), reason: shorten(reason, ERROR_REASON_MAX_CHARS) }
    }
}

/// `text` cut to `max_chars` characters, marked with `…` when cut.
fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
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
    /// Compiles `pattern` within the limits above; the length is checked
    /// before any parsing, since parsing alone grows with the pattern.
    pub fn new(pattern: &str) -> Result<Self, FilterError> {
        if pattern.len() > FILTER_REGEX_MAX_BYTES {
            let reason = format!("the pattern is {} bytes long; the limit is {FILTER_REGEX_MAX_BYTES}", pattern.len());
            return Err(FilterError::new(pattern, &reason));
        }
        let compiled = fancy_regex::RegexBuilder::new(pattern)
            .delegate_size_limit(DELEGATE_SIZE_MAX_BYTES)
            .delegate_dfa_size_limit(DELEGATE_DFA_CACHE_MAX_BYTES)
            .max_prog_size(PROGRAM_INSTRUCTIONS_MAX)
            .backtrack_limit(BACKTRACK_STEPS_MAX)
            .build()
            .map_err(|error| FilterError::new(pattern, &error.to_string()))?;
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
    fn a_huge_regex_is_refused_at_once_with_a_short_error() {
        let started = std::time::Instant::now();
        let huge = format!("^({})$", "order-[0-9]+|".repeat(1_250_000));
        let error = EventFilter::stream_name_regex(&huge).expect_err("over the length limit");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "refused before parsing");
        assert!(error.reason.contains("limit is 65536"), "{error}");
        assert!(error.to_string().len() < 512, "the error stays short: {} bytes", error.to_string().len());
        assert!(error.pattern.ends_with('…'));
    }

    #[test]
    fn a_regex_that_compiles_too_large_is_refused_with_a_short_error() {
        // Short to write, large to compile: a counted repetition of a
        // Unicode class, which the library's own limits still accept.
        let explosive = r"\w{200}";
        assert!(fancy_regex::Regex::new(explosive).is_ok(), "the test needs a pattern only our limit refuses");
        let error = EventFilter::stream_name_regex(explosive).expect_err("over the compiled size limit");
        assert!(error.to_string().len() < 512, "{error}");
        let error = EventFilter::event_type_regex(r"(?=x)\w{200}").expect_err("with look-around too");
        assert!(error.to_string().len() < 512, "{error}");
        // An ordinary long pattern still compiles.
        let names: Vec<String> = (0..500).map(|index| format!("order-{index}")).collect();
        assert!(EventFilter::stream_name_regex(&format!("^({})$", names.join("|"))).is_ok());
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        assert_eq!(shorten("ééé", 2), "éé…");
        assert_eq!(shorten("abc", 3), "abc");
    }

    #[test]
    fn invalid_regex_is_an_error_not_a_panic() {
        let error = EventFilter::stream_name_regex("(unclosed").expect_err("must fail");
        assert_eq!(error.pattern, "(unclosed");
    }
}
