//! `POST /admin/backup`: an online backup into a directory on the server's
//! machine, body `{"destination": "/abs/path", "max_bytes_per_second": N}`.
//! Answers when the copy is durable: `200` with the report (`durable_end`,
//! `files`, `files_copied`, `bytes_total`, `bytes_copied`, `elapsed_ms`);
//! `400` for a bad body or a relative path (the server's working directory
//! is no place a caller can see); `409` while another backup runs; `501`
//! for a backend without backups; `500` with the reason otherwise. The
//! server logs its progress.

use crate::http::caller::Caller;
use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_store::{BackupError, BackupReport, BackupRequest};
use serde::{Deserialize, Serialize};

use super::error::error_response;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    destination: PathBuf,
    #[serde(default)]
    max_bytes_per_second: Option<u64>,
}

/// A finished backup as JSON.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BackupReportBody {
    pub durable_end: u64,
    pub files: u64,
    pub files_copied: u64,
    pub bytes_total: u64,
    pub bytes_copied: u64,
    pub elapsed_ms: u64,
}

impl From<BackupReport> for BackupReportBody {
    fn from(report: BackupReport) -> Self {
        Self {
            durable_end: report.durable_end,
            files: report.files,
            files_copied: report.files_copied,
            bytes_total: report.bytes_total,
            bytes_copied: report.bytes_copied,
            elapsed_ms: report.elapsed_ms,
        }
    }
}

pub async fn start(Caller(node): Caller, body: Bytes) -> Response {
    let body: BackupBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, format!("invalid backup request: {error}")),
    };
    if !body.destination.is_absolute() {
        return error_response(
            StatusCode::BAD_REQUEST,
            format!("destination `{}` must be an absolute path", body.destination.display()),
        );
    }
    let request = BackupRequest { destination: body.destination, max_bytes_per_second: body.max_bytes_per_second };
    match node.client_store().backup(request).await {
        Ok(report) => (StatusCode::OK, Json(BackupReportBody::from(report))).into_response(),
        Err(error @ BackupError::InProgress) => error_response(StatusCode::CONFLICT, error.to_string()),
        Err(error @ BackupError::Unsupported) => error_response(StatusCode::NOT_IMPLEMENTED, error.to_string()),
        Err(error @ BackupError::AccessDenied(_)) => error_response(StatusCode::FORBIDDEN, error.to_string()),
        Err(error) => error_response(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}
