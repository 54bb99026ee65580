use std::sync::Arc;
use std::time::Instant;

use anyhow::ensure;
use serde_json::{Value, json};

use crate::append::fill;
use crate::stats::rate;
use crate::target::Target;

/// Fills `events` events (half in one stream, half spread over others),
/// then reads that stream and `$all` from start to end: warm (second pass,
/// everything cached) and cold (after evicting the database files from the
/// page cache, where the bench can reach them).
pub async fn run(target: Arc<Target>, events: u64) -> anyhow::Result<Value> {
    let stream = target.stream("read");
    let in_stream = events / 2;
    fill(&target, events, &stream, in_stream).await?;
    // The first pass warms every cache; only the second is reported.
    read(&target, Some(&stream), in_stream).await?;
    let (stream_warm, _) = read(&target, Some(&stream), in_stream).await?;
    read(&target, None, events).await?;
    let (all_warm, all_count) = read(&target, None, events).await?;
    let (stream_cold, all_cold) = if target.drop_page_cache()? {
        let (stream_cold, _) = read(&target, Some(&stream), in_stream).await?;
        target.drop_page_cache()?;
        let (all_cold, _) = read(&target, None, events).await?;
        (json!(stream_cold), json!(all_cold))
    } else {
        let reason = "unavailable: the bench cannot evict this target's cache";
        (json!(reason), json!(reason))
    };
    Ok(json!({
        "events": events,
        "stream_events": in_stream,
        "all_events": all_count,
        "events_per_second": all_warm,
        "stream_warm_events_per_second": stream_warm,
        "all_warm_events_per_second": all_warm,
        "stream_cold_events_per_second": stream_cold,
        "all_cold_events_per_second": all_cold,
    }))
}

/// Events per second of one read to the end, and the events it returned.
async fn read(target: &Target, stream: Option<&str>, expected_at_least: u64) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let count = target.read_to_end(stream).await?;
    let elapsed = started.elapsed();
    ensure!(count >= expected_at_least, "read {count} events, expected at least {expected_at_least}");
    Ok((rate(count, elapsed), count))
}
