//! `GET /projection/{name}/state?partition=` and `/result?partition=`: the
//! partition's JSON as the projection holds it (`""` is the root
//! partition); `{}` before it has one, as the gRPC face answers.

use crate::http::caller::Caller;
use axum::extract::{Path, Query};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::errors::HttpError;
use super::flags::Params;

fn json_text(text: Option<String>) -> Response {
    let text = text.filter(|text| !text.is_empty()).unwrap_or_else(|| "{}".to_owned());
    let mut response = text.into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn partition(params: &Params) -> &str {
    params.get("partition").map_or("", String::as_str)
}

pub async fn state(Caller(node): Caller, Path(name): Path<String>, Query(params): Query<Params>) -> Response {
    match node.projections().state(&name, partition(&params)).await {
        Ok(state) => json_text(state),
        Err(error) => HttpError::from(error).into_response(),
    }
}

pub async fn result(Caller(node): Caller, Path(name): Path<String>, Query(params): Query<Params>) -> Response {
    match node.projections().result(&name, partition(&params)).await {
        Ok(result) => json_text(result),
        Err(error) => HttpError::from(error).into_response(),
    }
}
