//! Extractors whose refusals are the API's JSON errors: axum's own answer
//! in plain text, which a client of a JSON API cannot parse.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use eventfold_store::StreamName;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body. The content type must be `application/json` (with
/// or without parameters): a form or text body is refused before parsing,
/// so that a client that forgot the header learns it at once.
pub struct JsonBody<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON, sent with `content-type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "body-too-large", "the body is larger than this endpoint accepts")
            } else {
                ApiError::bad_request(format!("the body could not be read: {}", rejection.body_text()))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid-json", format!("invalid body: {error}")))
    }
}

/// Query parameters; an unknown or malformed one is a 400 naming it (the
/// types deny unknown fields), so a typo is not silently ignored.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| ApiQuery(query))
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid-query", rejection.body_text()))
    }
}

/// Path parameters, decoded; one that does not decode is a 400.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(path)| ApiPath(path))
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "invalid-path", rejection.body_text()))
    }
}

/// A stream name from a client, checked by the store's own rule.
pub fn stream_name(name: &str) -> Result<StreamName, ApiError> {
    StreamName::new(name).map_err(|error| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-stream-name", format!("invalid stream name: {error}"))
    })
}
