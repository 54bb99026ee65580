//! Goal: everything a group is survives a restart of the store: its
//! definition (created, updated, deleted), its checkpoint (a clean stop
//! loses no acked progress; a crash re-delivers what was not checkpointed
//! and loses nothing), its parked events, and where "start from end" put it.

use crate::support;

use std::time::Duration;

use eventfold_persistent::{
    FilterExpression, FilterSpec, FilterTarget, GroupSettings, GroupSpec, NackAction, StartFrom,
};
use eventfold_store::{Position, ReadAllRequest};
use futures::TryStreamExt;
use support::{Node, all_key, eventually, next, numbers, quiet, revisions, spec, stream_key, take, within};

#[tokio::test]
async fn a_clean_restart_resumes_after_the_last_acked_event() {
    let node = Node::start().await;
    node.append("s", 10).await;
    let key = stream_key("s", "g");
    // Checkpoints would not be written on their own before the restart.
    let tuned = spec(&key, |settings| settings.min_checkpoint_count = 1000);
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 100).await;
    let first = take(&mut consumer, 10).await;
    within(consumer.control().ack(first[..6].iter().map(|delivery| delivery.ack_id()).collect())).await.expect("ack");
    eventually("six acks are processed", async || node.subscriptions.info(&key).await.expect("info").in_flight == 4)
        .await;
    drop(consumer);
    let node = node.restart().await;
    let info = within(node.subscriptions.info(&key)).await.expect("info after restart");
    assert_eq!(info.last_checkpointed, Some(5), "the stop wrote the last checkpoint");
    let mut consumer = node.connect(&key, 100).await;
    assert_eq!(revisions(&take(&mut consumer, 4).await), vec![6, 7, 8, 9]);
    assert_eq!(quiet(&mut consumer).await, None);
}

