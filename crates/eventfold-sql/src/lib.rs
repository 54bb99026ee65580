//! SQL over the log, on the [`EventStore`] trait alone, so that it runs on
//! every backend.
//!
//! The log is a table, `events` (one row per event of `$all`), and the
//! table functions `category('order')`, `event_type('OrderPlaced')` and
//! `stream('order-1')` are the same columns read through the store's own
//! indexes (see [`view`] for the columns, [`source`] for the reads). A
//! query is parsed by `sqlparser`, planned here ([`plan`]), and evaluated
//! row by row over a lazy read ([`execute`]), with the parts of its `WHERE`
//! the store can do pushed down to the read ([`pushdown`]).
//!
//! [`start_query`] checks the statement, plans it, opens the read (where
//! the store checks the caller's access) and returns the columns and a
//! stream of rows produced by a task of its own, bounded by a row limit and
//! a timeout; dropping the stream stops the task.

mod aggregate;
mod checkpoint;
mod continuous;
mod continuous_runner;
mod dialect;
mod error;
mod execute;
mod expr;
mod field_window;
mod functions;
mod join;
mod json_path;
mod maintained;
mod pattern;
mod plan;
mod pushdown;
mod queries;
mod session;
mod source;
mod statement;
mod value;
mod view;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use eventfold_store::EventStore;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

pub use continuous_runner::{
    ContinuousOptions, ContinuousQuery, ContinuousStatus, RESULT_EVENT_TYPE, checkpoint_stream, result_stream,
    start_continuous, start_continuous_after,
};
pub use error::{SqlError, TextPosition};
pub use execute::QueryItem;
pub use maintained::{MaintainedQuery, ResultRow, plan_maintained};
pub use queries::{ContinuousQueries, QueriesError, QueriesOptions, QueryInfo, QueryResult, QueryState};
pub use value::{Value, format_timestamp};

/// The bounds of one ad-hoc query.
#[derive(Clone, Copy, Debug)]
pub struct SqlLimits {
    /// Rows an answer holds when the request names no limit.
    pub row_limit_default: u64,
    /// The most rows a request may ask for.
    pub row_limit_max: u64,
    /// How long a query runs when the request names no timeout.
    pub timeout_default: Duration,
    /// The longest timeout a request may ask for.
    pub timeout_max: Duration,
    /// Groups a `GROUP BY` may hold in memory.
    pub groups_max: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            row_limit_default: 10_000,
            row_limit_max: 1_000_000,
            timeout_default: Duration::from_secs(30),
            timeout_max: Duration::from_secs(600),
            groups_max: 1_000_000,
        }
    }
}

/// One query as a client sends it.
#[derive(Clone, Debug)]
pub struct QueryRequest {
    pub sql: String,
    /// At most this many rows (capped by [`SqlLimits::row_limit_max`]).
    pub row_limit: Option<u64>,
    pub timeout: Option<Duration>,
}

impl QueryRequest {
    pub fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), row_limit: None, timeout: None }
    }
}

/// A query under way: its columns now, its rows as they come.
pub struct RunningQuery {
    pub columns: Vec<String>,
    rows: BoxStream<'static, Result<QueryItem, SqlError>>,
    events_read: Arc<AtomicU64>,
}

/// A whole answer, collected.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryAnswer {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// The row limit cut the answer short.
    pub truncated: bool,
}

impl RunningQuery {
    /// Events read from the store so far: how much of the log the query
    /// needed (a `LIMIT` stops the read early).
    pub fn events_read(&self) -> u64 {
        self.events_read.load(AtomicOrdering::Relaxed)
    }

    /// A handle on [`Self::events_read`] that outlives the rows.
    pub fn events_read_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.events_read)
    }

    pub fn rows(self) -> impl Stream<Item = Result<QueryItem, SqlError>> + Send + 'static {
        self.rows
    }

    /// Reads every row; the first error ends it.
    pub async fn collect(self) -> Result<QueryAnswer, SqlError> {
        let columns = self.columns;
        let mut rows = Vec::new();
        let mut truncated = false;
        let mut stream = self.rows;
        while let Some(item) = stream.next().await {
            match item? {
                QueryItem::Row(row) => rows.push(row),
                QueryItem::Truncated => truncated = true,
            }
        }
        Ok(QueryAnswer { columns, rows, truncated })
    }
}

