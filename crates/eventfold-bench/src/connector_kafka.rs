//! The Kafka connector in-process: the events already in the store
//! delivered by a connector (one produce request per batch, `acks=all`,
//! key = stream) beside a plain client loop producing the same records in
//! the same batches, each into its own one-partition topic of one
//! throwaway Kafka-protocol broker; then the end-to-end lag of single
//! appends (append → record visible at the topic's end). Every wait is
//! bounded: a broker that stops answering fails the run, it never hangs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use eventfold_testkit::kafka_broker::KafkaBroker;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use serde_json::{Value, json};

use crate::connector::{BATCH, BenchConnector, figures, order_batches};
use crate::stats::{Latencies, event_body};

const LAG_SAMPLES: u64 = 200;
/// Longest wait for the connector to deliver what was filled.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for one call to the broker.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECTOR_TOPIC: &str = "bench-connector";
const PLAIN_TOPIC: &str = "bench-plain";

pub async fn run(store: &Arc<dyn EventStore>) -> anyhow::Result<Value> {
    let Some(binary) = KafkaBroker::find_binary() else {
        return Ok(json!({ "skipped": "no Kafka-protocol broker is installed (CALF_TANSU_BIN)" }));
    };
    let broker = tokio::task::block_in_place(|| KafkaBroker::start(binary)).context("starting the broker")?;
    let client = bounded(rskafka::client::ClientBuilder::new(vec![broker.address()]).build(), "connecting").await?;
    let controller = client.controller_client().context("a controller client")?;
    for topic in [CONNECTOR_TOPIC, PLAIN_TOPIC] {
        bounded(controller.create_topic(topic, 1, 1, 5_000), "creating a topic").await?;
    }
    let partition = |topic: &'static str| client.partition_client(topic, 0, UnknownTopicHandling::Retry);
    let plain_partition = bounded(partition(PLAIN_TOPIC), "opening a partition").await?;
    let connector_partition = bounded(partition(CONNECTOR_TOPIC), "opening a partition").await?;

    let (plain, events) = plain_loop(store, &plain_partition).await?;

    let settings = json!({
        "instanceTypeName": "kafka-sink",
        "bootstrapServers": broker.address(),
        "topic": CONNECTOR_TOPIC,
        "value": "{data}",
        "requestTimeoutMs": 10_000,
        "subscription:filter:scope": "record",
        "subscription:filter:filterType": "prefix",
        "subscription:filter:expression": "OrderPlaced",
        "batching:batchSize": BATCH,
        "batching:batchTimeoutMs": 10,
    });
    let connector = BenchConnector::create(store, "bench-kafka", &settings).await?;
    let mut counter = RecordCounter::new();
    wait_for_records(&mut counter, &connector_partition, events, connector.started).await?;
    let connector_elapsed = connector.started.elapsed();
    let lag = lag(store, &mut counter, &connector_partition).await?;
    connector.remove().await?;

    Ok(figures(events, plain, connector_elapsed, lag))
}

async fn bounded<T, E>(call: impl Future<Output = Result<T, E>>, what: &str) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.with_context(|| what.to_owned()),
        Err(_) => bail!("the broker did not answer {what} within {CALL_TIMEOUT:?}"),
    }
}

/// What an application would write by hand: read `$all` and produce each
/// batch's records (key = stream, value = data, the connector's headers)
/// in one request. How long it took, and how many records it produced.
async fn plain_loop(store: &Arc<dyn EventStore>, partition: &PartitionClient) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut produced = 0_u64;
    order_batches(store, async |batch| {
        produced += batch.len() as u64;
        let records = batch
            .iter()
            .map(|event| Record {
                key: Some(event.stream.as_str().as_bytes().to_vec()),
                value: Some(event.data.to_vec()),
                headers: BTreeMap::from([
                    ("Eventfold-Stream".to_owned(), event.stream.as_str().as_bytes().to_vec()),
                    ("Eventfold-Event-Type".to_owned(), event.event_type.as_bytes().to_vec()),
                    ("Eventfold-Revision".to_owned(), event.revision.to_string().into_bytes()),
                    ("Eventfold-Position".to_owned(), event.position.0.to_string().into_bytes()),
                    ("Eventfold-Event-Id".to_owned(), event.id.to_string().into_bytes()),
                ]),
                timestamp: rskafka::chrono::DateTime::from_timestamp_millis(event.created.unix_millis())
                    .unwrap_or_default(),
            })
            .collect();
        bounded(partition.produce(records, Compression::NoCompression), "producing a batch").await?;
        Ok(())
    })
    .await?;
    Ok((started.elapsed(), produced))
}

/// The records read from the topic's one partition so far. Counted by
/// fetching them, not from the partition's end offset: the test broker's
/// end offset after a multi-record batch is not always the record count.
struct RecordCounter {
    next_offset: i64,
    records: u64,
}

impl RecordCounter {
    fn new() -> Self {
        Self { next_offset: 0, records: 0 }
    }

    /// Fetches what was added since the last call; the records so far.
    async fn count(&mut self, partition: &PartitionClient) -> anyhow::Result<u64> {
        loop {
            let (batch, high_watermark) =
                bounded(partition.fetch_records(self.next_offset, 1..4_000_000, 10), "fetching records").await?;
            for record in &batch {
                self.records += 1;
                self.next_offset = self.next_offset.max(record.offset + 1);
            }
            if batch.is_empty() || self.next_offset >= high_watermark {
                return Ok(self.records);
            }
        }
    }
}

async fn wait_for_records(
    counter: &mut RecordCounter,
    partition: &PartitionClient,
    count: u64,
    started: Instant,
) -> anyhow::Result<()> {
    loop {
        let written = counter.count(partition).await?;
        if written >= count {
            return Ok(());
        }
        if started.elapsed() > DELIVERY_TIMEOUT {
            bail!("the connector produced {written} of {count} records in {DELIVERY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Single appends, each timed until its record is in the topic.
async fn lag(
    store: &Arc<dyn EventStore>,
    counter: &mut RecordCounter,
    partition: &PartitionClient,
) -> anyhow::Result<Value> {
    let stream = StreamName::new("kafka-lag-probe").context("stream name")?;
    let mut latencies = Latencies::new();
    for sample in 0..LAG_SAMPLES {
        let before = counter.count(partition).await?;
        let started = Instant::now();
        let event = ProposedEvent::json("OrderPlaced", event_body(sample));
        store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, vec![event])).await?;
        while counter.count(partition).await? <= before {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("an appended event was not in the topic within 30 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.record(started.elapsed());
    }
    Ok(latencies.to_json())
}
