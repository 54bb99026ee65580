//! Reading a group over HTTP: `GET /subscriptions/{stream}/{group}[/{count}]`
//! answers a feed of up to `count` (default 1) events the group has ready,
//! each with its `ack` and `nack` links, and the feed with `ackAll` and
//! `nackAll`. What was read stays in flight until acked or nacked
//! (`POST .../ack/{id}`, `.../ack?ids=a,b`, `.../nack/{id}?action=Park|Retry|Skip|Stop`)
//! or the group's message timeout retries it. Answers 202, as KurrentDB.

use crate::http::caller::Caller;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_persistent::{Delivery, GroupKey, NackAction, PolledRead};
use eventfold_store::{EventId, ResolvedEvent};

use super::{errors, group_key};
use crate::http::atom::{AtomError, CACHE_NEVER, Embed, Feed, Link, base_uri, entry, escape, page_count};
use crate::http::error::query_value;

/// How long a read waits for a first event when none is ready.
const FIRST_EVENT_WAIT: Duration = Duration::from_millis(500);

/// The media types a read answers in: the competing-consumer Atom of either
/// spelling, or plain JSON.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    EventStore,
    Kurrent,
    Json,
}

impl Answer {
    fn content_type(self) -> &'static str {
        match self {
            Answer::EventStore => "application/vnd.eventstore.competingatom+json; charset=utf-8",
            Answer::Kurrent => "application/vnd.kurrent.competingatom+json; charset=utf-8",
            Answer::Json => "application/json; charset=utf-8",
        }
    }
}

fn negotiate(headers: &HeaderMap) -> Result<Answer, AtomError> {
    let Some(accept) = headers.get(header::ACCEPT) else { return Ok(Answer::EventStore) };
    let accept = accept.to_str().map_err(|_| AtomError::BadRequest("the Accept header is not text".into()))?;
    let mut any_range = false;
    for range in accept.split(',').map(|range| range.split(';').next().unwrap_or("").trim().to_ascii_lowercase()) {
        match range.as_str() {
            "" => continue,
            "application/vnd.eventstore.competingatom+json" | "*/*" | "application/*" => {
                return Ok(Answer::EventStore);
            }
            "application/vnd.kurrent.competingatom+json" => return Ok(Answer::Kurrent),
            "application/json" | "text/json" => return Ok(Answer::Json),
            _ => any_range = true,
        }
    }
    if any_range { Err(AtomError::NotAcceptable) } else { Ok(Answer::EventStore) }
}

