//! Goal: each consumer strategy spreads events as it promises (round robin
//! alternates, dispatch-to-single fills one consumer first, pinned keeps a
//! stream on one consumer), and a consumer that leaves has its unacked
//! events delivered to the others.

use crate::support;

use std::collections::{BTreeSet, HashMap};

use eventfold_persistent::{ConsumerStrategy, Delivery};
use support::{Node, next, quiet, revisions, spec, stream_key, take, within};

async fn ack_all(consumer: &eventfold_persistent::Consumer, deliveries: &[Delivery]) {
    let ids = deliveries.iter().map(Delivery::ack_id).collect();
    within(consumer.control().ack(ids)).await.expect("ack");
}

#[tokio::test]
async fn round_robin_alternates_between_consumers() {
    let node = Node::start().await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| settings.consumer_strategy = ConsumerStrategy::RoundRobin);
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut first = node.connect(&key, 100).await;
    let mut second = node.connect(&key, 100).await;
    node.append("s", 10).await;
    let to_first = take(&mut first, 5).await;
    let to_second = take(&mut second, 5).await;
    assert_eq!(revisions(&to_first), vec![0, 2, 4, 6, 8]);
    assert_eq!(revisions(&to_second), vec![1, 3, 5, 7, 9]);
    ack_all(&first, &to_first).await;
    ack_all(&second, &to_second).await;
    assert_eq!(quiet(&mut first).await, None);
}

#[tokio::test]
async fn dispatch_to_single_fills_one_consumer_before_the_next() {
    let node = Node::start().await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| settings.consumer_strategy = ConsumerStrategy::DispatchToSingle);
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut first = node.connect(&key, 3).await;
    let mut second = node.connect(&key, 100).await;
    node.append("s", 5).await;
    assert_eq!(revisions(&take(&mut first, 3).await), vec![0, 1, 2]);
    assert_eq!(revisions(&take(&mut second, 2).await), vec![3, 4]);
}

#[tokio::test]
async fn pinned_keeps_each_stream_on_one_consumer() {
    let node = Node::start().await;
    let key = stream_key("$ce-order", "g");
    let tuned = spec(&key, |settings| {
        settings.consumer_strategy = ConsumerStrategy::Pinned;
        settings.resolve_links = true;
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut first = node.connect(&key, 1000).await;
    let mut second = node.connect(&key, 1000).await;
    for round in 0..5 {
        for stream in 0..8 {
            node.append(&format!("order-{stream}"), 1).await;
        }
        let _ = round;
    }
    // 40 events over two consumers: collect until all arrived.
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut received = 0;
    while received < 40 {
        let (index, delivery) = tokio::select! {
            delivery = next(&mut first) => (0, delivery),
            delivery = next(&mut second) => (1, delivery),
        };
        assert!(delivery.link.is_some(), "links are resolved");
        let stream = delivery.event.stream.to_string();
        let previous = owner.insert(stream.clone(), index);
        assert!(previous.is_none_or(|previous| previous == index), "{stream} moved between consumers");
        received += 1;
    }
    let used: BTreeSet<usize> = owner.values().copied().collect();
    assert_eq!(used.len(), 2, "eight streams spread over both consumers: {owner:?}");
}

#[tokio::test]
async fn a_consumer_that_leaves_has_its_events_delivered_to_another() {
    let node = Node::start().await;
    node.append("s", 6).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    // Full (4 of 4 unacked), so the next consumer gets the rest.
    let mut leaving = node.connect(&key, 4).await;
    assert_eq!(revisions(&take(&mut leaving, 4).await), vec![0, 1, 2, 3]);
    let mut staying = node.connect(&key, 100).await;
    let first_two = take(&mut staying, 2).await;
    assert_eq!(revisions(&first_two), vec![4, 5]);
    drop(leaving);
    let redelivered = take(&mut staying, 4).await;
    assert_eq!(revisions(&redelivered), vec![0, 1, 2, 3]);
    assert!(redelivered.iter().all(|delivery| delivery.retry_count == 1));
    ack_all(&staying, &first_two).await;
    ack_all(&staying, &redelivered).await;
    assert_eq!(quiet(&mut staying).await, None);
}
