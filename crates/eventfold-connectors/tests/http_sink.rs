//! The HTTP sink against a receiver written here, over the embedded engine:
//! every event delivered in order, a receiver that goes down and comes back
//! loses nothing, a rejected event goes to the dead-letter stream while the
//! rest flows, and a connector resumes from its checkpoint after a restart.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use eventfold_connectors::{ConnectorError, ConnectorState, DEFINITIONS_STREAM, dead_letter_stream};
use serde_json::{Value, json};
use support::receiver::{Received, Receiver};
use support::{Node, wait_until};

/// Every event's `(stream, n)` in the order received, and whether each
/// stream's events came in order (first deliveries; a redelivery after a
/// cut connection may repeat a batch).
fn by_stream(received: &[Received]) -> BTreeMap<String, Vec<u64>> {
    let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for item in received {
        let stream = item.event["stream"].as_str().expect("stream").to_owned();
        assert_eq!(item.event["data"]["stream"], Value::from(stream.as_str()), "content matches its stream");
        let revision = item.event["revision"].as_u64().expect("revision");
        assert_eq!(item.event["data"]["n"].as_u64(), Some(revision), "content matches its revision");
        streams.entry(stream).or_default().push(revision);
    }
    streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_arrive_once_each_in_order() {
    let node = Node::start().await;
    let receiver = Receiver::start().await;
    const STREAMS: usize = 100;
    const PER_STREAM: usize = 1000;
    // Half written before the connector exists (catch-up), half after (live).
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), 0, PER_STREAM / 2, "OrderPlaced").await;
    }
    node.create(
        "hook",
        json!({
            "instanceTypeName": "http-sink",
            "url": receiver.url("/in/{category}"),
            "authentication:method": "Bearer",
            "authentication:bearer:token": "s3cret",
            "batching:batchSize": 1000,
        }),
    )
    .await;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), PER_STREAM / 2, PER_STREAM / 2, "OrderPlaced").await;
    }
    wait_until("every event delivered", || async { receiver.count() >= STREAMS * PER_STREAM }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let received = receiver.events();
    assert_eq!(received.len(), STREAMS * PER_STREAM, "each event exactly once when nothing failed");
    let streams = by_stream(&received);
    assert_eq!(streams.len(), STREAMS);
    for (stream, revisions) in &streams {
        let expected: Vec<u64> = (0..PER_STREAM as u64).collect();
        assert_eq!(revisions, &expected, "{stream}: every revision, in order");
    }
    assert!(received.iter().all(|item| item.path == "/in/order"), "the URL template took the category");
    assert!(received.iter().all(|item| item.authorization.as_deref() == Some("Bearer s3cret")));

    let info = node.connectors.info("hook").await.expect("status");
    assert_eq!(info.state, ConnectorState::Running);
    assert_eq!(info.delivered, (STREAMS * PER_STREAM) as u64);
    assert_eq!(info.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_loses_nothing() {
    let node = Node::start().await;
    let mut receiver = Receiver::start().await;
    node.create(
        "hook",
        json!({
            "instanceTypeName": "http-sink",
            "url": receiver.url("/hook"),
            "batching:batchSize": 50,
            "resilience:maxRetries": 2,
            "resilience:firstDelayMs": 20,
            "resilience:maxDelayMs": 200,
        }),
    )
    .await;
    for stream in 0..4 {
        node.append(&format!("cart-{stream}"), 0, 500, "Added").await;
    }
    wait_until("some delivered", || async { receiver.count() >= 200 }).await;
    receiver.down().await;
    for stream in 0..4 {
        node.append(&format!("cart-{stream}"), 500, 500, "Added").await;
    }
    // Down for longer than the retry limit lasts: unreachable is waited
    // for, not counted against the events.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let while_down = node.connectors.info("hook").await.expect("status");
    assert!(while_down.errors > 0, "the failed attempts are counted: {while_down:?}");
    assert!(
        matches!(&while_down.state, ConnectorState::Faulted { reason } if reason.contains("unavailable")),
        "faulted with its reason while the receiver is down: {while_down:?}"
    );
    receiver.up().await;
    wait_until("every event delivered", || async {
        let unique: BTreeSet<(String, u64)> = receiver
            .events()
            .iter()
            .map(|item| {
                (item.event["stream"].as_str().unwrap_or("").to_owned(), item.event["revision"].as_u64().unwrap_or(0))
            })
            .collect();
        unique.len() == 4000
    })
    .await;
    wait_until("running again", || async {
        node.connectors.info("hook").await.is_ok_and(|info| info.state == ConnectorState::Running)
    })
    .await;
    for (stream, revisions) in by_stream(&receiver.events()) {
        let mut first_seen = Vec::new();
        for revision in revisions {
            if !first_seen.contains(&revision) {
                first_seen.push(revision);
            }
        }
        let expected: Vec<u64> = (0..1000).collect();
        assert_eq!(first_seen, expected, "{stream}: in order");
    }
    assert!(node.read(dead_letter_stream("hook").as_str()).await.is_empty(), "nothing dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_event_is_dead_lettered_and_the_rest_flows() {
    let node = Node::start().await;
    let receiver = Receiver::start().await;
    node.append("pay-1", 0, 300, "Paid").await;
    node.store
        .append(eventfold_store::AppendRequest::new(
            support::name("pay-1"),
            eventfold_store::ExpectedRevision::Any,
            vec![eventfold_store::ProposedEvent::json("Paid", r#"{"stream":"pay-1","n":300,"poison":true}"#)],
        ))
        .await
        .expect("append the poison event");
    node.append("pay-1", 301, 299, "Paid").await;
    node.create(
        "hook",
        json!({ "instanceTypeName": "http-sink", "url": receiver.url("/hook"), "batching:batchSize": 100 }),
    )
    .await;
    wait_until("the rest delivered", || async { receiver.count() >= 599 }).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("hook").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;

    let revisions = &by_stream(&receiver.events())["pay-1"];
    let expected: Vec<u64> = (0..600).filter(|revision| *revision != 300).collect();
    assert_eq!(revisions, &expected, "all but the poison event, in order, once");

    let dead = node.read(dead_letter_stream("hook").as_str()).await;
    assert_eq!(dead.len(), 1);
    let data: Value = serde_json::from_slice(&dead[0].data).expect("JSON data");
    assert_eq!(data["poison"], true);
    let metadata: Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalStream"], "pay-1");
    assert_eq!(metadata["$originalRevision"], 300);
    assert!(metadata["$error"].as_str().is_some_and(|error| error.contains("400")), "{metadata}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_resumes_from_its_checkpoint_after_a_restart() {
    let node = Node::start().await;
    let receiver = Receiver::start().await;
    node.create(
        "hook",
        json!({
            "instanceTypeName": "http-sink",
            "url": receiver.url("/hook"),
            "subscription:filter:scope": "stream",
            "subscription:filter:filterType": "prefix",
            "subscription:filter:expression": "keep-",
        }),
    )
    .await;
    node.append("keep-1", 0, 100, "Kept").await;
    node.append("skip-1", 0, 100, "Skipped").await;
    // Acknowledged, not only received: a stop while a request is in
    // flight may deliver it again (at least once).
    wait_until("first part delivered", || async {
        node.connectors.info("hook").await.is_ok_and(|info| info.delivered == 100)
    })
    .await;
    let node = node.restart().await;
    node.append("keep-1", 100, 100, "Kept").await;
    wait_until("second part delivered", || async {
        node.connectors.info("hook").await.is_ok_and(|info| info.delivered == 100)
    })
    .await;
    let revisions = &by_stream(&receiver.events())["keep-1"];
    let expected: Vec<u64> = (0..200).collect();
    assert_eq!(revisions, &expected, "nothing again after a clean restart, nothing filtered in");

    node.connectors.stop("hook").await.expect("stop");
    node.append("keep-1", 200, 10, "Kept").await;
    let node = node.restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 200, "a stopped connector stays stopped across a restart");
    node.connectors.start_connector("hook").await.expect("start");
    wait_until("the rest delivered after start", || async {
        node.connectors.info("hook").await.is_ok_and(|info| info.delivered == 10)
    })
    .await;
    assert_eq!(receiver.count(), 210);

    node.connectors.reset("hook", None).await.expect("reset");
    wait_until("everything again after a reset", || async { receiver.count() == 420 }).await;
}

#[tokio::test]
async fn bad_settings_are_refused_and_nothing_is_stored() {
    let node = Node::start().await;
    let attempts = [
        json!({ "instanceTypeName": "http-sink", "url": "not a url" }),
        json!({ "instanceTypeName": "http-sink" }),
        json!({ "instanceTypeName": "carrier-pigeon", "url": "http://127.0.0.1:9/x" }),
        json!({ "instanceTypeName": "http-sink", "url": "http://127.0.0.1:9/x", "batching:batchSize": 0 }),
        json!({ "instanceTypeName": "postgres-sink", "connectionString": "host=127.0.0.1 port=1 connect_timeout=2",
                "statements:X": "SELECT 1" }),
    ];
    for settings in attempts {
        let error =
            node.connectors.create("bad", None, settings.as_object().expect("object")).await.expect_err("refused");
        assert!(
            matches!(error, ConnectorError::InvalidSettings(_) | ConnectorError::Target(_)),
            "{settings}: {error:?}"
        );
    }
    let error = node
        .connectors
        .create(
            "bad/id",
            None,
            json!({"instanceTypeName": "http-sink", "url": "http://h/x"}).as_object().expect("object"),
        )
        .await
        .expect_err("bad id");
    assert!(matches!(error, ConnectorError::InvalidId { .. }));
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
    assert!(node.connectors.list().await.expect("list").is_empty(), "nothing started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_starts_at_the_head_and_keeps_it_while_stopped() {
    let node = Node::start().await;
    let receiver = Receiver::start().await;
    node.append("old-1", 0, 50, "Old").await;
    node.create(
        "hook",
        json!({ "instanceTypeName": "http-sink", "url": receiver.url("/hook"), "subscription:initialPosition": "latest" }),
    )
    .await;
    // Stopped before any new event: what comes while it is stopped is
    // still after its start, and is delivered once it starts again.
    node.connectors.stop("hook").await.expect("stop");
    node.append("new-1", 0, 20, "New").await;
    let node = node.restart().await;
    node.connectors.start_connector("hook").await.expect("start");
    wait_until("the new events delivered", || async { receiver.count() >= 20 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let streams = by_stream(&receiver.events());
    assert!(!streams.contains_key("old-1"), "nothing from before the start");
    assert_eq!(streams["new-1"], (0..20).collect::<Vec<u64>>());
}
