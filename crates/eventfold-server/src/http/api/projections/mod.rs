//! Projections under `/api/v1/projections`, for the web UI and scripts:
//! list, create, inspect (query, statistics, state per partition, result,
//! emitted streams), change the query, enable, disable, abort, reset (to a
//! position too) and delete. Each handler is one call on the node's
//! projections; their refusals are mapped once ([`refusal`]).

mod bodies;
pub mod commands;
pub mod manage;
mod refusal;
pub mod state;

use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Path)]
pub struct ProjectionPath {
    /// The projection's name.
    pub name: String,
}

/// The projections routes, with their documentation, for the API's list.
pub fn documented() -> utoipa_axum::router::OpenApiRouter<eventfold_node::Node> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(manage::list, manage::create))
        .routes(routes!(manage::get, manage::delete))
        .routes(routes!(manage::update_query))
        .routes(routes!(commands::enable))
        .routes(routes!(commands::disable))
        .routes(routes!(commands::abort))
        .routes(routes!(commands::reset))
        .routes(routes!(state::state))
        .routes(routes!(state::partitions))
        .routes(routes!(state::emitted_streams))
}
