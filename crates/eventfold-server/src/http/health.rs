//! Probes for load balancers and orchestrators.
//!
//! - `GET /health`, readiness: 200 while the node serves and its store takes
//!   writes; 503 with the reason while the store refuses them (a full disk,
//!   a poisoned writer), and while the node starts or stops.
//! - `GET`/`HEAD /health/live`, liveness as KurrentDB answers it: 204 while
//!   the node serves (`?liveCode=N` answers N instead, for probes that want
//!   a 200), 503 while it starts or stops. A degraded store is still live:
//!   reads are served, and restarting the node would not bring back the
//!   disk space it waits for.

use crate::http::caller::Caller;
use axum::Json;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_node::NodeState;
use eventfold_store::StoreHealth;
use serde::Serialize;

use super::error::{error_response, query_value, unknown_query_names};

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Health {
    /// `ok`; `degraded` while the store refuses writes (reads go on);
    /// `starting` or `stopping` while the node is not serving.
    pub status: &'static str,
    /// Why writes are refused, while they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub version: &'static str,
    /// `$all` position of the last event; null in an empty database.
    pub last_position: Option<u64>,
}

/// `GET /health`.
pub async fn health(Caller(node): Caller) -> (StatusCode, Json<Health>) {
    let store = node.client_store();
    let (status, reason) = match (node.state(), store.health()) {
        (NodeState::Starting | NodeState::Stopping, _) => (node.state().as_str(), None),
        (NodeState::Ready, StoreHealth::Degraded(error)) => ("degraded", Some(error.to_string())),
        (NodeState::Ready, _) => ("ok", None),
    };
    let health = Health {
        status,
        reason,
        version: node.facts().version,
        last_position: store.head_position().map(|position| position.0),
    };
    let code = if status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(health))
}

#[derive(Serialize)]
struct NotLive {
    state: &'static str,
}

/// `GET`/`HEAD /health/live` (axum answers `HEAD` with the `GET` handler's
/// status and headers, without the body).
pub async fn live(Caller(node): Caller, RawQuery(query): RawQuery) -> Response {
    let query = query.as_deref();
    if let Some(unknown) = unknown_query_names(query, &["liveCode"]).first() {
        return error_response(StatusCode::BAD_REQUEST, format!("unknown query parameter `{unknown}`; only liveCode"));
    }
    let live_code = match query_value(query, "liveCode").map(parse_live_code) {
        Some(Ok(code)) => code,
        Some(Err(message)) => return error_response(StatusCode::BAD_REQUEST, message),
        None => StatusCode::NO_CONTENT,
    };
    match node.state() {
        NodeState::Ready => live_code.into_response(),
        state @ (NodeState::Starting | NodeState::Stopping) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(NotLive { state: state.as_str() })).into_response()
        }
    }
}

/// A status code a probe may ask for: a final answer, 200 to 599.
fn parse_live_code(text: &str) -> Result<StatusCode, String> {
    text.parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("liveCode must be an HTTP status code from 200 to 599, not `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_codes_are_final_status_codes() {
        assert_eq!(parse_live_code("200"), Ok(StatusCode::OK));
        assert_eq!(parse_live_code("599").map(|code| code.as_u16()), Ok(599));
        for bad in ["", "abc", "100", "199", "600", "-200", "200.0", "99999"] {
            assert!(parse_live_code(bad).is_err(), "{bad}");
        }
    }
}
