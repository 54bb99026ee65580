//! `GET /api/v1/openapi.json` and the API reference page `GET /api/v1/docs`,
//! a small page served from the binary that renders the document with no
//! script from elsewhere, so it works offline.

use axum::Json;
use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use eventfold_node::Node;

const REFERENCE_PAGE: &str = include_str!("reference.html");

async fn openapi_json() -> impl IntoResponse {
    Json(super::document())
}

async fn reference() -> Html<&'static str> {
    Html(REFERENCE_PAGE)
}

pub fn routes() -> Router<Node> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json)).route("/api/v1/docs", get(reference))
}
