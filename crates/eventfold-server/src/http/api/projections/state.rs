//! What a projection holds: one partition's state and result, every
//! partition's, and the streams it emitted to.

use crate::http::caller::Caller;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ProjectionPath;
use super::bodies::{EmittedStreams, PartitionBody, PartitionList};
use super::refusal::{ProjectionErrorBody, Refusal};
use crate::http::api::extract::{ApiPath, ApiQuery};

#[derive(Deserialize, IntoParams, Debug)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PartitionQuery {
    /// The partition; the root partition (`""`) when left out.
    #[serde(default)]
    pub partition: String,
}

/// One partition's state and result.
#[utoipa::path(
    get,
    path = "/api/v1/projections/{name}/state",
    tag = "projections",
    params(ProjectionPath, PartitionQuery),
    responses(
        (status = 200, description = "The partition's state and result (null before it has one)", body = PartitionBody),
        (status = 400, description = "Malformed name or partition", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn state(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
    ApiQuery(query): ApiQuery<PartitionQuery>,
) -> Result<Json<PartitionBody>, Refusal> {
    let projections = node.projections();
    let state = projections.state(&path.name, &query.partition).await?;
    let result = projections.result(&path.name, &query.partition).await?;
    Ok(Json(PartitionBody::new(query.partition, state, result)))
}

/// Every partition's state and result, by partition.
#[utoipa::path(
    get,
    path = "/api/v1/projections/{name}/partitions",
    tag = "projections",
    params(ProjectionPath),
    responses(
        (status = 200, description = "The partitions (`\"\"` is the root partition)", body = PartitionList),
        (status = 400, description = "Malformed name", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node", body = ProjectionErrorBody),
    )
)]
pub async fn partitions(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
) -> Result<Json<PartitionList>, Refusal> {
    let held = node.projections().partitions(&path.name).await?;
    let partitions =
        held.into_iter().map(|(partition, held)| PartitionBody::new(partition, held.state, held.result)).collect();
    Ok(Json(PartitionList { partitions }))
}

/// The streams the projection emitted or linked to, when it tracks them.
#[utoipa::path(
    get,
    path = "/api/v1/projections/{name}/emitted-streams",
    tag = "projections",
    params(ProjectionPath),
    responses(
        (status = 200, description = "The streams, by name (empty unless it tracks them)", body = EmittedStreams),
        (status = 400, description = "Malformed name", body = ProjectionErrorBody),
        (status = 404, description = "No such projection", body = ProjectionErrorBody),
        (status = 503, description = "Projections do not run on this node, or cannot read their streams", body = ProjectionErrorBody),
    )
)]
pub async fn emitted_streams(
    Caller(node): Caller,
    ApiPath(path): ApiPath<ProjectionPath>,
) -> Result<Json<EmittedStreams>, Refusal> {
    Ok(Json(EmittedStreams { streams: node.projections().emitted_streams(&path.name).await? }))
}
