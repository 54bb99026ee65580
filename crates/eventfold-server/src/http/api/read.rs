//! `GET /api/v1/streams/{stream}` and `GET /api/v1/all`: reads, streamed as
//! NDJSON (one event per line), so that memory stays bounded whatever the
//! page size and a client can render events as they arrive.
//!
//! Paging: the next page starts where this one ended. A stream read forwards
//! goes on `from` the last revision + 1, backwards from the last revision
//! − 1. `$all` forwards includes the event at `from`, so it goes on from the
//! last position + 1; backwards starts with the event before `from`, so it
//! goes on from the last position. A page shorter than `limit` is the last.

use crate::http::caller::Caller;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use eventfold_store::{
    Direction, EventStore, ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent, ResolvedEvent, StreamReadItem,
    read_stream_with_bounds,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::events::EventBody;
use super::extract::{ApiPath, ApiQuery, stream_name};
use super::params::{self, DirectionParam, FilterParams};

pub const NDJSON: &str = "application/x-ndjson";

/// At most this many events ready at once are written as one chunk.
const CHUNK_EVENTS: usize = 256;

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamReadQuery {
    /// `start`, `end` or a revision (included). Default: `start` forwards,
    /// `end` backwards.
    #[param(pattern = "^(start|end|[0-9]+)$")]
    pub from: Option<String>,
    /// `forwards` (default) or `backwards`.
    #[param(inline)]
    pub direction: Option<DirectionParam>,
    /// At most this many events (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
    /// Read the events that link events (`$>`) point to, with the link in
    /// `link`.
    pub resolve_links: Option<bool>,
}

/// Reads a stream's events, one JSON object per line.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{stream}",
    tag = "streams",
    params(("stream" = String, Path, description = "The stream's name"), StreamReadQuery),
    responses(
        (status = 200, description = "The events, one per line (NDJSON)", content_type = "application/x-ndjson", body = EventBody),
        (status = 400, description = "Malformed parameter or stream name", body = ErrorBody),
        (status = 403, description = "Not readable by clients", body = ErrorBody),
        (status = 404, description = "The stream does not exist or is deleted", body = ErrorBody),
        (status = 410, description = "The stream is tombstoned", body = ErrorBody),
    )
)]
pub async fn read_stream(
    Caller(node): Caller,
    ApiPath(stream): ApiPath<String>,
    ApiQuery(query): ApiQuery<StreamReadQuery>,
) -> Result<Response, ApiError> {
    let stream = stream_name(&stream)?;
    let direction: Direction = query.direction.unwrap_or_default().into();
    let request = ReadStreamRequest {
        stream,
        from: params::revision_from(query.from.as_deref(), direction)?,
        direction,
        max_count: params::limit(query.limit)?,
    };
    let store = Arc::clone(node.client_store());
    // The store's read adds the stream's bounds after the events (for the
    // gRPC face); this face pages by the events themselves.
    let events = read_stream_with_bounds(Arc::clone(&store), request)
        .await?
        .try_filter_map(|item| async move {
            Ok(match item {
                StreamReadItem::Event(event) => Some(event),
                _ => None,
            })
        })
        .boxed();
    ndjson(store, events, query.resolve_links.unwrap_or(false)).await
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllReadQuery {
    /// `start`, `end` or a position. Forwards, the event at the position is
    /// included; backwards, the read starts with the event before it.
    #[param(pattern = "^(start|end|[0-9]+)$")]
    pub from: Option<String>,
    /// `forwards` (default) or `backwards`.
    #[param(inline)]
    pub direction: Option<DirectionParam>,
    /// At most this many events (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
    pub resolve_links: Option<bool>,
    /// Only events of streams starting with one of these prefixes (comma
    /// separated).
    pub stream_prefix: Option<String>,
    /// Only events whose type starts with one of these prefixes (comma
    /// separated).
    pub event_type_prefix: Option<String>,
    /// Only events of streams matching this regex.
    pub stream_regex: Option<String>,
    /// Only events whose type matches this regex.
    pub event_type_regex: Option<String>,
    /// Leave out system events (types starting with `$`). One filter at a
    /// time.
    pub exclude_system: Option<bool>,
}

impl AllReadQuery {
    pub fn filter_params(&self) -> FilterParams<'_> {
        FilterParams {
            stream_prefix: self.stream_prefix.as_deref(),
            event_type_prefix: self.event_type_prefix.as_deref(),
            stream_regex: self.stream_regex.as_deref(),
            event_type_regex: self.event_type_regex.as_deref(),
            exclude_system: self.exclude_system.unwrap_or(false),
        }
    }
}

/// Reads the whole log (`$all`), one JSON object per line.
#[utoipa::path(
    get,
    path = "/api/v1/all",
    tag = "streams",
    params(AllReadQuery),
    responses(
        (status = 200, description = "The events, one per line (NDJSON)", content_type = "application/x-ndjson", body = EventBody),
        (status = 400, description = "Malformed parameter, filter or position", body = ErrorBody),
    )
)]
pub async fn read_all(Caller(node): Caller, ApiQuery(query): ApiQuery<AllReadQuery>) -> Result<Response, ApiError> {
    let direction: Direction = query.direction.unwrap_or_default().into();
    let request = ReadAllRequest {
        from: params::all_from(query.from.as_deref(), direction)?,
        direction,
        max_count: params::limit(query.limit)?,
        filter: params::filter(&query.filter_params())?,
    };
    let store = Arc::clone(node.client_store());
    let events = store.read_all(request).await?;
    ndjson(store, events, query.resolve_links.unwrap_or(false)).await
}

/// One line of NDJSON.
pub fn line(event: &EventBody) -> Bytes {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// `event` as the API shows it, read through its link when `resolve_links`.
pub(super) async fn resolved(store: &Arc<dyn EventStore>, event: RecordedEvent, resolve_links: bool) -> EventBody {
    if resolve_links {
        EventBody::from(&ResolvedEvent::resolve(store.as_ref(), event).await)
    } else {
        EventBody::from(&event)
    }
}

/// Streams `events` as NDJSON. The first event is awaited before the answer
/// starts, so that an error the store reports lazily (a missing stream) is
/// still a 4xx; an error after that ends the body early, which the client
/// sees as a cut-off response rather than a page that looks complete.
async fn ndjson(
    store: Arc<dyn EventStore>,
    events: BoxStream<'static, Result<RecordedEvent, ReadError>>,
    resolve_links: bool,
) -> Result<Response, ApiError> {
    // Fused: a read that ended must not be polled again.
    let mut events = events.fuse();
    let first = events.next().await.transpose()?;
    let rest = futures::stream::iter(first.map(Ok)).chain(events);
    let body = if resolve_links {
        rest.then(move |event| {
            let store = Arc::clone(&store);
            async move {
                match event {
                    Ok(event) => Ok(line(&resolved(&store, event, true).await)),
                    Err(error) => Err(std::io::Error::other(error.to_string())),
                }
            }
        })
        .boxed()
    } else {
        // The events that are ready go out in one chunk: one write for many
        // lines, not one per event.
        rest.ready_chunks(CHUNK_EVENTS)
            .map(|batch| {
                let mut chunk = Vec::new();
                for event in batch {
                    let event = event.map_err(|error| std::io::Error::other(error.to_string()))?;
                    chunk.extend_from_slice(&line(&EventBody::from(&event)));
                }
                Ok(Bytes::from(chunk))
            })
            .boxed()
    };
    Ok(([(CONTENT_TYPE, NDJSON)], Body::from_stream(body)).into_response())
}
