//! Subscribers that stop reading while a writer goes on: the serving
//! process's memory must stay flat (a lagging subscriber costs disk reads
//! later, never buffered events now).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use eventfold_store::ExpectedRevision;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::stats::{event_body, rate};
use crate::target::{AppendResult, Delivery, Target};

/// Events per append: the writer should outrun every subscriber by far.
const EVENTS_PER_APPEND: u64 = 100;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// `subscribers` catch up on one stream, then stop polling; one writer
/// appends to that stream for `duration`. Reports the serving process's
/// resident memory before the subscribers, once they stalled, and at most
/// while the writer ran, next to the bytes written meanwhile.
pub async fn run(target: Arc<Target>, subscribers: usize, duration: Duration) -> anyhow::Result<Value> {
    let stream = target.stream("lagging");
    if let AppendResult::Conflict { actual } =
        target.append(0, &stream, ExpectedRevision::NoStream, vec![event_body(0)]).await?
    {
        bail!("{stream} already existed ({actual:?})");
    }
    let before = target.rss_bytes();
    let mut stalled = Vec::new();
    for _ in 0..subscribers {
        let mut deliveries = target.subscribe_apart(Some(&stream)).await?;
        // Read until caught up, then keep the subscription open and unread.
        while let Some(delivery) = deliveries.next().await {
            if matches!(delivery?, Delivery::CaughtUp) {
                break;
            }
        }
        stalled.push(deliveries);
    }
    let stalled_rss = target.rss_bytes();
    let started = Instant::now();
    let mut last_sample = started;
    let mut highest = stalled_rss;
    let mut revision = 0u64;
    let mut bytes = 0u64;
    while started.elapsed() < duration {
        let events: Vec<Vec<u8>> = (0..EVENTS_PER_APPEND).map(|index| event_body(revision + 1 + index)).collect();
        bytes += events.iter().map(|event| event.len() as u64).sum::<u64>();
        if let AppendResult::Conflict { actual } =
            target.append(0, &stream, ExpectedRevision::Exact(revision), events).await?
        {
            bail!("the only writer of {stream} conflicted ({actual:?})");
        }
        revision += EVENTS_PER_APPEND;
        if last_sample.elapsed() >= SAMPLE_EVERY {
            last_sample = Instant::now();
            highest = highest.max(target.rss_bytes());
        }
    }
    let elapsed = started.elapsed();
    let end = target.rss_bytes();
    highest = highest.max(end);
    drop(stalled);
    let growth = match (stalled_rss, highest) {
        (Some(stalled), Some(highest)) => Some(highest.saturating_sub(stalled)),
        _ => None,
    };
    Ok(json!({
        "subscribers": subscribers,
        "seconds": elapsed.as_secs_f64(),
        "events": revision,
        "events_per_second": rate(revision, elapsed),
        "data_bytes_written": bytes,
        "rss_bytes_before_subscribers": before,
        "rss_bytes_with_stalled_subscribers": stalled_rss,
        "rss_bytes_highest_while_writing": highest,
        "rss_bytes_at_end": end,
        "rss_growth_bytes": growth,
        "rss_growth_per_data_byte": growth.map(|growth| growth as f64 / bytes.max(1) as f64),
    }))
}
