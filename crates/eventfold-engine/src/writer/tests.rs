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

/// Goal: `created` never falls along `$all`, even when the system clock steps
/// back, within one run and across a restart (the floor is the newest event
/// in the log), so a window on `created` is complete once the log passed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_never_falls_when_the_clock_steps_back() {
    use eventfold_store::{ReadAllRequest, RecordedEvent, Timestamp};
    use futures::TryStreamExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let hour_ahead = Timestamp(Timestamp::now().ticks() + 36_000_000_000);
    {
        let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
        let mut readings = vec![hour_ahead, Timestamp(hour_ahead.ticks() - 36_000_000_000)].into_iter();
        engine.shared().hooks.set_clock(move || readings.next().unwrap_or_default());
        engine.append(one_event("clock-1")).await.expect("append ahead");
        engine.append(one_event("clock-2")).await.expect("append after the step back");
        engine.shutdown().await;
    }
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("reopen with the real clock, an hour behind");
    engine.append(one_event("clock-3")).await.expect("append after the restart");

    let stream = engine.read_all(ReadAllRequest::forwards()).await.expect("read $all");
    let events: Vec<RecordedEvent> = stream.try_collect().await.expect("events");
    let created: Vec<i64> = events.iter().map(|event| event.created.ticks()).collect();
    assert_eq!(created.len(), 3, "{created:?}");
    assert!(created.iter().all(|ticks| *ticks >= hour_ahead.ticks()), "no event stamped before the first: {created:?}");
    assert!(created.windows(2).all(|pair| pair[0] <= pair[1]), "created rises along $all: {created:?}");
}
