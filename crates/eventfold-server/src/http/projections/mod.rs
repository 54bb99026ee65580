//! KurrentDB's HTTP API for projections: `/projections/{mode}` lists and
//! creates, `/projection/{name}[/...]` reads a projection's statistics,
//! query, configuration, state and result, and commands it. Always served,
//! as KurrentDB serves them; every route is one call on the node's
//! projections, and their refusals are mapped once ([`errors`]).
//!
//! eventfold adds `?position=` to `command/reset`: the projection starts
//! over from empty state after that log position instead of the beginning.

mod body;
mod commands;
mod create;
pub(crate) mod errors;
mod flags;
mod query;
mod state;
mod statistics;

use axum::Router;
use axum::routing::{get, post};
use eventfold_node::Node;

pub fn routes() -> Router<Node> {
    Router::new()
        .route("/projections/restart", post(commands::restart))
        .route("/projections/{mode}", get(statistics::list).post(create::create))
        .route("/projection/{name}", get(statistics::one).delete(commands::delete))
        .route("/projection/{name}/statistics", get(statistics::named))
        .route("/projection/{name}/query", get(query::get_query).put(query::put_query))
        .route("/projection/{name}/config", get(query::get_config).put(query::put_config))
        .route("/projection/{name}/state", get(state::state))
        .route("/projection/{name}/result", get(state::result))
        .route("/projection/{name}/command/{command}", post(commands::command))
}
