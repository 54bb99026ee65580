//! What only the engine does with the store contract: idempotency across a
//! restart, its own size limit and directory lock, reopening, rebuilding a
//! lost index. The contract itself, case by case, is the conformance suite
//! (`eventfold_testkit::conformance`), run on every backend.

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ProposedEvent,
    ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent, StreamName,
};
use futures::{StreamExt, TryStreamExt};

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn events(count: usize) -> Vec<ProposedEvent> {
    (0..count).map(|index| ProposedEvent::json("Happened", format!("{{\"n\":{index}}}"))).collect()
}

async fn read_stream(engine: &Engine, request: ReadStreamRequest) -> Result<Vec<RecordedEvent>, ReadError> {
    engine.read_stream(request).await?.try_collect().await
}

async fn read_all(engine: &Engine, request: ReadAllRequest) -> Vec<RecordedEvent> {
    engine.read_all(request).await.expect("read all").try_collect().await.expect("events")
}
#[tokio::test]
async fn repeated_event_ids_return_the_original_result_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let stream = name("cart-9");
    let batch = events(3);
    let original = engine
        .append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, batch.clone()))
        .await
        .expect("append");
    let repeat = engine
        .append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, batch.clone()))
        .await
        .expect("repeat");
    assert_eq!(repeat, original);
    let repeat_any =
        engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, batch.clone())).await.expect("repeat");
    assert_eq!(repeat_any, original);
    drop(engine);
    // After a restart the recent-id memory is gone; exact expectations are
    // still idempotent because the log is checked.
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    let repeat =
        engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, batch)).await.expect("repeat");
    assert_eq!(repeat, original);
    let all = read_stream(&engine, ReadStreamRequest::forwards(stream)).await.expect("read");
    assert_eq!(all.len(), 3);
}
#[tokio::test]
async fn bad_input_gets_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EngineConfig::new(dir.path());
    config.max_append_bytes = 1000;
    let engine = Engine::open(config).expect("open");
    let big = ProposedEvent::json("Big", vec![b'x'; 1001]);
    let error =
        engine.append(AppendRequest::new(name("s"), ExpectedRevision::Any, vec![big])).await.expect_err("too big");
    assert!(matches!(error, AppendError::MaximumAppendSizeExceeded { max_bytes: 1000, .. }));
    let untyped = ProposedEvent::json("", "{}");
    let error = engine
        .append(AppendRequest::new(name("s"), ExpectedRevision::Any, vec![untyped]))
        .await
        .expect_err("empty type");
    assert!(matches!(error, AppendError::InvalidEvent { .. }));
    assert!(StreamName::new("").is_err());
    let second = Engine::open(EngineConfig::new(dir.path())).err().expect("directory is locked");
    assert!(second.to_string().contains("in use"));
}

#[tokio::test]
async fn reopening_serves_everything_and_continues_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EngineConfig::new(dir.path());
    config.segment_bytes_max = 4096;
    {
        let engine = Engine::open(config.clone()).expect("open");
        for _ in 0..50 {
            engine.append(AppendRequest::new(name("log-1"), ExpectedRevision::Any, events(3))).await.expect("append");
        }
        engine.shutdown().await;
    }
    let engine = Engine::open(config).expect("reopen");
    let stream = read_stream(&engine, ReadStreamRequest::forwards(name("log-1"))).await.expect("read");
    assert_eq!(stream.len(), 150);
    let outcome = engine
        .append(AppendRequest::new(name("log-1"), ExpectedRevision::Exact(149), events(1)))
        .await
        .expect("append");
    assert_eq!(outcome.current_revision, CurrentRevision::Current(150));
    assert_eq!(read_all(&engine, ReadAllRequest::forwards()).await.len(), 151);
}

