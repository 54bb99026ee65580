use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::{AppState, VERSION};

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    /// `$all` position of the last event; null in an empty database.
    pub last_position: Option<u64>,
}

/// `GET /health`: answers while the store is open, for load balancers and
/// for scripts that wait for the server to come up.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: VERSION,
        last_position: state.store.head_position().map(|position| position.0),
    })
}
