//! `GET /metrics`: every metric in Prometheus text format, for Prometheus
//! to scrape (and KurrentDB's Grafana dashboards to read).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use eventfold_node::MetricsText;

/// The text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn route(text: MetricsText) -> Router {
    Router::new().route("/metrics", get(move || scrape(text.clone())))
}

async fn scrape(text: MetricsText) -> Response {
    // Sampling reads `/proc` and walks the data directory: off the runtime.
    match tokio::task::spawn_blocking(move || text.render()).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering the metrics failed\n").into_response()
        }
    }
}
