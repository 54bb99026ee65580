//! The Redis sink against a throwaway Redis (append-only file, `appendfsync
//! always`), over the embedded engine: 100k events become exactly the
//! stream entries expected, in order; Redis killed and started again
//! mid-run loses and duplicates nothing; an event without a templated field
//! and one Redis refuses are dead-lettered while the rest flows; an
//! unreachable server or a bad template is refused at create.

mod support;

use std::time::Duration;

use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use eventfold_store::{AppendRequest, ExpectedRevision, ProposedEvent};
use eventfold_testkit::redis_server::RedisServer;
use redis::aio::MultiplexedConnection;
use serde_json::json;
use support::{Node, name, wait_until};

/// A connection for the checks; patient, as Redis is busy with fsyncs
/// (the client's default waits half a second for an answer).
async fn client(redis: &RedisServer) -> MultiplexedConnection {
    let client = redis::Client::open(redis.url()).expect("a Redis URL");
    let patient = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    client.get_multiplexed_async_connection_with_config(&patient).await.expect("connect to Redis")
}

/// Each event becomes an entry of the Redis stream `orders:<stream>`, its
/// value the event's `n`.
fn settings(redis: &RedisServer) -> serde_json::Value {
    json!({
        "instanceTypeName": "redis-sink",
        "url": redis.url(),
        "command": "XADD",
        "key": "orders:{stream}",
        "value": "{/n}",
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 300,
    })
}

async fn length(connection: &mut MultiplexedConnection, stream: &str) -> usize {
    redis::cmd("XLEN").arg(format!("orders:{stream}")).query_async(connection).await.expect("XLEN")
}

async fn total(connection: &mut MultiplexedConnection, streams: usize) -> usize {
    let mut sum = 0;
    for stream in 0..streams {
        sum += length(connection, &format!("order-{stream}")).await;
    }
    sum
}

/// Each stream's entries are its events exactly once, in order: revisions
/// 0..count, each with the `n` it was appended with, ids rising.
async fn assert_exact(connection: &mut MultiplexedConnection, stream: &str, count: usize) {
    type Entry = (String, Vec<(String, String)>);
    let entries: Vec<Entry> = redis::cmd("XRANGE")
        .arg(format!("orders:{stream}"))
        .arg("-")
        .arg("+")
        .query_async(connection)
        .await
        .expect("XRANGE");
    assert_eq!(entries.len(), count, "{stream}: every event exactly once");
    for (index, (_, fields)) in entries.iter().enumerate() {
        let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
        assert_eq!(field("stream"), Some(stream));
        assert_eq!(field("revision"), Some(index.to_string().as_str()), "{stream}: in order");
        assert_eq!(field("value"), Some(index.to_string().as_str()), "{stream}: the event's content");
        assert_eq!(field("eventType"), Some("OrderPlaced"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_become_exactly_the_entries_expected() {
    let Some(redis) = RedisServer::for_test() else { return };
    let mut target = client(&redis).await;
    let node = Node::start().await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 0, 500, "OrderPlaced").await;
    }
    node.create("orders", settings(&redis)).await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 500, 500, "OrderPlaced").await;
    }
    wait_until("every entry written", || {
        let mut target = target.clone();
        async move { total(&mut target, 100).await >= 100_000 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for stream in 0..100 {
        assert_exact(&mut target, &format!("order-{stream}"), 1000).await;
    }
    let checkpoint: String =
        redis::cmd("GET").arg("eventfold:connector:orders:position").query_async(&mut target).await.expect("GET");
    let last = node.read("order-99").await.pop().expect("order-99 has events");
    assert_eq!(checkpoint, last.position.0.to_string(), "the checkpoint is the last event's position");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_loses_and_duplicates_nothing() {
    let Some(mut redis) = RedisServer::for_test() else { return };
    let node = Node::start().await;
    node.create("orders", settings(&redis)).await;
    let writer = support::spawn_orders_writer(std::sync::Arc::clone(&node.store));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        redis.kill().expect("kill Redis");
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.start_again().expect("start Redis again");
    }
    writer.await.expect("the writer");
    let mut target = client(&redis).await;
    wait_until("every entry written", || {
        let mut target = target.clone();
        async move { total(&mut target, 10).await >= 20_000 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for stream in 0..10 {
        assert_exact(&mut target, &format!("order-{stream}"), 2000).await;
    }
    let info = node.connectors.info("orders").await.expect("status");
    assert!(info.errors > 0, "the crashes were seen: {info:?}");
    assert_eq!(info.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_are_dead_lettered_while_the_rest_flows() {
    let Some(redis) = RedisServer::for_test() else { return };
    let mut target = client(&redis).await;
    // `orders:order-3` holds a string: Redis refuses to XADD to it.
    let () = redis::cmd("SET").arg("orders:order-3").arg("taken").query_async(&mut target).await.expect("SET");
    let node = Node::start().await;
    node.append("order-1", 0, 200, "OrderPlaced").await;
    let no_n = ProposedEvent::json("OrderPlaced", r#"{"other":1}"#);
    node.store.append(AppendRequest::new(name("order-2"), ExpectedRevision::Any, vec![no_n])).await.expect("append");
    node.append("order-3", 0, 1, "OrderPlaced").await;
    node.append("order-1", 200, 200, "OrderPlaced").await;
    node.create("orders", settings(&redis)).await;
    wait_until("the rest written", || {
        let mut target = target.clone();
        async move { length(&mut target, "order-1").await >= 400 }
    })
    .await;
    wait_until("both poison events dead-lettered", || async {
        node.connectors.info("orders").await.is_ok_and(|info| info.dead_lettered == 2)
    })
    .await;
    assert_exact(&mut target, "order-1", 400).await;
    let dead = node.read(dead_letter_stream("orders").as_str()).await;
    let reasons: Vec<(String, String)> = dead
        .iter()
        .map(|letter| {
            let metadata: serde_json::Value = serde_json::from_slice(&letter.metadata).expect("JSON metadata");
            (metadata["$originalStream"].as_str().unwrap_or("").to_owned(), metadata["$error"].to_string())
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, "order-2");
    assert!(reasons[0].1.contains("/n"), "{reasons:?}");
    assert_eq!(reasons[1].0, "order-3");
    assert!(reasons[1].1.contains("WRONGTYPE"), "{reasons:?}");

    // Neither is tried again after a restart.
    let node = node.restart().await;
    node.append("order-1", 400, 10, "OrderPlaced").await;
    wait_until("the next entries written", || {
        let mut target = target.clone();
        async move { length(&mut target, "order-1").await >= 410 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node.read(dead_letter_stream("orders").as_str()).await.len(), 2);
    assert_exact(&mut target, "order-1", 410).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_or_a_bad_template_is_refused_at_create() {
    let node = Node::start().await;
    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let unreachable = json!({
        "instanceTypeName": "redis-sink",
        "url": format!("redis://127.0.0.1:{port}"),
        "command": "SET",
        "key": "k",
    });
    let error = node
        .connectors
        .create("orders", None, unreachable.as_object().expect("object"))
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, ConnectorError::Target(_)), "{error:?}");

    let bad_template = json!({
        "instanceTypeName": "redis-sink",
        "url": format!("redis://127.0.0.1:{port}"),
        "command": "SET",
        "key": "order:{orderId}",
    });
    let error = node
        .connectors
        .create("orders", None, bad_template.as_object().expect("object"))
        .await
        .expect_err("not a placeholder");
    match error {
        ConnectorError::InvalidSettings(invalid) => assert_eq!(invalid.key, "key"),
        other => panic!("expected invalid settings, got {other:?}"),
    }
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
}
