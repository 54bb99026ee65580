//! Listing, creating, inspecting, changing and deleting projections.

use crate::http::caller::Caller;
use axum::Json;
use axum::http::StatusCode;
use eventfold_node::Node;
use eventfold_projections::{CreateProjection, DeleteOptions, Mode, RunAs, Select};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ProjectionPath;
use super::bodies::{CreateBody, ProjectionBody, ProjectionDetail, ProjectionList, QueryBody};
use super::refusal::{ProjectionErrorBody, Refusal};
use crate::http::api::extract::{ApiPath, ApiQuery, JsonBody};

/// Lists every projection with its status, progress and rate.
#[utoipa::path(
    get,
    path = "/api/v1/projections",
    tag = "projections",
    responses(
        (status = 200, description = "The projections, by name", body = ProjectionList),
        (status = 503, description = "Projections do not run on this node (`--run-projections None`)", body = ProjectionErrorBody),
    )
)]
pub async fn list(Caller(node): Caller) -> Result<Json<ProjectionList>, Refusal> {
    let all = node.projections().statistics(Select::All).await?;
    Ok(Json(ProjectionList { projections: all.into_iter().map(ProjectionBody::from).collect() }))
}

async fn detail(node: &Node, name: &str) -> Result<ProjectionDetail, Refusal> {
    let projections = node.projections();
    let record = projections.record(name).await?;
    let statistics = projections.statistics(Select::Named(name.to_owned())).await?;
    let statistics = statistics
        .into_iter()
        .next()
        .ok_or_else(|| Refusal::Projection(eventfold_projections::ProjectionError::NotFound(name.to_owned())))?;
    Ok(ProjectionDetail::new(statistics, record))
}

/// Creates a projection; it starts at once unless `enabled` is false. A
/// query that does not compile is refused with the line and column of its
/// syntax error, and nothing is stored.
#[utoipa::path(
    post,
    path = "/api/v1/projections",
    tag = "projections",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = ProjectionDetail),
        (status = 400, description = "Malformed body, or a query that does not compile (with `line` and `column`)", body = ProjectionErrorBody),
        (status = 409, description = "A projection of that name exists, or the node runs standard projections only", body = ProjectionErrorBody),
        (status = 413, description = "The body is too large", body = ProjectionErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn create(
    Caller(node): Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<ProjectionDetail>), Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    let projections = node.projections();
    let request = CreateProjection {
        name: body.name,
        mode: Mode::from(body.mode),
        query: body.query,
        emit_enabled: body.emit_enabled,
        track_emitted_streams: body.track_emitted_streams,
        engine_version: 1,
        run_as: RunAs::of(node.principal()),
    };
    let name =
        if body.enabled { projections.create(request).await? } else { projections.create_stopped(request).await? };
    Ok((StatusCode::CREATED, Json(detail(&node, &name).await?)))
}

/// One projection: statistics, query and settings.
#[utoipa::path(
    get,
    path = "/api/v1/projections/{name}",
    tag = "projections",
    params(ProjectionPath),
    responses(
        (status = 200, description = "The projection", body = ProjectionDetail),
        (status = 400, description = "Malformed name", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn get(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
) -> Result<Json<ProjectionDetail>, Refusal> {
    Ok(Json(detail(&node, &path.name).await?))
}

/// Replaces the query (and whether it emits, when given); the projection
/// goes on from its checkpoint with the new query. A query that does not
/// compile is refused at its line and column, and the old one stays.
#[utoipa::path(
    put,
    path = "/api/v1/projections/{name}/query",
    tag = "projections",
    params(ProjectionPath),
    request_body = QueryBody,
    responses(
        (status = 200, description = "Replaced", body = ProjectionDetail),
        (status = 400, description = "Malformed body, or a query that does not compile (with `line` and `column`)", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 409, description = "A standard projection's query cannot change", body = ProjectionErrorBody),
        (status = 413, description = "The body is too large", body = ProjectionErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn update_query(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
    JsonBody(body): JsonBody<QueryBody>,
) -> Result<Json<ProjectionDetail>, Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    node.projections().update(&path.name, body.query, body.emit_enabled).await?;
    Ok(Json(detail(&node, &path.name).await?))
}

#[derive(Deserialize, IntoParams, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also delete the streams it emitted to (when it tracks them).
    #[serde(default)]
    pub delete_emitted_streams: bool,
    /// Also delete its state stream.
    #[serde(default)]
    pub delete_state_stream: bool,
    /// Also delete its checkpoints.
    #[serde(default)]
    pub delete_checkpoint_stream: bool,
}

/// Deletes a stopped or faulted projection and, as asked, its streams.
#[utoipa::path(
    delete,
    path = "/api/v1/projections/{name}",
    tag = "projections",
    params(ProjectionPath, DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed name or options", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 409, description = "It is running (disable it first) or is a standard projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn delete(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<StatusCode, Refusal> {
    node.authorize(eventfold_store::Operation::ManageProjections)?;
    let options = DeleteOptions {
        emitted_streams: query.delete_emitted_streams,
        state_stream: query.delete_state_stream,
        checkpoint_stream: query.delete_checkpoint_stream,
    };
    node.projections().delete(&path.name, options).await?;
    Ok(StatusCode::NO_CONTENT)
}
