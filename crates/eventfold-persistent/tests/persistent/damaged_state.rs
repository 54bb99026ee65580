//! Goal: the subsystem starts whatever state its streams are in, as older
//! versions let any client delete them: a tombstoned config stream leaves it
//! answering `Unavailable` with the reason (the store goes on serving); a
//! soft-deleted one is restored from what the log still holds; a group
//! whose own checkpoint stream is tombstoned fails alone.

use crate::support;

use eventfold_persistent::{CONFIG_STREAM, ConnectError, ConsumerOptions, CreateError, GroupError};
use eventfold_store::{DeleteMode, ExpectedRevision, ReadStreamRequest};
use futures::TryStreamExt;
use support::{Node, name, next, spec, stream_key, within};

#[tokio::test]
async fn a_tombstoned_config_stream_leaves_the_subsystem_unavailable_not_the_store() {
    let node = Node::start().await;
    let key = stream_key("orders", "billing");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    within(node.store.delete_stream(name(CONFIG_STREAM), ExpectedRevision::Any, DeleteMode::Tombstone))
        .await
        .expect("a tombstone written past the access check, as older versions allowed");

    let node = node.restart().await;
    let unavailable = |reason: &str| reason.contains("is deleted");
    match within(node.subscriptions.list(None)).await {
        Err(GroupError::Unavailable(reason)) => assert!(unavailable(&reason), "{reason}"),
        other => panic!("list: {other:?}"),
    }
    match within(node.subscriptions.create(spec(&stream_key("orders", "other"), |_| {}))).await {
        Err(CreateError::Unavailable(reason)) => assert!(unavailable(&reason), "{reason}"),
        other => panic!("create: {other:?}"),
    }
    let options = ConsumerOptions { max_in_flight: 10, from: "test".into(), name: "test".into() };
    assert!(matches!(within(node.subscriptions.connect(&key, options)).await, Err(ConnectError::Unavailable(_))));
    assert!(matches!(within(node.subscriptions.info(&key)).await, Err(GroupError::Unavailable(_))));
    assert!(within(node.subscriptions.restart()).await.is_err(), "a restart says why it cannot load");

    // The store itself is untouched.
    node.append("orders", 3).await;
    let events: Vec<_> = within(async {
        node.store.read_stream(ReadStreamRequest::forwards(name("orders"))).await.expect("read").try_collect().await
    })
    .await
    .expect("events");
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn a_soft_deleted_config_stream_is_restored_and_keeps_every_group() {
    let node = Node::start().await;
    node.append("orders", 2).await;
    let keys = [stream_key("orders", "a"), stream_key("orders", "b")];
    for key in &keys {
        within(node.subscriptions.create(spec(key, |_| {}))).await.expect("create");
    }
    within(node.store.delete_stream(name(CONFIG_STREAM), ExpectedRevision::Any, DeleteMode::Soft))
        .await
        .expect("a soft delete written past the access check");

    let node = node.restart().await;
    let listed = within(node.subscriptions.list(None)).await.expect("list");
    let mut names: Vec<String> = listed.iter().map(|info| info.spec.key.to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["orders::a", "orders::b"]);
    let mut consumer = node.connect(&keys[0], 10).await;
    assert_eq!(next(&mut consumer).await.event.revision, 0);
    // And what is changed now survives the next restart as well.
    within(node.subscriptions.delete(&keys[1])).await.expect("delete");
    drop(consumer);
    let node = node.restart().await;
    let listed = within(node.subscriptions.list(None)).await.expect("list");
    assert_eq!(listed.iter().map(|info| info.spec.key.to_string()).collect::<Vec<_>>(), vec!["orders::a"]);
}

#[tokio::test]
async fn a_tombstoned_checkpoint_stream_fails_its_group_only() {
    let node = Node::start().await;
    node.append("orders", 2).await;
    let (broken, fine) = (stream_key("orders", "broken"), stream_key("orders", "fine"));
    for key in [&broken, &fine] {
        within(node.subscriptions.create(spec(key, |_| {}))).await.expect("create");
    }
    let checkpoint = name(&format!("$persistentsubscription-{}-checkpoint", broken.subscription_id()));
    within(node.store.delete_stream(checkpoint, ExpectedRevision::Any, DeleteMode::Tombstone))
        .await
        .expect("tombstone the checkpoint stream");

    let node = node.restart().await;
    let info = within(node.subscriptions.info(&broken)).await.expect("info of the broken group");
    assert!(info.status.failure.as_deref().is_some_and(|failure| failure.contains("is deleted")), "{:?}", info.status);
    let mut consumer = node.connect(&fine, 10).await;
    assert_eq!(next(&mut consumer).await.event.revision, 0, "the other group delivers");
}
