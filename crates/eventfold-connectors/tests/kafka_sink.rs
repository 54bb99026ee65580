//! The Kafka sink against a throwaway Kafka-protocol broker (Tansu, memory
//! only), over the embedded engine: 100k events become exactly the records
//! expected, each stream's in order in one partition; eventfold restarted
//! mid-run loses nothing (the broker keeps nothing across its own restart,
//! so it is not restarted); an event without its key field is
//! dead-lettered while the rest flows; an unreachable broker or a missing
//! topic is refused at create.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use eventfold_store::{AppendRequest, ExpectedRevision, ProposedEvent};
use eventfold_testkit::kafka_broker::KafkaBroker;
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::{Client, ClientBuilder};
use serde_json::json;
use support::{Node, name, wait_until};

const PARTITIONS: i32 = 4;

async fn client_with_topic(broker: &KafkaBroker) -> Client {
    let client = ClientBuilder::new(vec![broker.address()]).build().await.expect("connect to the broker");
    let controller = client.controller_client().expect("a controller client");
    controller.create_topic("orders", PARTITIONS, 1, 5_000).await.expect("create the topic");
    client
}

/// Each event becomes a record of `orders` keyed by its stream, its value
/// the event's `n`.
fn settings(broker: &KafkaBroker) -> serde_json::Value {
    json!({
        "instanceTypeName": "kafka-sink",
        "bootstrapServers": broker.address(),
        "topic": "orders",
        "value": "{/n}",
        "requestTimeoutMs": 5000,
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 300,
    })
}

/// Every record of `orders`, per stream, as (partition, revision, value).
async fn records(client: &Client) -> BTreeMap<String, Vec<(i32, u64, String)>> {
    let mut by_stream: BTreeMap<String, Vec<(i32, u64, String)>> = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let reader =
            client.partition_client("orders", partition, UnknownTopicHandling::Retry).await.expect("a partition");
        let mut offset = 0;
        loop {
            let (batch, high_watermark) = reader.fetch_records(offset, 1..4_000_000, 50).await.expect("fetch");
            for record in &batch {
                let header = |name: &str| String::from_utf8_lossy(&record.record.headers[name]).into_owned();
                let value = String::from_utf8_lossy(record.record.value.as_deref().unwrap_or_default()).into_owned();
                let revision = header("Eventfold-Revision").parse().expect("a revision");
                assert_eq!(
                    record.record.key.as_deref(),
                    Some(header("Eventfold-Stream").as_bytes()),
                    "keyed by stream"
                );
                by_stream.entry(header("Eventfold-Stream")).or_default().push((partition, revision, value));
                offset = offset.max(record.offset + 1);
            }
            if batch.is_empty() || offset >= high_watermark {
                break;
            }
        }
    }
    by_stream
}

async fn total(client: &Client) -> usize {
    records(client).await.values().map(Vec::len).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_become_exactly_the_records_expected() {
    let Some(broker) = KafkaBroker::for_test() else { return };
    let client = client_with_topic(&broker).await;
    let node = Node::start().await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 0, 500, "OrderPlaced").await;
    }
    node.create("orders", settings(&broker)).await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 500, 500, "OrderPlaced").await;
    }
    wait_until("every record produced", || async { total(&client).await >= 100_000 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let by_stream = records(&client).await;
    assert_eq!(by_stream.len(), 100);
    for (stream, records) in &by_stream {
        let partition = records[0].0;
        let expected: Vec<(i32, u64, String)> = (0..1000).map(|n| (partition, n, n.to_string())).collect();
        assert_eq!(records, &expected, "{stream}: once each, in order, in one partition, with its content");
    }
    let partitions: std::collections::BTreeSet<i32> = by_stream.values().map(|records| records[0].0).collect();
    assert_eq!(partitions.len(), PARTITIONS as usize, "streams spread over the partitions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventfold_restarted_mid_run_loses_nothing() {
    let Some(broker) = KafkaBroker::for_test() else { return };
    let client = client_with_topic(&broker).await;
    let node = Node::start().await;
    node.create("orders", settings(&broker)).await;
    for stream in 0..10 {
        node.append(&format!("order-{stream}"), 0, 1000, "OrderPlaced").await;
    }
    wait_until("some records produced", || async { total(&client).await >= 1000 }).await;
    let node = node.restart().await;
    for stream in 0..10 {
        node.append(&format!("order-{stream}"), 1000, 1000, "OrderPlaced").await;
    }
    wait_until("every event produced at least once", || async {
        records(&client).await.values().all(|records| records.iter().any(|record| record.1 == 1999))
            && records(&client).await.len() == 10
    })
    .await;
    // At least once: a stream's records may repeat a run after a restart,
    // but each revision is there, and the first time each appears is in order.
    for (stream, records) in records(&client).await {
        let mut next = 0;
        for (_, revision, value) in &records {
            assert_eq!(value, &revision.to_string(), "{stream}: content");
            if *revision == next {
                next += 1;
            } else {
                assert!(*revision < next, "{stream}: revision {revision} came before {next}");
            }
        }
        assert_eq!(next, 2000, "{stream}: every event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_its_key_field_is_dead_lettered_while_the_rest_flows() {
    let Some(broker) = KafkaBroker::for_test() else { return };
    let client = client_with_topic(&broker).await;
    let node = Node::start().await;
    node.append("order-1", 0, 200, "OrderPlaced").await;
    let no_stream = ProposedEvent::json("OrderPlaced", r#"{"n":0}"#);
    node.store
        .append(AppendRequest::new(name("order-2"), ExpectedRevision::Any, vec![no_stream]))
        .await
        .expect("append");
    node.append("order-1", 200, 200, "OrderPlaced").await;
    let mut keyed = settings(&broker);
    keyed["key"] = json!("{/stream}");
    node.create("orders", keyed).await;
    wait_until("the rest produced", || async { total(&client).await >= 400 }).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("orders").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let by_stream = records(&client).await;
    let revisions: Vec<u64> = by_stream["order-1"].iter().map(|record| record.1).collect();
    assert_eq!(revisions, (0..400).collect::<Vec<u64>>());
    assert!(!by_stream.contains_key("order-2"));
    let dead = node.read(dead_letter_stream("orders").as_str()).await;
    assert_eq!(dead.len(), 1);
    let metadata: serde_json::Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalStream"], "order-2");
    assert!(metadata["$error"].as_str().is_some_and(|error| error.contains("/stream")), "{metadata}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_or_a_missing_topic_is_refused_at_create() {
    let Some(broker) = KafkaBroker::for_test() else { return };
    drop(client_with_topic(&broker).await);
    let node = Node::start().await;
    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let mut unreachable = settings(&broker);
    unreachable["bootstrapServers"] = json!(format!("127.0.0.1:{port}"));
    unreachable["requestTimeoutMs"] = json!(1000);
    let error = node
        .connectors
        .create("orders", None, unreachable.as_object().expect("object"))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, ConnectorError::Target(_)), "{error:?}");

    let mut missing = settings(&broker);
    missing["topic"] = json!("invoices");
    let error =
        node.connectors.create("orders", None, missing.as_object().expect("object")).await.expect_err("no such topic");
    match error {
        ConnectorError::Target(reason) => assert!(reason.contains("invoices"), "{reason}"),
        other => panic!("expected a target error, got {other:?}"),
    }
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
}
