//! eventfold's own JSON API under `/api/v1`: appends, reads as NDJSON, live
//! feeds as Server-Sent Events, streams, metadata, deletes, persistent
//! subscriptions and scavenges; one file per resource.
//!
//! Every route is registered through [`utoipa_axum`] from the handler's own
//! `#[utoipa::path]`, so the OpenAPI document served at
//! `/api/v1/openapi.json` is built from the same list as the router and
//! cannot name a route that is not served, or miss one that is.

mod append;
mod delete;
mod docs;
mod error;
mod events;
mod expected;
mod extract;
mod live;
mod live_feeds;
mod metadata;
mod params;
mod projections;
mod queries;
mod read;
mod scavenges;
mod streams;
mod subscription_details;
mod subscription_parked;
mod subscriptions;

use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use eventfold_node::Node;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "eventfold JSON API",
        description = "eventfold's own HTTP/JSON API. Positions are decimal strings (byte offsets in the log, \
            which may pass 2^53); revisions are numbers. Event data is JSON when the event is JSON and base64 \
            otherwise, as `dataEncoding` says. Errors are `{\"error\", \"code\"}`."
    ),
    tags(
        (name = "streams", description = "Appends, reads, metadata and deletes"),
        (name = "live", description = "Live feeds as Server-Sent Events"),
        (name = "subscriptions", description = "Persistent subscriptions"),
        (name = "admin", description = "Scavenges"),
        (name = "projections", description = "Projections"),
        (name = "sql", description = "Ad-hoc and continuous SQL over the log"),
    )
)]
struct ApiDoc;

/// The API's routes and the document describing them, from one list.
fn documented() -> OpenApiRouter<Node> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(streams::list))
        .routes(routes!(append::append, read::read_stream, delete::delete))
        .routes(routes!(metadata::get, metadata::put))
        .routes(routes!(live::stream_live))
        .routes(routes!(append::transaction))
        .routes(routes!(read::read_all))
        .routes(routes!(live::all_live))
        .routes(routes!(live_feeds::live_feeds))
        .routes(routes!(subscriptions::list))
        .routes(routes!(subscriptions::put, subscriptions::get, subscriptions::delete))
        .routes(routes!(subscriptions::replay_parked))
        .routes(routes!(subscription_details::settings))
        .routes(routes!(subscription_details::truncate_parked))
        .routes(routes!(subscription_parked::parked))
        .routes(routes!(scavenges::start))
        .routes(routes!(scavenges::last))
        .routes(routes!(scavenges::current, scavenges::stop_current))
        .routes(routes!(scavenges::by_id, scavenges::stop))
        .routes(routes!(crate::http::sql::query))
        .routes(routes!(queries::create, queries::list))
        .routes(routes!(queries::info, queries::delete))
        .routes(routes!(queries::result))
        .routes(routes!(queries::reset))
        .merge(projections::documented())
}

/// The OpenAPI document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| documented().split_for_parts().1)
}

/// The API's routes, for the node's router. A body is refused (413) past
/// twice the node's maximum append size plus room for the JSON around the
/// events: base64 and JSON escapes make a body larger than what it carries,
/// and what it carries is checked against the limit itself.
pub fn routes(node: &Node) -> Router<Node> {
    let body_bytes_max = node.facts().max_append_bytes.saturating_mul(2).saturating_add(64 * 1024);
    let (router, _) = documented().split_for_parts();
    router.merge(docs::routes()).layer(DefaultBodyLimit::max(body_bytes_max))
}
