//! SQL: a windowed count per key over `--events` events, run ad hoc and as
//! a continuous query catching up from the start, and a time-bounded join
//! catching up, beside a plain `$all` read of the same events, timed in one
//! run so that the rates read as shares of the read rate; then, live, the
//! latency from an append to the result event it produces (a window it
//! closes) beside the latency to a plain `$all` subscriber. In-process on the
//! `engine` target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use eventfold_sql::{
    ContinuousOptions, QueryRequest, SqlLimits, result_stream, start_continuous, start_continuous_after, start_query,
};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName, SubscribeFrom, SubscribeToAllRequest,
    SubscribeToStreamRequest, SubscriptionItem,
};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::append::fill;
use crate::stats::{Latencies, rate};
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

    let live = live_latency(&store, &target.stream("live")).await?;

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
        "continuous_live_latency": live,
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

/// Appends measured for the live latency.
const LIVE_SAMPLES: usize = 400;
/// A live window's length, and the pause between appends: several appends
/// fall in each window, and the first one past a window's end closes it,
/// before the query's own idle checkpoint (at most one per clock tick) can.
const LIVE_WINDOW_MILLISECONDS: u64 = 50;
const LIVE_PAUSE: Duration = Duration::from_millis(10);
/// How long the rows of the last windows may take to arrive.
const LIVE_DRAIN: Duration = Duration::from_millis(500);

/// From append to result event, live: a windowed count over one stream,
/// started at the head, while one writer appends every few milliseconds.
/// Each row carries the position of the event that closed its window; when
/// that event is one of the appends, the time from that append's call to
/// the row's arrival on a subscription to `$query-{name}` is measured,
/// beside the time from each append's call to its arrival on a live `$all`
/// subscription. Windows closed by other events (the query's own
/// checkpoint on an idle tick) are counted apart.
async fn live_latency(store: &Arc<dyn EventStore>, stream: &str) -> anyhow::Result<Value> {
    let name = format!("bench-live-{}", stream.replace(['/', '$'], "-"));
    let sql = format!(
        "SELECT date_bin('{LIVE_WINDOW_MILLISECONDS} milliseconds', created) AS window, count(*) AS events \
         FROM events WHERE stream = '{stream}' GROUP BY window"
    );
    let head = store.head_position();
    let query = start_continuous_after(Arc::clone(store), &name, &sql, ContinuousOptions::default(), head).await?;
    let mut all = store
        .subscribe_to_all(SubscribeToAllRequest { from: SubscribeFrom::End, filter: None, checkpoint_interval: None })
        .await?;
    let results = StreamName::new(result_stream(&name))?;
    let mut rows =
        store.subscribe_to_stream(SubscribeToStreamRequest { stream: results, from: SubscribeFrom::End }).await?;
    // Each row's producing position and when it arrived.
    let arrivals = tokio::spawn(async move {
        let mut arrived = Vec::new();
        while let Ok(Some(item)) = tokio::time::timeout(LIVE_DRAIN, rows.next()).await {
            if let SubscriptionItem::Event(row) = item? {
                let metadata: Value = serde_json::from_slice(&row.metadata)?;
                if let Some(produced) = metadata["$position"].as_u64() {
                    arrived.push((produced, Instant::now()));
                }
            }
        }
        anyhow::Ok(arrived)
    });
    let stream_name = StreamName::new(stream)?;
    let mut appended = std::collections::HashMap::new();
    let mut to_subscriber = Latencies::new();
    for sample in 0..LIVE_SAMPLES {
        tokio::time::sleep(LIVE_PAUSE).await;
        let started = Instant::now();
        let event = ProposedEvent::json("OrderPlaced", crate::stats::event_body(sample as u64));
        let outcome = store.append(AppendRequest::new(stream_name.clone(), ExpectedRevision::Any, vec![event])).await?;
        let Some(position) = outcome.position.map(|position| position.0) else { bail!("an append wrote nothing") };
        while let Some(item) = all.next().await {
            if let SubscriptionItem::Event(event) = item?
                && event.position.0 >= position
            {
                break;
            }
        }
        to_subscriber.record(started.elapsed());
        appended.insert(position, started);
    }
    let arrived = arrivals.await??;
    if let Some(failure) = query.status().failure {
        bail!("the live continuous query failed: {failure}");
    }
    query.stop().await;
    let mut to_row = Latencies::new();
    let mut closed_by_other_events = 0_u64;
    for (produced, at) in arrived {
        match appended.get(&produced) {
            Some(started) => to_row.record(at.duration_since(*started)),
            None => closed_by_other_events += 1,
        }
    }
    Ok(json!({
        "window_ms": LIVE_WINDOW_MILLISECONDS,
        "append_to_result_event": to_row.to_json(),
        "append_to_all_subscriber": to_subscriber.to_json(),
        "windows_closed_by_other_events": closed_by_other_events,
    }))
}
