use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_store::{CurrentRevision, ExpectedRevision};
use serde_json::{Value, json};

use crate::stats::{Latencies, event_body, rate};
use crate::target::{AppendResult, Target};

/// `writers` tasks append one event at a time to one hot stream, each with
/// the exact revision it last saw: optimistic concurrency under contention.
/// A conflict tells the writer the actual revision (as the protocol does),
/// and it retries from there.
pub async fn run(target: Arc<Target>, writers: usize, duration: Duration) -> anyhow::Result<Value> {
    let stream = target.stream("hot");
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let target = Arc::clone(&target);
        let stream = stream.clone();
        tasks.push(tokio::spawn(async move {
            let mut known = CurrentRevision::NoStream;
            let (mut written, mut conflicts) = (0u64, 0u64);
            let mut latencies = Latencies::new();
            let mut sequence = writer as u64 * 1_000_000_000;
            while Instant::now() < deadline {
                let expected = match known {
                    CurrentRevision::NoStream => ExpectedRevision::NoStream,
                    CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision),
                };
                sequence += 1;
                let attempt = Instant::now();
                match target.append(writer, &stream, expected, vec![event_body(sequence)]).await? {
                    AppendResult::Written => {
                        latencies.record(attempt.elapsed());
                        written += 1;
                        known = CurrentRevision::Current(known.next());
                    }
                    AppendResult::Conflict { actual } => {
                        conflicts += 1;
                        known = actual;
                    }
                }
            }
            anyhow::Ok((written, conflicts, latencies))
        }));
    }
    let (mut events, mut conflicts) = (0u64, 0u64);
    let mut latencies = Latencies::new();
    for task in tasks {
        let (task_events, task_conflicts, task_latencies) = task.await??;
        events += task_events;
        conflicts += task_conflicts;
        latencies.merge(&task_latencies);
    }
    let elapsed = started.elapsed();
    let attempts = events + conflicts;
    Ok(json!({
        "seconds": elapsed.as_secs_f64(),
        "events": events,
        "conflicts": conflicts,
        "conflict_rate": if attempts > 0 { conflicts as f64 / attempts as f64 } else { 0.0 },
        "events_per_second": rate(events, elapsed),
        "attempts_per_second": rate(attempts, elapsed),
        "latency": latencies.to_json(),
    }))
}
