//! The request headers of KurrentDB's HTTP stream API. Each is read under
//! its old (`ES-`) and new (`Kurrent-`) name; a malformed value is the
//! client's error (400), never ignored.

use std::time::Duration;

use axum::http::HeaderMap;
use eventfold_store::{EventId, ExpectedRevision};
use uuid::Uuid;

use super::errors::AtomError;

/// The longest long poll served: a client asking more waits this long.
pub const LONG_POLL_MAX: Duration = Duration::from_secs(60);

/// The value of `ES-<name>` or `Kurrent-<name>`, if either is present.
fn value<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AtomError> {
    let found = headers.get(format!("es-{name}")).or_else(|| headers.get(format!("kurrent-{name}")));
    let Some(found) = found else { return Ok(None) };
    let text = found.to_str().map_err(|_| AtomError::BadRequest(format!("the {name} header is not text")))?;
    Ok(Some(text.trim()))
}

/// `ExpectedVersion`: -2 (any, also when absent), -1, -4 or a revision.
pub fn expected_version(headers: &HeaderMap) -> Result<ExpectedRevision, AtomError> {
    let Some(text) = value(headers, "expectedversion")? else {
        return Ok(ExpectedRevision::Any);
    };
    let number: i64 =
        text.parse().map_err(|_| AtomError::BadRequest(format!("ExpectedVersion `{text}` is not a number")))?;
    ExpectedRevision::from_event_number(number).map_err(|error| AtomError::BadRequest(error.to_string()))
}

pub fn event_type(headers: &HeaderMap) -> Result<Option<String>, AtomError> {
    match value(headers, "eventtype")? {
        Some("") => Err(AtomError::BadRequest("the EventType header is empty".into())),
        found => Ok(found.map(str::to_owned)),
    }
}

pub fn event_id(headers: &HeaderMap) -> Result<Option<EventId>, AtomError> {
    value(headers, "eventid")?.map(parse_event_id).transpose()
}

pub fn parse_event_id(text: &str) -> Result<EventId, AtomError> {
    Uuid::parse_str(text).map(EventId).map_err(|_| AtomError::BadRequest(format!("event id `{text}` is not a UUID")))
}

/// `HardDelete: true` tombstones the stream.
pub fn hard_delete(headers: &HeaderMap) -> Result<bool, AtomError> {
    flag(headers, "harddelete", false)
}

/// `ResolveLinkTos`: reads resolve links unless told `false`, as KurrentDB's.
pub fn resolve_link_tos(headers: &HeaderMap) -> Result<bool, AtomError> {
    flag(headers, "resolvelinktos", true)
}

/// `LongPoll: <seconds>`: how long a read that finds nothing new waits for
/// an event, at most [`LONG_POLL_MAX`].
pub fn long_poll(headers: &HeaderMap) -> Result<Option<Duration>, AtomError> {
    let Some(text) = value(headers, "longpoll")? else { return Ok(None) };
    let seconds: u64 = text
        .parse()
        .map_err(|_| AtomError::BadRequest(format!("LongPoll `{text}` is not a whole number of seconds")))?;
    Ok((seconds > 0).then(|| Duration::from_secs(seconds).min(LONG_POLL_MAX)))
}

fn flag(headers: &HeaderMap, name: &str, default: bool) -> Result<bool, AtomError> {
    match value(headers, name)? {
        None => Ok(default),
        Some(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Some(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        Some(text) => Err(AtomError::BadRequest(format!("the {name} header must be true or false, not `{text}`"))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn both_spellings_are_read_and_bad_values_refused() {
        assert_eq!(expected_version(&HeaderMap::new()), Ok(ExpectedRevision::Any));
        assert_eq!(expected_version(&with("es-expectedversion", "-1")), Ok(ExpectedRevision::NoStream));
        assert_eq!(expected_version(&with("kurrent-expectedversion", "3")), Ok(ExpectedRevision::Exact(3)));
        assert!(expected_version(&with("es-expectedversion", "-3")).is_err());
        assert!(expected_version(&with("es-expectedversion", "three")).is_err());
        assert_eq!(hard_delete(&with("kurrent-harddelete", "True")), Ok(true));
        assert!(hard_delete(&with("es-harddelete", "yes")).is_err());
        assert_eq!(resolve_link_tos(&HeaderMap::new()), Ok(true));
        assert_eq!(long_poll(&with("es-longpoll", "600")), Ok(Some(LONG_POLL_MAX)));
        assert_eq!(long_poll(&with("es-longpoll", "0")), Ok(None));
        assert!(long_poll(&with("es-longpoll", "-1")).is_err());
        assert!(event_id(&with("es-eventid", "not-a-uuid")).is_err());
        assert!(event_type(&with("es-eventtype", "")).is_err());
    }
}
