//! Soft deletes (the stream reads as not found, its revisions go on) and
//! tombstones (deleted for good).

use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, ReadError,
    ReadStreamRequest, RecordedEvent, SubscribeFrom, SubscribeToStreamRequest, SubscriptionItem,
};
use futures::StreamExt;

use super::{events, name, next_item, read_stream, revisions};

pub async fn soft_delete_hides_the_stream_and_appends_continue_its_revisions(store: Arc<dyn EventStore>) {
    let stream = name("order-5");
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(3))).await.expect("append");
    let wrong = store
        .delete_stream(stream.clone(), ExpectedRevision::Exact(7), DeleteMode::Soft)
        .await
        .expect_err("wrong expected revision");
    assert!(matches!(wrong, AppendError::WrongExpectedVersion { actual: CurrentRevision::Current(2), .. }));
    let deleted = store.delete_stream(stream.clone(), ExpectedRevision::Exact(2), DeleteMode::Soft).await.expect("del");
    assert!(deleted.position.is_some());
    let missing = read_stream(store.as_ref(), ReadStreamRequest::forwards(stream.clone())).await.expect_err("hidden");
    assert_eq!(missing, ReadError::StreamNotFound { stream: stream.clone() });
    // The metadata stream carries the truncation, as clients read it.
    let metadata = read_stream(store.as_ref(), ReadStreamRequest::forwards(name("$$order-5"))).await.expect("meta");
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata[0].event_type, "$metadata");
    // As EventStoreDB writes it: `$tb` = i64::MAX, "everything".
    assert!(std::str::from_utf8(&metadata[0].data).expect("utf8").contains(r#""$tb":9223372036854775807"#));

    let recreated = store
        .append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(2)))
        .await
        .expect("recreate");
    assert_eq!(recreated.current_revision, CurrentRevision::Current(4));
    // Recreating rewrote `$tb` to the revision the stream starts again at.
    let metadata = read_stream(store.as_ref(), ReadStreamRequest::backwards(name("$$order-5"))).await.expect("meta");
    assert_eq!(metadata.len(), 2);
    assert!(std::str::from_utf8(&metadata[0].data).expect("utf8").contains(r#""$tb":3"#));
    let forwards = read_stream(store.as_ref(), ReadStreamRequest::forwards(stream.clone())).await.expect("read");
    assert_eq!(revisions(&forwards), vec![3, 4]);
    let backwards = read_stream(store.as_ref(), ReadStreamRequest::backwards(stream)).await.expect("read");
    assert_eq!(revisions(&backwards), vec![4, 3]);
}

pub async fn a_tombstoned_stream_is_deleted_for_good(store: Arc<dyn EventStore>) {
    let stream = name("order-6");
    let missing = store
        .delete_stream(stream.clone(), ExpectedRevision::Exact(0), DeleteMode::Tombstone)
        .await
        .expect_err("nothing to delete at revision 0");
    assert!(matches!(missing, AppendError::WrongExpectedVersion { actual: CurrentRevision::NoStream, .. }));
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(1))).await.expect("append");
    store.delete_stream(stream.clone(), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    let deleted = AppendError::StreamDeleted { stream: stream.clone() };
    let append = store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events(1))).await;
    assert_eq!(append, Err(deleted.clone()));
    let again = store.delete_stream(stream.clone(), ExpectedRevision::Any, DeleteMode::Soft).await;
    assert_eq!(again, Err(deleted));
    let read = read_stream(store.as_ref(), ReadStreamRequest::forwards(stream.clone())).await.expect_err("deleted");
    assert_eq!(read, ReadError::StreamDeleted { stream: stream.clone() });
    assert_eq!(store.stream_revision(&stream).await, Err(ReadError::StreamDeleted { stream: stream.clone() }));
    let forged = ProposedEvent::json("$streamDeleted", "{}");
    let refused = store.append(AppendRequest::new(name("other"), ExpectedRevision::Any, vec![forged])).await;
    assert!(matches!(refused, Err(AppendError::InvalidEvent { .. })));
}

pub async fn recreating_a_soft_deleted_stream_rewrites_its_truncation_once_and_keeps_its_other_metadata(
    store: Arc<dyn EventStore>,
) {
    // Goal: the first append after a soft delete writes `$tb` = the revision
    // the stream starts again at (other keys kept), later appends write no
    // more metadata, and a subscriber waiting on the deleted stream gets the
    // new events.
    let stream = name("cart-9");
    let metadata_stream = name("$$cart-9");
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(2))).await.expect("append");
    let owner = ProposedEvent::json("$metadata", r#"{"owner":"ann"}"#);
    store.append(AppendRequest::new(metadata_stream.clone(), ExpectedRevision::Any, vec![owner])).await.expect("meta");
    store.delete_stream(stream.clone(), ExpectedRevision::Any, DeleteMode::Soft).await.expect("delete");
    let request = SubscribeToStreamRequest { stream: stream.clone(), from: SubscribeFrom::Start };
    let mut subscription = store.subscribe_to_stream(request).await.expect("subscribe");
    // Caught up on the deleted stream: what follows comes live.
    assert_eq!(next_item(&mut subscription).await, SubscriptionItem::CaughtUp);

    let outcomes = store
        .append_transaction(vec![AppendRequest::new(stream.clone(), ExpectedRevision::Any, events(1))])
        .await
        .expect("recreate");
    assert_eq!(outcomes.len(), 1, "the caller sees its own request only");
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Exact(2), events(1))).await.expect("append");

    let documents = |events: Vec<RecordedEvent>| {
        events
            .iter()
            .map(|event| serde_json::from_slice::<serde_json::Value>(&event.data).expect("json"))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        serde_json::json!({ "owner": "ann" }),
        serde_json::json!({ "owner": "ann", "$tb": 9223372036854775807_u64 }),
        serde_json::json!({ "owner": "ann", "$tb": 2 }),
    ];
    let metadata = read_stream(store.as_ref(), ReadStreamRequest::forwards(metadata_stream)).await.expect("metadata");
    assert_eq!(documents(metadata), expected);

    let items: Vec<_> = tokio::time::timeout(Duration::from_secs(30), subscription.take(2).collect())
        .await
        .expect("the subscriber gets the new events");
    let live: Vec<u64> = items
        .into_iter()
        .filter_map(|item| match item.expect("no error") {
            SubscriptionItem::Event(event) => Some(event.revision),
            _ => None,
        })
        .collect();
    assert_eq!(live, vec![2, 3]);
    let visible = read_stream(store.as_ref(), ReadStreamRequest::forwards(stream)).await.expect("read");
    assert_eq!(revisions(&visible), [2, 3]);
}
