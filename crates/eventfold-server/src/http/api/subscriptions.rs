//! Persistent subscriptions: `GET /api/v1/subscriptions` lists the groups;
//! `PUT`, `GET`, `DELETE /api/v1/subscriptions/{stream}/{group}` create or
//! update, inspect and delete one (`{stream}` is `$all` for a group on the
//! whole log); `POST …/replay-parked` delivers its parked events again.
//! Consumers connect over gRPC; this face manages and watches groups.

use crate::http::caller::Caller;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_persistent::{
    ConsumerStrategy, CreateError, FilterExpression, FilterSpec, FilterTarget, GroupError, GroupInfo, GroupKey,
    GroupSettings, GroupSpec, Source, StartFrom, UpdateError,
};
use eventfold_store::{ALL_STREAM, Position};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, storage};
use super::extract::{ApiPath, ApiQuery, JsonBody, stream_name};

pub(super) fn key(stream: &str, group: &str) -> Result<GroupKey, ApiError> {
    let source = if stream == ALL_STREAM { Source::All } else { Source::Stream(stream_name(stream)?) };
    GroupKey::new(source, group)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid-group-name", error.to_string()))
}

pub(super) fn group_error(error: GroupError) -> ApiError {
    let message = error.to_string();
    match error {
        GroupError::NotFound(_) => ApiError::not_found("group-not-found", message),
        GroupError::Storage(error) => storage(&error),
        _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
    }
}

/// A connected consumer.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionBody {
    pub from: String,
    pub name: String,
    pub in_flight: usize,
    pub available_slots: usize,
    pub total_items: u64,
    pub average_items_per_second: f64,
}

/// A group: its definition and how it is doing.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct GroupBody {
    /// The stream it reads, or `$all`.
    pub stream: String,
    pub group: String,
    /// `Live` or `Behind`, with `ReplayingParkedMessages` and `Faulted` when
    /// they apply.
    pub status: String,
    /// Why the group failed, when it did.
    pub failure: Option<String>,
    pub consumer_strategy: String,
    pub resolve_links: bool,
    /// The checkpoint: a revision for a stream group, a position for `$all`,
    /// as a decimal string; null before the first.
    pub last_checkpointed: Option<String>,
    /// The last event read, in the same terms.
    pub last_known: Option<String>,
    pub total_items: u64,
    pub average_per_second: f64,
    pub in_flight: usize,
    pub retry_buffer_count: usize,
    pub parked_count: u64,
    pub connections: Vec<ConnectionBody>,
}

