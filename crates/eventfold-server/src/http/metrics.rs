//! `GET /metrics`: every metric in Prometheus text format, for Prometheus
//! to scrape (and KurrentDB's Grafana dashboards to read).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::MetricsEndpoint;

/// The text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn route(endpoint: MetricsEndpoint) -> Router {
    Router::new().route("/metrics", get(move || scrape(endpoint.clone())))
}

async fn scrape(endpoint: MetricsEndpoint) -> Response {
    // Sampling reads `/proc` and walks the data directory: off the runtime.
    match tokio::task::spawn_blocking(move || endpoint.render()).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "rendering the metrics failed\n").into_response()
        }
    }
}
