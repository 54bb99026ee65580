//! `/api/v1/queries`: continuous SQL queries. A thin adapter over the
//! node's [`eventfold_sql::ContinuousQueries`]: what a query may be, how it
//! runs and where its rows go are `eventfold-sql`'s.
//!
//! - `POST /api/v1/queries` `{"name", "sql", "from"?}`: create and start
//!   (`201`); `400` with `line` and `column` for bad SQL or what cannot be
//!   maintained continuously, nothing stored; `409` when the name exists.
//! - `GET /api/v1/queries`, `GET /api/v1/queries/{name}`: state, position,
//!   lag, events/s. `GET /api/v1/queries/{name}/result`: the rows of the
//!   windows closed so far (the latest `limit`).
//! - `POST /api/v1/queries/{name}/reset` `{"from"?}`, `DELETE /api/v1/queries/{name}`.
//!
//! Reading needs the right to read `$all` (a query reads the whole log);
//! managing needs `$ops` or `$admins`.

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_node::Node;
use eventfold_sql::{QueriesError, QueryInfo, QueryState};
use eventfold_store::{Operation, ReadError, Resource};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use crate::http::caller::Caller;
use crate::http::sql::{SqlErrorBody, sql_refusal};

/// A new continuous query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueryBody {
    /// 1 to 128 letters, digits, `-`, `_` or `.`; its rows go to `$query-{name}`.
    name: String,
    /// A `GROUP BY` with aggregates over a window on `created`:
    /// `date_bin('1 minute', created)` or `hop(created, slide, size)`.
    sql: String,
    /// Read only the events after this log position (decimal); from the start without it.
    #[schema(value_type = Option<String>, pattern = "^[0-9]+$")]
    from: Option<PositionText>,
}

/// Where a reset query starts again.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResetQueryBody {
    /// Only the events after this log position (decimal); from the start without it.
    #[schema(value_type = Option<String>, pattern = "^[0-9]+$")]
    from: Option<PositionText>,
}

/// A position as the API writes them (a decimal string), or as a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum PositionText {
    Text(String),
    Number(u64),
}

impl PositionText {
    fn parse(&self) -> Result<u64, ApiError> {
        match self {
            PositionText::Number(position) => Ok(*position),
            PositionText::Text(text) => text
                .parse()
                .map_err(|_| ApiError::bad_request(format!("`from` is a log position (decimal), not `{text}`"))),
        }
    }
}

/// A continuous query and how it is doing.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryBody {
    name: String,
    sql: String,
    /// The position it was started after, when not the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    columns: Vec<String>,
    /// `running`, `stopped` or `faulted`.
    state: String,
    /// Why it faulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The position of the last event read.
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<String>,
    /// Positions between the log's head and the query's position.
    lag: u64,
    /// Whether it has read all history and follows the log live.
    live: bool,
    events_read: u64,
    events_per_second: f64,
    open_windows: usize,
    /// Events left out as later than their window's lateness (windows on
    /// a data field).
    late_events: u64,
    /// The stream its rows are appended to, `$query-{name}`.
    result_stream: String,
}

impl From<QueryInfo> for QueryBody {
    fn from(info: QueryInfo) -> Self {
        let (state, reason) = match info.state {
            QueryState::Running => ("running", None),
            QueryState::Stopped => ("stopped", None),
            QueryState::Faulted(reason) => ("faulted", Some(reason)),
        };
        Self {
            name: info.name,
            sql: info.sql,
            from: info.from.map(|position| position.to_string()),
            columns: info.columns,
            state: state.to_owned(),
            reason,
            position: info.position.map(|position| position.to_string()),
            lag: info.lag,
            live: info.live,
            events_read: info.events_read,
            events_per_second: if info.events_per_second.is_finite() { info.events_per_second } else { 0.0 },
            open_windows: info.open_windows,
            late_events: info.late_events,
            result_stream: info.result_stream,
        }
    }
}

/// Every continuous query.
#[derive(Serialize, ToSchema)]
pub struct QueryList {
    queries: Vec<QueryBody>,
}

