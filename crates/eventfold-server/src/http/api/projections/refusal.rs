//! The projections' refusals in the API's error shape, `{"error", "code"}`,
//! plus the line and column of a query's syntax error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_projections::ProjectionError;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::error::ApiError;

/// A refusal of a projections route.
#[derive(Serialize, ToSchema, Debug)]
pub struct ProjectionErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// A stable word: `projection-not-found`, `projection-exists`,
    /// `operation-failed`, `invalid-argument`, `invalid-query`,
    /// `projections-not-running`, `unavailable`, or one of the API's own.
    pub code: String,
    /// With a syntax error: the line of the query it is on, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// With a syntax error: its column, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

#[derive(Debug)]
pub enum Refusal {
    /// The request itself (path, query, body) was refused by the API's extractors.
    Api(ApiError),
    Projection(ProjectionError),
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal::Api(error)
    }
}

impl From<eventfold_store::AccessDenied> for Refusal {
    fn from(denied: eventfold_store::AccessDenied) -> Self {
        Refusal::Api(ApiError::from(denied))
    }
}

impl From<ProjectionError> for Refusal {
    fn from(error: ProjectionError) -> Self {
        Refusal::Projection(error)
    }
}

/// The status is the one KurrentDB's routes answer too (mapped once, in
/// `http/projections/errors.rs`); the code word is this API's.
fn status_and_code(error: &ProjectionError) -> (StatusCode, &'static str) {
    let code = match error {
        ProjectionError::NotFound(_) => "projection-not-found",
        ProjectionError::AlreadyExists(_) => "projection-exists",
        ProjectionError::OperationFailed(_) => "operation-failed",
        ProjectionError::InvalidArgument(_) => "invalid-argument",
        ProjectionError::InvalidQuery(_) => "invalid-query",
        ProjectionError::NotRunning => "projections-not-running",
        ProjectionError::Storage(_) => "unavailable",
        ProjectionError::NotLeader(_) => "not-leader",
    };
    (crate::http::projections::errors::status_of(error), code)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(error) => error.into_response(),
            Refusal::Projection(error) => {
                let (status, code) = status_and_code(&error);
                let position = crate::http::projections::errors::syntax_position(&error);
                let body = ProjectionErrorBody {
                    error: error.to_string(),
                    code: code.to_owned(),
                    line: position.map(|(line, _)| line),
                    column: position.map(|(_, column)| column),
                };
                (status, Json(body)).into_response()
            }
        }
    }
}