impl From<&GroupInfo> for GroupBody {
    fn from(info: &GroupInfo) -> Self {
        let spec = &info.spec;
        Self {
            stream: spec.key.source().label().to_owned(),
            group: spec.key.group().to_owned(),
            status: info.status.describe(),
            failure: info.status.failure.clone(),
            consumer_strategy: spec.settings.consumer_strategy.name().to_owned(),
            resolve_links: spec.settings.resolve_links,
            last_checkpointed: info.last_checkpointed.map(|cursor| cursor.to_string()),
            last_known: info.last_known.map(|cursor| cursor.to_string()),
            total_items: info.total_items,
            average_per_second: info.average_per_second,
            in_flight: info.in_flight,
            retry_buffer_count: info.retry_buffer_count,
            parked_count: info.parked_count,
            connections: info
                .connections
                .iter()
                .map(|connection| ConnectionBody {
                    from: connection.from.clone(),
                    name: connection.name.clone(),
                    in_flight: connection.in_flight,
                    available_slots: connection.available_slots,
                    total_items: connection.total_items,
                    average_items_per_second: connection.average_items_per_second,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct GroupList {
    pub subscriptions: Vec<GroupBody>,
}

/// Lists every persistent subscription group.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions",
    tag = "subscriptions",
    responses(
        (status = 200, description = "The groups, in key order", body = GroupList),
        (status = 503, description = "Persistent subscriptions are unavailable", body = ErrorBody),
    )
)]
pub async fn list(Caller(node): Caller) -> Result<Json<GroupList>, ApiError> {
    let infos = node.persistent_subscriptions().list(None).await.map_err(group_error)?;
    Ok(Json(GroupList { subscriptions: infos.iter().map(GroupBody::from).collect() }))
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FilterTargetBody {
    StreamName,
    EventType,
}

/// A `$all` group's filter: prefixes or a regex, on stream names or types.
/// Fixed when the group is created, as KurrentDB's (its update carries no
/// filter).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupFilterBody {
    pub target: FilterTargetBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl From<&FilterSpec> for GroupFilterBody {
    fn from(filter: &FilterSpec) -> Self {
        let target = match filter.target {
            FilterTarget::StreamName => FilterTargetBody::StreamName,
            FilterTarget::EventType => FilterTargetBody::EventType,
        };
        match &filter.expression {
            FilterExpression::Prefixes(prefixes) => Self { target, prefixes: Some(prefixes.clone()), regex: None },
            FilterExpression::Regex(regex) => Self { target, prefixes: None, regex: Some(regex.clone()) },
        }
    }
}

/// A group's definition. Every setting is optional, with KurrentDB's default.
#[derive(Deserialize, ToSchema, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSettingsBody {
    /// `start`, `end` (default) or a number: a revision for a stream group,
    /// a position for `$all` (included).
    #[schema(pattern = "^(start|end|[0-9]+)$")]
    pub start_from: Option<String>,
    pub filter: Option<GroupFilterBody>,
    pub resolve_links: Option<bool>,
    pub extra_statistics: Option<bool>,
    /// `DispatchToSingle`, `RoundRobin` (default), `Pinned`, `PinnedByCorrelation`.
    pub consumer_strategy: Option<String>,
    pub message_timeout_ms: Option<u32>,
    pub max_retry_count: Option<u32>,
    pub live_buffer_size: Option<u32>,
    pub read_batch_size: Option<u32>,
    pub history_buffer_size: Option<u32>,
    pub checkpoint_after_ms: Option<u32>,
    pub min_checkpoint_count: Option<u32>,
    pub max_checkpoint_count: Option<u32>,
    /// 0 (default): no limit.
    pub max_subscriber_count: Option<u32>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-settings", message)
}

fn spec(key: GroupKey, body: GroupSettingsBody) -> Result<GroupSpec, ApiError> {
    let all = *key.source() == Source::All;
    let start_from = match body.start_from.as_deref().unwrap_or("end") {
        "start" => StartFrom::Start,
        "end" => StartFrom::End,
        number => {
            let number: u64 = number.parse().map_err(|_| invalid(format!("startFrom `{number}` is not a number")))?;
            if all { StartFrom::Position(Position(number)) } else { StartFrom::Revision(number) }
        }
    };
    let filter = match body.filter {
        None => None,
        Some(filter) => {
            let target = match filter.target {
                FilterTargetBody::StreamName => FilterTarget::StreamName,
                FilterTargetBody::EventType => FilterTarget::EventType,
            };
            let expression = match (filter.prefixes, filter.regex) {
                (Some(prefixes), None) => FilterExpression::Prefixes(prefixes),
                (None, Some(regex)) => FilterExpression::Regex(regex),
                _ => return Err(invalid("a filter has either `prefixes` or `regex`")),
            };
            Some(FilterSpec { target, expression })
        }
    };
    let defaults = GroupSettings::default();
    let millis = |value: Option<u32>, default: Duration| value.map_or(default, |ms| Duration::from_millis(ms.into()));
    let settings = GroupSettings {
        resolve_links: body.resolve_links.unwrap_or(defaults.resolve_links),
        extra_statistics: body.extra_statistics.unwrap_or(defaults.extra_statistics),
        message_timeout: millis(body.message_timeout_ms, defaults.message_timeout),
        max_retry_count: body.max_retry_count.unwrap_or(defaults.max_retry_count),
        live_buffer_size: body.live_buffer_size.unwrap_or(defaults.live_buffer_size),
        read_batch_size: body.read_batch_size.unwrap_or(defaults.read_batch_size),
        history_buffer_size: body.history_buffer_size.unwrap_or(defaults.history_buffer_size),
        checkpoint_after: millis(body.checkpoint_after_ms, defaults.checkpoint_after),
        min_checkpoint_count: body.min_checkpoint_count.unwrap_or(defaults.min_checkpoint_count),
        max_checkpoint_count: body.max_checkpoint_count.unwrap_or(defaults.max_checkpoint_count),
        max_subscriber_count: body.max_subscriber_count.unwrap_or(defaults.max_subscriber_count),
        consumer_strategy: match body.consumer_strategy.as_deref() {
            None => defaults.consumer_strategy,
            Some(name) => ConsumerStrategy::parse(name).map_err(|error| invalid(error.reason))?,
        },
    };
    Ok(GroupSpec { key, start_from, filter, settings })
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Path)]
pub struct GroupPath {
    /// The stream the group reads, or `$all`.
    pub stream: String,
    /// The group's name.
    pub group: String,
}

/// Creates a group (201), or updates it (200) if it exists: its consumers
/// are dropped and it restarts from its checkpoint.
#[utoipa::path(
    put,
    path = "/api/v1/subscriptions/{stream}/{group}",
    tag = "subscriptions",
    params(GroupPath),
    request_body = GroupSettingsBody,
    responses(
        (status = 200, description = "Updated", body = GroupBody),
        (status = 201, description = "Created", body = GroupBody),
        (status = 400, description = "Malformed body, stream or group name, or invalid settings", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 503, description = "Persistent subscriptions are unavailable", body = ErrorBody),
    )
)]
pub async fn put(
    Caller(node): Caller,
    ApiPath(path): ApiPath<GroupPath>,
    JsonBody(body): JsonBody<GroupSettingsBody>,
) -> Result<Response, ApiError> {
    node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
    let key = key(&path.stream, &path.group)?;
    let spec = spec(key.clone(), body)?;
    let subscriptions = node.persistent_subscriptions();
    let status = match subscriptions.create(spec.clone()).await {
        Ok(()) => StatusCode::CREATED,
        Err(CreateError::AlreadyExists(_)) => {
            // A filter sent again must be the group's: it is not changed by
            // an update, and a different one silently kept would mislead.
            if spec.filter.is_some() {
                let current = subscriptions.info(&key).await.map_err(group_error)?;
                if current.spec.filter != spec.filter {
                    return Err(invalid(
                        "a group's filter is fixed when it is created: delete the group and create it again to change it",
                    ));
                }
            }
            subscriptions.update(&key, spec.start_from, spec.settings).await.map_err(|error| match error {
                UpdateError::InvalidSettings(reason) => invalid(reason.reason),
                UpdateError::NotFound(_) => ApiError::not_found("group-not-found", error.to_string()),
                UpdateError::Storage(error) => storage(&error),
                other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", other.to_string()),
            })?;
            StatusCode::OK
        }
        Err(CreateError::InvalidSettings(reason)) => return Err(invalid(reason.reason)),
        Err(CreateError::Storage(error)) => return Err(storage(&error)),
        Err(other) => return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", other.to_string())),
    };
    let info = subscriptions.info(&key).await.map_err(group_error)?;
    Ok((status, Json(GroupBody::from(&info))).into_response())
}

