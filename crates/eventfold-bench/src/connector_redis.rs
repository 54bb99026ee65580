//! The Redis connector in-process: the events already in the store
//! delivered by a connector (`XADD`s and its checkpoint key, one
//! `MULTI`/`EXEC` per batch) beside a plain client loop doing the same
//! writes in the same batches, both into one throwaway Redis with the
//! append-only file and `appendfsync always`; then the end-to-end lag of
//! single appends (append → entry visible).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use eventfold_testkit::child_server;
use eventfold_testkit::redis_server::RedisServer;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};

use crate::connector::{BATCH, BenchConnector, figures, order_batches};
use crate::stats::{Latencies, event_body};

const LAG_SAMPLES: u64 = 200;
/// Longest wait for the connector to deliver what was filled.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECTOR_KEY: &str = "bench:connector";
const PLAIN_KEY: &str = "bench:plain";

/// `events`: how many `OrderPlaced` events the store holds.
pub async fn run(store: &Arc<dyn EventStore>, events: u64) -> anyhow::Result<Value> {
    let Some(binary) = child_server::find_binary("redis-server", &["/usr/bin/redis-server"]) else {
        return Ok(json!({ "skipped": "redis-server is not installed" }));
    };
    let redis = tokio::task::block_in_place(|| RedisServer::start(binary)).context("starting Redis")?;
    // Patient: the client's default waits half a second for an answer.
    let patient = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    let mut connection =
        redis::Client::open(redis.url())?.get_multiplexed_async_connection_with_config(&patient).await?;

    let plain = plain_loop(store, &mut connection.clone()).await?;

    let settings = json!({
        "instanceTypeName": "redis-sink",
        "url": redis.url(),
        "command": "XADD",
        "key": CONNECTOR_KEY,
        "value": "{data}",
        "subscription:filter:scope": "record",
        "subscription:filter:filterType": "prefix",
        "subscription:filter:expression": "OrderPlaced",
        "batching:batchSize": BATCH,
        "batching:batchTimeoutMs": 10,
    });
    let connector = BenchConnector::create(store, "bench-redis", &settings).await?;
    wait_for_entries(&mut connection, events, connector.started).await?;
    let connector_elapsed = connector.started.elapsed();
    let lag = lag(store, &mut connection).await?;
    connector.remove().await?;

    Ok(figures(events, plain, connector_elapsed, lag))
}

/// What an application would write by hand: read `$all`, and per batch
/// add the entries and set the checkpoint in one `MULTI`/`EXEC`.
async fn plain_loop(store: &Arc<dyn EventStore>, connection: &mut MultiplexedConnection) -> anyhow::Result<Duration> {
    let started = Instant::now();
    order_batches(store, async |batch| {
        let Some(last) = batch.last() else { return Ok(()) };
        let mut pipe = redis::pipe();
        pipe.atomic();
        for event in batch {
            pipe.cmd("XADD")
                .arg(PLAIN_KEY)
                .arg(format!("{}-1", event.position.0))
                .arg("stream")
                .arg(event.stream.as_str())
                .arg("eventType")
                .arg(&event.event_type)
                .arg("revision")
                .arg(event.revision)
                .arg("position")
                .arg(event.position.0)
                .arg("eventId")
                .arg(event.id.to_string())
                .arg("value")
                .arg(event.data.as_ref())
                .ignore();
        }
        pipe.cmd("SET").arg("bench:plain:position").arg(last.position.0).ignore();
        let () = pipe.query_async(&mut *connection).await?;
        Ok(())
    })
    .await?;
    Ok(started.elapsed())
}

async fn entries(connection: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    Ok(redis::cmd("XLEN").arg(CONNECTOR_KEY).query_async(connection).await?)
}

async fn wait_for_entries(connection: &mut MultiplexedConnection, count: u64, started: Instant) -> anyhow::Result<()> {
    loop {
        let written = entries(connection).await?;
        if written >= count {
            return Ok(());
        }
        if started.elapsed() > DELIVERY_TIMEOUT {
            bail!("the connector wrote {written} of {count} entries in {DELIVERY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Single appends, each timed until its entry is visible in Redis.
async fn lag(store: &Arc<dyn EventStore>, connection: &mut MultiplexedConnection) -> anyhow::Result<Value> {
    let stream = StreamName::new("redis-lag-probe").context("stream name")?;
    let mut latencies = Latencies::new();
    for sample in 0..LAG_SAMPLES {
        let before = entries(connection).await?;
        let started = Instant::now();
        let event = ProposedEvent::json("OrderPlaced", event_body(sample));
        store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, vec![event])).await?;
        while entries(connection).await? <= before {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("an appended event was not visible in Redis within 30 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.record(started.elapsed());
    }
    Ok(latencies.to_json())
}
