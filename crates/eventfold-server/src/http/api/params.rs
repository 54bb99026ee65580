//! Query parameters shared by reads and live feeds: where to start, which
//! way, how many, which events of `$all`.

use eventfold_store::{AllFrom, Direction, EventFilter, Position, RevisionFrom};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiError;

/// Reads return at most this many events per request; page on with `from`.
pub const READ_LIMIT_MAX: u64 = 10_000;
pub const READ_LIMIT_DEFAULT: u64 = 100;

#[derive(Deserialize, ToSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DirectionParam {
    #[default]
    Forwards,
    Backwards,
}

impl From<DirectionParam> for Direction {
    fn from(direction: DirectionParam) -> Self {
        match direction {
            DirectionParam::Forwards => Direction::Forwards,
            DirectionParam::Backwards => Direction::Backwards,
        }
    }
}

/// `start`, `end` or a decimal number: the words clients use, then the value.
enum Origin {
    Start,
    End,
    At(u64),
}

fn parse_start(text: &str, what: &str) -> Result<Origin, ApiError> {
    match text {
        "start" => Ok(Origin::Start),
        "end" => Ok(Origin::End),
        number => number
            .parse()
            .map(Origin::At)
            .map_err(|_| ApiError::bad_request(format!("`from` must be start, end or a {what}, not `{number}`"))),
    }
}

/// Where a stream read starts; by default the start forwards and the end
/// backwards.
pub fn revision_from(from: Option<&str>, direction: Direction) -> Result<RevisionFrom, ApiError> {
    Ok(match from.map(|text| parse_start(text, "revision")).transpose()? {
        None if direction == Direction::Backwards => RevisionFrom::End,
        None | Some(Origin::Start) => RevisionFrom::Start,
        Some(Origin::End) => RevisionFrom::End,
        Some(Origin::At(revision)) => RevisionFrom::Revision(revision),
    })
}

/// Where a `$all` read starts; by default the start forwards and the end
/// backwards.
pub fn all_from(from: Option<&str>, direction: Direction) -> Result<AllFrom, ApiError> {
    Ok(match from.map(|text| parse_start(text, "position")).transpose()? {
        None if direction == Direction::Backwards => AllFrom::End,
        None | Some(Origin::Start) => AllFrom::Start,
        Some(Origin::End) => AllFrom::End,
        Some(Origin::At(position)) => AllFrom::Position(Position(position)),
    })
}

pub fn limit(limit: Option<u64>) -> Result<u64, ApiError> {
    match limit.unwrap_or(READ_LIMIT_DEFAULT) {
        0 => Err(ApiError::bad_request("`limit` must be at least 1")),
        count if count > READ_LIMIT_MAX => {
            Err(ApiError::bad_request(format!("`limit` must be at most {READ_LIMIT_MAX}; page on with `from`")))
        }
        count => Ok(count),
    }
}

/// The ways to narrow `$all`, one at a time, as the store's filters are.
#[derive(Default)]
pub struct FilterParams<'a> {
    pub stream_prefix: Option<&'a str>,
    pub event_type_prefix: Option<&'a str>,
    pub stream_regex: Option<&'a str>,
    pub event_type_regex: Option<&'a str>,
    pub exclude_system: bool,
}

/// System events (`$metadata`, `$>`, `$streamDeleted`, …) have a type
/// starting with `$`, as EventStoreDB's clients exclude them.
const NON_SYSTEM_EVENT_TYPES: &str = r"^[^\$]";

fn prefixes(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

pub fn filter(params: &FilterParams<'_>) -> Result<Option<EventFilter>, ApiError> {
    let mut filters = Vec::new();
    if let Some(list) = params.stream_prefix {
        filters.push(Ok(EventFilter::StreamNamePrefix(prefixes(list))));
    }
    if let Some(list) = params.event_type_prefix {
        filters.push(Ok(EventFilter::EventTypePrefix(prefixes(list))));
    }
    if let Some(pattern) = params.stream_regex {
        filters.push(EventFilter::stream_name_regex(pattern));
    }
    if let Some(pattern) = params.event_type_regex {
        filters.push(EventFilter::event_type_regex(pattern));
    }
    if params.exclude_system {
        filters.push(EventFilter::event_type_regex(NON_SYSTEM_EVENT_TYPES));
    }
    if filters.len() > 1 {
        return Err(ApiError::bad_request(
            "use one of streamPrefix, eventTypePrefix, streamRegex, eventTypeRegex, excludeSystem at a time",
        ));
    }
    filters
        .pop()
        .transpose()
        .map_err(|error| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid-filter", error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_default_by_direction_and_bad_ones_are_refused() {
        assert_eq!(revision_from(None, Direction::Forwards).ok(), Some(RevisionFrom::Start));
        assert_eq!(revision_from(None, Direction::Backwards).ok(), Some(RevisionFrom::End));
        assert_eq!(revision_from(Some("7"), Direction::Backwards).ok(), Some(RevisionFrom::Revision(7)));
        assert_eq!(all_from(Some("end"), Direction::Forwards).ok(), Some(AllFrom::End));
        assert_eq!(all_from(Some("99"), Direction::Forwards).ok(), Some(AllFrom::Position(Position(99))));
        for bad in ["-1", "", "1e3", "18446744073709551616"] {
            assert!(all_from(Some(bad), Direction::Forwards).is_err(), "{bad}");
        }
        assert!(limit(Some(0)).is_err() && limit(Some(READ_LIMIT_MAX + 1)).is_err());
        assert_eq!(limit(None).ok(), Some(READ_LIMIT_DEFAULT));
    }

    #[test]
    fn one_filter_at_a_time() {
        let both = FilterParams { stream_prefix: Some("a"), exclude_system: true, ..FilterParams::default() };
        assert!(filter(&both).is_err());
        assert!(filter(&FilterParams::default()).is_ok_and(|filter| filter.is_none()));
        let bad = FilterParams { stream_regex: Some("(unclosed"), ..FilterParams::default() };
        assert!(filter(&bad).is_err_and(|error| {
            axum::response::IntoResponse::into_response(error).status() == axum::http::StatusCode::BAD_REQUEST
        }));
    }
}
