//! `POST /streams/{stream}`: an array of events
//! (`application/vnd.eventstore.events+json`, atomically), or one event
//! whose data is the body with its type and id in `ES-EventType` and
//! `ES-EventId`. Without an id, KurrentDB redirects (307) to
//! `/streams/{stream}/incoming/{new id}`, so that a retried post keeps its
//! id. 201 with `Location` on success; appends are idempotent on event ids.

use crate::http::caller::Caller;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_store::{AppendRequest, ContentType, CurrentRevision, EventId, StreamName};

use super::errors::AtomError;
use super::headers;
use super::links::{base_uri, stream_uri};
use super::media::{Posted, posted};
use super::{body, stream_name};

pub async fn post(
    Caller(node): Caller,
    Path(stream): Path<String>,
    request_headers: HeaderMap,
    request_body: Body,
) -> Response {
    append(&node, &stream, None, &request_headers, request_body).await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /streams/{stream}/incoming/{id}`: one event with the id the
/// redirect chose.
pub async fn post_incoming(
    Caller(node): Caller,
    Path((stream, id)): Path<(String, String)>,
    request_headers: HeaderMap,
    request_body: Body,
) -> Response {
    let appended = match headers::parse_event_id(&id) {
        Ok(id) => append(&node, &stream, Some(id), &request_headers, request_body).await,
        Err(error) => Err(error),
    };
    appended.unwrap_or_else(IntoResponse::into_response)
}

async fn append(
    node: &Node,
    stream: &str,
    path_id: Option<EventId>,
    request_headers: &HeaderMap,
    request_body: Body,
) -> Result<Response, AtomError> {
    let stream = stream_name(stream)?;
    let kind = posted(request_headers)?;
    let expected = headers::expected_version(request_headers)?;
    let max_append_bytes = node.facts().max_append_bytes;
    let base = base_uri(request_headers, node);
    let events = match kind {
        Posted::Events if path_id.is_some() => {
            return Err(AtomError::UnsupportedMediaType(
                "an incoming post carries one event, not an events array".into(),
            ));
        }
        Posted::Events => body::events(&body::read(request_body, max_append_bytes).await?, max_append_bytes)?,
        Posted::JsonData | Posted::BinaryData => {
            let event_type = headers::event_type(request_headers)?.ok_or_else(|| {
                AtomError::BadRequest(
                    "Must include an event type with the request either in body or as ES-EventType header.".into(),
                )
            })?;
            let Some(id) = path_id.or(headers::event_id(request_headers)?) else {
                return Ok(redirect_to_incoming(&base, &stream));
            };
            let content_type = if kind == Posted::JsonData { ContentType::Json } else { ContentType::Binary };
            let data = body::read(request_body, max_append_bytes).await?;
            vec![body::single(id, event_type, content_type, data, max_append_bytes)?]
        }
    };
    let count = events.len() as u64;
    let outcome = node.client_store().append(AppendRequest::new(stream.clone(), expected, events)).await?;
    // The first event the append wrote (or, repeated, had written).
    let first = match outcome.current_revision {
        CurrentRevision::Current(last) => last.saturating_add(1).saturating_sub(count),
        CurrentRevision::NoStream => 0,
    };
    let location = format!("{}/{first}", stream_uri(&base, stream.as_str()));
    Ok(created(&location))
}

pub fn created(location: &str) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn redirect_to_incoming(base: &str, stream: &StreamName) -> Response {
    let location = format!("{}/incoming/{}", stream_uri(base, stream.as_str()), EventId::random());
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
