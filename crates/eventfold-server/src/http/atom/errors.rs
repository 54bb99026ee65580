//! Every refusal of the HTTP stream API, mapped once to KurrentDB's status
//! codes, reason phrases and headers, with a JSON body that says why.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use eventfold_store::{AppendError, CurrentRevision, ReadError, StorageError, SubscriptionError};
use hyper::ext::ReasonPhrase;

use crate::http::error::error_response;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtomError {
    BadRequest(String),
    NotFound(String),
    /// Deleted for good (tombstoned).
    Gone(String),
    /// It exists already (a subscription group).
    Conflict(String),
    NotAcceptable,
    UnsupportedMediaType(String),
    PayloadTooLarge(String),
    /// KurrentDB's 400 "Wrong expected EventNumber", with the stream's
    /// current version in `ES-CurrentVersion`.
    WrongExpectedVersion {
        current: CurrentRevision,
    },
    AccessDenied(String),
    /// The store cannot serve now (disk full, shutting down): retry later.
    Unavailable(String),
    /// The store failed.
    Storage(String),
}

impl From<eventfold_store::AccessDenied> for AtomError {
    fn from(denied: eventfold_store::AccessDenied) -> Self {
        AtomError::AccessDenied(denied.to_string())
    }
}

impl From<ReadError> for AtomError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::StreamNotFound { stream } => AtomError::NotFound(format!("stream `{stream}` not found")),
            ReadError::StreamDeleted { stream } => AtomError::Gone(format!("stream `{stream}` is deleted")),
            ReadError::InvalidPosition { position } => {
                AtomError::BadRequest(format!("position {position} is not the position of an event"))
            }
            ReadError::AccessDenied(denied) => AtomError::AccessDenied(denied.to_string()),
            ReadError::Storage(storage) => storage.into(),
            other => AtomError::Storage(other.to_string()),
        }
    }
}

impl From<SubscriptionError> for AtomError {
    fn from(error: SubscriptionError) -> Self {
        match error {
            SubscriptionError::StreamDeleted { stream } => AtomError::Gone(format!("stream `{stream}` is deleted")),
            SubscriptionError::InvalidPosition { position } => {
                AtomError::BadRequest(format!("position {position} is not the position of an event"))
            }
            SubscriptionError::AccessDenied(denied) => AtomError::AccessDenied(denied.to_string()),
            SubscriptionError::Storage(storage) => storage.into(),
            other => AtomError::Storage(other.to_string()),
        }
    }
}

impl From<AppendError> for AtomError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::WrongExpectedVersion { actual, .. } => AtomError::WrongExpectedVersion { current: actual },
            AppendError::StreamDeleted { stream } => AtomError::Gone(format!("stream `{stream}` is deleted")),
            error @ AppendError::MaximumAppendSizeExceeded { .. } => AtomError::PayloadTooLarge(error.to_string()),
            error @ AppendError::InvalidEvent { .. } => AtomError::BadRequest(error.to_string()),
            AppendError::AccessDenied(denied) => AtomError::AccessDenied(denied.to_string()),
            AppendError::Storage(storage) => storage.into(),
            other => AtomError::Storage(other.to_string()),
        }
    }
}

impl From<StorageError> for AtomError {
    fn from(error: StorageError) -> Self {
        if error.kind.is_transient() || error.kind == eventfold_store::StorageErrorKind::Closed {
            AtomError::Unavailable(error.to_string())
        } else {
            AtomError::Storage(error.to_string())
        }
    }
}

const CURRENT_VERSION_HEADERS: [&str; 2] = ["es-currentversion", "kurrent-currentversion"];

impl IntoResponse for AtomError {
    fn into_response(self) -> Response {
        let (status, reason, message) = match self {
            AtomError::BadRequest(message) => (StatusCode::BAD_REQUEST, None, message),
            AtomError::NotFound(message) => (StatusCode::NOT_FOUND, None, message),
            AtomError::Gone(message) => (StatusCode::GONE, Some("Deleted"), message),
            AtomError::Conflict(message) => (StatusCode::CONFLICT, None, message),
            AtomError::NotAcceptable => (
                StatusCode::NOT_ACCEPTABLE,
                None,
                "only JSON is served: accept application/vnd.eventstore.atom+json, \
                 application/vnd.kurrent.atom+json or application/json"
                    .to_owned(),
            ),
            AtomError::UnsupportedMediaType(message) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None, message),
            AtomError::PayloadTooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, None, message),
            AtomError::WrongExpectedVersion { current } => {
                let mut response = error_response(StatusCode::BAD_REQUEST, "Wrong expected EventNumber");
                let value = HeaderValue::from(current.event_number());
                for name in CURRENT_VERSION_HEADERS {
                    response.headers_mut().insert(HeaderName::from_static(name), value.clone());
                }
                response.extensions_mut().insert(ReasonPhrase::from_static(b"Wrong expected EventNumber"));
                return response;
            }
            AtomError::AccessDenied(message) => (StatusCode::UNAUTHORIZED, None, message),
            AtomError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, None, message),
            AtomError::Storage(message) => (StatusCode::INTERNAL_SERVER_ERROR, None, message),
        };
        let mut response = error_response(status, message);
        if let Some(reason) = reason {
            response.extensions_mut().insert(ReasonPhrase::from_static(reason.as_bytes()));
        }
        response
    }
}
