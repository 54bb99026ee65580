use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::error_response;

/// Unknown paths: a gRPC call gets `UNIMPLEMENTED` (clients probe for
/// services and must get an answer, never a hang); anything else a 404
/// that names the path.
pub async fn fallback(headers: HeaderMap, uri: Uri) -> Response {
    let is_grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.starts_with("application/grpc"));
    if is_grpc {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static("12"));
        headers.insert("grpc-message", HeaderValue::from_static("method%20not%20implemented"));
        response
    } else {
        error_response(StatusCode::NOT_FOUND, format!("no such endpoint: {}", uri.path()))
    }
}
