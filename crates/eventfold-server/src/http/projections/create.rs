//! `POST /projections/onetime|continuous|transient?name=&emit=&checkpoints=
//! &enabled=&trackemittedstreams=` with the query as the body: 201 with the
//! projection's URL in `Location`.

use crate::http::caller::Caller;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use eventfold_projections::{CreateProjection, Mode, RunAs};

use super::body;
use super::errors::HttpError;
use super::flags::{Params, flag_or};
use crate::http::atom::{base_uri, created, escape};

pub async fn create(
    Caller(node): Caller,
    Path(mode): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    request_body: Body,
) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageProjections) {
        return HttpError::from(denied).into_response();
    }
    let answer = async {
        let mode = match mode.as_str() {
            "onetime" => Mode::OneTime,
            "continuous" => Mode::Continuous,
            "transient" => Mode::Transient,
            _ => {
                return Ok(crate::http::error::error_response(
                    StatusCode::NOT_FOUND,
                    format!("projections are created under onetime, continuous or transient, not {mode}"),
                ));
            }
        };
        let query = body::text(request_body).await?;
        let emit_enabled = flag_or(&params, "emit", false);
        // As the reference server: tracking is off when emitting is.
        let track_emitted_streams = emit_enabled && flag_or(&params, "trackemittedstreams", false);
        let request = CreateProjection {
            name: params.get("name").cloned().unwrap_or_default(),
            mode,
            query,
            emit_enabled,
            track_emitted_streams,
            engine_version: 1,
            run_as: RunAs::of(node.principal()),
        };
        let projections = node.projections();
        let name = if flag_or(&params, "enabled", true) {
            projections.create(request).await?
        } else {
            projections.create_stopped(request).await?
        };
        let location = format!("{}/projection/{}", base_uri(&headers, &node), escape(&name));
        Ok::<_, HttpError>(created(&location))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}
