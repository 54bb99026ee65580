//! Statistics in KurrentDB's HTTP shape: `GET /projections/{mode}` and
//! `GET /projection/{name}/statistics` answer `{"projections": [...]}`,
//! `GET /projection/{name}` the one projection's object, each with the
//! URLs of its state, result, query and commands.

use crate::http::caller::Caller;
use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use eventfold_projections::{Mode, ProjectionStatistics, Select};
use serde::Serialize;

use super::errors::HttpError;
use crate::http::atom::{base_uri, escape};
use crate::http::error::error_response;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatisticsBody {
    core_processing_time: i64,
    version: i64,
    epoch: i64,
    effective_name: String,
    writes_in_progress: i32,
    reads_in_progress: i32,
    partitions_cached: i32,
    status: String,
    state_reason: String,
    name: String,
    mode: &'static str,
    position: String,
    progress: f32,
    last_checkpoint: String,
    events_processed_after_restart: i64,
    status_url: String,
    state_url: String,
    result_url: String,
    query_url: String,
    enable_command_url: String,
    disable_command_url: String,
    checkpoint_status: String,
    buffered_events: i64,
    write_pending_events_before_checkpoint: i32,
    write_pending_events_after_checkpoint: i32,
}

impl StatisticsBody {
    fn new(statistics: ProjectionStatistics, base: &str) -> Self {
        let status_url = format!("{base}/projection/{}", escape(&statistics.name));
        Self {
            core_processing_time: statistics.core_processing_time_ms,
            version: statistics.version,
            epoch: statistics.epoch,
            effective_name: statistics.name.clone(),
            writes_in_progress: statistics.writes_in_progress,
            reads_in_progress: 0,
            partitions_cached: statistics.partitions_cached,
            status: statistics.status,
            state_reason: statistics.state_reason,
            name: statistics.name,
            mode: statistics.mode.as_str(),
            position: statistics.position,
            progress: statistics.progress,
            last_checkpoint: statistics.last_checkpoint,
            events_processed_after_restart: statistics.events_processed_after_restart,
            state_url: format!("{status_url}/state"),
            result_url: format!("{status_url}/result"),
            query_url: format!("{status_url}/query?config=yes"),
            enable_command_url: format!("{status_url}/command/enable"),
            disable_command_url: format!("{status_url}/command/disable"),
            status_url,
            checkpoint_status: statistics.checkpoint_status,
            buffered_events: statistics.buffered_events,
            write_pending_events_before_checkpoint: 0,
            write_pending_events_after_checkpoint: 0,
        }
    }
}

#[derive(Serialize)]
pub struct StatisticsList {
    projections: Vec<StatisticsBody>,
}

fn bodies(all: Vec<ProjectionStatistics>, base: &str) -> StatisticsList {
    StatisticsList { projections: all.into_iter().map(|statistics| StatisticsBody::new(statistics, base)).collect() }
}

/// `GET /projections/any|all-non-transient|onetime|continuous|transient`.
pub async fn list(Caller(node): Caller, Path(mode): Path<String>, headers: HeaderMap) -> Response {
    let (select, keep_transient) = match mode.as_str() {
        "any" => (Select::All, true),
        "all-non-transient" => (Select::All, false),
        "onetime" => (Select::Mode(Mode::OneTime), true),
        "continuous" => (Select::Mode(Mode::Continuous), true),
        "transient" => (Select::Mode(Mode::Transient), true),
        _ => {
            return error_response(
                axum::http::StatusCode::NOT_FOUND,
                format!("/projections/{mode} is not one of any, all-non-transient, onetime, continuous, transient"),
            );
        }
    };
    match node.projections().statistics(select).await {
        Ok(mut all) => {
            all.retain(|statistics| keep_transient || statistics.mode != Mode::Transient);
            Json(bodies(all, &base_uri(&headers, &node))).into_response()
        }
        Err(error) => HttpError::from(error).into_response(),
    }
}

/// `GET /projection/{name}/statistics`.
pub async fn named(Caller(node): Caller, Path(name): Path<String>, headers: HeaderMap) -> Response {
    match node.projections().statistics(Select::Named(name)).await {
        Ok(all) => Json(bodies(all, &base_uri(&headers, &node))).into_response(),
        Err(error) => HttpError::from(error).into_response(),
    }
}

/// `GET /projection/{name}`: the one projection's statistics object.
pub async fn one(Caller(node): Caller, Path(name): Path<String>, headers: HeaderMap) -> Response {
    match node.projections().statistics(Select::Named(name)).await {
        Ok(all) => match all.into_iter().next() {
            Some(statistics) => Json(StatisticsBody::new(statistics, &base_uri(&headers, &node))).into_response(),
            None => error_response(axum::http::StatusCode::NOT_FOUND, "no statistics for this projection"),
        },
        Err(error) => HttpError::from(error).into_response(),
    }
}
