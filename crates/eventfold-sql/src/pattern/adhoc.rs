//! A pattern answered ad hoc: the same matcher fed the table's events up to
//! the head of the log, in order; at the end of the read every partition
//! ends, so the matches still pending are settled as a batch query would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;

use eventfold_store::EventStore;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::state::PatternState;
use crate::error::SqlError;
use crate::execute::QueryItem;
use crate::maintained::ResultRow;
use crate::{ROWS_IN_FLIGHT, RunningQuery, source};

/// How often (in events read) the read checks its deadline and its reader.
const CHECK_EVERY_EVENTS: u64 = 256;

pub(crate) struct AdhocLimits {
    pub row_limit: u64,
    pub state_max: usize,
    pub deadline: Instant,
    pub timeout: Duration,
}

pub(crate) async fn start_adhoc(
    store: Arc<dyn EventStore>,
    sql: &str,
    limits: AdhocLimits,
    events_read: Arc<AtomicU64>,
) -> Result<RunningQuery, SqlError> {
    let state = super::plan_continuous(sql, limits.state_max)?;
    let events = tokio::time::timeout_at(limits.deadline, source::open(store, &state.plan().read))
        .await
        .map_err(|_| SqlError::Timeout { timeout: limits.timeout })??;
    let columns = state.plan().columns.clone();
    let (sender, receiver) = mpsc::channel(ROWS_IN_FLIGHT);
    let counter = Arc::clone(&events_read);
    tokio::spawn(async move {
        let run = run(state, events, &sender, limits.row_limit, &counter);
        let failure = match tokio::time::timeout_at(limits.deadline, run).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => SqlError::Timeout { timeout: limits.timeout },
        };
        let _ = sender.send(Err(failure)).await;
    });
    let rows =
        futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        );
    Ok(RunningQuery { columns, rows: rows.boxed(), events_read })
}

async fn run(
    mut state: PatternState,
    mut events: source::EventRows,
    sender: &mpsc::Sender<Result<QueryItem, SqlError>>,
    row_limit: u64,
    events_read: &AtomicU64,
) -> Result<(), SqlError> {
    let mut sent = 0_u64;
    let mut read = 0_u64;
    while let Some(event) = events.next().await {
        let event = event?;
        read += 1;
        events_read.fetch_add(1, AtomicOrdering::Relaxed);
        if read.is_multiple_of(CHECK_EVERY_EVENTS) {
            if sender.is_closed() {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
        if !send(sender, state.apply_event(&event)?, &mut sent, row_limit).await {
            return Ok(());
        }
    }
    send(sender, state.finish(), &mut sent, row_limit).await;
    Ok(())
}

/// Sends rows; `false` once the answer is complete or its reader gone.
async fn send(
    sender: &mpsc::Sender<Result<QueryItem, SqlError>>,
    rows: Vec<ResultRow>,
    sent: &mut u64,
    row_limit: u64,
) -> bool {
    for row in rows {
        if *sent >= row_limit {
            let _ = sender.send(Ok(QueryItem::Truncated)).await;
            return false;
        }
        *sent += 1;
        if sender.send(Ok(QueryItem::Row(row.values))).await.is_err() {
            return false;
        }
    }
    true
}
