//! Live feeds as Server-Sent Events: `GET /api/v1/streams/{stream}/live`
//! and `GET /api/v1/all/live`. Each is a catch-up subscription of the store:
//! history after the start, a `caught-up` event, then new events as they
//! are written.
//!
//! Every event's SSE `id` is its position in what the feed follows: the
//! `$all` position on `/all/live`, the stream revision on a stream's feed
//! (a stream's own position, which also holds for `$ce-`/`$et-` streams,
//! whose events sit elsewhere in the log). A browser's `EventSource` sends
//! the last one back as `Last-Event-ID` when it reconnects, and the feed goes
//! on after it: nothing missed, nothing twice.
//!
//! A comment (`: heartbeat`) goes out every 15 seconds so that proxies keep
//! a quiet feed open. Between the subscription and the connection sits a
//! buffer of [`BUFFER_EVENTS`]; a client that leaves it full for
//! [`SLOW_CLIENT_TIMEOUT`] is dropped (its connection ends) rather than
//! holding a subscription open: it reconnects with `Last-Event-ID` and
//! reads what it missed from storage.

use crate::http::caller::Caller;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use eventfold_store::{
    EventStore, Position, ReadError, ResolvedEvent, StreamName, SubscribeFrom, SubscribeToAllRequest,
    SubscribeToStreamRequest, SubscriptionItem, SubscriptionStream, refuse_metadata_of_tombstoned,
};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::events::EventBody;
use super::extract::{ApiPath, ApiQuery, stream_name};
use super::params::{self, FilterParams};

/// Events held for one client between the store and its connection.
pub const BUFFER_EVENTS: usize = 256;
/// How long a client may leave its buffer full before it is dropped.
pub const SLOW_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Filtered `$all` feeds send a `checkpoint` (with its position as the SSE
/// id) every this many scanned events, so that a feed that matches little
/// still moves its resume point on.
const CHECKPOINT_INTERVAL: u32 = 1000;

const LAST_EVENT_ID: &str = "last-event-id";

/// `start`, `end` or a number, exclusive: the feed begins after it.
pub(super) fn subscribe_from(from: Option<&str>, last_event_id: Option<u64>) -> Result<SubscribeFrom<u64>, ApiError> {
    if let Some(last) = last_event_id {
        return Ok(SubscribeFrom::After(last));
    }
    match from.unwrap_or("end") {
        "start" => Ok(SubscribeFrom::Start),
        "end" => Ok(SubscribeFrom::End),
        number => number
            .parse()
            .map(SubscribeFrom::After)
            .map_err(|_| ApiError::bad_request(format!("`from` must be start, end or a number, not `{number}`"))),
    }
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(LAST_EVENT_ID) else { return Ok(None) };
    let parsed = value.to_str().ok().and_then(|text| text.trim().parse().ok());
    parsed.map(Some).ok_or_else(|| ApiError::bad_request("`Last-Event-ID` must be a number this feed sent as an id"))
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamLiveQuery {
    /// `start`, `end` (default) or a revision: the feed begins after it.
    /// `Last-Event-ID`, when sent, wins.
    #[param(pattern = "^(start|end|[0-9]+)$")]
    pub from: Option<String>,
    pub resolve_links: Option<bool>,
}

/// Follows a stream: its events after `from`, then new ones as written.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{stream}/live",
    tag = "live",
    params(
        ("stream" = String, Path, description = "The stream's name"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last revision received: resume after it"),
        StreamLiveQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `event` (data: an event, id: its revision), `caught-up` once", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed parameter, header or stream name", body = ErrorBody),
        (status = 403, description = "Not readable by clients", body = ErrorBody),
        (status = 410, description = "The stream is tombstoned", body = ErrorBody),
    )
)]
pub async fn stream_live(
    Caller(node): Caller,
    ApiPath(stream): ApiPath<String>,
    ApiQuery(query): ApiQuery<StreamLiveQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stream = stream_name(&stream)?;
    let from = subscribe_from(query.from.as_deref(), last_event_id(&headers)?)?;
    let store = Arc::clone(node.client_store());
    let subscription = subscribe_to_stream(store.as_ref(), stream, from).await?;
    Ok(feed(store, subscription, query.resolve_links.unwrap_or(false), Id::Revision))
}

