//! `GET` and `PUT /api/v1/streams/{stream}/metadata`: a stream's metadata,
//! the last `$metadata` event of its metadata stream `$$<stream>` (`$maxAge`
//! seconds, `$maxCount`, `$tb`, `$cacheControl`, `$acl`, and keys of the
//! application's own). Written as an ordinary append to `$$<stream>`, so the
//! store applies it, checks access and keeps its history as for any event.

use crate::http::caller::Caller;
use std::sync::Arc;

use axum::Json;
use eventfold_store::{
    AppendRequest, CurrentRevision, METADATA_EVENT_TYPE, ProposedEvent, ReadError, ReadStreamRequest, StreamReadItem,
    metadata_stream_of, read_stream_with_bounds,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::append::AppendResult;
use super::error::{ApiError, ErrorBody};
use super::expected::ExpectedRevisionBody;
use super::extract::{ApiPath, JsonBody, stream_name};

#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MetadataBody {
    pub stream: String,
    /// The metadata document; `{}` when none was ever set.
    pub metadata: Map<String, Value>,
    /// The revision of the metadata stream's last event (the expected
    /// revision for the next change); null when none was ever set.
    pub revision: Option<u64>,
}

/// Reads a stream's metadata.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{stream}/metadata",
    tag = "streams",
    params(("stream" = String, Path, description = "The stream's name")),
    responses(
        (status = 200, description = "The metadata (`{}` when none)", body = MetadataBody),
        (status = 400, description = "Malformed stream name", body = ErrorBody),
        (status = 403, description = "Not readable by clients", body = ErrorBody),
        (status = 410, description = "The stream is tombstoned", body = ErrorBody),
    )
)]
pub async fn get(Caller(node): Caller, ApiPath(stream): ApiPath<String>) -> Result<Json<MetadataBody>, ApiError> {
    let stream = stream_name(&stream)?;
    let metadata_stream = stream_name(&metadata_stream_of(stream.as_str()))?;
    let store = Arc::clone(node.client_store());
    let mut request = ReadStreamRequest::backwards(metadata_stream);
    request.max_count = 1;
    let mut body = MetadataBody { stream: stream.to_string(), metadata: Map::new(), revision: None };
    // The store's read refuses the metadata of a tombstoned stream.
    let mut items = match read_stream_with_bounds(store, request).await {
        Ok(items) => items,
        Err(ReadError::StreamNotFound { .. }) => return Ok(Json(body)),
        Err(error) => return Err(error.into()),
    };
    while let Some(item) = items.next().await {
        if let StreamReadItem::Event(event) = item? {
            body.revision = Some(event.revision);
            if let Ok(Value::Object(document)) = serde_json::from_slice(&event.data) {
                body.metadata = document;
            }
        }
    }
    Ok(Json(body))
}

#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetMetadataBody {
    /// The whole new metadata document (it replaces the old one).
    pub metadata: Map<String, Value>,
    /// Of the metadata stream; `any` when absent.
    #[serde(default)]
    pub expected_revision: ExpectedRevisionBody,
}

/// Replaces a stream's metadata.
#[utoipa::path(
    put,
    path = "/api/v1/streams/{stream}/metadata",
    tag = "streams",
    params(("stream" = String, Path, description = "The stream's name")),
    request_body = SetMetadataBody,
    responses(
        (status = 200, description = "Written; the result is the metadata stream's", body = AppendResult),
        (status = 400, description = "Malformed body or stream name", body = ErrorBody),
        (status = 403, description = "The stream holds eventfold's own state", body = ErrorBody),
        (status = 409, description = "The metadata stream is not at the expected revision", body = ErrorBody),
        (status = 410, description = "The stream is tombstoned", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
    )
)]
pub async fn put(
    Caller(node): Caller,
    ApiPath(stream): ApiPath<String>,
    JsonBody(body): JsonBody<SetMetadataBody>,
) -> Result<Json<AppendResult>, ApiError> {
    let stream = stream_name(&stream)?;
    let metadata_stream = stream_name(&metadata_stream_of(stream.as_str()))?;
    let data = serde_json::to_vec(&body.metadata).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let event = ProposedEvent::json(METADATA_EVENT_TYPE, data);
    let request = AppendRequest::new(metadata_stream.clone(), body.expected_revision.into(), vec![event]);
    let outcome = node.client_store().append(request).await?;
    Ok(Json(AppendResult {
        stream: metadata_stream.to_string(),
        revision: match outcome.current_revision {
            CurrentRevision::NoStream => None,
            CurrentRevision::Current(revision) => Some(revision),
        },
        position: outcome.position.map(|position| position.0.to_string()),
    }))
}
