//! `POST /api/v1/streams/{stream}`: append to one stream;
//! `POST /api/v1/transactions`: append to several, all or nothing.
//!
//! The size of an append is counted as its events are converted, by the
//! store's own budget, so an append past the node's limit is refused before
//! it is handed to the store (which checks the whole append again).

use crate::http::caller::Caller;
use axum::Json;
use eventfold_store::{AppendOutcome, AppendRequest, AppendSizeBudget, CurrentRevision, StreamName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::events::NewEvent;
use super::expected::ExpectedRevisionBody;
use super::extract::{ApiPath, JsonBody, stream_name};

/// The events to append to one stream and what the stream must be.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppendBody {
    /// `any` when absent.
    #[serde(default)]
    pub expected_revision: ExpectedRevisionBody,
    pub events: Vec<NewEvent>,
}

/// Where an append left the stream.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AppendResult {
    pub stream: String,
    /// The stream's last revision after the append (the expected revision of
    /// the next one); null when the stream still has no events.
    pub revision: Option<u64>,
    /// The `$all` position of the last event written, a decimal string; null
    /// when the append carried no events.
    #[schema(pattern = "^[0-9]+$")]
    pub position: Option<String>,
}

fn result(stream: &StreamName, outcome: AppendOutcome) -> AppendResult {
    AppendResult {
        stream: stream.to_string(),
        revision: match outcome.current_revision {
            CurrentRevision::NoStream => None,
            CurrentRevision::Current(revision) => Some(revision),
        },
        position: outcome.position.map(|position| position.0.to_string()),
    }
}

fn request(stream: StreamName, body: AppendBody, budget: &mut AppendSizeBudget) -> Result<AppendRequest, ApiError> {
    let mut events = Vec::with_capacity(body.events.len());
    for event in body.events {
        let event = event.into_proposed()?;
        budget.add(&event)?;
        events.push(event);
    }
    Ok(AppendRequest::new(stream, body.expected_revision.into(), events))
}

/// Appends events to a stream after checking the expected revision.
///
/// Idempotent: sending the same event ids again at the same expected
/// revision answers the first append's result and writes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/streams/{stream}",
    tag = "streams",
    params(("stream" = String, Path, description = "The stream's name (1 to 1024 bytes, no control characters)")),
    request_body = AppendBody,
    responses(
        (status = 200, description = "Appended (or an exact repeat of the last append)", body = AppendResult),
        (status = 400, description = "Malformed body, event or stream name", body = ErrorBody),
        (status = 403, description = "The stream holds eventfold's own state", body = ErrorBody),
        (status = 409, description = "The stream is not at the expected revision", body = ErrorBody),
        (status = 410, description = "The stream is tombstoned", body = ErrorBody),
        (status = 413, description = "The append or the body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
    )
)]
pub async fn append(
    Caller(node): Caller,
    ApiPath(stream): ApiPath<String>,
    JsonBody(body): JsonBody<AppendBody>,
) -> Result<Json<AppendResult>, ApiError> {
    let stream = stream_name(&stream)?;
    let mut budget = AppendSizeBudget::new(node.facts().max_append_bytes);
    let request = request(stream.clone(), body, &mut budget)?;
    let outcome = node.client_store().append(request).await?;
    Ok(Json(result(&stream, outcome)))
}

/// One stream's part of a transaction.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionAppend {
    pub stream: String,
    #[serde(default)]
    pub expected_revision: ExpectedRevisionBody,
    pub events: Vec<NewEvent>,
}

/// Appends to several streams, each with its own expectation.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionBody {
    pub appends: Vec<TransactionAppend>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct TransactionResult {
    /// One result per append, in request order.
    pub results: Vec<AppendResult>,
}

/// Appends to several streams at once: every expectation holds and all
/// events are written, or nothing is.
#[utoipa::path(
    post,
    path = "/api/v1/transactions",
    tag = "streams",
    request_body = TransactionBody,
    responses(
        (status = 200, description = "Every append written", body = TransactionResult),
        (status = 400, description = "Malformed body, event or stream name; no appends", body = ErrorBody),
        (status = 403, description = "A stream holds eventfold's own state", body = ErrorBody),
        (status = 409, description = "A stream is not at its expected revision; nothing written", body = ErrorBody),
        (status = 410, description = "A stream is tombstoned; nothing written", body = ErrorBody),
        (status = 413, description = "The transaction or the body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
    )
)]
pub async fn transaction(
    Caller(node): Caller,
    JsonBody(body): JsonBody<TransactionBody>,
) -> Result<Json<TransactionResult>, ApiError> {
    if body.appends.is_empty() {
        return Err(ApiError::bad_request("a transaction needs at least one append"));
    }
    let mut budget = AppendSizeBudget::new(node.facts().max_append_bytes);
    let mut requests = Vec::with_capacity(body.appends.len());
    for append in body.appends {
        let stream = stream_name(&append.stream)?;
        let body = AppendBody { expected_revision: append.expected_revision, events: append.events };
        requests.push(request(stream, body, &mut budget)?);
    }
    let streams: Vec<StreamName> = requests.iter().map(|request| request.stream.clone()).collect();
    let outcomes = node.client_store().append_transaction(requests).await?;
    let results = streams.iter().zip(outcomes).map(|(stream, outcome)| result(stream, outcome)).collect();
    Ok(Json(TransactionResult { results }))
}
