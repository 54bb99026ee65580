//! Goal: a client that polls (the HTTP API) takes at most what it asks
//! for, keeps it in flight across requests until it acks or nacks by id,
//! gets back what timed out, and waits only briefly when nothing is ready.

use crate::support;

use std::time::Duration;

use eventfold_persistent::{ConnectError, NackAction, PolledRead};
use support::{Node, eventually, revisions, spec, stream_key, within};

fn poll(count: usize) -> PolledRead {
    PolledRead { count, from: "test".to_owned(), first_event_wait: Duration::from_millis(500) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_take_what_they_ask_and_keep_it_until_settled() {
    let node = Node::start().await;
    node.append("s", 5).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |settings| settings.message_timeout = Duration::from_millis(300))))
        .await
        .expect("create");

    let first = within(node.subscriptions.read_polled(&key, poll(2))).await.expect("read");
    assert_eq!(revisions(&first), [0, 1]);
    let second = within(node.subscriptions.read_polled(&key, poll(2))).await.expect("read");
    assert_eq!(revisions(&second), [2, 3], "what the first poll holds is not handed out again");
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    assert_eq!(info.in_flight, 4);

    let ids = |deliveries: &[eventfold_persistent::Delivery]| deliveries.iter().map(|d| d.ack_id()).collect();
    within(node.subscriptions.ack(&key, ids(&first))).await.expect("ack");
    let parked = vec![second[0].ack_id()];
    within(node.subscriptions.nack(&key, parked, NackAction::Park, "bad".into())).await.expect("nack");
    eventually("the ack and the park are counted", async || {
        let info = node.subscriptions.info(&key).await.expect("info");
        info.in_flight == 1 && info.parked_count == 1
    })
    .await;

    // Event 3 was never settled: once its timeout passes it comes back.
    let mut seen = Vec::new();
    eventually("the unsettled event comes back after its timeout", async || {
        let read = node.subscriptions.read_polled(&key, poll(5)).await.expect("read");
        seen.extend(revisions(&read));
        seen.contains(&3) && seen.contains(&4)
    })
    .await;
    assert!(!seen.contains(&0) && !seen.contains(&2), "acked and parked events stay settled: {seen:?}");
}

#[tokio::test]
async fn a_poll_waits_briefly_when_nothing_is_ready_and_names_a_missing_group() {
    let node = Node::start().await;
    let key = stream_key("empty", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let started = std::time::Instant::now();
    let read = within(node.subscriptions.read_polled(&key, poll(3))).await.expect("read");
    assert!(read.is_empty());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let missing = node.subscriptions.read_polled(&stream_key("empty", "nobody"), poll(1)).await;
    assert!(matches!(missing, Err(ConnectError::NotFound(_))));
}