/// A stream's subscription for a feed. A feed of a tombstoned stream (or of
/// its metadata) would only ever say so inside the feed; refused before it
/// opens, it is a 410.
pub(super) async fn subscribe_to_stream(
    store: &dyn EventStore,
    stream: StreamName,
    from: SubscribeFrom<u64>,
) -> Result<SubscriptionStream, ApiError> {
    refuse_metadata_of_tombstoned(store, &stream).await?;
    if let Err(error @ ReadError::StreamDeleted { .. }) = store.stream_revision(&stream).await {
        return Err(error.into());
    }
    Ok(store.subscribe_to_stream(SubscribeToStreamRequest { stream, from }).await?)
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllLiveQuery {
    /// `start`, `end` (default) or a position: the feed begins after it.
    /// `Last-Event-ID`, when sent, wins.
    #[param(pattern = "^(start|end|[0-9]+)$")]
    pub from: Option<String>,
    pub resolve_links: Option<bool>,
    /// Comma-separated stream name prefixes.
    pub stream_prefix: Option<String>,
    /// Comma-separated event type prefixes.
    pub event_type_prefix: Option<String>,
    pub stream_regex: Option<String>,
    pub event_type_regex: Option<String>,
    /// Leave out system events. One filter at a time.
    pub exclude_system: Option<bool>,
}

/// Follows the whole log: events after `from`, then new ones as written.
/// Filtered feeds also send `checkpoint` events (id: the position scanned to).
#[utoipa::path(
    get,
    path = "/api/v1/all/live",
    tag = "live",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The last position received: resume after it"),
        AllLiveQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `event` (data: an event, id: its position), `caught-up` once, `checkpoint` with filters", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed parameter, header or filter", body = ErrorBody),
    )
)]
pub async fn all_live(
    Caller(node): Caller,
    ApiQuery(query): ApiQuery<AllLiveQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let from = subscribe_from(query.from.as_deref(), last_event_id(&headers)?)?;
    let filter = params::filter(&FilterParams {
        stream_prefix: query.stream_prefix.as_deref(),
        event_type_prefix: query.event_type_prefix.as_deref(),
        stream_regex: query.stream_regex.as_deref(),
        event_type_regex: query.event_type_regex.as_deref(),
        exclude_system: query.exclude_system.unwrap_or(false),
    })?;
    let checkpoint_interval = filter.as_ref().map(|_| CHECKPOINT_INTERVAL);
    let request = SubscribeToAllRequest {
        from: match from {
            SubscribeFrom::Start => SubscribeFrom::Start,
            SubscribeFrom::End => SubscribeFrom::End,
            SubscribeFrom::After(position) => SubscribeFrom::After(Position(position)),
        },
        filter,
        checkpoint_interval,
    };
    let store = Arc::clone(node.client_store());
    let subscription = store.subscribe_to_all(request).await?;
    Ok(feed(store, subscription, query.resolve_links.unwrap_or(false), Id::Position))
}

/// What a feed's SSE ids count.
#[derive(Clone, Copy)]
pub(super) enum Id {
    Revision,
    Position,
}

/// How much one client may hold back.
#[derive(Clone, Copy)]
pub(super) struct FeedLimits {
    pub buffer_events: usize,
    pub slow_client_timeout: Duration,
}

pub(super) const LIMITS: FeedLimits =
    FeedLimits { buffer_events: BUFFER_EVENTS, slow_client_timeout: SLOW_CLIENT_TIMEOUT };

/// Answers with the subscription as SSE, through [`spawn_feed`]'s buffer.
fn feed(store: Arc<dyn EventStore>, subscription: SubscriptionStream, resolve_links: bool, id: Id) -> Response {
    let receiver = spawn_feed(subscription, resolve_links.then_some(store), id, None, LIMITS);
    let events = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok::<Event, Infallible>(event), receiver))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT_INTERVAL).text("heartbeat")).into_response()
}

