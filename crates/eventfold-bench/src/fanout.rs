use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_store::ExpectedRevision;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::stats::{Latencies, event_body, rate};
use crate::target::{AppendResult, Delivery, DeliveryStream, Target};

/// How long subscribers may take to see the last event once the writer is
/// done, before the run counts as failed rather than hanging.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// `subscribers` live subscriptions to one stream; one writer appends one
/// event at a time for `duration`. Latency is from the append call, and
/// from its acknowledgement, to each subscriber's receipt of the event.
/// With one subscriber this is the live-latency measurement.
pub async fn run(target: Arc<Target>, subscribers: usize, duration: Duration) -> anyhow::Result<Value> {
    let stream = target.stream("live");
    // Creating the stream first lets each subscription reach "caught up"
    // on an existing stream, whatever the target does with missing ones.
    if let AppendResult::Conflict { actual } =
        target.append(0, &stream, ExpectedRevision::NoStream, vec![event_body(0)]).await?
    {
        bail!("{stream} already existed ({actual:?})");
    }
    let (total_sender, total) = watch::channel(None::<u64>);
    let mut caught_up = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..subscribers {
        let mut deliveries = target.subscribe(Some(&stream)).await?;
        let (ready, ready_receiver) = tokio::sync::oneshot::channel();
        caught_up.push(ready_receiver);
        let total = total.clone();
        tasks.push(tokio::spawn(async move { receive(&mut deliveries, ready, total).await }));
    }
    wait_caught_up(caught_up).await?;
    let started = Instant::now();
    let (sent, revision) = append_one_by_one(&target, &stream, duration).await?;
    let _ = total_sender.send(Some(revision));
    let mut from_append = Latencies::new();
    let mut from_ack = Latencies::new();
    let mut delivered = 0u64;
    for task in tasks {
        let received = tokio::time::timeout(DRAIN_TIMEOUT, task).await.context("a subscriber fell silent")???;
        for (revision, at) in received {
            // Revision 0 is the event written before the clock started.
            let Some((call, ack)) = revision.checked_sub(1).and_then(|index| sent.get(index as usize)) else {
                continue;
            };
            from_append.record(at.saturating_duration_since(*call));
            from_ack.record(at.saturating_duration_since(*ack));
            delivered += 1;
        }
    }
    let elapsed = started.elapsed();
    Ok(json!({
        "subscribers": subscribers,
        "seconds": elapsed.as_secs_f64(),
        "events": revision,
        "appends_per_second": rate(revision, elapsed),
        "deliveries": delivered,
        "events_per_second": rate(delivered, elapsed),
        "latency": from_append.to_json(),
        "latency_from_ack": from_ack.to_json(),
    }))
}

/// Receives until the writer's last event, returning each event's
/// revision and arrival time.
/// Waits until every subscriber has said it caught up.
pub async fn wait_caught_up(caught_up: Vec<tokio::sync::oneshot::Receiver<()>>) -> anyhow::Result<()> {
    for ready in caught_up {
        tokio::time::timeout(DRAIN_TIMEOUT, ready).await.context("a subscriber did not catch up")?.ok();
    }
    Ok(())
}

/// The only writer of `stream` appends one event at a time for `duration`:
/// when each call began and was answered, and how many it made.
pub async fn append_one_by_one(
    target: &Target,
    stream: &str,
    duration: Duration,
) -> anyhow::Result<(Vec<(Instant, Instant)>, u64)> {
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut revision = 0u64;
    while started.elapsed() < duration {
        let call = Instant::now();
        if let AppendResult::Conflict { actual } =
            target.append(0, stream, ExpectedRevision::Exact(revision), vec![event_body(revision + 1)]).await?
        {
            bail!("the only writer of {stream} conflicted ({actual:?})");
        }
        sent.push((call, Instant::now()));
        revision += 1;
    }
    Ok((sent, revision))
}

pub async fn receive(
    deliveries: &mut DeliveryStream,
    ready: tokio::sync::oneshot::Sender<()>,
    mut total: watch::Receiver<Option<u64>>,
) -> anyhow::Result<Vec<(u64, Instant)>> {
    let mut ready = Some(ready);
    let mut received = Vec::new();
    let mut last_revision = 0u64;
    loop {
        if let Some(total) = *total.borrow_and_update()
            && last_revision >= total
        {
            return Ok(received);
        }
        tokio::select! {
            delivery = deliveries.next() => match delivery {
                Some(Ok(Delivery::Event { revision })) => {
                    received.push((revision, Instant::now()));
                    last_revision = last_revision.max(revision);
                }
                Some(Ok(Delivery::CaughtUp)) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Some(Err(error)) => return Err(error),
                None => bail!("the subscription ended early"),
            },
            changed = total.changed() => {
                if changed.is_err() {
                    bail!("the writer went away");
                }
            }
        }
    }
}
