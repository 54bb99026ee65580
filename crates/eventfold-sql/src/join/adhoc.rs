//! A join answered ad hoc: the same state a continuous join keeps, fed
//! the whole log in one read, so that its answer is the continuous
//! result's at the log's head (and, for a LEFT JOIN, with every left event
//! still waiting written with `NULL`s, as if its bound had passed). A hash
//! join of the two sides within the bound, bounded in memory by the same
//! limit as a `GROUP BY`'s groups.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use eventfold_store::{AllFrom, Direction, EventStore, ReadAllRequest};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::plan::plan_join;
use super::state::JoinState;
use crate::error::SqlError;
use crate::execute::QueryItem;
use crate::source::EventRows;
use crate::value::Value;

/// How often (in events read) the read checks its deadline and its reader.
const CHECK_EVERY_EVENTS: u64 = 256;

/// The bounds of one ad-hoc join.
pub struct AdhocBounds {
    pub row_limit: u64,
    pub held_max: usize,
    pub deadline: Instant,
    pub timeout: Duration,
    pub events_read: Arc<AtomicU64>,
}

/// Plans the join and opens its read of `$all` (where the store checks
/// access), then answers from a task of its own.
pub async fn start(
    store: Arc<dyn EventStore>,
    query: &sqlparser::ast::Query,
    bounds: AdhocBounds,
) -> Result<crate::RunningQuery, SqlError> {
    let state = JoinState::new(plan_join(query)?, bounds.held_max);
    let columns = state.columns().to_vec();
    let request =
        ReadAllRequest { from: AllFrom::Start, direction: Direction::Forwards, max_count: u64::MAX, filter: None };
    let events: EventRows = tokio::time::timeout_at(bounds.deadline, store.read_all(request))
        .await
        .map_err(|_| SqlError::Timeout { timeout: bounds.timeout })??
        .map(|event| event.map_err(SqlError::from))
        .boxed();
    let events_read = Arc::clone(&bounds.events_read);
    let (sender, receiver) = mpsc::channel(crate::ROWS_IN_FLIGHT);
    tokio::spawn(async move {
        let (deadline, timeout) = (bounds.deadline, bounds.timeout);
        let outcome = tokio::time::timeout_at(deadline, run(state, events, bounds, &sender)).await;
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => SqlError::Timeout { timeout },
        };
        let _ = sender.send(Err(failure)).await;
    });
    let rows =
        futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        );
    Ok(crate::RunningQuery { columns, rows: rows.boxed(), events_read })
}

async fn run(
    mut state: JoinState,
    mut events: EventRows,
    bounds: AdhocBounds,
    sender: &mpsc::Sender<Result<QueryItem, SqlError>>,
) -> Result<(), SqlError> {
    let mut sent: u64 = 0;
    let mut read: u64 = 0;
    // Sends rows until the limit; `false` when the answer is complete.
    let mut send = async |rows: Vec<Vec<Value>>| -> bool {
        for row in rows {
            if sent >= bounds.row_limit {
                let _ = sender.send(Ok(QueryItem::Truncated)).await;
                return false;
            }
            sent += 1;
            if sender.send(Ok(QueryItem::Row(row))).await.is_err() {
                return false;
            }
        }
        true
    };
    while let Some(event) = events.next().await {
        let event = event?;
        read += 1;
        bounds.events_read.fetch_add(1, AtomicOrdering::Relaxed);
        if read.is_multiple_of(CHECK_EVERY_EVENTS) {
            if sender.is_closed() {
                return Ok(());
            }
            if Instant::now() >= bounds.deadline {
                return Err(SqlError::Timeout { timeout: bounds.timeout });
            }
            tokio::task::yield_now().await;
        }
        if !send(state.apply(&event)?).await {
            return Ok(());
        }
    }
    send(state.close_through(i64::MAX)).await;
    Ok(())
}
