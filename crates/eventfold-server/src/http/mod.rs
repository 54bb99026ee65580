//! eventfold's own HTTP/JSON face.

mod fallback;
mod health;
mod scavenge;
mod verify;

pub use fallback::fallback;
pub use scavenge::ScavengeStatusBody;
pub use verify::{DamagedRangeBody, VerifyReportBody};

use axum::Router;
use axum::routing::{delete, get, post};

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/admin/scavenge", get(scavenge::status).post(scavenge::start))
        .route("/admin/scavenge/{id}", delete(scavenge::stop))
        .route("/admin/verify", post(verify::verify))
        .with_state(state)
}
