//! `GET /streams/{stream}/metadata`: the stream's metadata document (`{}`
//! when it has none; 410 once the stream is tombstoned), and `POST` to set
//! it: the document as `application/json` (its event id from `ES-EventId`,
//! else a new one), or one event as `application/vnd.eventstore.events+json`.
//! Either way the event written to `$$<stream>` is a `$metadata` event,
//! the one the store reads `$maxAge`, `$maxCount`, `$tb` and the rest from.

use crate::http::caller::Caller;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use eventfold_store::{
    AppendRequest, ContentType, CurrentRevision, Direction, EventId, METADATA_EVENT_TYPE, ProposedEvent, StreamName,
    metadata_stream_of,
};

use super::errors::AtomError;
use super::links::{base_uri, stream_uri};
use super::media::{Posted, negotiate, posted};
use super::page::PageStart;
use super::read::read_page;
use super::respond::{CACHE_NEVER, with_body};
use super::{append, body, headers, stream_name};
use crate::http::error::query_value;

pub async fn get(Caller(node): Caller, Path(stream): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let answer = async {
        negotiate(&headers, query_value(uri.query(), "format"))?;
        let metadata_stream = metadata_stream(&stream)?;
        let read = read_page(node.client_store(), &metadata_stream, PageStart::Head, Direction::Backwards, 1).await;
        let document = match read {
            Ok(page) => page.events.into_iter().next().map(|event| event.data.to_vec()),
            Err(AtomError::NotFound(_)) => None,
            Err(error) => return Err(error),
        };
        let document = document.filter(|data| !data.is_empty()).unwrap_or_else(|| b"{}".to_vec());
        Ok(with_body(document, "application/json; charset=utf-8", CACHE_NEVER))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn post(
    Caller(node): Caller,
    Path(stream): Path<String>,
    request_headers: HeaderMap,
    request_body: Body,
) -> Response {
    let answer = async {
        let metadata_stream = metadata_stream(&stream)?;
        let expected = headers::expected_version(&request_headers)?;
        let max_append_bytes = node.facts().max_append_bytes;
        let bytes = body::read(request_body, max_append_bytes).await?;
        let (id, document) = match posted(&request_headers)? {
            Posted::Events => {
                let mut events = body::events(&bytes, max_append_bytes)?;
                let (Some(event), true) = (events.pop(), events.is_empty()) else {
                    return Err(AtomError::BadRequest("metadata is set by exactly one event".into()));
                };
                (event.id, event.data)
            }
            Posted::JsonData => (headers::event_id(&request_headers)?.unwrap_or_else(EventId::random), bytes),
            Posted::BinaryData => {
                return Err(AtomError::UnsupportedMediaType("stream metadata is a JSON document".into()));
            }
        };
        if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&document).is_err() {
            return Err(AtomError::BadRequest("stream metadata must be a JSON object".into()));
        }
        let event = ProposedEvent {
            id,
            event_type: METADATA_EVENT_TYPE.to_owned(),
            content_type: ContentType::Json,
            data: document,
            metadata: bytes::Bytes::new(),
        };
        let request = AppendRequest::new(metadata_stream.clone(), expected, vec![event]);
        let outcome = node.client_store().append(request).await?;
        let number = match outcome.current_revision {
            CurrentRevision::Current(revision) => revision,
            CurrentRevision::NoStream => 0,
        };
        let base = base_uri(&request_headers, &node);
        Ok(append::created(&format!("{}/{number}", stream_uri(&base, metadata_stream.as_str()))))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

fn metadata_stream(stream: &str) -> Result<StreamName, AtomError> {
    let stream = stream_name(stream)?;
    StreamName::new(metadata_stream_of(stream.as_str())).map_err(|error| AtomError::BadRequest(error.to_string()))
}
