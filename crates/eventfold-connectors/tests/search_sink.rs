//! The Elasticsearch/OpenSearch sink against a stand-in server written in
//! the tests (neither can be installed here) that checks the `_bulk`
//! format and answers as they do, over the embedded engine: every event
//! indexed once under its id, in order, through 429 answers; a server down
//! for a while loses nothing; a document refused in its bulk item goes to
//! the dead-letter stream while the rest flows; an unreachable server is
//! refused at create.

mod support;

use std::collections::BTreeMap;

use eventfold_connectors::{ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use serde_json::{Value, json};
use support::search_server::SearchServer;
use support::{Node, wait_until};

fn settings(server: &SearchServer) -> Value {
    json!({
        "instanceTypeName": "elasticsearch-sink",
        "url": server.url(),
        "indexName": "events-{category}",
        "documentId": "{stream}-{revision}",
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 200,
    })
}

/// Each stream's revisions in the order first indexed, with each
/// document's index, id and content checked against its event.
fn first_indexed(server: &SearchServer) -> BTreeMap<String, Vec<u64>> {
    server.with(|indexed| {
        assert!(indexed.format_errors.is_empty(), "bulk format faults: {:?}", indexed.format_errors);
        let mut streams: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (index, id) in &indexed.operations {
            if !seen.insert((index.clone(), id.clone())) {
                continue;
            }
            let document = &indexed.indices[index][id];
            let stream = document["stream"].as_str().expect("stream").to_owned();
            let revision = document["revision"].as_u64().expect("revision");
            assert_eq!(id, &format!("{stream}-{revision}"), "the id template");
            assert_eq!(index, &format!("events-{}", stream.split('-').next().unwrap_or("")), "the index template");
            assert_eq!(document["data"]["n"].as_u64(), Some(revision), "content matches its revision");
            streams.entry(stream).or_default().push(revision);
        }
        streams
    })
}

fn documents(server: &SearchServer) -> usize {
    server.with(|indexed| indexed.indices.values().map(BTreeMap::len).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_indexed_once_in_order_through_busy_answers() {
    let node = Node::start().await;
    let server = SearchServer::start().await;
    const STREAMS: usize = 100;
    const PER_STREAM: usize = 1000;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), 0, PER_STREAM / 2, "OrderPlaced").await;
    }
    server.answer_busy(3);
    node.create("search", settings(&server)).await;
    for stream in 0..STREAMS {
        node.append(&format!("order-{stream}"), PER_STREAM / 2, PER_STREAM / 2, "OrderPlaced").await;
    }
    wait_until("every event indexed", || async { documents(&server) >= STREAMS * PER_STREAM }).await;
    let streams = first_indexed(&server);
    assert_eq!(streams.len(), STREAMS);
    for (stream, revisions) in &streams {
        assert_eq!(revisions, &(0..PER_STREAM as u64).collect::<Vec<_>>(), "{stream}: every revision, in order");
    }
    assert_eq!(server.with(|indexed| indexed.operations.len()), STREAMS * PER_STREAM, "each indexed once");
    let info = node.connectors.info("search").await.expect("status");
    assert!(info.errors >= 3, "the 429 answers were retried: {info:?}");
    assert_eq!(info.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_server_down_for_a_while_loses_nothing() {
    let node = Node::start().await;
    let mut server = SearchServer::start().await;
    let mut settings = settings(&server);
    settings["batching:batchSize"] = Value::from(100);
    node.create("search", settings).await;
    for stream in 0..4 {
        node.append(&format!("cart-{stream}"), 0, 500, "Added").await;
    }
    wait_until("some indexed", || async { documents(&server) >= 200 }).await;
    server.down().await;
    for stream in 0..4 {
        node.append(&format!("cart-{stream}"), 500, 500, "Added").await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    server.up().await;
    wait_until("every event indexed", || async { documents(&server) >= 4000 }).await;
    for (stream, revisions) in first_indexed(&server) {
        assert_eq!(revisions, (0..1000).collect::<Vec<u64>>(), "{stream}: every revision, in order");
    }
    assert_eq!(documents(&server), 4000, "one document per event, however often sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_refused_in_its_item_is_dead_lettered_and_the_rest_flows() {
    let node = Node::start().await;
    let server = SearchServer::start().await;
    node.append("pay-1", 0, 300, "Paid").await;
    node.store
        .append(eventfold_store::AppendRequest::new(
            support::name("pay-1"),
            eventfold_store::ExpectedRevision::Any,
            vec![eventfold_store::ProposedEvent::json("Paid", r#"{"stream":"pay-1","n":300,"poison":true}"#)],
        ))
        .await
        .expect("append the poison event");
    node.append("pay-1", 301, 299, "Paid").await;
    node.create("search", settings(&server)).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("search").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;
    wait_until("the rest indexed", || async { documents(&server) >= 599 }).await;
    let streams = first_indexed(&server);
    let expected: Vec<u64> = (0..600).filter(|revision| *revision != 300).collect();
    assert_eq!(streams["pay-1"], expected, "all but the poison event, in order");

    let dead = node.read(dead_letter_stream("search").as_str()).await;
    assert_eq!(dead.len(), 1);
    let metadata: Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalRevision"], 300);
    assert!(
        metadata["$error"].as_str().is_some_and(|error| error.contains("mapper_parsing_exception")),
        "the item's error: {metadata}"
    );
}

#[tokio::test]
async fn an_unreachable_server_or_bad_index_is_refused_and_nothing_is_stored() {
    let node = Node::start().await;
    let server = SearchServer::start().await;
    let port = eventfold_testkit::child_server::free_port().expect("a free port");
    let mut unreachable = settings(&server);
    unreachable["url"] = Value::from(format!("http://127.0.0.1:{port}"));
    let refused = node.connectors.create("bad", None, unreachable.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::Target(_))), "{refused:?}");
    let mut bad_index = settings(&server);
    bad_index["indexName"] = Value::from("events {stream}");
    let refused = node.connectors.create("bad", None, bad_index.as_object().expect("object")).await;
    assert!(matches!(refused, Err(ConnectorError::InvalidSettings(_))), "{refused:?}");
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
    node.create("good", settings(&server)).await;
}
