//! Enable, disable, abort and reset: each answers the projection as it is
//! after the command.

use crate::http::caller::Caller;
use axum::Json;
use axum::http::StatusCode;
use eventfold_node::Node;
use eventfold_store::Position;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ProjectionPath;
use super::bodies::ProjectionDetail;
use super::refusal::{ProjectionErrorBody, Refusal};
use crate::http::api::error::ApiError;
use crate::http::api::extract::{ApiPath, ApiQuery};

async fn after(node: &Node, name: &str) -> Result<Json<ProjectionDetail>, Refusal> {
    let projections = node.projections();
    let record = projections.record(name).await?;
    let statistics = projections.statistics(eventfold_projections::Select::Named(name.to_owned())).await?;
    let statistics = statistics
        .into_iter()
        .next()
        .ok_or_else(|| Refusal::Projection(eventfold_projections::ProjectionError::NotFound(name.to_owned())))?;
    Ok(Json(ProjectionDetail::new(statistics, record)))
}

/// Starts a stopped projection from its checkpoint.
#[utoipa::path(
    post,
    path = "/api/v1/projections/{name}/enable",
    tag = "projections",
    params(ProjectionPath),
    responses(
        (status = 200, description = "Enabled", body = ProjectionDetail),
        (status = 400, description = "Malformed name", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn enable(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
) -> Result<Json<ProjectionDetail>, Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    node.projections().enable(&path.name).await?;
    after(&node, &path.name).await
}

/// Stops a projection, keeping what it processed (a last checkpoint).
#[utoipa::path(
    post,
    path = "/api/v1/projections/{name}/disable",
    tag = "projections",
    params(ProjectionPath),
    responses(
        (status = 200, description = "Stopped", body = ProjectionDetail),
        (status = 400, description = "Malformed name", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn disable(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
) -> Result<Json<ProjectionDetail>, Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    node.projections().disable(&path.name, true).await?;
    after(&node, &path.name).await
}

/// Stops a projection without a checkpoint: what it processed since the
/// last one is dropped (`Aborted`).
#[utoipa::path(
    post,
    path = "/api/v1/projections/{name}/abort",
    tag = "projections",
    params(ProjectionPath),
    responses(
        (status = 200, description = "Aborted", body = ProjectionDetail),
        (status = 400, description = "Malformed name", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn abort(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
) -> Result<Json<ProjectionDetail>, Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    node.projections().disable(&path.name, false).await?;
    after(&node, &path.name).await
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResetQuery {
    /// A log position (decimal): the state starts empty and only the
    /// events after it are processed. Without it, from the first event.
    #[param(pattern = "^[0-9]+$")]
    pub position: Option<String>,
}

/// Starts the projection over with an empty state, from the beginning or
/// after a position (a rebuild of recent events only).
#[utoipa::path(
    post,
    path = "/api/v1/projections/{name}/reset",
    tag = "projections",
    params(ProjectionPath, ResetQuery),
    responses(
        (status = 200, description = "Reset", body = ProjectionDetail),
        (status = 400, description = "Malformed name or position", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn reset(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
    ApiQuery(query): ApiQuery<ResetQuery>,
) -> Result<Json<ProjectionDetail>, Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    let position = query
        .position
        .map(|text| {
            text.parse::<u64>().map(Position).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-position",
                    format!("`{text}` is not a log position (a decimal number)"),
                )
            })
        })
        .transpose()?;
    node.projections().reset(&path.name, position).await?;
    after(&node, &path.name).await
}