#[tokio::test]
async fn a_lost_index_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
        engine.append(AppendRequest::new(name("x-1"), ExpectedRevision::Any, events(4))).await.expect("append");
        engine.append(AppendRequest::new(name("x-2"), ExpectedRevision::Any, events(2))).await.expect("append");
    }
    std::fs::remove_file(dir.path().join("index.redb")).expect("remove index");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    assert_eq!(engine.stream_revision(&name("x-1")).await.expect("revision"), CurrentRevision::Current(3));
    assert_eq!(read_stream(&engine, ReadStreamRequest::forwards(name("x-2"))).await.expect("read").len(), 2);
    let outcome =
        engine.append(AppendRequest::new(name("x-3"), ExpectedRevision::NoStream, events(1))).await.expect("append");
    assert_eq!(outcome.current_revision, CurrentRevision::Current(0));
    assert_eq!(read_stream(&engine, ReadStreamRequest::forwards(name("x-3"))).await.expect("read").len(), 1);
}

#[tokio::test]
async fn soft_delete_hides_the_stream_and_appends_continue_its_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let stream = name("order-5");
    engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(3))).await.expect("append");
    let wrong = engine
        .delete_stream(stream.clone(), ExpectedRevision::Exact(7), DeleteMode::Soft)
        .await
        .expect_err("wrong expected revision");
    assert!(matches!(wrong, AppendError::WrongExpectedVersion { actual: CurrentRevision::Current(2), .. }));
    let deleted =
        engine.delete_stream(stream.clone(), ExpectedRevision::Exact(2), DeleteMode::Soft).await.expect("delete");
    assert!(deleted.position.is_some());
    let missing = read_stream(&engine, ReadStreamRequest::forwards(stream.clone())).await.expect_err("hidden");
    assert_eq!(missing, ReadError::StreamNotFound { stream: stream.clone() });
    // The metadata stream carries the truncation, as clients read it.
    let metadata = read_stream(&engine, ReadStreamRequest::forwards(name("$$order-5"))).await.expect("metadata");
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata[0].event_type, "$metadata");
    // As EventStoreDB writes it: `$tb` = i64::MAX, "everything".
    assert!(std::str::from_utf8(&metadata[0].data).expect("utf8").contains(r#""$tb":9223372036854775807"#));

    let recreated = engine
        .append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(2)))
        .await
        .expect("recreate");
    assert_eq!(recreated.current_revision, CurrentRevision::Current(4));
    // Recreating rewrote `$tb` to the revision the stream starts again at.
    let metadata = read_stream(&engine, ReadStreamRequest::backwards(name("$$order-5"))).await.expect("metadata");
    assert_eq!(metadata.len(), 2);
    assert!(std::str::from_utf8(&metadata[0].data).expect("utf8").contains(r#""$tb":3"#));
    let visible = |events: Vec<RecordedEvent>| events.iter().map(|event| event.revision).collect::<Vec<_>>();
    let forwards = read_stream(&engine, ReadStreamRequest::forwards(stream.clone())).await.expect("read");
    assert_eq!(visible(forwards), vec![3, 4]);
    let backwards = read_stream(&engine, ReadStreamRequest::backwards(stream.clone())).await.expect("read");
    assert_eq!(visible(backwards), vec![4, 3]);
    drop(engine);
    // The truncation is derived from the log: it survives losing the index.
    std::fs::remove_file(dir.path().join("index.redb")).expect("remove index");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    let forwards = read_stream(&engine, ReadStreamRequest::forwards(stream)).await.expect("read");
    assert_eq!(visible(forwards), vec![3, 4]);
}

#[tokio::test]
async fn a_tombstoned_stream_is_deleted_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let stream = name("order-6");
    let missing = engine
        .delete_stream(stream.clone(), ExpectedRevision::Exact(0), DeleteMode::Tombstone)
        .await
        .expect_err("nothing to delete at revision 0");
    assert!(matches!(missing, AppendError::WrongExpectedVersion { actual: CurrentRevision::NoStream, .. }));
    engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(1))).await.expect("append");
    engine.delete_stream(stream.clone(), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    let deleted = AppendError::StreamDeleted { stream: stream.clone() };
    let append = engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events(1))).await;
    assert_eq!(append, Err(deleted.clone()));
    let again = engine.delete_stream(stream.clone(), ExpectedRevision::Any, DeleteMode::Soft).await;
    assert_eq!(again, Err(deleted));
    let read = read_stream(&engine, ReadStreamRequest::forwards(stream.clone())).await.expect_err("deleted");
    assert_eq!(read, ReadError::StreamDeleted { stream: stream.clone() });
    assert_eq!(engine.stream_revision(&stream).await, Err(ReadError::StreamDeleted { stream: stream.clone() }));
    let forged = ProposedEvent::json("$streamDeleted", "{}");
    let refused = engine.append(AppendRequest::new(name("other"), ExpectedRevision::Any, vec![forged])).await;
    assert!(matches!(refused, Err(AppendError::InvalidEvent { .. })));
    drop(engine);
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    let read = read_stream(&engine, ReadStreamRequest::forwards(stream.clone())).await.expect_err("still deleted");
    assert_eq!(read, ReadError::StreamDeleted { stream });
}

