//! Pages of `$all`, the whole log: `/streams/$all` (the newest page) and
//! `/streams/$all/{position}/forward|backward/{count}`. A position is
//! written as KurrentDB writes one, 32 hexadecimal digits (commit, then
//! prepare position, which are one number here). Forward pages include
//! the event at their position; backward pages start before it. Links are
//! never resolved in `$all`, as in KurrentDB.

use axum::http::HeaderMap;
use axum::response::Response;
use eventfold_node::Node;
use eventfold_store::{AllFrom, Direction, Position, ReadAllRequest, ResolvedEvent};
use futures::StreamExt;

use super::embed::Embed;
use super::errors::AtomError;
use super::feed::{Feed, Link, entry};
use super::links::{base_uri, stream_uri};
use super::media::negotiate;
use super::respond::{CACHE_FOREVER, CACHE_NEVER, json};
use super::{headers, long_poll};
use crate::http::error::query_value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllStart {
    Head,
    At(Position),
}

/// `head`, or a position of 32 hexadecimal digits.
pub fn parse_start(text: &str) -> Result<AllStart, AtomError> {
    if text.eq_ignore_ascii_case("head") {
        return Ok(AllStart::Head);
    }
    let invalid = || AtomError::BadRequest(format!("`{text}` is neither `head` nor a position of 32 hex digits"));
    if text.len() != 32 || !text.is_ascii() {
        return Err(invalid());
    }
    let (commit, prepare) = text.split_at(16);
    let commit = u64::from_str_radix(commit, 16).map_err(|_| invalid())?;
    u64::from_str_radix(prepare, 16).map_err(|_| invalid())?;
    Ok(AllStart::At(Position(commit)))
}

/// A position as KurrentDB writes it: commit and prepare position.
pub fn format_position(position: Position) -> String {
    format!("{:016X}{:016X}", position.0, position.0)
}

pub async fn page(
    node: &Node,
    start: AllStart,
    direction: Direction,
    count: u64,
    request_headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, AtomError> {
    let flavour = negotiate(request_headers, query_value(query, "format"))?;
    let embed = Embed::parse(query_value(query, "embed"))?;
    let long_poll = headers::long_poll(request_headers)?;
    let store = node.client_store();
    let from = match start {
        AllStart::Head => AllFrom::End,
        AllStart::At(position) => AllFrom::Position(position),
    };
    // One event more than the page tells whether another page follows.
    let request = ReadAllRequest { from, direction, max_count: count.saturating_add(1), filter: None };
    let read = || async {
        let mut events = Vec::new();
        let mut stream = store.read_all(request.clone()).await?;
        while let Some(event) = stream.next().await {
            events.push(event?);
        }
        Ok::<_, AtomError>(events)
    };
    let mut events = read().await?;
    if let (Some(wait), true, Direction::Forwards, AllStart::At(position)) =
        (long_poll, events.is_empty(), direction, start)
    {
        long_poll::wait_for_all(store, position, wait).await?;
        events = read().await?;
    }
    let more = events.len() as u64 > count;
    events.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    if direction == Direction::Forwards {
        events.reverse();
    }
    // Newest first from here on.
    let newest = events.first().map(|event| event.position);
    let oldest = events.last().map(|event| event.position);
    let base = base_uri(request_headers, node);
    let all = stream_uri(&base, eventfold_store::ALL_STREAM);
    let page = |position: Position, direction: &str| format!("{all}/{}/{direction}/{count}", format_position(position));
    let mut links = vec![Link::new("self", all.clone()), Link::new("first", format!("{all}/head/backward/{count}"))];
    let after_newest = |fallback: Position| newest.map_or(fallback, |newest| Position(newest.0 + 1));
    // Where the page starts. A head page (backward only) that read nothing
    // found an empty log: its next event will be the first.
    let from = match start {
        AllStart::At(from) => from,
        AllStart::Head => Position(0),
    };
    match direction {
        Direction::Forwards => {
            if from.0 != 0 {
                links.push(Link::new("last", page(Position(0), "forward")));
                links.push(Link::new("next", page(from, "backward")));
            }
            if more || !events.is_empty() {
                links.push(Link::new("previous", page(after_newest(from), "forward")));
            }
        }
        Direction::Backwards => {
            if let (true, Some(oldest)) = (more, oldest) {
                links.push(Link::new("last", page(Position(0), "forward")));
                links.push(Link::new("next", page(oldest, "backward")));
            }
            links.push(Link::new("previous", page(after_newest(from), "forward")));
        }
    }
    links.push(Link::new("metadata", format!("{all}/metadata")));
    let resolved: Vec<ResolvedEvent> = events.into_iter().map(ResolvedEvent::unresolved).collect();
    let mut feed = Feed::new("All events".to_owned(), all, resolved.first());
    feed.links = links;
    feed.entries = resolved.iter().map(|event| entry(&base, event, embed, false)).collect();
    let is_final = match (direction, start) {
        (_, AllStart::Head) => false,
        (Direction::Backwards, AllStart::At(_)) => true,
        (Direction::Forwards, AllStart::At(_)) => more,
    };
    json(&feed, flavour, if is_final { CACHE_FOREVER } else { CACHE_NEVER })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_written_and_read_as_32_hex_digits() {
        let written = format_position(Position(0x1234));
        assert_eq!(written, "00000000000012340000000000001234");
        assert_eq!(parse_start(&written), Ok(AllStart::At(Position(0x1234))));
        assert_eq!(parse_start("HEAD"), Ok(AllStart::Head));
        for bad in ["12", "g0000000000000000000000000000000", "", "0000000000000000000000000000000é"] {
            assert!(parse_start(bad).is_err(), "{bad}");
        }
    }
}
