//! SQL: a windowed count per key over `--events` events, run ad hoc and as
//! a continuous query catching up from the start, beside a plain `$all`
//! read of the same events, timed in one run so that the rates read as
//! shares of the read rate; then, live, the latency from an append to the
//! result event it produces (a window it closes) beside the latency to a
//! plain `$all` subscriber. In-process on the `engine` target.

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
        "continuous_live_latency": live,
    }))
}

/// Appends measured for the live latency.
const LIVE_SAMPLES: usize = 300;
/// A live window's length, and the pause between appends: a little longer,
/// so that each append closes the window of the one before. The query's
/// own row and checkpoint events, a few milliseconds after each append,
/// close a window first when the append fell near its end: such appends
/// produce no row and are counted apart.
const LIVE_WINDOW_MILLISECONDS: u64 = 20;
const LIVE_PAUSE: Duration = Duration::from_millis(25);
/// How long to wait for a result row before counting the append as one
/// whose window an event of the query's own closed first.
const LIVE_ROW_WAIT: Duration = Duration::from_millis(200);

/// From append to result event, live: a windowed count over one stream,
/// started at the head; each append closes the window of the previous one,
/// and the time until the row it produces arrives in `$query-{name}` (a
/// subscriber's view) is measured beside the time until the append itself
/// arrives on a live `$all` subscription.
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
    let stream_name = StreamName::new(stream)?;
    let mut to_row = Latencies::new();
    let mut to_subscriber = Latencies::new();
    let mut closed_by_the_query = 0_u64;
    for sample in 0..=LIVE_SAMPLES {
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
        let delivered = started.elapsed();
        let produced = tokio::time::timeout(LIVE_ROW_WAIT, async {
            while let Some(item) = rows.next().await {
                if let SubscriptionItem::Event(row) = item? {
                    let metadata: Value = serde_json::from_slice(&row.metadata)?;
                    if metadata["$position"].as_u64().is_some_and(|produced| produced >= position) {
                        return anyhow::Ok(metadata["$position"].as_u64() == Some(position));
                    }
                }
            }
            bail!("the result subscription ended")
        })
        .await;
        // The first append has no window before it to close.
        if sample == 0 {
            continue;
        }
        match produced {
            Ok(Ok(true)) => {
                to_row.record(started.elapsed());
                to_subscriber.record(delivered);
            }
            Ok(Ok(false)) | Err(_) => closed_by_the_query += 1,
            Ok(Err(error)) => return Err(error),
        }
    }
    if let Some(failure) = query.status().failure {
        bail!("the live continuous query failed: {failure}");
    }
    query.stop().await;
    Ok(json!({
        "window_ms": LIVE_WINDOW_MILLISECONDS,
        "append_to_result_event": to_row.to_json(),
        "append_to_all_subscriber": to_subscriber.to_json(),
        "windows_closed_by_the_query_s_own_events": closed_by_the_query,
    }))
}
