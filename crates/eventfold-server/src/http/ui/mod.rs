//! The web UI under `/ui/`: a small single-page app whose files are compiled
//! into the binary, so it works offline and needs no build step of its own.
//! It only calls the public endpoints (`/api/v1`, `/stats`, `/info`,
//! `/metrics`); it keeps nothing on the server.
//!
//! Everything lives under one prefix so that no UI path can shadow an API
//! route; `GET /` sends a browser there.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use eventfold_node::Node;

use super::error::error_response;

/// One file of the app: its name under `/ui/`, its content type, its bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_str!("index.html") },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_str!("app.css") },
    Asset { name: "app.js", content_type: JS, body: include_str!("app.js") },
    Asset { name: "api.js", content_type: JS, body: include_str!("api.js") },
    Asset { name: "live-worker.js", content_type: JS, body: include_str!("live-worker.js") },
    Asset { name: "dom.js", content_type: JS, body: include_str!("dom.js") },
    Asset { name: "poll.js", content_type: JS, body: include_str!("poll.js") },
    Asset { name: "json.js", content_type: JS, body: include_str!("json.js") },
    Asset { name: "dashboard.js", content_type: JS, body: include_str!("dashboard.js") },
    Asset { name: "streams.js", content_type: JS, body: include_str!("streams.js") },
    Asset { name: "stream.js", content_type: JS, body: include_str!("stream.js") },
    Asset { name: "all.js", content_type: JS, body: include_str!("all.js") },
    Asset { name: "subscriptions.js", content_type: JS, body: include_str!("subscriptions.js") },
    Asset { name: "admin.js", content_type: JS, body: include_str!("admin.js") },
    Asset { name: "editor.js", content_type: JS, body: include_str!("editor.js") },
    Asset { name: "subscription.js", content_type: JS, body: include_str!("subscription.js") },
    Asset { name: "projections.js", content_type: JS, body: include_str!("projections.js") },
    Asset { name: "projection.js", content_type: JS, body: include_str!("projection.js") },
];

const JS: &str = "text/javascript; charset=utf-8";

/// The files are not content-hashed in their names, so the browser must ask
/// again each time; the ETag (a hash of the bytes) makes that a 304.
fn etag(body: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
    let hash = body
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{hash:016x}\"")
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return error_response(StatusCode::NOT_FOUND, format!("no such UI file: {name}"));
    };
    let tag = etag(asset.body);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

pub fn routes() -> Router<Node> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/{name}", get(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_tag_and_a_known_type() {
        let tags: std::collections::HashSet<_> = ASSETS.iter().map(|asset| etag(asset.body)).collect();
        assert_eq!(tags.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|asset| asset.content_type.contains("charset=utf-8")));
    }

    #[test]
    fn a_matching_tag_is_not_modified_and_an_unknown_file_is_404() {
        let mut headers = HeaderMap::new();
        let tag = etag(ASSETS[1].body);
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&tag).expect("ascii"));
        assert_eq!(serve("app.css", &headers).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(serve("app.css", &HeaderMap::new()).status(), StatusCode::OK);
        assert_eq!(serve("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }
}
