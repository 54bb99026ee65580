//! `/connectors`: KurrentDB's connector management routes over the node's
//! connector subsystem. A thin adapter: every rule lives in
//! `eventfold-connectors`.
//!
//! - `POST /connectors/{id}` with `{"name"?, "settings": {...}}`: create
//!   and start; `400` for bad settings or a target that refuses them
//!   (nothing is stored), `409` when the id exists.
//! - `POST /connectors/{id}/start[/{position}]`, `POST .../stop`,
//!   `POST .../reset[/{position}]`, `PUT .../settings` (the settings
//!   object, bare or as `{"settings": {...}}`), `DELETE /connectors/{id}`.
//! - `GET /connectors` (`{"items": [...], "totalSize": n}`) and
//!   `GET /connectors/{id}`: definition, state, position, lag, events/s,
//!   errors and dead-lettered count.
//!
//! Errors are `{"error": "..."}`; `404` for an unknown id, `503` when the
//! node runs without connectors, `403` for a caller not in `$ops` or
//! `$admins` (settings may hold the targets' credentials).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use eventfold_connectors::{ConnectorError, ConnectorInfo};
use eventfold_node::Node;
use serde_json::{Map, Value, json};

use super::caller::Caller;
use super::error::error_response;

pub fn routes(_node: &Node) -> Router<Node> {
    Router::new()
        .route("/connectors", get(list))
        .route("/connectors/{id}", get(info).post(create).delete(delete))
        .route("/connectors/{id}/start", post(start))
        .route("/connectors/{id}/start/{position}", post(start_at))
        .route("/connectors/{id}/stop", post(stop))
        .route("/connectors/{id}/reset", post(reset))
        .route("/connectors/{id}/reset/{position}", post(reset_to))
        .route("/connectors/{id}/settings", put(reconfigure))
}

async fn list(Caller(node): Caller) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    match node.connectors().list().await {
        Ok(items) => {
            let total = items.len();
            Json(json!({ "items": items, "totalSize": total })).into_response()
        }
        Err(error) => refusal(&error),
    }
}

async fn info(Caller(node): Caller, Path(id): Path<String>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    answer(node.connectors().info(&id).await)
}

async fn create(Caller(node): Caller, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    let body = match json_object(&body) {
        Ok(body) => body,
        Err(message) => return bad_request(message),
    };
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return error_response(StatusCode::BAD_REQUEST, "`name` must be a string"),
    };
    let Some(Value::Object(settings)) = body.get("settings") else {
        return error_response(StatusCode::BAD_REQUEST, "the body needs a `settings` object");
    };
    answer(node.connectors().create(&id, name, settings).await)
}

async fn start(Caller(node): Caller, Path(id): Path<String>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    answer(node.connectors().start_connector(&id).await)
}

/// KurrentDB's start from a given position: the checkpoint moves there,
/// then the connector starts.
async fn start_at(Caller(node): Caller, Path((id, position)): Path<(String, String)>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    let position = match parse_position(&position) {
        Ok(position) => position,
        Err(message) => return bad_request(message),
    };
    if let Err(error) = node.connectors().reset(&id, Some(position)).await {
        return refusal(&error);
    }
    answer(node.connectors().start_connector(&id).await)
}

async fn stop(Caller(node): Caller, Path(id): Path<String>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    answer(node.connectors().stop(&id).await)
}

async fn reset(Caller(node): Caller, Path(id): Path<String>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    answer(node.connectors().reset(&id, None).await)
}

async fn reset_to(Caller(node): Caller, Path((id, position)): Path<(String, String)>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    match parse_position(&position) {
        Ok(position) => answer(node.connectors().reset(&id, Some(position)).await),
        Err(message) => bad_request(message),
    }
}

async fn reconfigure(Caller(node): Caller, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    let body = match json_object(&body) {
        Ok(body) => body,
        Err(message) => return bad_request(message),
    };
    let settings = match body.get("settings") {
        Some(Value::Object(settings)) if body.len() == 1 => settings.clone(),
        _ => body,
    };
    answer(node.connectors().reconfigure(&id, &settings).await)
}

async fn delete(Caller(node): Caller, Path(id): Path<String>) -> Response {
    if let Err(denied) = node.authorize(eventfold_store::Operation::ManageConnectors) {
        return error_response(StatusCode::FORBIDDEN, denied.to_string());
    }
    match node.connectors().delete(&id).await {
        Ok(()) => Json(json!({})).into_response(),
        Err(error) => refusal(&error),
    }
}

/// The body as a JSON object, or why it is not one.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("the body must be a JSON object".to_owned()),
        Err(error) => Err(format!("the body is not JSON: {error}")),
    }
}

fn parse_position(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("`{text}` is not a position (a whole number)"))
}

fn bad_request(message: String) -> Response {
    error_response(StatusCode::BAD_REQUEST, message)
}

fn answer(result: Result<ConnectorInfo, ConnectorError>) -> Response {
    match result {
        Ok(info) => Json(info).into_response(),
        Err(error) => refusal(&error),
    }
}

fn refusal(error: &ConnectorError) -> Response {
    let status = match error {
        ConnectorError::NotFound { .. } => StatusCode::NOT_FOUND,
        ConnectorError::AlreadyExists { .. } => StatusCode::CONFLICT,
        ConnectorError::InvalidId { .. } | ConnectorError::InvalidSettings(_) | ConnectorError::Target(_) => {
            StatusCode::BAD_REQUEST
        }
        ConnectorError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
        ConnectorError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_response(status, error.to_string())
}