/// The rows of the windows closed so far, oldest first.
#[derive(Serialize, ToSchema)]
pub struct QueryResultBody {
    columns: Vec<String>,
    /// One object per row, keyed by column; timestamps as RFC 3339.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<serde_json::Value>,
    /// Older rows were left out (see `limit`).
    truncated: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct QueryPath {
    /// The query's name.
    name: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// At most this many rows, the latest (10,000 when not given, and at most).
    limit: Option<u64>,
}

fn refusal(error: QueriesError) -> Response {
    let (status, code) = match &error {
        QueriesError::Invalid(sql) => return sql_refusal(sql),
        QueriesError::InvalidName { .. } => (StatusCode::BAD_REQUEST, "invalid-name"),
        QueriesError::AlreadyExists { .. } => (StatusCode::CONFLICT, "query-exists"),
        QueriesError::NotFound { .. } => (StatusCode::NOT_FOUND, "query-not-found"),
        QueriesError::Disabled => (StatusCode::SERVICE_UNAVAILABLE, "queries-not-running"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
    };
    ApiError::new(status, code, error.to_string()).into_response()
}

fn may_manage(node: &Node) -> Result<(), ApiError> {
    node.authorize(Operation::ManageQueries).map_err(ApiError::from)
}

/// A query's rows and state tell what is in the whole log.
async fn may_read(node: &Node) -> Result<(), ApiError> {
    match node.authorize_read(Resource::All).await {
        Ok(()) => Ok(()),
        Err(ReadError::AccessDenied(denied)) => Err(ApiError::from(denied)),
        Err(error) => Err(ApiError::new(StatusCode::FORBIDDEN, "access-denied", error.to_string())),
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, "invalid-json", format!("invalid body: {error}")))
}

#[utoipa::path(
    post,
    path = "/api/v1/queries",
    tag = "sql",
    request_body(content = CreateQueryBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created and started", body = QueryBody),
        (status = 400, description = "Bad SQL (with line and column), or a query that cannot be maintained continuously", body = SqlErrorBody),
        (status = 403, description = "The caller is not in `$ops` or `$admins`", body = SqlErrorBody),
        (status = 409, description = "A query of that name exists", body = SqlErrorBody),
    )
)]
pub async fn create(Caller(node): Caller, body: Bytes) -> Response {
    if let Err(denied) = may_manage(&node) {
        return denied.into_response();
    }
    let body: CreateQueryBody = match parse_body(&body) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let from = match body.from.as_ref().map(PositionText::parse).transpose() {
        Ok(from) => from,
        Err(error) => return error.into_response(),
    };
    match node.queries().create(&body.name, &body.sql, from).await {
        Ok(info) => (StatusCode::CREATED, Json(QueryBody::from(info))).into_response(),
        Err(error) => refusal(error),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/queries",
    tag = "sql",
    responses(
        (status = 200, description = "Every continuous query", body = QueryList),
        (status = 403, description = "The caller may not read `$all`", body = SqlErrorBody),
    )
)]
pub async fn list(Caller(node): Caller) -> Response {
    if let Err(denied) = may_read(&node).await {
        return denied.into_response();
    }
    match node.queries().list().await {
        Ok(queries) => Json(QueryList { queries: queries.into_iter().map(QueryBody::from).collect() }).into_response(),
        Err(error) => refusal(error),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/queries/{name}",
    tag = "sql",
    params(QueryPath),
    responses(
        (status = 200, description = "The query and how it is doing", body = QueryBody),
        (status = 403, description = "The caller may not read `$all`", body = SqlErrorBody),
        (status = 404, description = "No such query", body = SqlErrorBody),
    )
)]
pub async fn info(Caller(node): Caller, ApiPath(path): ApiPath<QueryPath>) -> Response {
    if let Err(denied) = may_read(&node).await {
        return denied.into_response();
    }
    match node.queries().info(&path.name).await {
        Ok(info) => Json(QueryBody::from(info)).into_response(),
        Err(error) => refusal(error),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/queries/{name}/result",
    tag = "sql",
    params(QueryPath, ResultQuery),
    responses(
        (status = 200, description = "The rows of the windows closed so far", body = QueryResultBody),
        (status = 400, description = "A malformed limit", body = SqlErrorBody),
        (status = 403, description = "The caller may not read `$all`", body = SqlErrorBody),
        (status = 404, description = "No such query", body = SqlErrorBody),
    )
)]
pub async fn result(
    Caller(node): Caller,
    ApiPath(path): ApiPath<QueryPath>,
    ApiQuery(query): ApiQuery<ResultQuery>,
) -> Response {
    if let Err(denied) = may_read(&node).await {
        return denied.into_response();
    }
    match node.queries().result(&path.name, query.limit).await {
        Ok(result) => Json(QueryResultBody { columns: result.columns, rows: result.rows, truncated: result.truncated })
            .into_response(),
        Err(error) => refusal(error),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/queries/{name}/reset",
    tag = "sql",
    params(QueryPath),
    request_body(content = ResetQueryBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Rebuilding: its rows and checkpoint dropped, its task started again", body = QueryBody),
        (status = 400, description = "A malformed body or position", body = SqlErrorBody),
        (status = 403, description = "The caller is not in `$ops` or `$admins`", body = SqlErrorBody),
        (status = 404, description = "No such query", body = SqlErrorBody),
    )
)]
pub async fn reset(Caller(node): Caller, ApiPath(path): ApiPath<QueryPath>, body: Bytes) -> Response {
    if let Err(denied) = may_manage(&node) {
        return denied.into_response();
    }
    let body: ResetQueryBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResetQueryBody::default()
    } else {
        match parse_body(&body) {
            Ok(body) => body,
            Err(refused) => return refused.into_response(),
        }
    };
    let from = match body.from.as_ref().map(PositionText::parse).transpose() {
        Ok(from) => from,
        Err(error) => return error.into_response(),
    };
    match node.queries().reset(&path.name, from).await {
        Ok(info) => Json(QueryBody::from(info)).into_response(),
        Err(error) => refusal(error),
    }
}

#[utoipa::path(
    delete,
    path = "/api/v1/queries/{name}",
    tag = "sql",
    params(QueryPath),
    responses(
        (status = 204, description = "Stopped and deleted, with its rows and checkpoint"),
        (status = 403, description = "The caller is not in `$ops` or `$admins`", body = SqlErrorBody),
        (status = 404, description = "No such query", body = SqlErrorBody),
    )
)]
pub async fn delete(Caller(node): Caller, ApiPath(path): ApiPath<QueryPath>) -> Response {
    if let Err(denied) = may_manage(&node) {
        return denied.into_response();
    }
    match node.queries().delete(&path.name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refusal(error),
    }
}
