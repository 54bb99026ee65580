//! A request body read whole as text (a query, a configuration).

use axum::body::Body;

use super::errors::HttpError;

/// A query is source text; anything past this is refused unread.
const BODY_MAX_BYTES: usize = 4 * 1024 * 1024;

pub async fn text(body: Body) -> Result<String, HttpError> {
    let bytes = axum::body::to_bytes(body, BODY_MAX_BYTES)
        .await
        .map_err(|_| HttpError::BadRequest(format!("the body could not be read or is over {BODY_MAX_BYTES} bytes")))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| HttpError::BadRequest("the body is not UTF-8 text".into()))
}
