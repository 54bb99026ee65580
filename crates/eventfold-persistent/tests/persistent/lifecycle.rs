//! Goal: groups are created, listed, described, updated and deleted as the
//! clients expect, with the errors they expect (exists, not found, invalid
//! settings, too many consumers), and a deleted group's consumers are told.

use crate::support;

use std::time::Duration;

use eventfold_persistent::{
    ConnectError, ConsumerEvent, ConsumerOptions, ConsumerStrategy, CreateError, DropReason, FilterExpression,
    FilterSpec, FilterTarget, GroupError, GroupSettings, GroupSpec, Source, StartFrom, UpdateError,
};
use eventfold_store::Position;
use support::{Node, all_key, name, next, spec, stream_key, within};

#[tokio::test]
async fn create_list_info_update_delete() {
    let node = Node::start().await;
    let key = stream_key("orders", "billing");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let again = within(node.subscriptions.create(spec(&key, |_| {}))).await;
    assert_eq!(again, Err(CreateError::AlreadyExists(key.clone())));

    let all = all_key("audit");
    let filter =
        FilterSpec { target: FilterTarget::EventType, expression: FilterExpression::Prefixes(vec!["Order".into()]) };
    let all_spec = GroupSpec {
        key: all.clone(),
        start_from: StartFrom::Position(Position(0)),
        filter: Some(filter.clone()),
        settings: GroupSettings::default(),
    };
    within(node.subscriptions.create(all_spec)).await.expect("create on $all");

    let listed = within(node.subscriptions.list(None)).await.expect("list");
    let keys: Vec<String> = listed.iter().map(|info| info.spec.key.to_string()).collect();
    assert_eq!(keys, vec!["orders::billing".to_owned(), "$all::audit".to_owned()]);
    let on_stream = within(node.subscriptions.list(Some(&Source::Stream(name("orders"))))).await.expect("list");
    assert_eq!(on_stream.len(), 1);
    assert_eq!(within(node.subscriptions.list(Some(&Source::Stream(name("other"))))).await.expect("list").len(), 0);

    let info = within(node.subscriptions.info(&all)).await.expect("info");
    assert_eq!(info.spec.filter, Some(filter));
    assert_eq!(info.spec.settings, GroupSettings::default());

    let settings = GroupSettings {
        consumer_strategy: ConsumerStrategy::DispatchToSingle,
        message_timeout: Duration::from_secs(5),
        ..GroupSettings::default()
    };
    within(node.subscriptions.update(&key, StartFrom::Revision(3), settings.clone())).await.expect("update");
    let info = within(node.subscriptions.info(&key)).await.expect("info");
    assert_eq!(info.spec.settings, settings);
    assert_eq!(info.spec.start_from, StartFrom::Revision(3));

    within(node.subscriptions.delete(&key)).await.expect("delete");
    assert_eq!(within(node.subscriptions.info(&key)).await, Err(GroupError::NotFound(key.clone())));
    assert_eq!(within(node.subscriptions.delete(&key)).await, Err(GroupError::NotFound(key.clone())));
    let update = within(node.subscriptions.update(&key, StartFrom::Start, GroupSettings::default())).await;
    assert_eq!(update, Err(UpdateError::NotFound(key.clone())));
    // A group of the same name can be created again.
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create again");
}

#[tokio::test]
async fn bad_settings_and_mismatched_starts_are_refused_with_a_reason() {
    let node = Node::start().await;
    let key = stream_key("s", "g");
    let refused = within(node.subscriptions.create(spec(&key, |settings| settings.read_batch_size = 900))).await;
    assert!(
        matches!(refused, Err(CreateError::InvalidSettings(ref error)) if error.reason.contains("read batch size"))
    );
    let mut wrong_start = spec(&key, |_| {});
    wrong_start.start_from = StartFrom::Position(Position(10));
    assert!(matches!(within(node.subscriptions.create(wrong_start)).await, Err(CreateError::InvalidSettings(_))));
    let mut bad_regex = spec(&all_key("g"), |_| {});
    bad_regex.filter =
        Some(FilterSpec { target: FilterTarget::StreamName, expression: FilterExpression::Regex("(".into()) });
    assert!(matches!(within(node.subscriptions.create(bad_regex)).await, Err(CreateError::InvalidSettings(_))));
    assert!(within(node.subscriptions.list(None)).await.expect("list").is_empty(), "nothing refused was created");
}

#[tokio::test]
async fn consumers_beyond_the_maximum_are_refused() {
    let node = Node::start().await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |settings| settings.max_subscriber_count = 1))).await.expect("create");
    let first = node.connect(&key, 10).await;
    let options = ConsumerOptions { max_in_flight: 10, from: "t".into(), name: "t".into() };
    let refused = within(node.subscriptions.connect(&key, options.clone())).await.err();
    assert_eq!(refused, Some(ConnectError::MaximumSubscribersReached(key.clone())));
    assert!(refused.is_some_and(|error| error.to_string().starts_with("Maximum subscriptions reached")));
    drop(first);
    // The slot frees once the first consumer is gone.
    support::eventually("the first consumer has left", async || {
        within(node.subscriptions.connect(&key, options.clone())).await.is_ok()
    })
    .await;
    let unknown = within(node.subscriptions.connect(&stream_key("s", "nope"), options)).await.err();
    assert_eq!(unknown, Some(ConnectError::NotFound(stream_key("s", "nope"))));
}

#[tokio::test]
async fn consumers_of_a_deleted_or_updated_group_are_dropped_with_the_reason() {
    let node = Node::start().await;
    node.append("s", 1).await;
    let key = stream_key("s", "g");
    within(node.subscriptions.create(spec(&key, |_| {}))).await.expect("create");
    let mut consumer = node.connect(&key, 10).await;
    next(&mut consumer).await;
    within(node.subscriptions.update(&key, StartFrom::Start, GroupSettings::default())).await.expect("update");
    assert_eq!(within(consumer.next()).await, Some(ConsumerEvent::Dropped(DropReason::Updated)));
    let mut consumer = node.connect(&key, 10).await;
    within(node.subscriptions.delete(&key)).await.expect("delete");
    loop {
        match within(consumer.next()).await {
            Some(ConsumerEvent::Event(_)) => continue,
            other => {
                assert_eq!(other, Some(ConsumerEvent::Dropped(DropReason::Deleted)));
                break;
            }
        }
    }
}
