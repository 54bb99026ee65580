//! Writing a feed or entry out: its media type, and whether and how long
//! it may be cached. Pages that cannot change are cached for a year, as
//! KurrentDB's; the head page must be revalidated, by its ETag.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::errors::AtomError;
use super::media::Flavour;

pub const CACHE_FOREVER: &str = "max-age=31536000, public";
pub const CACHE_NEVER: &str = "max-age=0, no-cache, must-revalidate";

pub fn json(value: &impl Serialize, flavour: Flavour, cache_control: &'static str) -> Result<Response, AtomError> {
    let body = serde_json::to_vec(value).map_err(|error| AtomError::Storage(error.to_string()))?;
    Ok(with_body(body, flavour.content_type(), cache_control))
}

pub fn with_body(body: Vec<u8>, content_type: &'static str, cache_control: &'static str) -> Response {
    let mut response = (StatusCode::OK, Body::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// 304 for a client whose copy carries `etag`.
pub fn not_modified(etag: &HeaderValue) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(header::ETAG, etag.clone());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_NEVER));
    response
}
