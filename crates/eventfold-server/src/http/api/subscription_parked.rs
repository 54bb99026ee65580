//! A group's parked events as the web UI shows them: the entries of its
//! parked stream, oldest first, each resolved to the event it parks (the
//! entry itself in `link`). A group with none answers an empty list, not
//! 404: its parked stream may not exist yet, or be truncated to its end by
//! a replay or a discard between the group's statistics and this read.

use std::sync::Arc;

use axum::Json;
use eventfold_store::{ReadError, ReadStreamRequest};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::events::EventBody;
use super::extract::{ApiPath, ApiQuery};
use super::params;
use super::read::resolved;
use super::subscriptions::{GroupPath, group_error, key};
use crate::http::caller::Caller;

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ParkedQuery {
    /// At most this many entries, the oldest first (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
}

/// The parked entries not replayed or discarded yet.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ParkedEvents {
    pub events: Vec<EventBody>,
}

/// The group's parked events.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions/{stream}/{group}/parked",
    tag = "subscriptions",
    params(GroupPath, ParkedQuery),
    responses(
        (status = 200, description = "The parked events, oldest first (none: an empty list)", body = ParkedEvents),
        (status = 400, description = "Malformed stream or group name, or limit", body = ErrorBody),
        (status = 403, description = "The caller may not read the parked stream", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub async fn parked(
    Caller(node): Caller,
    ApiPath(path): ApiPath<GroupPath>,
    ApiQuery(query): ApiQuery<ParkedQuery>,
) -> Result<Json<ParkedEvents>, ApiError> {
    let key = key(&path.stream, &path.group)?;
    let max_count = params::limit(query.limit)?;
    node.persistent_subscriptions().info(&key).await.map_err(group_error)?;
    let store = Arc::clone(node.client_store());
    let request = ReadStreamRequest { max_count, ..ReadStreamRequest::forwards(key.parked_stream()) };
    let mut entries = match store.read_stream(request).await {
        Ok(entries) => entries,
        Err(ReadError::StreamNotFound { .. }) => return Ok(Json(ParkedEvents { events: Vec::new() })),
        Err(error) => return Err(error.into()),
    };
    let mut events = Vec::new();
    while let Some(entry) = entries.next().await {
        match entry {
            Ok(entry) => events.push(resolved(&store, entry, true).await),
            // Truncated while it was read: what was read is the answer.
            Err(ReadError::StreamNotFound { .. }) => break,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(Json(ParkedEvents { events }))
}
