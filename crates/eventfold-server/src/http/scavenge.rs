//! `/admin/scavenge`: start, watch and stop a scavenge over HTTP/JSON.
//!
//! - `POST /admin/scavenge`, optional body `{"max_bytes_per_second": N}`:
//!   `202 Accepted` with the new scavenge's status; `409 Conflict` with the
//!   running one's status when one runs already.
//! - `GET /admin/scavenge`: `200` with the running scavenge's status, or the
//!   last one's since the server started; `404` when none has run.
//! - `DELETE /admin/scavenge/{id}`: asks the running scavenge to stop after
//!   its segment; `202` with its status (still `running` until it stops),
//!   `200` with it if it had already ended, `404` for an unknown id.
//!
//! A backend that does not scavenge answers `501`. Errors are
//! `{"error": "..."}`. Times (`started`, `finished`) are Unix milliseconds:
//! plain numbers every language reads without a date parser.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_store::{ScavengeError, ScavengeOptions, ScavengeStatus, StorageErrorKind};
use serde::{Deserialize, Serialize};

use crate::AppState;

/// A scavenge's status as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ScavengeStatusBody {
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

/// The optional body of `POST /admin/scavenge`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct StartBody {
    max_bytes_per_second: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

fn error_response(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody { error: message })).into_response()
}

fn status_response(code: StatusCode, status: ScavengeStatus) -> Response {
    (code, Json(ScavengeStatusBody::from(status))).into_response()
}

fn scavenge_error(error: ScavengeError) -> Response {
    match error {
        ScavengeError::InProgress(running) => status_response(StatusCode::CONFLICT, *running),
        ScavengeError::NotFound { .. } => error_response(StatusCode::NOT_FOUND, error.to_string()),
        ScavengeError::Unsupported => error_response(StatusCode::NOT_IMPLEMENTED, error.to_string()),
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
pub async fn start(State(state): State<AppState>, body: Bytes) -> Response {
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        match serde_json::from_slice::<StartBody>(&body) {
            Ok(options) => options,
            Err(error) => return error_response(StatusCode::BAD_REQUEST, format!("invalid scavenge options: {error}")),
        }
    };
    let options = ScavengeOptions { max_bytes_per_second: options.max_bytes_per_second };
    match state.store.start_scavenge(options).await {
        Ok(status) => status_response(StatusCode::ACCEPTED, status),
        Err(error) => scavenge_error(error),
    }
}

/// `GET /admin/scavenge`.
pub async fn status(State(state): State<AppState>) -> Response {
    match state.store.scavenge_status().await {
        Some(status) => status_response(StatusCode::OK, status),
        None => error_response(StatusCode::NOT_FOUND, "no scavenge has run since the server started".to_owned()),
    }
}

/// `DELETE /admin/scavenge/{id}`.
pub async fn stop(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.stop_scavenge(&id).await {
        // A scavenge that had already ended is reported as it ended.
        Ok(status) if status.state.is_finished() => status_response(StatusCode::OK, status),
        Ok(status) => status_response(StatusCode::ACCEPTED, status),
        Err(error) => scavenge_error(error),
    }
}
