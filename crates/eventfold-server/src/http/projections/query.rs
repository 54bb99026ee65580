//! A projection's query and configuration: `GET /projection/{name}/query`
//! answers the source (`?config=yes`: as JSON with its settings), `PUT`
//! replaces it (`?emit=` sets emitting too); `GET|PUT
//! /projection/{name}/config` read and change the settings KurrentDB
//! names. eventfold's checkpoint thresholds are the node's, so they are
//! reported and not changed.

use crate::http::caller::Caller;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_projections::ProjectionRecord;
use serde::{Deserialize, Serialize};

use super::body;
use super::errors::HttpError;
use super::flags::{Params, flag, flag_or};

/// What KurrentDB reports for the settings eventfold does not let a
/// projection change: its defaults.
const CHECKPOINT_AFTER_MS: i32 = 0;
const CHECKPOINT_HANDLED_THRESHOLD: i32 = 4000;
const CHECKPOINT_UNHANDLED_BYTES_THRESHOLD: i32 = 10_000_000;
const PENDING_EVENTS_THRESHOLD: i32 = 5000;
const MAX_WRITE_BATCH_LENGTH: i32 = 500;
const MAX_ALLOWED_WRITES_IN_FLIGHT: i32 = 0;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryWithConfig {
    name: String,
    query: String,
    emit_enabled: bool,
    track_emitted_streams: bool,
    mode: &'static str,
}

pub async fn get_query(Caller(node): Caller, Path(name): Path<String>, Query(params): Query<Params>) -> Response {
    let record = match node.projections().record(&name).await {
        Ok(record) => record,
        Err(error) => return HttpError::from(error).into_response(),
    };
    if flag_or(&params, "config", false) {
        return Json(QueryWithConfig {
            name,
            emit_enabled: record.emit_enabled,
            track_emitted_streams: record.track_emitted_streams,
            mode: record.mode.as_str(),
            query: record.query,
        })
        .into_response();
    }
    let mut response = record.query.into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/javascript"));
    response
}

pub async fn put_query(
    Caller(node): Caller,
    Path(name): Path<String>,
    Query(params): Query<Params>,
    request_body: Body,
) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageProjections) {
        return HttpError::from(denied).into_response();
    }
    let answer = async {
        let query = body::text(request_body).await?;
        node.projections().update(&name, query, flag(&params, "emit")).await?;
        Ok::<_, HttpError>(StatusCode::OK.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigBody {
    emit_enabled: bool,
    track_emitted_streams: bool,
    #[serde(default)]
    checkpoint_after_ms: i32,
    #[serde(default)]
    checkpoint_handled_threshold: i32,
    #[serde(default)]
    checkpoint_unhandled_bytes_threshold: i32,
    #[serde(default)]
    pending_events_threshold: i32,
    #[serde(default)]
    max_write_batch_length: i32,
    #[serde(default)]
    max_allowed_writes_in_flight: i32,
    #[serde(default)]
    projection_execution_timeout: Option<i64>,
}

fn config_of(record: &ProjectionRecord, execution_timeout_ms: i64) -> ConfigBody {
    ConfigBody {
        emit_enabled: record.emit_enabled,
        track_emitted_streams: record.track_emitted_streams,
        checkpoint_after_ms: CHECKPOINT_AFTER_MS,
        checkpoint_handled_threshold: CHECKPOINT_HANDLED_THRESHOLD,
        checkpoint_unhandled_bytes_threshold: CHECKPOINT_UNHANDLED_BYTES_THRESHOLD,
        pending_events_threshold: PENDING_EVENTS_THRESHOLD,
        max_write_batch_length: MAX_WRITE_BATCH_LENGTH,
        max_allowed_writes_in_flight: MAX_ALLOWED_WRITES_IN_FLIGHT,
        projection_execution_timeout: Some(execution_timeout_ms),
    }
}

fn execution_timeout_ms(node: &Node) -> i64 {
    i64::try_from(node.projections().options().limits.event_deadline.as_millis()).unwrap_or(i64::MAX)
}

pub async fn get_config(Caller(node): Caller, Path(name): Path<String>) -> Response {
    match node.projections().record(&name).await {
        Ok(record) => Json(config_of(&record, execution_timeout_ms(&node))).into_response(),
        Err(error) => HttpError::from(error).into_response(),
    }
}

/// Changes what eventfold lets a projection change: whether it emits. A
/// change of `trackEmittedStreams` is refused (it is fixed at creation);
/// the thresholds are accepted and left as the node has them.
pub async fn put_config(Caller(node): Caller, Path(name): Path<String>, request_body: Body) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageProjections) {
        return HttpError::from(denied).into_response();
    }
    let answer = async {
        let text = body::text(request_body).await?;
        let config: ConfigBody = serde_json::from_str(&text)
            .map_err(|error| HttpError::BadRequest(format!("Failed to parse the projection config: {error}")))?;
        if let Some(timeout) = config.projection_execution_timeout
            && timeout <= 0
        {
            return Err(HttpError::BadRequest(format!(
                "projectionExecutionTimeout should be positive. Found : {timeout}"
            )));
        }
        let projections = node.projections();
        let record = projections.record(&name).await?;
        if config.track_emitted_streams != record.track_emitted_streams {
            return Err(HttpError::BadRequest("trackEmittedStreams is set when the projection is created".into()));
        }
        if config.emit_enabled != record.emit_enabled {
            projections.update(&name, record.query, Some(config.emit_enabled)).await?;
        }
        Ok(StatusCode::OK.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}
