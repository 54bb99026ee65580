//! `GET /api/v1/streams`: the streams recently created (`$streams` read
//! backwards: the store links each stream's first event there) or recently
//! changed (`$all` read backwards, each stream named once).
//!
//! Both scan a bounded stretch ([`SCAN_EVENTS_MAX`]) so that a request costs
//! the same whatever the size of the log; a log whose last stretch touched
//! few streams lists fewer than asked.

use crate::http::caller::Caller;
use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use eventfold_store::{ReadAllRequest, ReadError, ReadStreamRequest, STREAMS_STREAM, StreamName, link_target};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;

/// At most this many events are read to answer one listing.
pub const SCAN_EVENTS_MAX: u64 = 10_000;
const LIST_LIMIT_MAX: usize = 1000;
const LIST_LIMIT_DEFAULT: usize = 50;

#[derive(Deserialize, ToSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListOrder {
    /// The newest streams first.
    Created,
    /// The streams written to most recently first.
    #[default]
    Changed,
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `changed` (default) or `created`.
    #[param(inline)]
    pub order: Option<ListOrder>,
    /// At most this many streams (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Include streams whose name starts with `$` (default false).
    pub include_system: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct StreamSummary {
    pub stream: String,
    /// The position of the stream's first event (`created`) or of its latest
    /// one (`changed`), a decimal string.
    #[schema(pattern = "^[0-9]+$")]
    pub position: String,
    /// When that event was written, Unix milliseconds.
    pub created: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct StreamList {
    pub streams: Vec<StreamSummary>,
}

/// Lists streams, recently created or recently changed first.
#[utoipa::path(
    get,
    path = "/api/v1/streams",
    tag = "streams",
    params(ListQuery),
    responses(
        (status = 200, description = "The streams, newest first", body = StreamList),
        (status = 400, description = "Malformed parameter", body = ErrorBody),
    )
)]
pub async fn list(Caller(node): Caller, ApiQuery(query): ApiQuery<ListQuery>) -> Result<Json<StreamList>, ApiError> {
    let limit = query.limit.unwrap_or(LIST_LIMIT_DEFAULT);
    if limit == 0 || limit > LIST_LIMIT_MAX {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {LIST_LIMIT_MAX}")));
    }
    let include_system = query.include_system.unwrap_or(false);
    let wanted = |stream: &StreamName| include_system || !stream.is_system();
    let store = Arc::clone(node.client_store());
    let mut streams = Vec::new();
    let mut seen = HashSet::new();
    match query.order.unwrap_or_default() {
        ListOrder::Created => {
            let Ok(stream) = StreamName::new(STREAMS_STREAM) else { return Ok(Json(StreamList { streams })) };
            let mut request = ReadStreamRequest::backwards(stream);
            request.max_count = SCAN_EVENTS_MAX;
            let mut links = match store.read_stream(request).await {
                Ok(links) => links,
                Err(ReadError::StreamNotFound { .. }) => return Ok(Json(StreamList { streams })),
                Err(error) => return Err(error.into()),
            };
            while let Some(link) = links.next().await {
                let link = link?;
                let Some((stream, _)) = link_target(&link) else { continue };
                if wanted(&stream) && seen.insert(stream.clone()) {
                    streams.push(summary(&stream, link.position.0, link.created.unix_millis()));
                }
                if streams.len() == limit {
                    break;
                }
            }
        }
        ListOrder::Changed => {
            let mut request = ReadAllRequest::backwards();
            request.max_count = SCAN_EVENTS_MAX;
            let mut events = store.read_all(request).await?;
            while let Some(event) = events.next().await {
                let event = event?;
                if wanted(&event.stream) && seen.insert(event.stream.clone()) {
                    streams.push(summary(&event.stream, event.position.0, event.created.unix_millis()));
                }
                if streams.len() == limit {
                    break;
                }
            }
        }
    }
    Ok(Json(StreamList { streams }))
}

fn summary(stream: &StreamName, position: u64, created: i64) -> StreamSummary {
    StreamSummary { stream: stream.to_string(), position: position.to_string(), created }
}
