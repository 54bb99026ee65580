//! Several stream feeds on one connection: `GET /api/v1/live?follow=…`.
//!
//! A browser opens at most six HTTP/1.1 connections per origin, shared by
//! all its tabs: six tabs tailing six streams would leave a seventh unable
//! even to load. The web UI therefore keeps one connection per browser, in
//! a shared worker, and asks this route for every feed its tabs follow;
//! when the set changes it opens a new connection with each feed's resume
//! point and closes the old one.
//!
//! Each `follow` is `<stream>@<from>` (`from`: `start`, `end` or the last
//! revision seen; the stream name may itself hold `@`, the last one splits).
//! Feeds are numbered in the order given. Every event's SSE id is
//! `<feed>:<revision>`; `caught-up` and `error` carry `{"feed": n}` in their
//! data. A feed that cannot open (no right to read, a tombstoned stream)
//! sends its `error` and the others go on; a feed that fails or whose
//! client falls behind ends the whole connection, which the client reopens
//! from its resume points.

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::error::{ApiError, ErrorBody};
use super::extract::stream_name;
use super::live::{HEARTBEAT_INTERVAL, Id, LIMITS, spawn_feed, subscribe_from, subscribe_to_stream};
use crate::http::caller::Caller;

/// Most feeds on one connection: one per tab that tails a stream.
pub const MAX_FEEDS: usize = 32;

/// One `follow` parameter.
#[derive(Debug, PartialEq, Eq)]
struct Follow {
    stream: String,
    from: String,
}

/// The route's parameters: `follow` (repeated) and `resolveLinks`.
fn parse(query: Option<&str>) -> Result<(Vec<Follow>, bool), ApiError> {
    let mut follows = Vec::new();
    let mut resolve_links = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "follow" => {
                let (stream, from) = value
                    .rsplit_once('@')
                    .ok_or_else(|| ApiError::bad_request(format!("`follow` is `<stream>@<from>`, not `{value}`")))?;
                follows.push(Follow { stream: stream.to_owned(), from: from.to_owned() });
            }
            "resolveLinks" => {
                resolve_links = value.parse().map_err(|_| ApiError::bad_request("`resolveLinks` is true or false"))?;
            }
            other => return Err(ApiError::bad_request(format!("unknown query parameter `{other}`"))),
        }
    }
    if follows.is_empty() {
        return Err(ApiError::bad_request("name at least one `follow=<stream>@<from>`"));
    }
    if follows.len() > MAX_FEEDS {
        return Err(ApiError::bad_request(format!("at most {MAX_FEEDS} feeds on one connection")));
    }
    Ok((follows, resolve_links))
}

/// Follows several streams on one connection.
#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "live",
    params(
        ("follow" = Vec<String>, Query, description = "`<stream>@<from>`, repeated: each a feed, numbered from 0 in order; `from` is start, end or the last revision seen"),
        ("resolveLinks" = Option<bool>, Query, description = "Resolve link events"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `event` (data: an event, id: `<feed>:<revision>`), `caught-up` and `error` with `{\"feed\": n}`", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed or too many `follow`s", body = ErrorBody),
    )
)]
pub async fn live_feeds(Caller(node): Caller, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let (follows, resolve_links) = parse(query.as_deref())?;
    // Checked before anything opens: a malformed one refuses the request.
    let mut checked = Vec::with_capacity(follows.len());
    for follow in &follows {
        checked.push((stream_name(&follow.stream)?, subscribe_from(Some(&follow.from), None)?));
    }
    let store = Arc::clone(node.client_store());
    let mut refusals = Vec::new();
    let mut receivers = Vec::with_capacity(checked.len());
    for (feed, (stream, from)) in checked.into_iter().enumerate() {
        match subscribe_to_stream(store.as_ref(), stream, from).await {
            Ok(subscription) => {
                let resolve = resolve_links.then(|| Arc::clone(&store));
                receivers.push(spawn_feed(subscription, resolve, Id::Revision, Some(feed), LIMITS));
            }
            Err(error) => refusals.push(Ok(Event::default().event("error").data(error.in_feed(feed).to_string()))),
        }
    }
    let events = futures::stream::iter(refusals).chain(merged(receivers));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT_INTERVAL).text("heartbeat")).into_response())
}

/// The feeds' events as they come. The connection ends when a feed that
/// opened ends (its subscription failed, or the client fell behind): the
/// client reopens every feed from where it was.
fn merged(
    receivers: Vec<mpsc::Receiver<Event>>,
) -> impl futures::Stream<Item = Result<Event, std::convert::Infallible>> {
    let feeds = receivers.into_iter().map(|receiver| {
        futures::stream::unfold(receiver, |mut receiver| async move {
            let next = receiver.recv().await;
            Some((next, receiver))
        })
        .boxed()
    });
    let mut live = futures::stream::select_all(feeds);
    let mut opened_ended = false;
    futures::stream::poll_fn(move |context| {
        if opened_ended {
            return std::task::Poll::Ready(None);
        }
        match live.poll_next_unpin(context) {
            std::task::Poll::Ready(Some(Some(event))) => std::task::Poll::Ready(Some(Ok(event))),
            std::task::Poll::Ready(Some(None)) => {
                opened_ended = true;
                std::task::Poll::Ready(None)
            }
            std::task::Poll::Ready(None) => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_are_split_at_the_last_at_sign_and_checked() {
        let (follows, resolve) =
            parse(Some("follow=a%40b%405&follow=order-1%40start&resolveLinks=true")).expect("parsed");
        assert_eq!(
            follows,
            vec![
                Follow { stream: "a@b".into(), from: "5".into() },
                Follow { stream: "order-1".into(), from: "start".into() }
            ]
        );
        assert!(resolve);
        assert!(parse(None).is_err(), "no feed");
        assert!(parse(Some("follow=nofrom")).is_err());
        assert!(parse(Some("follow=a%40start&fellow=x")).is_err(), "unknown parameter");
        let many: Vec<String> = (0..=MAX_FEEDS).map(|index| format!("follow=s{index}%40end")).collect();
        assert!(parse(Some(&many.join("&"))).is_err(), "too many feeds");
    }
}
