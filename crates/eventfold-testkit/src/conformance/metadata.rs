//! Stream metadata and retention, and the virtual streams `$ce-`, `$et-`
//! and `$streams`.

use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{
    AppendError, AppendRequest, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, RecordedEvent, SubscribeFrom,
    SubscribeToStreamRequest, SubscriptionItem,
};

use super::{name, next_item, read, revisions, typed};

async fn set_metadata(store: &dyn EventStore, stream: &str, document: &str) -> Result<(), AppendError> {
    let metadata = ProposedEvent::json("$metadata", document.to_owned());
    store.append(AppendRequest::new(name(&format!("$${stream}")), ExpectedRevision::Any, vec![metadata])).await?;
    Ok(())
}

pub async fn metadata_truncates_and_limits_what_reads_see(store: Arc<dyn EventStore>) {
    let store = store.as_ref();
    store.append(AppendRequest::new(name("cart-1"), ExpectedRevision::Any, typed("Added", 6))).await.expect("append");
    set_metadata(store, "cart-1", r#"{"$maxCount": 2}"#).await.expect("max count");
    assert_eq!(revisions(&read(store, "cart-1").await.expect("read")), vec![4, 5]);
    set_metadata(store, "cart-1", r#"{"$tb": 3, "owner": "ann"}"#).await.expect("truncate before");
    assert_eq!(revisions(&read(store, "cart-1").await.expect("read")), vec![3, 4, 5]);
    set_metadata(store, "cart-1", r#"{"$maxAge": 1}"#).await.expect("max age");
    assert_eq!(read(store, "cart-1").await.expect("read").len(), 6, "nothing is a second old yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let aged = read(store, "cart-1").await;
    assert!(aged.as_ref().map_or(true, Vec::is_empty), "every event is older than a second: {aged:?}");
    set_metadata(store, "cart-1", "{}").await.expect("clear");
    assert_eq!(read(store, "cart-1").await.expect("read").len(), 6);

    for bad in ["not json", "[1]", r#"{"$maxCount": "two"}"#, r#"{"$tb": -1}"#] {
        let refused = set_metadata(store, "cart-1", bad).await;
        assert!(matches!(refused, Err(AppendError::InvalidEvent { .. })), "{bad}: {refused:?}");
    }
    assert_eq!(read(store, "$$cart-1").await.expect("metadata stream").len(), 4, "refused documents wrote nothing");
}

pub async fn categories_event_types_and_the_streams_list_are_served_as_links(store: Arc<dyn EventStore>) {
    let append = |stream: &str, event_type: &str| {
        let store = Arc::clone(&store);
        let request = AppendRequest::new(name(stream), ExpectedRevision::Any, typed(event_type, 1));
        async move { store.append(request).await.expect("append") }
    };
    append("order-1", "Placed").await;
    append("order-2", "Placed").await;
    append("order-1", "Shipped").await;
    append("user-1", "Placed").await;

    let check = |events: Vec<RecordedEvent>, stream: &str, targets: &[&str]| {
        assert_eq!(revisions(&events), (0..targets.len() as u64).collect::<Vec<_>>(), "{stream}");
        let data: Vec<String> = events.iter().map(|event| String::from_utf8_lossy(&event.data).into_owned()).collect();
        assert_eq!(data, targets.iter().map(|target| (*target).to_owned()).collect::<Vec<_>>(), "{stream}");
        assert!(events.iter().all(|event| event.event_type == "$>" && event.stream.as_str() == stream));
    };
    let store_ref = store.as_ref();
    check(read(store_ref, "$ce-order").await.expect("category"), "$ce-order", &["0@order-1", "0@order-2", "1@order-1"]);
    check(read(store_ref, "$et-Placed").await.expect("type"), "$et-Placed", &["0@order-1", "0@order-2", "0@user-1"]);
    check(read(store_ref, "$streams").await.expect("streams"), "$streams", &["0@order-1", "0@order-2", "0@user-1"]);

    // A subscription to a category: history, caught up, then live links
    // numbered on from the history.
    let request = SubscribeToStreamRequest { stream: name("$ce-order"), from: SubscribeFrom::Start };
    let mut subscription = store.subscribe_to_stream(request).await.expect("subscribe");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        if let SubscriptionItem::Event(event) = next_item(&mut subscription).await {
            seen.push(event);
        }
    }
    append("order-3", "Placed").await;
    append("user-2", "Placed").await;
    append("order-1", "Paid").await;
    while seen.len() < 5 {
        if let SubscriptionItem::Event(event) = next_item(&mut subscription).await {
            seen.push(event);
        }
    }
    let data: Vec<String> = seen.iter().map(|event| String::from_utf8_lossy(&event.data).into_owned()).collect();
    assert_eq!(data, vec!["0@order-1", "0@order-2", "1@order-1", "0@order-3", "2@order-1"]);
    assert_eq!(revisions(&seen), vec![0, 1, 2, 3, 4]);
    assert_eq!(read(store_ref, "$ce-order").await.expect("category"), seen, "live links equal what a read serves");
}

pub async fn zero_max_count_and_max_age_are_no_limit(store: Arc<dyn EventStore>) {
    let store = store.as_ref();
    store.append(AppendRequest::new(name("cart-1"), ExpectedRevision::Any, typed("Added", 3))).await.expect("append");
    // EventStoreDB reads a limit of 0 as no limit, not as "keep nothing".
    set_metadata(store, "cart-1", r#"{"$maxCount": 0, "$maxAge": 0}"#).await.expect("zero limits");
    assert_eq!(revisions(&read(store, "cart-1").await.expect("read")), vec![0, 1, 2]);
    set_metadata(store, "cart-1", r#"{"$maxCount": 1}"#).await.expect("max count");
    assert_eq!(revisions(&read(store, "cart-1").await.expect("read")), vec![2]);
}

pub async fn the_metadata_stream_of_a_tombstoned_stream_refuses_appends(store: Arc<dyn EventStore>) {
    let store_ref = store.as_ref();
    let append = |stream: &str| AppendRequest::new(name(stream), ExpectedRevision::Any, typed("Added", 1));
    store.append(append("cart-1")).await.expect("append");
    set_metadata(store_ref, "cart-1", r#"{"owner": "ann"}"#).await.expect("metadata before");
    store.delete_stream(name("cart-1"), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    match set_metadata(store_ref, "cart-1", r#"{"owner": "bob"}"#).await {
        Err(AppendError::StreamDeleted { stream }) => assert_eq!(stream.as_str(), "$$cart-1"),
        other => panic!("expected StreamDeleted, got {other:?}"),
    }
    assert_eq!(read(store_ref, "$$cart-1").await.expect("metadata stream").len(), 1, "nothing was written");
    // A soft-deleted stream's metadata can still be written; so can the
    // metadata of a stream yet to exist.
    store.append(append("cart-2")).await.expect("append");
    store.delete_stream(name("cart-2"), ExpectedRevision::Any, DeleteMode::Soft).await.expect("soft delete");
    set_metadata(store_ref, "cart-2", r#"{"owner": "ann"}"#).await.expect("metadata of a soft-deleted stream");
    set_metadata(store_ref, "cart-3", r#"{"owner": "ann"}"#).await.expect("metadata of a stream yet to exist");

    // A metadata append racing a tombstone never lands after it.
    for index in 0..20 {
        let stream = format!("race-{index}");
        store.append(append(&stream)).await.expect("append");
        let metadata = ProposedEvent::json("$metadata", r#"{"$maxCount": 3}"#.to_owned());
        let (tombstone, raced) = tokio::join!(
            store.delete_stream(name(&stream), ExpectedRevision::Any, DeleteMode::Tombstone),
            store.append(AppendRequest::new(name(&format!("$${stream}")), ExpectedRevision::Any, vec![metadata])),
        );
        let tombstone = tombstone.expect("tombstone").position.expect("a tombstone position");
        match raced {
            Ok(outcome) => assert!(outcome.position.expect("a position") < tombstone, "{stream}: after the tombstone"),
            Err(AppendError::StreamDeleted { .. }) => {}
            Err(other) => panic!("{stream}: {other}"),
        }
    }
}
