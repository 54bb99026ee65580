use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, ensure};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::append::fill;
use crate::stats::rate;
use crate::target::{Delivery, Target};

/// Fills `events` events, then subscribes to `$all` from the start and
/// counts what arrives until the subscription reports it caught up.
pub async fn run(target: Arc<Target>, events: u64) -> anyhow::Result<Value> {
    let stream = target.stream("catchup");
    fill(&target, events, &stream, events / 10).await?;
    let started = Instant::now();
    let mut deliveries = target.subscribe(None).await?;
    let mut received = 0u64;
    loop {
        match deliveries.next().await {
            Some(Ok(Delivery::Event { .. })) => received += 1,
            Some(Ok(Delivery::CaughtUp)) => break,
            Some(Err(error)) => return Err(error),
            None => bail!("the subscription ended before it caught up"),
        }
    }
    let elapsed = started.elapsed();
    ensure!(received >= events, "caught up after {received} events, expected at least {events}");
    Ok(json!({
        "seconds": elapsed.as_secs_f64(),
        "events": received,
        "events_per_second": rate(received, elapsed),
    }))
}
