//! Goal: a stream read with bounds (what KurrentDB sends clients at protocol
//! compatibility level 1) ends with the stream's last revision however far
//! the read went, and a forward read that finds nothing says first where the
//! stream goes on; not-found reads stay errors.

use std::sync::Arc;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, Direction, EventStore, ExpectedRevision, ProposedEvent, ReadError, ReadStreamRequest, RevisionFrom,
    StreamName, StreamReadItem, read_stream_with_bounds,
};
use futures::TryStreamExt;

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

/// Events by revision, `F` and `L` bounds, in the order read.
async fn read(store: &Arc<dyn EventStore>, request: ReadStreamRequest) -> Result<Vec<String>, ReadError> {
    let items: Vec<StreamReadItem> = read_stream_with_bounds(Arc::clone(store), request).await?.try_collect().await?;
    Ok(items
        .into_iter()
        .map(|item| match item {
            StreamReadItem::Event(event) => event.revision.to_string(),
            StreamReadItem::FirstStreamPosition(revision) => format!("F{revision}"),
            StreamReadItem::LastStreamPosition(revision) => format!("L{revision}"),
        })
        .collect())
}

#[tokio::test]
async fn stream_reads_end_with_the_last_revision_and_empty_forward_reads_say_where_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn EventStore> = Arc::new(Engine::open(EngineConfig::new(dir.path())).expect("open"));
    let stream = name("bounded-1");
    let events = (0..4).map(|index| ProposedEvent::json("Happened", format!("{{\"n\":{index}}}"))).collect();
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::NoStream, events)).await.expect("append");
    let request = |from, direction, max_count| ReadStreamRequest { stream: stream.clone(), from, direction, max_count };

    let everything = read(&store, ReadStreamRequest::forwards(stream.clone())).await.expect("read");
    assert_eq!(everything, ["0", "1", "2", "3", "L3"]);
    let two = read(&store, request(RevisionFrom::Start, Direction::Forwards, 2)).await.expect("read");
    assert_eq!(two, ["0", "1", "L3"]);
    let back = read(&store, request(RevisionFrom::Revision(1), Direction::Backwards, 5)).await.expect("read");
    assert_eq!(back, ["1", "0", "L3"]);
    let at_end = read(&store, request(RevisionFrom::Revision(4), Direction::Forwards, 5)).await.expect("read");
    assert_eq!(at_end, ["L3"]);
    let past_end = read(&store, request(RevisionFrom::Revision(9), Direction::Forwards, 5)).await.expect("read");
    assert_eq!(past_end, ["F4", "L3"]);
    let missing = read(&store, ReadStreamRequest::forwards(name("bounded-none"))).await;
    assert_eq!(missing, Err(ReadError::StreamNotFound { stream: name("bounded-none") }));
}
