//! The NATS JetStream sink against a throwaway nats-server (JetStream,
//! file storage), over the embedded engine: 100k events become exactly the
//! messages expected, in order per stream; the server killed and started
//! again mid-run loses nothing and, within JetStream's duplicate window,
//! stores nothing twice; an event without a templated field is
//! dead-lettered while the rest flows; an unreachable server or a subject
//! no stream covers is refused at create.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use eventfold_store::{AppendRequest, ExpectedRevision, ProposedEvent};
use eventfold_testkit::nats_server::NatsServer;
use futures::StreamExt;
use serde_json::json;
use support::{Node, name, wait_until, within};

/// A JetStream stream `ORDERS` on `orders.>`, on disk.
async fn orders_stream(nats: &NatsServer) -> jetstream::Context {
    let client = async_nats::connect(nats.url()).await.expect("connect to NATS");
    let context = jetstream::new(client);
    let config = stream::Config {
        name: "ORDERS".into(),
        subjects: vec!["orders.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    };
    context.create_stream(config).await.expect("create the JetStream stream");
    context
}

/// Each event becomes a message on `orders.<stream>`, its payload the
/// event's `n`.
fn settings(nats: &NatsServer) -> serde_json::Value {
    json!({
        "instanceTypeName": "nats-sink",
        "url": nats.url(),
        "subject": "orders.{stream}",
        "payload": "{/n}",
        "requestTimeoutMs": 2000,
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 300,
    })
}

async fn stored(context: &jetstream::Context) -> u64 {
    match context.get_stream("ORDERS").await {
        Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
        Err(_) => 0,
    }
}

/// Every message of `ORDERS` in order: each stream's messages are its
/// events exactly once, in order (revision and `n` both 0, 1, 2, ...), ids
/// all distinct.
async fn assert_exact(context: &jetstream::Context, streams: usize, per_stream: u64) {
    let total = streams as u64 * per_stream;
    assert_eq!(stored(context).await, total, "every event exactly once");
    let stream = context.get_stream("ORDERS").await.expect("the stream");
    let reader = stream
        .create_consumer(consumer::pull::Config { ack_policy: consumer::AckPolicy::None, ..Default::default() })
        .await
        .expect("a consumer");
    let mut messages = reader.messages().await.expect("read the messages");
    let mut next_revision: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..total {
        let message = within(messages.next()).await.expect("a message").expect("read a message");
        let headers = message.headers.as_ref().expect("headers");
        let header = |name: &str| headers.get(name).map(|value| value.as_str().to_owned()).expect(name);
        let stream = header("Eventfold-Stream");
        assert_eq!(message.subject.as_str(), format!("orders.{stream}"));
        let revision: u64 = header("Eventfold-Revision").parse().expect("a revision");
        let expected = next_revision.entry(stream.clone()).or_insert(0);
        assert_eq!(revision, *expected, "{stream}: in order, once");
        *expected += 1;
        assert_eq!(message.payload.as_ref(), revision.to_string().as_bytes(), "{stream}: the event's content");
        assert!(ids.insert(header("Nats-Msg-Id")), "message ids are distinct");
    }
    assert_eq!(next_revision.len(), streams);
    assert!(next_revision.values().all(|count| *count == per_stream), "{next_revision:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_become_exactly_the_messages_expected() {
    let Some(nats) = NatsServer::for_test() else { return };
    let context = orders_stream(&nats).await;
    let node = Node::start().await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 0, 500, "OrderPlaced").await;
    }
    node.create("orders", settings(&nats)).await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 500, 500, "OrderPlaced").await;
    }
    wait_until("every message stored", || async { stored(&context).await >= 100_000 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exact(&context, 100, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_mid_run_loses_and_duplicates_nothing() {
    let Some(mut nats) = NatsServer::for_test() else { return };
    drop(orders_stream(&nats).await);
    let node = Node::start().await;
    node.create("orders", settings(&nats)).await;
    let writer = support::spawn_orders_writer(std::sync::Arc::clone(&node.store));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        nats.kill().expect("kill NATS");
        tokio::time::sleep(Duration::from_millis(300)).await;
        nats.start_again().expect("start NATS again");
    }
    writer.await.expect("the writer");
    let client = async_nats::connect(nats.url()).await.expect("connect to NATS");
    let context = jetstream::new(client);
    wait_until("every message stored", || async { stored(&context).await >= 20_000 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_exact(&context, 10, 2000).await;
    let info = node.connectors.info("orders").await.expect("status");
    assert!(info.errors > 0, "the crashes were seen: {info:?}");
    assert_eq!(info.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_its_subject_field_is_dead_lettered_while_the_rest_flows() {
    let Some(nats) = NatsServer::for_test() else { return };
    let context = orders_stream(&nats).await;
    let node = Node::start().await;
    node.append("order-1", 0, 200, "OrderPlaced").await;
    let no_region = ProposedEvent::json("OrderPlaced", r#"{"n":0}"#);
    node.store
        .append(AppendRequest::new(name("order-2"), ExpectedRevision::Any, vec![no_region]))
        .await
        .expect("append");
    node.append("order-1", 200, 200, "OrderPlaced").await;
    let mut by_region = settings(&nats);
    by_region["subject"] = json!("orders.{/stream}.{/n}");
    node.create("orders", by_region).await;
    // `order-2`'s event has `n` but no `stream` field: its subject cannot be made.
    wait_until("the rest stored", || async { stored(&context).await >= 400 }).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("orders").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;
    let dead = node.read(dead_letter_stream("orders").as_str()).await;
    assert_eq!(dead.len(), 1);
    let metadata: serde_json::Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalStream"], "order-2");
    assert!(metadata["$error"].as_str().is_some_and(|error| error.contains("/stream")), "{metadata}");

    let node = node.restart().await;
    node.append("order-1", 400, 10, "OrderPlaced").await;
    wait_until("the next messages stored", || async { stored(&context).await >= 410 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored(&context).await, 410);
    assert_eq!(node.read(dead_letter_stream("orders").as_str()).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_or_an_uncovered_subject_is_refused_at_create() {
    let Some(nats) = NatsServer::for_test() else { return };
    drop(orders_stream(&nats).await);
    let node = Node::start().await;
    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let mut unreachable = settings(&nats);
    unreachable["url"] = json!(format!("nats://127.0.0.1:{port}"));
    let error = node
        .connectors
        .create("orders", None, unreachable.as_object().expect("object"))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, ConnectorError::Target(_)), "{error:?}");

    let mut uncovered = settings(&nats);
    uncovered["subject"] = json!("invoices.{stream}");
    let error = node
        .connectors
        .create("orders", None, uncovered.as_object().expect("object"))
        .await
        .expect_err("no stream covers invoices.>");
    match error {
        ConnectorError::Target(reason) => assert!(reason.contains("no JetStream stream"), "{reason}"),
        other => panic!("expected a target error, got {other:?}"),
    }
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
}
