//! What the web UI needs of one persistent subscription group beyond its
//! statistics: its settings in the shape a `PUT` takes back (with the name
//! of its parked stream, readable as any stream), and discarding its parked
//! events (`POST …/truncate-parked`, KurrentDB's TruncateParked).

use crate::http::caller::Caller;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use eventfold_persistent::{GroupSpec, StartFrom};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::subscriptions::{GroupFilterBody, GroupPath, group_error, key};

/// A group's settings, named as `PUT /api/v1/subscriptions/{stream}/{group}`
/// takes them.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct GroupSettingsView {
    /// `start`, `end` or a number (a revision, or a position for `$all`).
    pub start_from: String,
    pub resolve_links: bool,
    pub extra_statistics: bool,
    pub consumer_strategy: String,
    pub message_timeout_ms: u64,
    pub max_retry_count: u32,
    pub live_buffer_size: u32,
    pub read_batch_size: u32,
    pub history_buffer_size: u32,
    pub checkpoint_after_ms: u64,
    pub min_checkpoint_count: u32,
    pub max_checkpoint_count: u32,
    pub max_subscriber_count: u32,
    /// A `$all` group's filter, fixed when it was created (not taken back
    /// by a `PUT` that changes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<GroupFilterBody>,
    /// The stream its parked events are kept in.
    pub parked_stream: String,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn view(spec: &GroupSpec, parked_stream: String) -> GroupSettingsView {
    let (start_from, settings) = (&spec.start_from, &spec.settings);
    GroupSettingsView {
        start_from: match start_from {
            StartFrom::Start => "start".into(),
            StartFrom::End => "end".into(),
            StartFrom::Revision(revision) => revision.to_string(),
            StartFrom::Position(position) => position.0.to_string(),
        },
        resolve_links: settings.resolve_links,
        extra_statistics: settings.extra_statistics,
        consumer_strategy: settings.consumer_strategy.name().to_owned(),
        message_timeout_ms: millis(settings.message_timeout),
        max_retry_count: settings.max_retry_count,
        live_buffer_size: settings.live_buffer_size,
        read_batch_size: settings.read_batch_size,
        history_buffer_size: settings.history_buffer_size,
        checkpoint_after_ms: millis(settings.checkpoint_after),
        min_checkpoint_count: settings.min_checkpoint_count,
        max_checkpoint_count: settings.max_checkpoint_count,
        max_subscriber_count: settings.max_subscriber_count,
        filter: spec.filter.as_ref().map(GroupFilterBody::from),
        parked_stream,
    }
}

/// A group's settings and the name of its parked stream.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions/{stream}/{group}/settings",
    tag = "subscriptions",
    params(GroupPath),
    responses(
        (status = 200, description = "The group's settings", body = GroupSettingsView),
        (status = 400, description = "Malformed stream or group name", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub async fn settings(
    Caller(node): Caller,
    ApiPath(path): ApiPath<GroupPath>,
) -> Result<Json<GroupSettingsView>, ApiError> {
    let key = key(&path.stream, &path.group)?;
    let info = node.persistent_subscriptions().info(&key).await.map_err(group_error)?;
    let parked = key.parked_stream().as_str().to_owned();
    Ok(Json(view(&info.spec, parked)))
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TruncateQuery {
    /// Discard the parked events below this revision of the parked stream
    /// (all when absent).
    pub stop_at: Option<u64>,
}

/// Discards the group's parked events without delivering them.
#[utoipa::path(
    post,
    path = "/api/v1/subscriptions/{stream}/{group}/truncate-parked",
    tag = "subscriptions",
    params(GroupPath, TruncateQuery),
    responses(
        (status = 204, description = "Discarded"),
        (status = 400, description = "Malformed stream or group name", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 503, description = "Persistent subscriptions are unavailable", body = ErrorBody),
    )
)]
pub async fn truncate_parked(
    Caller(node): Caller,
    ApiPath(path): ApiPath<GroupPath>,
    ApiQuery(query): ApiQuery<TruncateQuery>,
) -> Result<StatusCode, ApiError> {
    node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
    let key = key(&path.stream, &path.group)?;
    node.persistent_subscriptions().truncate_parked(&key, query.stop_at).await.map_err(group_error)?;
    Ok(StatusCode::NO_CONTENT)
}
