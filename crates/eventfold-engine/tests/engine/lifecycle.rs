//! Goal: what stream metadata and the virtual streams `$ce-<category>`,
//! `$et-<type>` and `$streams` make of the index survives losing the index
//! (the engine derives it from the log). Their behaviour on every backend
//! is the conformance suite's (`eventfold_testkit::conformance`).

use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendError, AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadError, ReadStreamRequest,
    RecordedEvent, StreamName, SubscribeFrom, SubscribeToStreamRequest, SubscriptionItem,
};
use futures::{StreamExt, TryStreamExt};

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn typed(event_type: &str, count: usize) -> Vec<ProposedEvent> {
    (0..count).map(|index| ProposedEvent::json(event_type, format!("{{\"n\":{index}}}"))).collect()
}

async fn read(engine: &Engine, stream: &str) -> Result<Vec<RecordedEvent>, ReadError> {
    engine.read_stream(ReadStreamRequest::forwards(name(stream))).await?.try_collect().await
}

async fn set_metadata(engine: &Engine, stream: &str, document: &str) -> Result<(), AppendError> {
    let metadata = ProposedEvent::json("$metadata", document.to_owned());
    engine.append(AppendRequest::new(name(&format!("$${stream}")), ExpectedRevision::Any, vec![metadata])).await?;
    Ok(())
}

fn revisions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.revision).collect()
}
#[tokio::test]
async fn categories_event_types_and_the_streams_list_are_served_as_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    engine.append(AppendRequest::new(name("order-1"), ExpectedRevision::Any, typed("Placed", 1))).await.expect("a");
    engine.append(AppendRequest::new(name("order-2"), ExpectedRevision::Any, typed("Placed", 1))).await.expect("b");
    engine.append(AppendRequest::new(name("order-1"), ExpectedRevision::Any, typed("Shipped", 1))).await.expect("c");
    engine.append(AppendRequest::new(name("user-1"), ExpectedRevision::Any, typed("Placed", 1))).await.expect("d");

    let check = |events: Vec<RecordedEvent>, stream: &str, targets: &[&str]| {
        assert_eq!(revisions(&events), (0..targets.len() as u64).collect::<Vec<_>>(), "{stream}");
        let data: Vec<String> = events.iter().map(|event| String::from_utf8_lossy(&event.data).into_owned()).collect();
        assert_eq!(data, targets.iter().map(|target| (*target).to_owned()).collect::<Vec<_>>(), "{stream}");
        assert!(events.iter().all(|event| event.event_type == "$>" && event.stream.as_str() == stream));
    };
    check(read(&engine, "$ce-order").await.expect("category"), "$ce-order", &["0@order-1", "0@order-2", "1@order-1"]);
    check(read(&engine, "$et-Placed").await.expect("type"), "$et-Placed", &["0@order-1", "0@order-2", "0@user-1"]);
    check(read(&engine, "$streams").await.expect("streams"), "$streams", &["0@order-1", "0@order-2", "0@user-1"]);
    let refused = engine.append(AppendRequest::new(name("$ce-order"), ExpectedRevision::Any, typed("X", 1))).await;
    assert!(matches!(refused, Err(AppendError::InvalidEvent { .. })));

    // A subscription to a category: history, caught up, then live links
    // numbered on from the history.
    let mut subscription = engine
        .subscribe_to_stream(SubscribeToStreamRequest { stream: name("$ce-order"), from: SubscribeFrom::Start })
        .await
        .expect("subscribe");
    let mut seen = Vec::new();
    let deadline = Duration::from_secs(30);
    while seen.len() < 3 {
        match tokio::time::timeout(deadline, subscription.next()).await.expect("in time") {
            Some(Ok(SubscriptionItem::Event(event))) => seen.push(event),
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    engine.append(AppendRequest::new(name("order-3"), ExpectedRevision::Any, typed("Placed", 1))).await.expect("e");
    engine.append(AppendRequest::new(name("user-2"), ExpectedRevision::Any, typed("Placed", 1))).await.expect("f");
    engine.append(AppendRequest::new(name("order-1"), ExpectedRevision::Any, typed("Paid", 1))).await.expect("g");
    while seen.len() < 5 {
        match tokio::time::timeout(deadline, subscription.next()).await.expect("in time") {
            Some(Ok(SubscriptionItem::Event(event))) => seen.push(event),
            Some(Ok(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let data: Vec<String> = seen.iter().map(|event| String::from_utf8_lossy(&event.data).into_owned()).collect();
    assert_eq!(data, vec!["0@order-1", "0@order-2", "1@order-1", "0@order-3", "2@order-1"]);
    assert_eq!(revisions(&seen), vec![0, 1, 2, 3, 4]);
    assert_eq!(read(&engine, "$ce-order").await.expect("category"), seen, "live links equal what a read serves");
    drop(subscription);
    drop(engine);

    std::fs::remove_file(dir.path().join("index.redb")).expect("remove index");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    assert_eq!(read(&engine, "$ce-order").await.expect("rebuilt category"), seen);
}

#[tokio::test]
async fn zero_max_count_and_max_age_are_no_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    engine.append(AppendRequest::new(name("cart-1"), ExpectedRevision::Any, typed("Added", 3))).await.expect("append");

    // EventStoreDB reads a limit of 0 as no limit, not as "keep nothing".
    set_metadata(&engine, "cart-1", r#"{"$maxCount": 0, "$maxAge": 0}"#).await.expect("zero limits");
    assert_eq!(revisions(&read(&engine, "cart-1").await.expect("read")), vec![0, 1, 2]);
    set_metadata(&engine, "cart-1", r#"{"$maxCount": 1}"#).await.expect("max count");
    assert_eq!(revisions(&read(&engine, "cart-1").await.expect("read")), vec![2]);
    drop(engine);

    // Recovery derives the same state from the log.
    std::fs::remove_file(dir.path().join("index.redb")).expect("remove index");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    assert_eq!(revisions(&read(&engine, "cart-1").await.expect("read")), vec![2]);
}
