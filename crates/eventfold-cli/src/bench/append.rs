use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::{Value, json};

use super::stats::{directory_bytes, event_body, peak_rss_bytes, percentiles};

/// `writers` tasks append `events_per_append` events at a time to their own
/// streams for `duration`, each waiting for its acknowledgement.
pub async fn run(dir: &Path, writers: usize, events_per_append: usize, duration: Duration) -> anyhow::Result<Value> {
    let db = tempfile::tempdir_in(dir).context("creating the database directory")?;
    let engine = Engine::open(EngineConfig::new(db.path())).context("opening the engine")?;
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move { append_until(engine, writer, events_per_append, deadline).await }));
    }
    let mut latencies = Vec::new();
    let mut events = 0u64;
    for task in tasks {
        let (task_events, task_latencies) = task.await.context("writer task")??;
        events += task_events;
        latencies.extend(task_latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    engine.shutdown().await;
    let appends = latencies.len();
    let bytes = directory_bytes(db.path());
    Ok(json!({
        "workload": "append",
        "target": "engine in-process",
        "writers": writers,
        "events_per_append": events_per_append,
        "event_bytes": event_body(0).len(),
        "seconds": elapsed,
        "events": events,
        "events_per_second": events as f64 / elapsed,
        "appends_per_second": appends as f64 / elapsed,
        "latency": percentiles(latencies),
        "bytes_on_disk_per_event": if events > 0 { bytes as f64 / events as f64 } else { 0.0 },
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

async fn append_until(
    engine: Engine,
    writer: usize,
    events_per_append: usize,
    deadline: Instant,
) -> anyhow::Result<(u64, Vec<Duration>)> {
    let stream = StreamName::new(format!("bench-{writer}")).context("stream name")?;
    let mut latencies = Vec::new();
    let mut sequence = 0u64;
    while Instant::now() < deadline {
        let events = (0..events_per_append)
            .map(|_| {
                sequence += 1;
                ProposedEvent::json("OrderPlaced", event_body(sequence))
            })
            .collect();
        let started = Instant::now();
        engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events)).await?;
        latencies.push(started.elapsed());
    }
    Ok((sequence, latencies))
}
