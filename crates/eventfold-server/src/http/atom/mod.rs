//! KurrentDB's HTTP stream API (its AtomPub, JSON flavours only): reading
//! streams and `$all` as paged feeds, appending, deleting and stream
//! metadata, with the `ES-*`/`Kurrent-*` headers. Served only when the node
//! is started with it (`--enable-atom-pub-over-http`), as in KurrentDB.
//!
//! Every request reaches the store through the node's client store, so the
//! access policy and every EventStoreDB rule (link resolution, the metadata
//! of a tombstoned stream, the append size) are the store crate's, the same
//! as over gRPC. This module only translates.

mod all;
mod append;
mod body;
mod delete;
mod embed;
mod errors;
mod feed;
mod headers;
mod links;
mod long_poll;
mod media;
mod metadata;
mod page;
mod read;
mod respond;

pub use append::created;
pub use embed::Embed;
pub use errors::AtomError;
pub use feed::{Feed, Link, entry};
pub use links::{base_uri, escape, stream_uri};
pub use respond::CACHE_NEVER;

use axum::Router;
use axum::routing::{get, post};
use eventfold_node::Node;
use eventfold_store::{Direction, StreamName};

/// The largest page served, as KurrentDB's.
pub const PAGE_COUNT_MAX: u64 = 4096;

/// The stream API's routes when the node serves it; none otherwise (a
/// request then gets the same 404 as any unknown path).
pub fn routes(node: &Node) -> Router<Node> {
    if !node.facts().atom_pub_over_http {
        return Router::new();
    }
    Router::new()
        .route("/streams/{stream}", get(read::head).post(append::post).delete(delete::delete))
        .route("/streams/{stream}/metadata", get(metadata::get).post(metadata::post))
        .route("/streams/{stream}/incoming/{id}", post(append::post_incoming))
        .route("/streams/{stream}/{event}", get(read::event))
        .route("/streams/{stream}/{start}/{direction}/{count}", get(read::page))
}

pub fn stream_name(text: &str) -> Result<StreamName, AtomError> {
    StreamName::new(text).map_err(|error| AtomError::BadRequest(format!("invalid stream name: {error}")))
}

fn page_direction(text: &str) -> Result<Direction, AtomError> {
    match text.to_ascii_lowercase().as_str() {
        "forward" => Ok(Direction::Forwards),
        "backward" => Ok(Direction::Backwards),
        _ => Err(AtomError::BadRequest(format!("`{text}` is neither `forward` nor `backward`"))),
    }
}

/// A page size of 1 to [`PAGE_COUNT_MAX`].
pub fn page_count(text: &str) -> Result<u64, AtomError> {
    match text.parse::<u64>() {
        Ok(count) if (1..=PAGE_COUNT_MAX).contains(&count) => Ok(count),
        _ => Err(AtomError::BadRequest(format!("page size `{text}` is not a number from 1 to {PAGE_COUNT_MAX}"))),
    }
}
