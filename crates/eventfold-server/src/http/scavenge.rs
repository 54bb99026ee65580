//! `/admin/scavenge`: start, watch and stop a scavenge over HTTP/JSON, by
//! KurrentDB's paths and with its fields (`scavengeId`, `scavengeLink`,
//! `scavengeResult`) beside eventfold's own.
//!
//! - `POST /admin/scavenge`, optional body `{"max_bytes_per_second": N}`;
//!   KurrentDB's query parameters (`threads`, `startFromChunk`, `threshold`,
//!   `throttlePercent`, `syncOnly`) are checked and accepted, and change
//!   nothing (the engine scavenges one segment at a time, all of them):
//!   `202 Accepted` with the new scavenge's status; `409 Conflict` with the
//!   running one's status when one runs already.
//! - `GET /admin/scavenge` and `GET /admin/scavenge/last`: `200` with the
//!   running scavenge's status, or the last one's since the server started;
//!   `404` when none has run. `GET /admin/scavenge/current`: the running
//!   one's, `404` when none runs. `GET /admin/scavenge/{id}`: that
//!   scavenge's, if it is the running or the last one.
//! - `DELETE /admin/scavenge/{id}` (or `/current`): asks the running
//!   scavenge to stop after its segment; `202` with its status (still
//!   `running` until it stops), `200` with it if it had already ended, `404`
//!   for an unknown id.
//!
//! A backend that does not scavenge answers `501`. Errors are
//! `{"error": "..."}`. Times (`started`, `finished`) are Unix milliseconds:
//! plain numbers every language reads without a date parser.

use crate::http::caller::Caller;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_store::{ScavengeError, ScavengeOptions, ScavengeState, ScavengeStatus, StorageErrorKind};
use serde::{Deserialize, Serialize};

use super::error::{error_response, query_value, unknown_query_names};

/// A scavenge's status as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScavengeStatusBody {
    /// KurrentDB's name for `id`.
    #[serde(rename = "scavengeId", default)]
    pub scavenge_id: String,
    /// Where this status is read: `/admin/scavenge/{id}`.
    #[serde(rename = "scavengeLink", default)]
    pub scavenge_link: String,
    /// KurrentDB's words for `state`: `InProgress`, `Success`, `Stopped`,
    /// `Errored`.
    #[serde(rename = "scavengeResult", default)]
    pub scavenge_result: String,
    pub id: String,
    /// `running`, `completed`, `stopped` or `failed`.
    pub state: String,
    /// Unix milliseconds.
    pub started: i64,
    /// Unix milliseconds; null while running.
    pub finished: Option<i64>,
    pub segments_total: u64,
    pub segments_done: u64,
    pub bytes_read: u64,
    pub bytes_reclaimed: u64,
    pub events_kept: u64,
    pub events_removed: u64,
    pub error: Option<String>,
}

impl From<ScavengeStatus> for ScavengeStatusBody {
    fn from(status: ScavengeStatus) -> Self {
        Self {
            scavenge_id: status.id.clone(),
            scavenge_link: format!("/admin/scavenge/{}", status.id),
            scavenge_result: kurrentdb_result(status.state).to_owned(),
            id: status.id,
            state: status.state.as_str().to_owned(),
            started: status.started.unix_millis(),
            finished: status.finished.map(|finished| finished.unix_millis()),
            segments_total: status.segments_total,
            segments_done: status.segments_done,
            bytes_read: status.bytes_read,
            bytes_reclaimed: status.bytes_reclaimed,
            events_kept: status.events_kept,
            events_removed: status.events_removed,
            error: status.error,
        }
    }
}

fn kurrentdb_result(state: ScavengeState) -> &'static str {
    match state {
        ScavengeState::Running => "InProgress",
        ScavengeState::Completed => "Success",
        ScavengeState::Stopped => "Stopped",
        _ => "Errored",
    }
}

/// The optional body of `POST /admin/scavenge`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct StartBody {
    max_bytes_per_second: Option<u64>,
}

/// KurrentDB's options of `POST /admin/scavenge`, and the values each takes.
const KURRENTDB_OPTIONS: &[(&str, OptionKind)] = &[
    ("threads", OptionKind::Count),
    ("startFromChunk", OptionKind::Count),
    ("threshold", OptionKind::Integer),
    ("throttlePercent", OptionKind::Count),
    ("syncOnly", OptionKind::Flag),
];

#[derive(Clone, Copy)]
enum OptionKind {
    Count,
    Integer,
    Flag,
}