/// Rows buffered between the query's task and its reader.
pub(crate) const ROWS_IN_FLIGHT: usize = 256;

/// Checks, plans and starts `request` over `store` (the caller's store: its
/// reads are checked for the caller). Errors in the query, and a refused
/// read, come back here, before any row.
pub async fn start_query(
    store: Arc<dyn EventStore>,
    request: QueryRequest,
    limits: &SqlLimits,
) -> Result<RunningQuery, SqlError> {
    let statement = statement::parse(&request.sql)?;
    let timeout = request.timeout.unwrap_or(limits.timeout_default).min(limits.timeout_max);
    let row_limit = request.row_limit.unwrap_or(limits.row_limit_default).min(limits.row_limit_max);
    let events_read = Arc::new(AtomicU64::new(0));
    let deadline = tokio::time::Instant::now() + timeout;
    match statement {
        statement::Parsed::Explain(query) => {
            let lines = if pattern::is_pattern(&query) {
                pattern::explain(&request.sql)?
            } else if join::is_join(&query) {
                join::explain(&query)?
            } else {
                explain(&plan::plan_query(&query)?)
            };
            let rows = lines.into_iter().map(|line| Ok(QueryItem::Row(vec![Value::Text(line)])));
            Ok(RunningQuery { columns: vec!["plan".into()], rows: futures::stream::iter(rows).boxed(), events_read })
        }
        statement::Parsed::Query(query) if pattern::is_pattern(&query) => {
            let limits = pattern::AdhocLimits { row_limit, state_max: limits.groups_max, deadline, timeout };
            pattern::start_adhoc(store, &request.sql, limits, events_read).await
        }
        statement::Parsed::Query(query) if join::is_join(&query) => {
            let bounds =
                join::adhoc::AdhocBounds { row_limit, held_max: limits.groups_max, deadline, timeout, events_read };
            join::adhoc::start(store, &query, bounds).await
        }
        statement::Parsed::Query(query) => {
            let plan = plan::plan_query(&query)?;
            let events = tokio::time::timeout_at(deadline, source::open(store, &plan.read))
                .await
                .map_err(|_| SqlError::Timeout { timeout })??;
            let columns = plan.columns.clone();
            let execution = execute::Execution {
                plan,
                row_limit,
                groups_max: limits.groups_max,
                deadline,
                timeout,
                events_read: Arc::clone(&events_read),
            };
            let (sender, receiver) = tokio::sync::mpsc::channel(ROWS_IN_FLIGHT);
            tokio::spawn(async move {
                let outcome = tokio::time::timeout_at(deadline, execution.run(events, &sender)).await;
                let failure = match outcome {
                    Ok(Ok(())) => return,
                    Ok(Err(error)) => error,
                    Err(_) => SqlError::Timeout { timeout },
                };
                let _ = sender.send(Err(failure)).await;
            });
            let rows = futures::stream::unfold(receiver, |mut receiver| async move {
                receiver.recv().await.map(|item| (item, receiver))
            });
            Ok(RunningQuery { columns, rows: rows.boxed(), events_read })
        }
    }
}

/// What `EXPLAIN` answers: the read, and what is done to each event.
fn explain(plan: &plan::Plan) -> Vec<String> {
    let mut lines = vec![plan.read.to_string()];
    if plan.filter.is_some() {
        lines.push("filter each event by WHERE".into());
    }
    if let Some(grouping) = &plan.grouping {
        lines.push(format!(
            "group by {} key(s) with {} aggregate(s){}",
            grouping.keys.len(),
            grouping.aggregates.len(),
            if grouping.having.is_some() { ", then HAVING" } else { "" }
        ));
    }
    if !plan.order.is_empty() {
        lines.push(format!("order by {} key(s)", plan.order.len()));
    }
    if let Some(limit) = plan.limit {
        lines.push(format!("stop after {limit} row(s), skipping {}", plan.offset));
    }
    lines
}
