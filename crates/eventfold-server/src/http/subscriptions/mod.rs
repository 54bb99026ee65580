//! KurrentDB's HTTP API for persistent subscriptions. Listing them
//! (`/subscriptions`, `/subscriptions/{stream}`) and a group's statistics
//! (`/subscriptions/{stream}/{group}/info`) are always served: exporters
//! poll them. Creating, updating, deleting, reading with acks and nacks,
//! and replaying parked events come with the HTTP stream API's option.
//!
//! Everything is a call on the node's persistent subscriptions; reads take
//! what the group has ready and leave it in flight until acked by id
//! ([`eventfold_persistent::PersistentSubscriptions::read_polled`]).

mod errors;
mod manage;
mod poll;
mod settings;
mod summary;

use axum::Router;
use axum::routing::{get, post};
use eventfold_node::Node;
use eventfold_persistent::{GroupKey, Source};

use crate::http::atom::{AtomError, stream_name};

pub fn routes(node: &Node) -> Router<Node> {
    let always = Router::new()
        .route("/subscriptions", get(summary::list))
        .route("/subscriptions/{stream}", get(summary::list_for_stream))
        .route("/subscriptions/{stream}/{group}/info", get(summary::info));
    if !node.facts().atom_pub_over_http {
        return always;
    }
    always
        .route(
            "/subscriptions/{stream}/{group}",
            get(poll::read_one).put(manage::create).post(manage::update).delete(manage::delete),
        )
        .route("/subscriptions/{stream}/{group}/{count}", get(poll::read))
        .route("/subscriptions/{stream}/{group}/ack", post(poll::ack_many))
        .route("/subscriptions/{stream}/{group}/ack/{id}", post(poll::ack_one))
        .route("/subscriptions/{stream}/{group}/nack", post(poll::nack_many))
        .route("/subscriptions/{stream}/{group}/nack/{id}", post(poll::nack_one))
        .route("/subscriptions/{stream}/{group}/replayParked", post(manage::replay_parked))
}

/// The source a path names: a stream, or `$all`.
fn source(stream: &str) -> Result<Source, AtomError> {
    if stream == eventfold_store::ALL_STREAM { Ok(Source::All) } else { Ok(Source::Stream(stream_name(stream)?)) }
}

fn group_key(stream: &str, group: &str) -> Result<GroupKey, AtomError> {
    GroupKey::new(source(stream)?, group).map_err(|error| AtomError::BadRequest(error.to_string()))
}
