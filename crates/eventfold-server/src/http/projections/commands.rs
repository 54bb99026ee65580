//! `POST /projection/{name}/command/enable|disable|reset|abort`,
//! `POST /projections/restart` (the whole subsystem), and
//! `DELETE /projection/{name}?deleteCheckpointStream=&deleteStateStream=
//! &deleteEmittedStreams=`. `disable` keeps what was processed (a
//! checkpoint), `abort` drops it; `reset?position=P` (eventfold's) starts
//! over after position `P` instead of the beginning.

use crate::http::caller::Caller;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_projections::DeleteOptions;
use eventfold_store::Position;

use super::errors::HttpError;
use super::flags::{Params, flag_or};

pub async fn command(
    Caller(node): Caller,
    Path((name, command)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageProjections) {
        return HttpError::from(denied).into_response();
    }
    let answer = async {
        let projections = node.projections();
        match command.as_str() {
            "enable" => projections.enable(&name).await?,
            "disable" => projections.disable(&name, true).await?,
            "abort" => projections.disable(&name, false).await?,
            "reset" => projections.reset(&name, reset_position(&params)?).await?,
            _ => {
                return Ok(crate::http::error::error_response(
                    StatusCode::NOT_FOUND,
                    format!("`{command}` is not one of enable, disable, reset, abort"),
                ));
            }
        }
        Ok::<_, HttpError>(StatusCode::OK.into_response())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

fn reset_position(params: &Params) -> Result<Option<Position>, HttpError> {
    params
        .get("position")
        .map(|text| {
            text.parse::<u64>()
                .map(Position)
                .map_err(|_| HttpError::BadRequest(format!("position `{text}` is not a log position")))
        })
        .transpose()
}

pub async fn delete(Caller(node): Caller, Path(name): Path<String>, Query(params): Query<Params>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageProjections) {
        return HttpError::from(denied).into_response();
    }
    let options = DeleteOptions {
        emitted_streams: flag_or(&params, "deleteEmittedStreams", false),
        state_stream: flag_or(&params, "deleteStateStream", false),
        checkpoint_stream: flag_or(&params, "deleteCheckpointStream", false),
    };
    match node.projections().delete(&name, options).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => HttpError::from(error).into_response(),
    }
}

/// `POST /projections/restart`: every projection stops with a checkpoint
/// and the subsystem loads them again.
pub async fn restart(Caller(node): Caller) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::RestartSubsystems) {
        return HttpError::from(denied).into_response();
    }
    match node.projections().restart().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => HttpError::from(error).into_response(),
    }
}
