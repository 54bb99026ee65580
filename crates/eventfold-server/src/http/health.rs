use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use eventfold_store::StoreHealth;
use serde::Serialize;

use crate::{AppState, VERSION};

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Health {
    /// `ok`, or `degraded` while the store refuses writes (reads go on).
    pub status: &'static str,
    /// Why writes are refused, while they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub version: &'static str,
    /// `$all` position of the last event; null in an empty database.
    pub last_position: Option<u64>,
}

fn current(state: &AppState) -> (bool, Health) {
    let (status, reason) = match state.store.health() {
        StoreHealth::Degraded(error) => ("degraded", Some(error.to_string())),
        _ => ("ok", None),
    };
    let health = Health {
        status,
        reason,
        version: VERSION,
        last_position: state.store.head_position().map(|position| position.0),
    };
    (status == "ok", health)
}

/// `GET /health`, readiness: 200 while the store takes writes, 503 with the
/// reason while it refuses them (a full disk, a poisoned writer), for load
/// balancers and for scripts that wait for the server to come up.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (ok, health) = current(&state);
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(health))
}

/// `GET /health/live`, liveness: 200 whenever the server answers, degraded or
/// not, since reads are still served; an orchestrator restarting the node
/// would not bring back the disk space it waits for.
pub async fn live(State(state): State<AppState>) -> Json<Health> {
    Json(current(&state).1)
}
