//! The JSON API's errors: one body shape, `{"error", "code"}`, a status per
//! kind of refusal, mapped from the store's typed errors here and nowhere
//! else. `code` is a stable word a program branches on; `error` is for people.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_store::{AppendError, ReadError, StorageError, StorageErrorKind, SubscriptionError};
use serde::Serialize;
use utoipa::ToSchema;

/// Every refusal of the JSON API.
#[derive(Serialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// A stable word for the kind of error, such as `wrong-expected-revision`,
    /// `stream-deleted`, `stream-not-found`, `invalid-json`.
    pub code: String,
    /// With `wrong-expected-revision` only: the stream's revision now, `-1`
    /// when the stream does not exist (EventStoreDB's convention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<i64>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error: message.into(), code: code.to_owned(), current_revision: None } }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// What a live feed that could not open says inside a connection that
    /// carries others: the body an answer would have had, and its status.
    pub fn in_feed(&self, feed: usize) -> serde_json::Value {
        serde_json::json!({
            "feed": feed,
            "error": self.body.error,
            "code": self.body.code,
            "status": self.status.as_u16(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A storage failure is the server's, not the client's: 503 while it is
/// transient or shutting down, 507 for a full disk, 500 otherwise.
pub fn storage(error: &StorageError) -> ApiError {
    let (status, code) = match error.kind {
        StorageErrorKind::DiskFull => (StatusCode::INSUFFICIENT_STORAGE, "disk-full"),
        StorageErrorKind::Unavailable | StorageErrorKind::Closed => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
    };
    ApiError::new(status, code, error.to_string())
}

impl From<eventfold_store::AccessDenied> for ApiError {
    fn from(denied: eventfold_store::AccessDenied) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "access-denied", denied.to_string())
    }
}

impl From<AppendError> for ApiError {
    fn from(error: AppendError) -> Self {
        let message = error.to_string();
        match error {
            AppendError::WrongExpectedVersion { actual, .. } => {
                let mut refused = ApiError::new(StatusCode::CONFLICT, "wrong-expected-revision", message);
                refused.body.current_revision = Some(actual.event_number());
                refused
            }
            AppendError::StreamDeleted { .. } => ApiError::new(StatusCode::GONE, "stream-deleted", message),
            AppendError::MaximumAppendSizeExceeded { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "maximum-append-size-exceeded", message)
            }
            AppendError::InvalidEvent { .. } => ApiError::new(StatusCode::BAD_REQUEST, "invalid-event", message),
            AppendError::AccessDenied(_) => ApiError::new(StatusCode::FORBIDDEN, "access-denied", message),
            AppendError::Storage(storage_error) => storage(&storage_error),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        let message = error.to_string();
        match error {
            ReadError::StreamNotFound { .. } => ApiError::not_found("stream-not-found", message),
            ReadError::StreamDeleted { .. } => ApiError::new(StatusCode::GONE, "stream-deleted", message),
            ReadError::InvalidPosition { .. } => ApiError::new(StatusCode::BAD_REQUEST, "invalid-position", message),
            ReadError::AccessDenied(_) => ApiError::new(StatusCode::FORBIDDEN, "access-denied", message),
            ReadError::Storage(storage_error) => storage(&storage_error),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<SubscriptionError> for ApiError {
    fn from(error: SubscriptionError) -> Self {
        let message = error.to_string();
        match error {
            SubscriptionError::StreamDeleted { .. } => ApiError::new(StatusCode::GONE, "stream-deleted", message),
            SubscriptionError::InvalidPosition { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid-position", message)
            }
            SubscriptionError::AccessDenied(_) => ApiError::new(StatusCode::FORBIDDEN, "access-denied", message),
            SubscriptionError::Storage(storage_error) => storage(&storage_error),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}
