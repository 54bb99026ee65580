//! SQL: a windowed count per key over `--events` events, run ad hoc and as
//! a continuous query catching up from the start, and a time-bounded join
//! catching up, beside a plain `$all` read of the same events, timed in one
//! run so that the rates read as shares of the read rate. In-process on the
//! `engine` target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use eventfold_sql::{ContinuousOptions, QueryRequest, SqlLimits, start_continuous, start_query};
use eventfold_store::EventStore;
use serde_json::{Value, json};

use crate::append::fill;
use crate::stats::rate;
use crate::target::Target;

/// A count and a sum per customer per minute: one JSON field as the key,
/// one as the summed value, a tumbling window on `created`.
const WINDOWED: &str = "SELECT date_bin('1 minute', created) AS window, json_str(data, 'customer') AS customer, \
    count(*) AS orders, sum(json_float(data, 'amount')) AS amount FROM events GROUP BY window, customer";

/// Longest wait for the continuous query to catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn run(target: Arc<Target>, events: u64) -> anyhow::Result<Value> {
    let Some(engine) = target.engine() else { bail!("SQL is measured in-process, on the engine target") };
    let stream = target.stream("sql");
    fill(&target, events, &stream, events / 10).await?;
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());

    let started = Instant::now();
    let read = target.read_to_end(None).await?;
    let read_elapsed = started.elapsed();

    let limits = SqlLimits { row_limit_max: u64::MAX, timeout_max: Duration::from_secs(3600), ..SqlLimits::default() };
    let request = QueryRequest {
        row_limit: Some(u64::MAX),
        timeout: Some(Duration::from_secs(3600)),
        ..QueryRequest::new(WINDOWED)
    };
    let started = Instant::now();
    let answer = start_query(Arc::clone(&store), request, &limits).await?.collect().await?;
    let adhoc_elapsed = started.elapsed();

    let head = store.head_position().map(|position| position.0);
    let started = Instant::now();
    let name = format!("bench-{}", target.stream("q").replace(['/', '$'], "-"));
    let query = start_continuous(Arc::clone(&store), &name, WINDOWED, ContinuousOptions::default()).await?;
    let scanned = loop {
        let status = query.status();
        if let Some(failure) = status.failure {
            bail!("the continuous query failed: {failure}");
        }
        if status.position >= head {
            break status.events_read;
        }
        if started.elapsed() > CATCH_UP_TIMEOUT {
            bail!("the continuous query did not catch up within {CATCH_UP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let continuous_elapsed = started.elapsed();
    query.stop().await;
    let join = join_catch_up(&store, &target, head, read_elapsed).await?;

    let share = |elapsed: Duration| read_elapsed.as_secs_f64() / elapsed.as_secs_f64().max(f64::EPSILON);
    Ok(json!({
        "events": events,
        "read_all": { "seconds": read_elapsed.as_secs_f64(), "events": read, "events_per_second": rate(read, read_elapsed) },
        "adhoc_windowed_count": {
            "seconds": adhoc_elapsed.as_secs_f64(),
            "rows": answer.rows.len(),
            "events_per_second": rate(read, adhoc_elapsed),
            "share_of_read_rate": share(adhoc_elapsed),
        },
        "continuous_catch_up": {
            "seconds": continuous_elapsed.as_secs_f64(),
            "events": scanned,
            "events_per_second": rate(scanned, continuous_elapsed),
            "share_of_read_rate": share(continuous_elapsed),
        },
        "continuous_join_catch_up": join,
    }))
}

/// Orders of one customer placed within 10 ms of each other, in two
/// different streams: a self-join of the log on a JSON field within a
/// bound on `created`.
const JOIN: &str = "SELECT a.position AS first, b.position AS second FROM events a JOIN events b \
    ON json_str(a.data, 'customer') = json_str(b.data, 'customer') AND a.stream <> b.stream \
    AND b.created BETWEEN a.created AND a.created + INTERVAL '10 milliseconds'";

/// The time-bounded join catching up from the start, as a share of the
/// plain read's rate over the same events.
async fn join_catch_up(
    store: &Arc<dyn EventStore>,
    target: &Target,
    head: Option<u64>,
    read_elapsed: Duration,
) -> anyhow::Result<Value> {
    let name = format!("bench-join-{}", target.stream("q").replace(['/', '$'], "-"));
    // Every event of the last 10 ms is held, on both sides.
    let options = ContinuousOptions { groups_max: 10_000_000, ..ContinuousOptions::default() };
    let started = Instant::now();
    let query = start_continuous(Arc::clone(store), &name, JOIN, options).await?;
    let status = loop {
        let status = query.status();
        if let Some(failure) = status.failure {
            bail!("the continuous join failed: {failure}");
        }
        if status.position >= head {
            break status;
        }
        if started.elapsed() > CATCH_UP_TIMEOUT {
            bail!("the continuous join did not catch up within {CATCH_UP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = started.elapsed();
    query.stop().await;
    Ok(json!({
        "seconds": elapsed.as_secs_f64(),
        "events": status.events_read,
        "rows": status.rows_written,
        "events_per_second": rate(status.events_read, elapsed),
        "share_of_read_rate": read_elapsed.as_secs_f64() / elapsed.as_secs_f64().max(f64::EPSILON),
    }))
}
