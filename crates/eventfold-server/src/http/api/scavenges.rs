//! Scavenges under `/api/v1/scavenges`: the management endpoints'
//! handlers (`/admin/scavenge`, KurrentDB's paths) at the API's paths, with
//! their answers described in the OpenAPI document. One implementation,
//! two addresses.

use crate::http::caller::Caller;
use axum::Json;
use axum::extract::{Path, RawQuery, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::ScavengeStatusBody;
use super::super::scavenge;

const OPTIONS_BYTES_MAX: usize = 64 * 1024;

/// The scavenge endpoints' refusals, shared with `/admin/scavenge`.
#[derive(Serialize, ToSchema)]
pub struct ScavengeError {
    pub error: String,
}

/// The optional body of a start.
#[derive(Serialize, ToSchema)]
pub struct ScavengeOptions {
    /// Pace the scavenge's reads and writes.
    pub max_bytes_per_second: Option<u64>,
}

/// Starts a scavenge.
#[utoipa::path(
    post,
    path = "/api/v1/scavenges",
    tag = "admin",
    request_body(content = Option<ScavengeOptions>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 202, description = "Started", body = ScavengeStatusBody),
        (status = 400, description = "Malformed options", body = ScavengeError),
        (status = 409, description = "One runs already: its status", body = ScavengeStatusBody),
        (status = 413, description = "The body is too large", body = ScavengeError),
        (status = 501, description = "The store does not scavenge", body = ScavengeError),
    )
)]
pub async fn start(node: Caller, query: RawQuery, request: Request) -> Response {
    // The options are a few bytes; more is refused, not cut.
    match axum::body::to_bytes(request.into_body(), OPTIONS_BYTES_MAX).await {
        Ok(body) => scavenge::start(node, query, body).await,
        Err(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(ScavengeError { error: format!("scavenge options are at most {OPTIONS_BYTES_MAX} bytes") }),
        )
            .into_response(),
    }
}

/// The running scavenge, or else the last one since the server started.
#[utoipa::path(
    get,
    path = "/api/v1/scavenges/last",
    tag = "admin",
    responses(
        (status = 200, description = "Its status", body = ScavengeStatusBody),
        (status = 404, description = "None has run", body = ScavengeError),
        (status = 501, description = "The store does not scavenge", body = ScavengeError),
    )
)]
pub async fn last(node: Caller) -> Response {
    scavenge::last(node).await
}

/// The running scavenge.
#[utoipa::path(
    get,
    path = "/api/v1/scavenges/current",
    tag = "admin",
    responses(
        (status = 200, description = "Its status", body = ScavengeStatusBody),
        (status = 404, description = "None runs", body = ScavengeError),
    )
)]
pub async fn current(node: Caller) -> Response {
    scavenge::current(node).await
}

/// Asks the running scavenge to stop after its segment.
#[utoipa::path(
    delete,
    path = "/api/v1/scavenges/current",
    tag = "admin",
    responses(
        (status = 200, description = "It had already ended", body = ScavengeStatusBody),
        (status = 202, description = "Stopping", body = ScavengeStatusBody),
        (status = 404, description = "None runs", body = ScavengeError),
    )
)]
pub async fn stop_current(node: Caller) -> Response {
    scavenge::stop_current(node).await
}

/// One scavenge's status: the running or the last one.
#[utoipa::path(
    get,
    path = "/api/v1/scavenges/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The scavenge's id")),
    responses(
        (status = 200, description = "Its status", body = ScavengeStatusBody),
        (status = 404, description = "Not the running or the last one", body = ScavengeError),
    )
)]
pub async fn by_id(node: Caller, id: Path<String>) -> Response {
    scavenge::by_id(node, id).await
}

/// Asks scavenge `id` to stop after its segment.
#[utoipa::path(
    delete,
    path = "/api/v1/scavenges/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The scavenge's id")),
    responses(
        (status = 200, description = "It had already ended", body = ScavengeStatusBody),
        (status = 202, description = "Stopping", body = ScavengeStatusBody),
        (status = 404, description = "Not the running scavenge", body = ScavengeError),
        (status = 501, description = "The store does not scavenge", body = ScavengeError),
    )
)]
pub async fn stop(node: Caller, id: Path<String>) -> Response {
    scavenge::stop(node, id).await
}
