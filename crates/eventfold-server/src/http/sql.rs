//! `POST /api/v1/sql`: an ad-hoc SQL query over the log. A thin adapter:
//! the statement's rules, the relational view and the limits are
//! `eventfold-sql`'s; the query runs through the caller's store, so the
//! store's access rules decide what it may read (`events` needs `$all`).
//!
//! - body `{"sql": "...", "limit"?: rows, "timeoutMs"?: ms}`;
//! - answer `{"columns": [...], "rows": [[...], ...], "truncated": bool}`,
//!   or with `Accept: application/x-ndjson` one object per row, streamed
//!   (an error after the first row cuts the body short);
//! - `400` with `line` and `column` for a syntax or planning error, `400`
//!   for any statement other than a query, `403` (`401` without
//!   credentials) for a read the caller may not make, `408` past the
//!   timeout. Errors are `{"error", "code"}` as in the rest of `/api/v1`.
//!
//! Routed with the JSON API (`api/mod.rs`), so the OpenAPI document lists it.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use eventfold_sql::{QueryItem, QueryRequest, SqlError, Value, start_query};
use eventfold_store::{ReadError, StorageErrorKind};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use utoipa::ToSchema;

use super::caller::Caller;

const NDJSON: &str = "application/x-ndjson";

/// One ad-hoc query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SqlBody {
    /// `SELECT`, `WITH` or `EXPLAIN`, over `events`, `category('…')`,
    /// `event_type('…')` or `stream('…')`.
    sql: String,
    /// At most this many rows (10,000 when not given, at most 1,000,000).
    limit: Option<u64>,
    /// Stop the query after this many milliseconds (30,000 when not given).
    timeout_ms: Option<u64>,
}

/// The answer as JSON; with `Accept: application/x-ndjson`, one object per
/// row instead, keyed by column.
#[derive(Serialize, ToSchema)]
pub struct SqlAnswer {
    columns: Vec<String>,
    /// Each row's values, in the order of `columns`; timestamps as RFC 3339.
    #[schema(value_type = Vec<Vec<Object>>)]
    rows: Vec<Vec<serde_json::Value>>,
    /// The row limit cut the answer short.
    truncated: bool,
}

/// A refused query.
#[derive(Serialize, ToSchema)]
pub struct SqlErrorBody {
    error: String,
    /// `sql-syntax`, `sql-plan`, `not-a-query`, `sql-evaluation`,
    /// `too-many-groups`, `query-timeout`, `access-denied`, `invalid-json`…
    code: String,
    /// Where in the query the error lies (syntax and planning errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/sql",
    tag = "sql",
    request_body(content = SqlBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The rows (JSON, or NDJSON when asked for)", body = SqlAnswer),
        (status = 400, description = "Bad SQL (with line and column), or a statement that is not a query", body = SqlErrorBody),
        (status = 403, description = "The caller may not read what the query reads", body = SqlErrorBody),
        (status = 408, description = "The query ran past its timeout", body = SqlErrorBody),
    )
)]
pub async fn query(Caller(node): Caller, headers: HeaderMap, body: Bytes) -> Response {
    let body: SqlBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => return refusal(StatusCode::BAD_REQUEST, "invalid-json", format!("invalid body: {error}"), None),
    };
    let request =
        QueryRequest { sql: body.sql, row_limit: body.limit, timeout: body.timeout_ms.map(Duration::from_millis) };
    let running = match start_query(std::sync::Arc::clone(node.client_store()), request, &node.facts().sql_limits).await
    {
        Ok(running) => running,
        Err(error) => return sql_refusal(&error),
    };
    let columns = running.columns.clone();
    let mut rows = running.rows().boxed().fuse();
    // The first row is awaited before the answer starts, so that a query
    // that fails at once (a timeout, a bad value) is still an error status.
    let first = match rows.next().await {
        Some(Err(error)) => return sql_refusal(&error),
        first => first,
    };
    if wants_ndjson(&headers) {
        let lines = futures::stream::iter(first).chain(rows).filter_map(move |item| {
            let line = match item {
                Ok(QueryItem::Row(row)) => Some(Ok(row_line(&columns, row))),
                Ok(QueryItem::Truncated) => None,
                Err(error) => Some(Err(std::io::Error::other(error.to_string()))),
            };
            std::future::ready(line)
        });
        return ([(CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response();
    }
    let mut answer_rows = Vec::new();
    let mut truncated = false;
    for item in futures::stream::iter(first).chain(rows).collect::<Vec<_>>().await {
        match item {
            Ok(QueryItem::Row(row)) => answer_rows.push(row.iter().map(Value::to_json).collect::<Vec<_>>()),
            Ok(QueryItem::Truncated) => truncated = true,
            Err(error) => return sql_refusal(&error),
        }
    }
    axum::Json(SqlAnswer { columns, rows: answer_rows, truncated }).into_response()
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|mime| mime.split(';').next().is_some_and(|mime| mime.trim().eq_ignore_ascii_case(NDJSON)))
}

/// One row as an object keyed by column name, and a newline.
fn row_line(columns: &[String], row: Vec<Value>) -> Bytes {
    let object: Map<String, serde_json::Value> = columns.iter().cloned().zip(row.iter().map(Value::to_json)).collect();
    let mut line = serde_json::Value::Object(object).to_string().into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

pub(crate) fn sql_refusal(error: &SqlError) -> Response {
    let message = error.to_string();
    let (status, code) = match error {
        SqlError::Syntax { .. } => (StatusCode::BAD_REQUEST, "sql-syntax"),
        SqlError::Plan { .. } => (StatusCode::BAD_REQUEST, "sql-plan"),
        SqlError::NotAQuery { .. } => (StatusCode::BAD_REQUEST, "not-a-query"),
        SqlError::Evaluation { .. } => (StatusCode::BAD_REQUEST, "sql-evaluation"),
        SqlError::TooManyGroups { .. } => (StatusCode::BAD_REQUEST, "too-many-groups"),
        SqlError::Timeout { .. } => (StatusCode::REQUEST_TIMEOUT, "query-timeout"),
        SqlError::Read(ReadError::AccessDenied(_)) => (StatusCode::FORBIDDEN, "access-denied"),
        SqlError::Read(ReadError::StreamDeleted { .. }) => (StatusCode::GONE, "stream-deleted"),
        SqlError::Read(ReadError::Storage(storage))
            if matches!(storage.kind, StorageErrorKind::Unavailable | StorageErrorKind::Closed) =>
        {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    refusal(status, code, message, error.position().map(|position| (position.line, position.column)))
}

fn refusal(status: StatusCode, code: &str, message: String, position: Option<(u64, u64)>) -> Response {
    let body = SqlErrorBody {
        error: message,
        code: code.to_owned(),
        line: position.map(|(line, _)| line),
        column: position.map(|(_, column)| column),
    };
    (status, axum::Json(body)).into_response()
}
