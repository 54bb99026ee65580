//! `DELETE /streams/{stream}`: a soft delete (the stream reads as not
//! found, 404, and may be written again), or with `ES-HardDelete: true` a
//! tombstone (410 for good). `ES-ExpectedVersion` applies as to an append.

use crate::http::caller::Caller;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use eventfold_store::DeleteMode;
use hyper::ext::ReasonPhrase;

use super::errors::AtomError;
use super::{headers, stream_name};

pub async fn delete(Caller(node): Caller, Path(stream): Path<String>, request_headers: HeaderMap) -> Response {
    let deleted = async {
        let stream = stream_name(&stream)?;
        let expected = headers::expected_version(&request_headers)?;
        let mode = if headers::hard_delete(&request_headers)? { DeleteMode::Tombstone } else { DeleteMode::Soft };
        node.client_store().delete_stream(stream, expected, mode).await?;
        Ok::<_, AtomError>(())
    };
    match deleted.await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response.extensions_mut().insert(ReasonPhrase::from_static(b"Stream deleted"));
            response
        }
        Err(error) => error.into_response(),
    }
}
