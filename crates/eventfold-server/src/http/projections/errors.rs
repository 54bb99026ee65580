//! The projections' refusals as HTTP answers, once: JSON `{"error"}` as
//! every route of this face answers, with the line and column of a syntax
//! error so that an editor can point at it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_projections::ProjectionError;
use eventfold_projections::runtime::QueryError;
use serde::Serialize;

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<u32>,
}

/// A refusal of a projections route.
#[derive(Debug)]
pub enum HttpError {
    Projection(ProjectionError),
    BadRequest(String),
    Denied(eventfold_store::AccessDenied),
}

impl From<eventfold_store::AccessDenied> for HttpError {
    fn from(denied: eventfold_store::AccessDenied) -> Self {
        HttpError::Denied(denied)
    }
}

impl From<ProjectionError> for HttpError {
    fn from(error: ProjectionError) -> Self {
        HttpError::Projection(error)
    }
}

/// The status a refusal is answered with: what the client got wrong is a
/// 4xx (a command the projection's state does not allow is a conflict),
/// a subsystem that does not run or cannot read its streams a 503.
pub fn status_of(error: &ProjectionError) -> StatusCode {
    match error {
        ProjectionError::NotFound(_) => StatusCode::NOT_FOUND,
        ProjectionError::AlreadyExists(_) | ProjectionError::OperationFailed(_) => StatusCode::CONFLICT,
        ProjectionError::InvalidArgument(_) | ProjectionError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
        ProjectionError::NotRunning | ProjectionError::Storage(_) | ProjectionError::NotLeader(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The line and column of a query's syntax error, when it is one.
pub fn syntax_position(error: &ProjectionError) -> Option<(u32, u32)> {
    match error {
        ProjectionError::InvalidQuery(QueryError::Syntax { line, column, .. }) => Some((*line, *column)),
        _ => None,
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, error, position) = match self {
            HttpError::Projection(error) => (status_of(&error), error.to_string(), syntax_position(&error)),
            HttpError::BadRequest(message) => (StatusCode::BAD_REQUEST, message, None),
            HttpError::Denied(denied) => (StatusCode::FORBIDDEN, denied.to_string(), None),
        };
        let body =
            ErrorBody { error, line: position.map(|(line, _)| line), column: position.map(|(_, column)| column) };
        (status, Json(body)).into_response()
    }
}
