//! Tests of the writer that need to reach inside it: an interleaving forced
//! with a pause point (`hooks.rs`), and the index's durable checkpoint.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName, SubscribeFrom, SubscribeToAllRequest,
    SubscriptionItem,
};
use futures::StreamExt;

use crate::{Engine, EngineConfig};

/// Longest wait for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(10);

fn one_event(stream: &str) -> AppendRequest {
    let stream = StreamName::new(stream).expect("valid stream name");
    AppendRequest::new(stream, ExpectedRevision::Any, vec![ProposedEvent::json("Happened", "{}")])
}

/// Goal: a catch-up subscription that registers while the writer has a batch
/// durable and indexed but not yet published reads history against the old
/// end, goes live, and must still get that batch live: whether to broadcast
/// is decided after the publish, so such a subscriber is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_registering_just_before_a_publish_gets_the_batch_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let (reached, wait_reached) = mpsc::channel::<()>();
    let (release, wait_release) = mpsc::channel::<()>();
    let mut first = true;
    engine.shared().hooks.set_before_publish(move || {
        if std::mem::take(&mut first) {
            let _ = reached.send(());
            let _ = wait_release.recv();
        }
    });

    let appender = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.append(one_event("raced-1")).await })
    };
    tokio::task::spawn_blocking(move || wait_reached.recv_timeout(PROMPTLY))
        .await
        .expect("join")
        .expect("the writer reaches the point before the publish");

    // The writer is held between durability and publication: the history
    // the subscriber reads ends before the batch.
    let request = SubscribeToAllRequest { from: SubscribeFrom::Start, filter: None, checkpoint_interval: None };
    let mut subscription = engine.subscribe_to_all(request).await.expect("subscribe");
    let item = tokio::time::timeout(PROMPTLY, subscription.next()).await.expect("history is read at once");
    assert!(matches!(item, Some(Ok(SubscriptionItem::CaughtUp))), "nothing in history yet: {item:?}");

    release.send(()).expect("the writer waits");
    let outcome = appender.await.expect("join").expect("append");
    let item = tokio::time::timeout(PROMPTLY, subscription.next())
        .await
        .expect("the batch reaches the subscriber live, though it registered before the publish");
    match item {
        Some(Ok(SubscriptionItem::Event(event))) => assert_eq!(Some(event.position), outcome.position),
        other => panic!("expected the appended event, got {other:?}"),
    }
    engine.shutdown().await;
}

/// Goal: the index is made durable at least once per
/// `index_flush_interval` even when appends stop, as the architecture
/// promises: the writer wakes for it instead of waiting for the next append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_made_durable_after_the_flush_interval_when_appends_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let interval = Duration::from_millis(500);
    let config = EngineConfig { index_flush_interval: interval, ..EngineConfig::new(dir.path()) };
    let engine = Engine::open(config).expect("open");
    let index = &engine.shared().index;
    let opened = Instant::now();

    let mut end = engine.committed_end().0;
    // Appends within the interval commit the index without making it durable.
    while index.durable_checkpoint() == end {
        assert!(opened.elapsed() < 10 * interval, "no append within the interval committed non-durably");
        engine.append(one_event("idle-1")).await.expect("append");
        end = engine.committed_end().0;
    }
    let appended = Instant::now();

    let deadline = appended + interval + PROMPTLY;
    while index.durable_checkpoint() != end {
        assert!(
            Instant::now() < deadline,
            "the index checkpoint is still not durable {:?} after the last append (interval {interval:?})",
            appended.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.shutdown().await;
}
