//! eventfold's own HTTP/JSON face.

mod fallback;
mod health;

pub use fallback::fallback;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().route("/health", get(health::health)).with_state(state)
}