/// Refuses a query a KurrentDB client would not send, so that a mistyped
/// option is not silently ignored.
fn check_kurrentdb_options(query: Option<&str>) -> Result<(), String> {
    let names: Vec<&str> = KURRENTDB_OPTIONS.iter().map(|(name, _)| *name).collect();
    if let Some(unknown) = unknown_query_names(query, &names).first() {
        return Err(format!("unknown scavenge option `{unknown}`; known: {}", names.join(", ")));
    }
    for (name, kind) in KURRENTDB_OPTIONS {
        let Some(value) = query_value(query, name) else { continue };
        let valid = match kind {
            OptionKind::Count => value.parse::<u32>().is_ok(),
            OptionKind::Integer => value.parse::<i64>().is_ok(),
            OptionKind::Flag => matches!(value, "true" | "false"),
        };
        if !valid {
            return Err(format!("scavenge option `{name}` has an invalid value `{value}`"));
        }
    }
    Ok(())
}

fn status_response(code: StatusCode, status: ScavengeStatus) -> Response {
    (code, Json(ScavengeStatusBody::from(status))).into_response()
}

fn scavenge_error(error: ScavengeError) -> Response {
    match error {
        ScavengeError::InProgress(running) => status_response(StatusCode::CONFLICT, *running),
        ScavengeError::NotFound { .. } => error_response(StatusCode::NOT_FOUND, error.to_string()),
        ScavengeError::Unsupported => error_response(StatusCode::NOT_IMPLEMENTED, error.to_string()),
        ScavengeError::AccessDenied(denied) => error_response(StatusCode::FORBIDDEN, denied.to_string()),
        ScavengeError::Storage(storage_error) => {
            let code = match storage_error.kind {
                StorageErrorKind::Closed | StorageErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                StorageErrorKind::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error_response(code, storage_error.to_string())
        }
        other => error_response(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// `POST /admin/scavenge`. The body is read as JSON whatever its content
/// type, so that `curl -d '{...}'` works; an empty body means defaults.
pub async fn start(Caller(node): Caller, RawQuery(query): RawQuery, body: Bytes) -> Response {
    if let Err(message) = check_kurrentdb_options(query.as_deref()) {
        return error_response(StatusCode::BAD_REQUEST, message);
    }
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        match serde_json::from_slice::<StartBody>(&body) {
            Ok(options) => options,
            Err(error) => {
                return error_response(StatusCode::BAD_REQUEST, format!("invalid scavenge options: {error}"));
            }
        }
    };
    let options = ScavengeOptions { max_bytes_per_second: options.max_bytes_per_second };
    match node.client_store().start_scavenge(options).await {
        Ok(status) => status_response(StatusCode::ACCEPTED, status),
        Err(error) => scavenge_error(error),
    }
}

/// `GET /admin/scavenge` and `GET /admin/scavenge/last`.
pub async fn last(Caller(node): Caller) -> Response {
    match node.client_store().scavenge_status().await {
        Some(status) => status_response(StatusCode::OK, status),
        None => error_response(StatusCode::NOT_FOUND, "no scavenge has run since the server started"),
    }
}

/// `GET /admin/scavenge/current`.
pub async fn current(Caller(node): Caller) -> Response {
    match running(&node).await {
        Some(status) => status_response(StatusCode::OK, status),
        None => error_response(StatusCode::NOT_FOUND, "no scavenge is running"),
    }
}

/// `GET /admin/scavenge/{id}`. The store keeps the running or last
/// scavenge only; an older one is as unknown as a made-up id.
pub async fn by_id(Caller(node): Caller, Path(id): Path<String>) -> Response {
    match node.client_store().scavenge_status().await {
        Some(status) if status.id == id => status_response(StatusCode::OK, status),
        _ => error_response(
            StatusCode::NOT_FOUND,
            format!("no scavenge `{id}` is running or ran last since the server started"),
        ),
    }
}

async fn running(node: &Node) -> Option<ScavengeStatus> {
    node.client_store().scavenge_status().await.filter(|status| status.state == ScavengeState::Running)
}

/// `DELETE /admin/scavenge/current`.
pub async fn stop_current(Caller(node): Caller) -> Response {
    match running(&node).await {
        Some(status) => stop_by_id(&node, &status.id).await,
        None => error_response(StatusCode::NOT_FOUND, "no scavenge is running"),
    }
}

/// `DELETE /admin/scavenge/{id}`.
pub async fn stop(Caller(node): Caller, Path(id): Path<String>) -> Response {
    stop_by_id(&node, &id).await
}

async fn stop_by_id(node: &Node, id: &str) -> Response {
    match node.client_store().stop_scavenge(id).await {
        // A scavenge that had already ended is reported as it ended.
        Ok(status) if status.state.is_finished() => status_response(StatusCode::OK, status),
        Ok(status) => status_response(StatusCode::ACCEPTED, status),
        Err(error) => scavenge_error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kurrentdb_options_are_checked_and_strangers_refused() {
        assert_eq!(check_kurrentdb_options(None), Ok(()));
        assert_eq!(check_kurrentdb_options(Some("threads=2&startFromChunk=0&threshold=-1&syncOnly=true")), Ok(()));
        for bad in ["threads=two", "threads=-1", "syncOnly=yes", "threadz=2", "max_bytes_per_second=5"] {
            assert!(check_kurrentdb_options(Some(bad)).is_err(), "{bad}");
        }
    }
}