#[tokio::test]
async fn a_crash_redelivers_what_was_not_checkpointed_and_loses_nothing() {
    let node = Node::start().await;
    node.append("s", 10).await;
    let key = stream_key("s", "g");
    let tuned = spec(&key, |settings| {
        settings.min_checkpoint_count = 1;
        settings.max_checkpoint_count = 3;
        settings.checkpoint_after = Duration::from_secs(3600);
    });
    within(node.subscriptions.create(tuned)).await.expect("create");
    let mut consumer = node.connect(&key, 100).await;
    let first = take(&mut consumer, 10).await;
    within(consumer.control().ack(first[..4].iter().map(|delivery| delivery.ack_id()).collect())).await.expect("ack");
    eventually("the max-count checkpoint is written", async || {
        node.subscriptions.info(&key).await.expect("info").last_checkpointed == Some(3)
    })
    .await;
    drop(consumer);
    let node = node.crash().await;
    let mut consumer = node.connect(&key, 100).await;
    assert_eq!(revisions(&take(&mut consumer, 6).await), vec![4, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn definitions_updates_and_deletes_survive_restarts() {
    let node = Node::start().await;
    let kept = stream_key("s", "kept");
    let gone = stream_key("s", "gone");
    within(node.subscriptions.create(spec(&kept, |_| {}))).await.expect("create");
    within(node.subscriptions.create(spec(&gone, |_| {}))).await.expect("create");
    let settings = GroupSettings { max_retry_count: 3, ..GroupSettings::default() };
    within(node.subscriptions.update(&kept, StartFrom::Revision(2), settings.clone())).await.expect("update");
    within(node.subscriptions.delete(&gone)).await.expect("delete");
    // Enough groups for the config stream to snapshot and truncate.
    for index in 0..70 {
        let key = stream_key("many", &format!("g{index}"));
        within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
        if index % 2 == 0 {
            within(node.subscriptions.delete(&key)).await.expect("delete");
        }
    }
    let node = node.restart().await;
    let info = within(node.subscriptions.info(&kept)).await.expect("kept group");
    assert_eq!((info.spec.settings, info.spec.start_from), (settings, StartFrom::Revision(2)));
    assert!(within(node.subscriptions.info(&gone)).await.is_err(), "the deleted group stays deleted");
    let many: Vec<String> = within(node.subscriptions.list(None))
        .await
        .expect("list")
        .into_iter()
        .map(|info| info.spec.key.to_string())
        .filter(|key| key.starts_with("many::"))
        .collect();
    assert_eq!(many.len(), 35);
    assert!(many.iter().all(|key| key.trim_start_matches("many::g").parse::<u32>().is_ok_and(|index| index % 2 == 1)));
}

#[tokio::test]
async fn start_from_end_means_the_end_when_the_group_was_created() {
    let node = Node::start().await;
    node.append("s", 3).await;
    let key = stream_key("s", "g");
    let mut from_end = spec(&key, |_| {});
    from_end.start_from = StartFrom::End;
    within(node.subscriptions.create(from_end)).await.expect("create");
    node.append("s", 2).await;
    let node = node.restart().await;
    let mut consumer = node.connect(&key, 100).await;
    assert_eq!(revisions(&take(&mut consumer, 2).await), vec![3, 4]);
    assert_eq!(quiet(&mut consumer).await, None);
}

#[tokio::test]
async fn parked_events_survive_a_restart_and_replay_after_it() {
    let node = Node::start().await;
    node.append("s", 3).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let mut consumer = node.connect(&key, 100).await;
    let deliveries = take(&mut consumer, 3).await;
    let control = consumer.control();
    within(control.nack(vec![deliveries[0].ack_id(), deliveries[2].ack_id()], NackAction::Park, "bad".into()))
        .await
        .expect("nack");
    within(control.ack(vec![deliveries[1].ack_id()])).await.expect("ack");
    eventually("two are parked", async || node.subscriptions.info(&key).await.expect("info").parked_count == 2).await;
    drop(consumer);
    let node = node.restart().await;
    assert_eq!(within(node.subscriptions.info(&key)).await.expect("info").parked_count, 2);
    let mut consumer = node.connect(&key, 100).await;
    assert_eq!(quiet(&mut consumer).await, None, "everything was checkpointed or parked");
    within(node.subscriptions.replay_parked(&key, None)).await.expect("replay");
    let replayed = take(&mut consumer, 2).await;
    assert_eq!(numbers(&replayed), vec![0, 2]);
    within(consumer.control().ack(replayed.iter().map(|delivery| delivery.ack_id()).collect())).await.expect("ack");
    eventually("nothing is parked", async || node.subscriptions.info(&key).await.expect("info").parked_count == 0)
        .await;
}

#[tokio::test]
async fn an_all_group_starts_at_its_position_and_sees_only_what_its_filter_wants() {
    let node = Node::start().await;
    node.append("order-1", 2).await;
    node.append("cart-1", 2).await;
    node.append("order-2", 2).await;
    let events: Vec<_> =
        node.store.read_all(ReadAllRequest::forwards()).await.expect("read").try_collect().await.expect("events");
    let second_order = events.iter().filter(|event| event.stream.as_str() == "order-1").nth(1).expect("order-1 @1");
    let key = all_key("orders");
    let all_spec = GroupSpec {
        key: key.clone(),
        start_from: StartFrom::Position(Position(second_order.position.0)),
        filter: Some(FilterSpec {
            target: FilterTarget::StreamName,
            expression: FilterExpression::Regex("^order-".into()),
        }),
        settings: GroupSettings::default(),
    };
    within(node.subscriptions.create(all_spec)).await.expect("create");
    let mut consumer = node.connect(&key, 100).await;
    let deliveries = take(&mut consumer, 3).await;
    let seen: Vec<(String, u64)> =
        deliveries.iter().map(|delivery| (delivery.event.stream.to_string(), delivery.event.revision)).collect();
    assert_eq!(seen, vec![("order-1".into(), 1), ("order-2".into(), 0), ("order-2".into(), 1)]);
    node.append("cart-2", 1).await;
    node.append("order-3", 1).await;
    assert_eq!(next(&mut consumer).await.event.stream.as_str(), "order-3");
}
