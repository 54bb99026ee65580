//! Goal: a group's memory stays bounded whatever its backlog: it buffers no
//! more than its buffer size (and its byte cap) ahead of consumers, holds
//! no more in flight than consumers allow, and reads nothing while no
//! consumer would take it.

use crate::support;

use std::time::Duration;

use eventfold_store::{AppendRequest, ExpectedRevision, ProposedEvent};
use support::{Node, eventually, name, spec, stream_key, take, within};

#[tokio::test]
async fn a_large_backlog_is_read_only_as_fast_as_consumers_take_it() {
    let node = Node::start().await;
    for _ in 0..20 {
        node.append("s", 1000).await;
    }
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| {
        settings.history_buffer_size = 100;
        settings.read_batch_size = 10;
        settings.message_timeout = Duration::from_millis(100);
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    assert_eq!(info.last_known, None, "nothing is read without a consumer");

    let mut consumer = node.connect(&key, 10).await;
    take(&mut consumer, 10).await;
    // It never acks: its events time out again and again while the group
    // sits on its full buffer.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let info = within(node.subscriptions.info(&key)).await.expect("info");
        assert!(info.read_buffer_count <= 100, "buffer {} over its size", info.read_buffer_count);
        assert!(info.in_flight <= 10, "{} in flight over the consumer's 10", info.in_flight);
        assert!(info.retry_buffer_count <= 10, "{} retries: only what was in flight", info.retry_buffer_count);
        assert!(info.last_known.is_some_and(|last| last < 200), "read ahead to {:?}", info.last_known);
    }
}

#[tokio::test]
async fn big_events_are_bounded_by_bytes_not_only_by_count() {
    let node = Node::start().await;
    let big = "x".repeat(48 * 1024);
    for _ in 0..50 {
        let events = (0..20).map(|_| ProposedEvent::json("Big", format!("{{\"x\":\"{big}\"}}"))).collect();
        node.store.append(AppendRequest::new(name("big"), ExpectedRevision::Any, events)).await.expect("append");
    }
    let key = stream_key("big", "g");
    let tuned = spec(&key, |settings| {
        settings.history_buffer_size = 5000;
        settings.read_batch_size = 100;
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 1).await;
    take(&mut consumer, 1).await;
    eventually("the buffer has filled to its byte cap", async || {
        node.subscriptions.info(&key).await.expect("info").read_buffer_count > 600
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    // 32 MiB of 48 KiB events, give or take the last batch.
    assert!(info.read_buffer_count < 800, "{} big events buffered", info.read_buffer_count);
}