/// One group's definition and statistics.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions/{stream}/{group}",
    tag = "subscriptions",
    params(GroupPath),
    responses(
        (status = 200, description = "The group", body = GroupBody),
        (status = 400, description = "Malformed stream or group name", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub async fn get(Caller(node): Caller, ApiPath(path): ApiPath<GroupPath>) -> Result<Json<GroupBody>, ApiError> {
    let key = key(&path.stream, &path.group)?;
    let info = node.persistent_subscriptions().info(&key).await.map_err(group_error)?;
    Ok(Json(GroupBody::from(&info)))
}

/// Deletes a group with its checkpoint and parked events.
#[utoipa::path(
    delete,
    path = "/api/v1/subscriptions/{stream}/{group}",
    tag = "subscriptions",
    params(GroupPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed stream or group name", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub async fn delete(Caller(node): Caller, ApiPath(path): ApiPath<GroupPath>) -> Result<StatusCode, ApiError> {
    node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
    let key = key(&path.stream, &path.group)?;
    node.persistent_subscriptions().delete(&key).await.map_err(group_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Replay the parked events below this revision of the parked stream
    /// (all when absent).
    pub stop_at: Option<u64>,
}

/// Delivers the group's parked events again, the oldest first.
#[utoipa::path(
    post,
    path = "/api/v1/subscriptions/{stream}/{group}/replay-parked",
    tag = "subscriptions",
    params(GroupPath, ReplayQuery),
    responses(
        (status = 202, description = "Replay started"),
        (status = 400, description = "Malformed stream or group name", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
    )
)]
pub async fn replay_parked(
    Caller(node): Caller,
    ApiPath(path): ApiPath<GroupPath>,
    ApiQuery(query): ApiQuery<ReplayQuery>,
) -> Result<StatusCode, ApiError> {
    node.authorize(eventfold_store::Operation::ManagePersistentSubscriptions)?;
    let key = key(&path.stream, &path.group)?;
    node.persistent_subscriptions().replay_parked(&key, query.stop_at).await.map_err(group_error)?;
    Ok(StatusCode::ACCEPTED)
}
