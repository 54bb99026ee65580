//! Goal: on a store shared by several nodes the groups run on the leader
//! only. A follower runs none and answers every call with where the leader
//! is; when it leads it loads the groups from their checkpoints; when it
//! stops leading its consumers are dropped and told where the leader is.

use crate::support;

use std::sync::Arc;

use eventfold_persistent::{
    ConnectError, ConsumerEvent, ConsumerOptions, CreateError, DropReason, GroupError, PersistentSubscriptions,
    SubsystemOptions,
};
use eventfold_store::NodeEndpoint;
use support::{Node, next, spec, stream_key, within};

fn options() -> ConsumerOptions {
    ConsumerOptions { max_in_flight: 10, from: "test".into(), name: "test".into() }
}

fn leader() -> NodeEndpoint {
    NodeEndpoint { host: "10.0.0.7".into(), port: 2113 }
}

#[tokio::test]
async fn a_follower_runs_no_group_and_says_where_the_leader_is() {
    let node = Node::start().await;
    let key = stream_key("orders", "billing");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create on the leader");
    node.append("orders", 3).await;

    let follower =
        PersistentSubscriptions::follower(Arc::clone(&node.store), SubsystemOptions::default(), Some(leader()));
    assert_eq!(
        follower.create(spec(&stream_key("orders", "other"), |_| {})).await,
        Err(CreateError::NotLeader(leader()))
    );
    assert_eq!(follower.info(&key).await.map(|_| ()), Err(GroupError::NotLeader(leader())));
    assert_eq!(follower.list(None).await.map(|groups| groups.len()), Err(GroupError::NotLeader(leader())));
    let connected = follower.connect(&key, options()).await;
    assert!(matches!(connected, Err(ConnectError::NotLeader(endpoint)) if endpoint == leader()));

    // No leader known (the store cannot be reached): unavailable, saying so.
    follower.follow(None).await;
    assert!(
        matches!(follower.info(&key).await, Err(GroupError::Unavailable(reason)) if reason.contains("no node leads"))
    );

    // It leads now: the group is loaded from the store and delivers.
    node.subscriptions.shutdown().await;
    follower.lead().await;
    let info = within(follower.info(&key)).await.expect("the group runs here now");
    assert_eq!(info.spec.key, key);
    let mut consumer = within(follower.connect(&key, options())).await.expect("connect");
    let first = next(&mut consumer).await;
    assert_eq!(first.event.revision, 0);

    // Another node takes over: the consumer is dropped with where it leads.
    follower.follow(Some(leader())).await;
    let dropped = within(async {
        loop {
            match consumer.next().await {
                Some(ConsumerEvent::Dropped(reason)) => return Some(reason),
                Some(ConsumerEvent::Event(_)) => continue,
                None => return None,
            }
        }
    })
    .await;
    assert_eq!(dropped, Some(DropReason::NotLeader(Some(leader()))));
    assert_eq!(follower.info(&key).await.map(|_| ()), Err(GroupError::NotLeader(leader())));
}
