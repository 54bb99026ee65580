//! Goal: the `$all` order never skips (PG-3). An append whose transaction
//! commits after later appends have committed and been read must show up
//! after everything a reader has already passed, never below it; and
//! several nodes on one database serve one order, an append through one
//! reaching a subscriber of another promptly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, StreamName, SubscribeFrom,
    SubscribeToAllRequest, SubscriptionItem, SubscriptionStream,
};
use eventfold_testkit::pg_server::PgServer;
use futures::{StreamExt, TryStreamExt};

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

async fn next_event(subscription: &mut SubscriptionStream) -> eventfold_store::RecordedEvent {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), subscription.next()).await {
            Ok(Some(Ok(SubscriptionItem::Event(event)))) => return event,
            Ok(Some(Ok(_))) => {}
            other => panic!("no event: {other:?}"),
        }
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_lands_after_what_readers_have_passed() {
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("ordering").expect("createdb");
    let url = server.url("ordering");
    let store = Arc::new(PostgresStore::open(PostgresConfig::new(&url)).await.expect("open"));
    store
        .append(AppendRequest::new(name("early-1"), ExpectedRevision::Any, vec![ProposedEvent::json("E", "{}")]))
        .await
        .expect("append");

    // A slow appender: its events are inserted first, its commit comes last.
    let mut slow = connect(&url).await;
    let transaction = slow.transaction().await.expect("begin");
    let stream_id: i64 = transaction
        .query_one("INSERT INTO eventfold_streams (name, next_revision) VALUES ('slow-1', 1) RETURNING stream_id", &[])
        .await
        .expect("stream row")
        .get(0);
    transaction
        .execute(
            "INSERT INTO eventfold_events (stream_id, revision, event_id, event_type, category, is_json, created, data, metadata) \
             VALUES ($1, 0, gen_random_uuid(), 'Slow', 'slow', true, 0, '\\x7b7d', '')",
            &[&stream_id],
        )
        .await
        .expect("event row");

    // Later appends commit and are sequenced while the slow one is open.
    let mut subscription = store
        .subscribe_to_all(SubscribeToAllRequest { from: SubscribeFrom::Start, filter: None, checkpoint_interval: None })
        .await
        .expect("subscribe");
    for index in 0..5 {
        let request = AppendRequest::new(
            name(&format!("fast-{index}")),
            ExpectedRevision::Any,
            vec![ProposedEvent::json("F", "{}")],
        );
        store.append(request).await.expect("append");
    }
    let mut passed = Vec::new();
    for _ in 0..6 {
        passed.push(next_event(&mut subscription).await.position);
    }
    let highest_passed = *passed.iter().max().expect("events");

    transaction.commit().await.expect("the slow commit");
    // The next append (or the sequencer's own timer) numbers the late event.
    store
        .append(AppendRequest::new(name("after-1"), ExpectedRevision::Any, vec![ProposedEvent::json("A", "{}")]))
        .await
        .expect("append");
    let late = next_event(&mut subscription).await;
    let after = next_event(&mut subscription).await;
    let mut arrived = [late.stream.to_string(), after.stream.to_string()];
    arrived.sort();
    assert_eq!(arrived, ["after-1", "slow-1"], "the late event is delivered, not skipped");
    assert!(late.position > highest_passed && after.position > highest_passed, "nothing lands below what was passed");

    // Positions are dense and `$all` reads what the subscriber saw.
    let all: Vec<_> = store.read_all(ReadAllRequest::forwards()).await.expect("read").try_collect().await.expect("all");
    let positions: Vec<u64> = all.iter().map(|event| event.position.0).collect();
    let stride = eventfold_postgres::POSITION_STRIDE;
    assert_eq!(positions, (1..=8).map(|sequence| sequence * stride).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_a_database_serve_one_order_and_reach_each_others_subscribers() {
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("nodes").expect("createdb");
    let url = server.url("nodes");
    let node_a = Arc::new(PostgresStore::open(PostgresConfig::new(&url)).await.expect("open a"));
    let node_b = Arc::new(PostgresStore::open(PostgresConfig::new(&url)).await.expect("open b"));
    let mut on_b = node_b
        .subscribe_to_all(SubscribeToAllRequest { from: SubscribeFrom::End, filter: None, checkpoint_interval: None })
        .await
        .expect("subscribe on b");
    // Appends through both nodes at once, to streams they share.
    let mut writers = Vec::new();
    for (node, label) in [(Arc::clone(&node_a), "a"), (Arc::clone(&node_b), "b")] {
        writers.push(tokio::spawn(async move {
            for index in 0..40 {
                let stream = name(&format!("shared-{}", index % 3));
                let event = ProposedEvent::json(format!("From{label}"), "{}");
                node.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut seen = Vec::new();
    while seen.len() < 80 {
        seen.push(next_event(&mut on_b).await);
    }
    let read_a: Vec<_> =
        node_a.read_all(ReadAllRequest::forwards()).await.expect("read").try_collect().await.expect("a");
    assert_eq!(seen, read_a, "b's subscriber sees a's order, every event once");

    // One append through A reaches B's subscriber promptly.
    let started = Instant::now();
    node_a
        .append(AppendRequest::new(name("ping-1"), ExpectedRevision::Any, vec![ProposedEvent::json("Ping", "{}")]))
        .await
        .expect("append");
    let ping = next_event(&mut on_b).await;
    assert_eq!(ping.stream.as_str(), "ping-1");
    let latency = started.elapsed();
    eprintln!("append on node A to event on node B's subscriber: {latency:?}");
    assert!(latency < Duration::from_secs(2), "{latency:?}");
}
