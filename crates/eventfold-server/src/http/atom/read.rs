//! `GET /streams/{stream}` (the head page), `/streams/{stream}/{n}/forward|backward/{count}`
//! (any page) and `/streams/{stream}/{n|head}` (one event). `$all` is read
//! by its own pages ([`super::all`]).

use crate::http::caller::Caller;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_store::{
    ALL_STREAM, ContentType, Direction, EventStore, ReadStreamRequest, RecordedEvent, ResolvedEvent, RevisionFrom,
    StreamName, StreamReadItem, read_stream_with_bounds,
};
use futures::StreamExt;

use super::embed::Embed;
use super::errors::AtomError;
use super::feed::{Feed, entry};
use super::links::{base_uri, stream_uri};
use super::media::{Flavour, negotiate};
use super::page::{PageStart, StreamPage};
use super::respond::{CACHE_FOREVER, CACHE_NEVER, json, not_modified, with_body};
use super::{all, headers, long_poll, page_count, page_direction, stream_name};
use crate::http::error::query_value;

/// KurrentDB's page size when none is asked.
pub const DEFAULT_PAGE_COUNT: u64 = 20;

pub async fn head(Caller(node): Caller, Path(stream): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let answer = if stream == ALL_STREAM {
        all::page(&node, all::AllStart::Head, Direction::Backwards, DEFAULT_PAGE_COUNT, &headers, uri.query()).await
    } else {
        stream_page(&node, &stream, PageStart::Head, Direction::Backwards, DEFAULT_PAGE_COUNT, &headers, uri.query())
            .await
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

pub async fn page(
    Caller(node): Caller,
    Path((stream, start, direction, count)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let answer = async {
        let direction = page_direction(&direction)?;
        let count = page_count(&count)?;
        // The head is where backward pages start; forward from it there is
        // nothing to read.
        if start.eq_ignore_ascii_case("head") && direction == Direction::Forwards {
            return Err(AtomError::BadRequest("pages from `head` go backward".into()));
        }
        if stream == ALL_STREAM {
            let start = all::parse_start(&start)?;
            all::page(&node, start, direction, count, &headers, uri.query()).await
        } else {
            let start = PageStart::parse(&start)
                .ok_or_else(|| AtomError::BadRequest(format!("`{start}` is neither `head` nor an event number")))?;
            stream_page(&node, &stream, start, direction, count, &headers, uri.query()).await
        }
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn event(
    Caller(node): Caller,
    Path((stream, number)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    single_event(&node, &stream, &number, &headers, uri.query()).await.unwrap_or_else(IntoResponse::into_response)
}

/// A stream's events from `start` in `direction`, and its last event
/// number (`None`: the stream has none).
pub struct ReadPage {
    pub events: Vec<RecordedEvent>,
    pub last: Option<u64>,
}

pub async fn read_page(
    store: &Arc<dyn EventStore>,
    stream: &StreamName,
    start: PageStart,
    direction: Direction,
    count: u64,
) -> Result<ReadPage, AtomError> {
    let from = match start {
        PageStart::Head => RevisionFrom::End,
        PageStart::At(number) => RevisionFrom::Revision(number),
    };
    let request = ReadStreamRequest { stream: stream.clone(), from, direction, max_count: count };
    // The store's read refuses the metadata of a tombstoned stream too.
    let mut items = read_stream_with_bounds(Arc::clone(store), request).await?;
    let mut page = ReadPage { events: Vec::new(), last: None };
    while let Some(item) = items.next().await {
        match item? {
            StreamReadItem::Event(event) => page.events.push(event),
            StreamReadItem::LastStreamPosition(last) => page.last = Some(last),
            StreamReadItem::FirstStreamPosition(_) => {}
        }
    }
    Ok(page)
}

async fn resolve_all(store: &Arc<dyn EventStore>, events: Vec<RecordedEvent>, resolve: bool) -> Vec<ResolvedEvent> {
    let mut resolved = Vec::with_capacity(events.len());
    for event in events {
        resolved.push(if resolve {
            ResolvedEvent::resolve(store.as_ref(), event).await
        } else {
            ResolvedEvent::unresolved(event)
        });
    }
    resolved
}

async fn stream_page(
    node: &Node,
    stream: &str,
    start: PageStart,
    direction: Direction,
    count: u64,
    request_headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, AtomError> {
    let stream = stream_name(stream)?;
    let flavour = negotiate(request_headers, query_value(query, "format"))?;
    let embed = Embed::parse(query_value(query, "embed"))?;
    let resolve = headers::resolve_link_tos(request_headers)?;
    let long_poll = headers::long_poll(request_headers)?;
    let store = node.client_store();
    let mut read = read_page(store, &stream, start, direction, count).await?;
    if let (Some(wait), true, Direction::Forwards, PageStart::At(from)) =
        (long_poll, read.events.is_empty(), direction, start)
    {
        long_poll::wait_for_stream(store, &stream, from, wait).await?;
        read = read_page(store, &stream, start, direction, count).await?;
    }
    let last = read.last.or_else(|| read.events.iter().map(|event| event.revision).max()).unwrap_or(0);
    let base = base_uri(request_headers, node);
    let page = StreamPage {
        base: &base,
        stream: stream.as_str(),
        start,
        direction,
        count,
        last,
        events_read: read.events.len(),
    };
    let etag = (direction == Direction::Backwards && start == PageStart::Head)
        .then(|| format!("\"{last};{};{}\"", flavour.tag(), embed.tag()));
    if let Some(etag) = &etag
        && let Some(seen) = request_headers.get(header::IF_NONE_MATCH)
        && seen.as_bytes() == etag.as_bytes()
    {
        return Ok(not_modified(seen));
    }
    let mut events = resolve_all(store, read.events, resolve).await;
    if direction == Direction::Forwards {
        events.reverse();
    }
    let self_uri = stream_uri(&base, stream.as_str());
    let mut feed = Feed::new(format!("Event stream '{stream}'"), self_uri.clone(), events.first());
    feed.stream_id = Some(stream.to_string());
    feed.head_of_stream = page.is_head();
    feed.self_url = Some(self_uri);
    feed.e_tag.clone_from(&etag);
    feed.links = page.links();
    feed.entries = events.iter().map(|event| entry(&base, event, embed, false)).collect();
    let cache = if page.is_final() { CACHE_FOREVER } else { CACHE_NEVER };
    let mut response = json(&feed, flavour, cache)?;
    if let Some(etag) = etag.and_then(|etag| HeaderValue::from_str(&etag).ok()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

async fn single_event(
    node: &Node,
    stream: &str,
    number: &str,
    request_headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, AtomError> {
    if stream == ALL_STREAM {
        return Err(AtomError::BadRequest("$all is read by pages: /streams/$all/{position}/forward/{count}".into()));
    }
    let stream = stream_name(stream)?;
    let start = PageStart::parse(number)
        .ok_or_else(|| AtomError::BadRequest(format!("`{number}` is neither `head` nor an event number")))?;
    let flavour = negotiate(request_headers, query_value(query, "format"))?;
    let embed = Embed::parse(query_value(query, "embed"))?;
    let resolve = headers::resolve_link_tos(request_headers)?;
    let store = node.client_store();
    let direction = if start == PageStart::Head { Direction::Backwards } else { Direction::Forwards };
    let read = read_page(store, &stream, start, direction, 1).await?;
    let found = read.events.into_iter().find(|event| match start {
        PageStart::Head => true,
        PageStart::At(number) => event.revision == number,
    });
    let Some(found) = found else {
        return Err(AtomError::NotFound(format!("stream `{stream}` has no event {number}")));
    };
    let event = resolve_all(store, vec![found], resolve).await.into_iter().next();
    let Some(event) = event else {
        return Err(AtomError::NotFound(format!("stream `{stream}` has no event {number}")));
    };
    let cache = if start == PageStart::Head { CACHE_NEVER } else { CACHE_FOREVER };
    if flavour == Flavour::Json {
        let target = &event.event;
        let content_type = match target.content_type {
            ContentType::Json => "application/json; charset=utf-8",
            ContentType::Binary => "application/octet-stream",
        };
        return Ok(with_body(target.data.to_vec(), content_type, cache));
    }
    let base = base_uri(request_headers, node);
    json(&entry(&base, &event, embed, true), flavour, cache)
}
