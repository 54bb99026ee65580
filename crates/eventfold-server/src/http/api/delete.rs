//! `DELETE /api/v1/streams/{stream}`: a soft delete (the stream reads as
//! not found and may be written again, its revisions going on), or with
//! `tombstone=true` a permanent one.

use crate::http::caller::Caller;
use axum::Json;
use eventfold_store::{DeleteMode, ExpectedRevision};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::expected::parse_expected;
use super::extract::{ApiPath, ApiQuery, stream_name};

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// A revision, or `any` (default), `noStream`, `streamExists`.
    #[param(pattern = "^(any|noStream|streamExists|[0-9]+)$")]
    pub expected_revision: Option<String>,
    /// Delete for good: the stream can never be read or written again.
    pub tombstone: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct DeleteResult {
    pub stream: String,
    /// The position of the record that deleted the stream, a decimal string.
    #[schema(pattern = "^[0-9]+$")]
    pub position: Option<String>,
}

/// Deletes a stream.
#[utoipa::path(
    delete,
    path = "/api/v1/streams/{stream}",
    tag = "streams",
    params(("stream" = String, Path, description = "The stream's name"), DeleteQuery),
    responses(
        (status = 200, description = "Deleted", body = DeleteResult),
        (status = 400, description = "Malformed parameter or stream name", body = ErrorBody),
        (status = 403, description = "The stream holds eventfold's own state", body = ErrorBody),
        (status = 409, description = "The stream is not at the expected revision", body = ErrorBody),
        (status = 410, description = "The stream is already tombstoned", body = ErrorBody),
    )
)]
pub async fn delete(
    Caller(node): Caller,
    ApiPath(stream): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<DeleteResult>, ApiError> {
    let stream = stream_name(&stream)?;
    let expected = query.expected_revision.as_deref().map(parse_expected).transpose()?.unwrap_or(ExpectedRevision::Any);
    let mode = if query.tombstone.unwrap_or(false) { DeleteMode::Tombstone } else { DeleteMode::Soft };
    let outcome = node.client_store().delete_stream(stream.clone(), expected, mode).await?;
    Ok(Json(DeleteResult {
        stream: stream.to_string(),
        position: outcome.position.map(|position| position.0.to_string()),
    }))
}