/// Runs the subscription on a task of its own into a bounded buffer, whose
/// receiving end the response drains. The task ends when the subscription
/// does, when the client goes (the receiver is dropped), or when the client
/// leaves the buffer full too long; the subscription ends with it. Links
/// are resolved through `resolve` when given.
pub(super) fn spawn_feed(
    mut subscription: SubscriptionStream,
    resolve: Option<Arc<dyn EventStore>>,
    id: Id,
    feed: Option<usize>,
    limits: FeedLimits,
) -> mpsc::Receiver<Event> {
    let (sender, receiver) = mpsc::channel::<Event>(limits.buffer_events);
    tokio::spawn(async move {
        loop {
            // A client that went away ends the task at once, not at the
            // next event, which on a quiet stream may never come.
            let item = tokio::select! {
                item = subscription.next() => item,
                () = sender.closed() => return,
            };
            let Some(item) = item else { return };
            let event = match item {
                Ok(SubscriptionItem::Event(event)) => {
                    let sse_id = match id {
                        Id::Revision => event.revision,
                        Id::Position => event.position.0,
                    };
                    let body = match &resolve {
                        Some(store) => EventBody::from(&ResolvedEvent::resolve(store.as_ref(), event).await),
                        None => EventBody::from(&event),
                    };
                    let data = serde_json::to_string(&body).unwrap_or_default();
                    let sse_id = match feed {
                        Some(feed) => format!("{feed}:{sse_id}"),
                        None => sse_id.to_string(),
                    };
                    Event::default().event("event").id(sse_id).data(data)
                }
                Ok(SubscriptionItem::CaughtUp) => Event::default().event("caught-up").data(match feed {
                    Some(feed) => format!("{{\"feed\":{feed}}}"),
                    None => "{}".to_owned(),
                }),
                Ok(SubscriptionItem::Checkpoint(position)) => Event::default()
                    .event("checkpoint")
                    .id(position.0.to_string())
                    .data(format!("{{\"position\":\"{}\"}}", position.0)),
                Err(error) => {
                    // The client is told why before the feed ends; it may
                    // reconnect and resume.
                    let data = serde_json::json!({"error": error.to_string(), "feed": feed}).to_string();
                    let _ = sender
                        .send_timeout(Event::default().event("error").data(data), limits.slow_client_timeout)
                        .await;
                    return;
                }
            };
            if sender.send_timeout(event, limits.slow_client_timeout).await.is_err() {
                return;
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, RecordedEvent, StreamName, Timestamp};

    use super::*;

    /// An endless subscription that records when it is dropped.
    fn endless(dropped: Arc<AtomicBool>) -> SubscriptionStream {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped);
        let stream = StreamName::new("s").expect("valid name");
        futures::stream::iter(0u64..)
            .map(move |revision| {
                let _ = &flag;
                Ok(SubscriptionItem::Event(RecordedEvent {
                    stream: stream.clone(),
                    revision,
                    position: Position(32 + revision),
                    id: EventId::random(),
                    event_type: "T".into(),
                    content_type: ContentType::Json,
                    created: Timestamp(0),
                    data: Bytes::from_static(b"{}"),
                    metadata: Bytes::new(),
                }))
            })
            .boxed()
    }

    async fn ended(dropped: &AtomicBool) -> bool {
        for _ in 0..200 {
            if dropped.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_with_its_subscription_and_holds_a_bounded_buffer() {
        let dropped = Arc::new(AtomicBool::new(false));
        let limits = FeedLimits { buffer_events: 4, slow_client_timeout: Duration::from_millis(50) };
        let mut receiver = spawn_feed(endless(Arc::clone(&dropped)), None, Id::Revision, None, limits);
        assert!(ended(&dropped).await, "the subscription of a client that reads nothing ends");
        let mut held = 0;
        while receiver.recv().await.is_some() {
            held += 1;
        }
        assert_eq!(held, 4, "no more than the buffer was held for it");
    }

    #[tokio::test]
    async fn a_client_that_leaves_ends_its_subscription_at_once() {
        let dropped = Arc::new(AtomicBool::new(false));
        let quiet = endless(Arc::clone(&dropped)).take(1).chain(futures::stream::pending()).boxed();
        let receiver = spawn_feed(quiet, None, Id::Position, None, LIMITS);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(receiver);
        assert!(ended(&dropped).await, "no event needs to come for the subscription to end");
    }
}
