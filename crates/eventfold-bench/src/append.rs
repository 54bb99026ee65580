use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use eventfold_store::ExpectedRevision;
use serde_json::{Value, json};

use crate::stats::{Latencies, event_body, rate};
use crate::target::{AppendResult, Target};

/// `writers` tasks append `events_per_append` events at a time to their own
/// streams for `duration`, each waiting for its acknowledgement before the
/// next append. Each writer knows its stream's revision, so every append
/// carries an exact expected revision, as an aggregate's would.
pub async fn run(
    target: Arc<Target>,
    writers: usize,
    events_per_append: usize,
    duration: Duration,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let target = Arc::clone(&target);
        tasks.push(tokio::spawn(async move { append_until(&target, writer, events_per_append, deadline).await }));
    }
    let mut latencies = Latencies::new();
    let mut events = 0u64;
    for task in tasks {
        let (task_events, task_latencies) = task.await??;
        events += task_events;
        latencies.merge(&task_latencies);
    }
    let elapsed = started.elapsed();
    Ok(json!({
        "seconds": elapsed.as_secs_f64(),
        "events": events,
        "events_per_second": rate(events, elapsed),
        "appends_per_second": rate(latencies.count(), elapsed),
        "latency": latencies.to_json(),
    }))
}

async fn append_until(
    target: &Target,
    writer: usize,
    events_per_append: usize,
    deadline: Instant,
) -> anyhow::Result<(u64, Latencies)> {
    let stream = target.stream(&format!("bench-{writer}"));
    let mut latencies = Latencies::new();
    let mut written = 0u64;
    while Instant::now() < deadline {
        let bodies = (0..events_per_append as u64).map(|offset| event_body(written + offset)).collect();
        let expected = if written == 0 { ExpectedRevision::NoStream } else { ExpectedRevision::Exact(written - 1) };
        let started = Instant::now();
        if let AppendResult::Conflict { actual } = target.append(writer, &stream, expected, bodies).await? {
            bail!("writer {writer} owns {stream} but conflicted (actual {actual:?})");
        }
        latencies.record(started.elapsed());
        written += events_per_append as u64;
    }
    Ok((written, latencies))
}

/// Writes `events` events, 100 per append from 8 writers: one stream gets
/// `share_in_stream` of them, the rest spread over other streams, so a read
/// of that stream skips over foreign events in the log.
pub async fn fill(target: &Arc<Target>, events: u64, hot_stream: &str, share_in_stream: u64) -> anyhow::Result<()> {
    let writers = 8u64;
    let mut tasks = Vec::new();
    let hot_stream = hot_stream.to_owned();
    for writer in 0..writers {
        let target = Arc::clone(target);
        let hot_stream = hot_stream.clone();
        tasks.push(tokio::spawn(async move {
            // Writer 0 fills the hot stream; the others fill their own.
            let (stream, share) = if writer == 0 {
                (hot_stream, share_in_stream)
            } else {
                let rest = events.saturating_sub(share_in_stream);
                let others = writers - 1;
                (target.stream(&format!("fill-{writer}")), rest / others + u64::from(writer <= rest % others))
            };
            let mut written = 0u64;
            while written < share {
                let batch = (share - written).min(100);
                let bodies = (0..batch).map(|offset| event_body(written + offset)).collect();
                let expected =
                    if written == 0 { ExpectedRevision::NoStream } else { ExpectedRevision::Exact(written - 1) };
                if let AppendResult::Conflict { actual } =
                    target.append(writer as usize, &stream, expected, bodies).await?
                {
                    bail!("filling {stream} conflicted (actual {actual:?})");
                }
                written += batch;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