#[tokio::test]
async fn recreating_a_soft_deleted_stream_rewrites_its_truncation_once_and_keeps_its_other_metadata() {
    // Goal: the first append after a soft delete writes `$tb` = the revision
    // the stream starts again at (other keys kept), later appends write no
    // more metadata, a subscriber waiting on the deleted stream gets the new
    // events, and the state comes back the same from the log alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let stream = name("cart-9");
    let metadata_stream = name("$$cart-9");
    engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events(2))).await.expect("append");
    let owner = ProposedEvent::json("$metadata", r#"{"owner":"ann"}"#);
    engine.append(AppendRequest::new(metadata_stream.clone(), ExpectedRevision::Any, vec![owner])).await.expect("meta");
    engine.delete_stream(stream.clone(), ExpectedRevision::Any, DeleteMode::Soft).await.expect("delete");
    let mut subscription = engine
        .subscribe_to_stream(eventfold_store::SubscribeToStreamRequest {
            stream: stream.clone(),
            from: eventfold_store::SubscribeFrom::Start,
        })
        .await
        .expect("subscribe");
    // Caught up on the deleted stream: what follows comes live.
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), subscription.next()).await.expect("in time");
    assert!(matches!(first, Some(Ok(eventfold_store::SubscriptionItem::CaughtUp))));

    let outcomes = engine
        .append_transaction(vec![AppendRequest::new(stream.clone(), ExpectedRevision::Any, events(1))])
        .await
        .expect("recreate");
    assert_eq!(outcomes.len(), 1, "the caller sees its own request only");
    engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::Exact(2), events(1))).await.expect("append");

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
    let metadata = read_stream(&engine, ReadStreamRequest::forwards(metadata_stream.clone())).await.expect("metadata");
    assert_eq!(documents(metadata), expected);

    let items: Vec<_> = tokio::time::timeout(std::time::Duration::from_secs(30), subscription.take(2).collect())
        .await
        .expect("the subscriber gets the new events");
    let revisions: Vec<u64> = items
        .into_iter()
        .filter_map(|item| match item.expect("no error") {
            eventfold_store::SubscriptionItem::Event(event) => Some(event.revision),
            _ => None,
        })
        .collect();
    assert_eq!(revisions, vec![2, 3]);

    let visible = |events: Vec<RecordedEvent>| events.iter().map(|event| event.revision).collect::<Vec<_>>();
    assert_eq!(visible(read_stream(&engine, ReadStreamRequest::forwards(stream.clone())).await.expect("read")), [2, 3]);
    engine.shutdown().await;
    drop(engine);
    std::fs::remove_file(dir.path().join("index.redb")).expect("remove index");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen");
    assert_eq!(visible(read_stream(&engine, ReadStreamRequest::forwards(stream)).await.expect("read")), [2, 3]);
    let metadata = read_stream(&engine, ReadStreamRequest::forwards(metadata_stream)).await.expect("metadata");
    assert_eq!(documents(metadata), expected);
}