pub async fn read_one(
    Caller(node): Caller,
    Path((stream, group)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    read_feed(&node, &stream, &group, 1, &headers, uri.query()).await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn read(
    Caller(node): Caller,
    Path((stream, group, count)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let answer = async {
        let count = page_count(&count)?;
        read_feed(&node, &stream, &group, count, &headers, uri.query()).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

async fn read_feed(
    node: &Node,
    stream: &str,
    group: &str,
    count: u64,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, AtomError> {
    let key = group_key(stream, group)?;
    let answer = negotiate(headers)?;
    let embed = Embed::parse(query_value(query, "embed"))?;
    let read = PolledRead {
        count: usize::try_from(count).unwrap_or(usize::MAX),
        // The transport does not hand the peer's address to handlers.
        from: "http".to_owned(),
        first_event_wait: FIRST_EVENT_WAIT,
    };
    // A consumer reads the group's source: it needs the right to read it.
    node.authorize_read(key.source().resource()).await?;
    let deliveries = node.persistent_subscriptions().read_polled(&key, read).await.map_err(errors::connect)?;
    let base = base_uri(headers, node);
    let feed = feed(&base, &key, count, &deliveries, embed);
    let body = serde_json::to_vec(&feed).map_err(|error| AtomError::Storage(error.to_string()))?;
    let mut response = (StatusCode::OK, body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(answer.content_type()));
    response_headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static(CACHE_NEVER));
    Ok(response)
}

fn feed(base: &str, key: &GroupKey, count: u64, deliveries: &[Delivery], embed: Embed) -> Feed {
    let group_uri = format!("{base}/subscriptions/{}/{}", escape(key.source().label()), escape(key.group()));
    let events: Vec<ResolvedEvent> = deliveries
        .iter()
        .rev()
        .map(|delivery| ResolvedEvent { event: delivery.event.clone(), link: delivery.link.clone() })
        .collect();
    let title = format!("Messages for '{}/{}'", key.source().label(), key.group());
    let mut feed = Feed::new(title, group_uri.clone(), events.first());
    if !deliveries.is_empty() {
        let ids: Vec<String> = deliveries.iter().map(|delivery| delivery.ack_id().to_string()).collect();
        let ids = ids.join(",");
        feed.links.push(Link::new("ackAll", format!("{group_uri}/ack?ids={ids}")));
        feed.links.push(Link::new("nackAll", format!("{group_uri}/nack?ids={ids}")));
    }
    feed.links.push(Link::new("previous", format!("{group_uri}/{count}")));
    feed.links.push(Link::new("self", group_uri.clone()));
    feed.entries = events
        .iter()
        .map(|event| {
            let id = event.link.as_ref().unwrap_or(&event.event).id;
            let mut entry = entry(base, event, embed, false);
            entry.links.push(Link::new("ack", format!("{group_uri}/ack/{id}")));
            entry.links.push(Link::new("nack", format!("{group_uri}/nack/{id}")));
            entry
        })
        .collect();
    feed
}

pub async fn ack_one(Caller(node): Caller, Path((stream, group, id)): Path<(String, String, String)>) -> Response {
    settle(&node, &stream, &group, Some(&id), None, None).await
}

pub async fn ack_many(Caller(node): Caller, Path((stream, group)): Path<(String, String)>, uri: Uri) -> Response {
    settle(&node, &stream, &group, None, Some(uri.query().unwrap_or("")), None).await
}

pub async fn nack_one(
    Caller(node): Caller,
    Path((stream, group, id)): Path<(String, String, String)>,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or("");
    settle(&node, &stream, &group, Some(&id), None, Some(query)).await
}

pub async fn nack_many(Caller(node): Caller, Path((stream, group)): Path<(String, String)>, uri: Uri) -> Response {
    let query = uri.query().unwrap_or("");
    settle(&node, &stream, &group, None, Some(query), Some(query)).await
}

/// Acks (no `nack_query`) or nacks the ids named by the path or by
/// `?ids=`; a nack's action comes from `?action=` (default: retry).
async fn settle(
    node: &Node,
    stream: &str,
    group: &str,
    path_id: Option<&str>,
    ids_query: Option<&str>,
    nack_query: Option<&str>,
) -> Response {
    let answer = async {
        let key = group_key(stream, group)?;
        let ids = match (path_id, ids_query) {
            (Some(id), _) => vec![event_id(id)?],
            (None, query) => {
                let listed = query_value(query, "ids")
                    .ok_or_else(|| AtomError::BadRequest("name the events to settle with ?ids=<id>,<id>".into()))?;
                listed.split(',').filter(|id| !id.is_empty()).map(event_id).collect::<Result<Vec<_>, _>>()?
            }
        };
        if ids.is_empty() {
            return Err(AtomError::BadRequest("no event id given".into()));
        }
        let subscriptions = node.persistent_subscriptions();
        match nack_query {
            None => subscriptions.ack(&key, ids).await.map_err(errors::group)?,
            Some(query) => {
                let action = nack_action(query_value(Some(query), "action"))?;
                let reason = "nacked over HTTP".to_owned();
                subscriptions.nack(&key, ids, action, reason).await.map_err(errors::group)?;
            }
        }
        Ok(StatusCode::ACCEPTED.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

fn event_id(text: &str) -> Result<EventId, AtomError> {
    uuid::Uuid::parse_str(text).map(EventId).map_err(|_| AtomError::BadRequest(format!("`{text}` is not an event id")))
}

fn nack_action(text: Option<&str>) -> Result<NackAction, AtomError> {
    let Some(text) = text else { return Ok(NackAction::Retry) };
    match text.to_ascii_lowercase().as_str() {
        "park" => Ok(NackAction::Park),
        "retry" => Ok(NackAction::Retry),
        "skip" => Ok(NackAction::Skip),
        "stop" => Ok(NackAction::Stop),
        _ => Err(AtomError::BadRequest(format!("nack action `{text}` is not one of Park, Retry, Skip, Stop"))),
    }
}
