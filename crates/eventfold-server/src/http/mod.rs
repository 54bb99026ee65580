//! eventfold's own HTTP/JSON face.

mod fallback;
mod health;
pub(crate) mod metrics;
mod scavenge;

pub use fallback::fallback;
pub use scavenge::ScavengeStatusBody;

use axum::Router;
use axum::routing::{delete, get};

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/admin/scavenge", get(scavenge::status).post(scavenge::start))
        .route("/admin/scavenge/{id}", delete(scavenge::stop))
        .with_state(state)
}
