//! eventfold's own HTTP/JSON face: the management endpoints, always on.
//! Each handler reads the [`Node`]; none keeps state of its own.

mod api;
mod atom;
mod backup;
mod caller;
mod connectors;
mod error;
mod fallback;
mod gossip;
mod health;
mod info;
pub(crate) mod metrics;
mod ping;
pub(crate) mod process;
mod projections;
mod scavenge;
pub(crate) mod sql;
mod stats;
mod subscriptions;
mod time;
mod ui;
mod users;
mod verify;

pub use backup::BackupReportBody;
pub use fallback::fallback;
pub use scavenge::ScavengeStatusBody;
pub use verify::{DamagedRangeBody, VerifyReportBody};

use axum::Router;
use axum::routing::{get, post};
use eventfold_node::Node;

pub fn router(node: Node) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/ping", get(ping::ping))
        .route("/info", get(info::info))
        .route("/gossip", get(gossip::gossip))
        .route("/stats", get(stats::stats))
        .route("/admin/backup", post(backup::start))
        .route("/admin/scavenge", get(scavenge::last).post(scavenge::start))
        .route("/admin/scavenge/current", get(scavenge::current).delete(scavenge::stop_current))
        .route("/admin/scavenge/last", get(scavenge::last))
        .route("/admin/scavenge/{id}", get(scavenge::by_id).delete(scavenge::stop))
        .route("/admin/verify", post(verify::verify))
        .merge(atom::routes(&node))
        .merge(subscriptions::routes(&node))
        .merge(projections::routes())
        .merge(connectors::routes(&node))
        .merge(api::routes(&node))
        .merge(ui::routes())
        .merge(users::routes())
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(node)
}
