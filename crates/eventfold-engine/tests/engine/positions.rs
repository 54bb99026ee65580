//! Goal: `$all` can be read and subscribed to from any position, not only an
//! event's, as KurrentDB allows: clients compute positions (the `eventsourcing`
//! library reads from its last notification id plus one). Forwards from P
//! reads the first event at or after P, backwards from P the events before P,
//! and a catch-up subscription from P delivers the events after P, whether P
//! is inside an event, at one, before the first, or in another segment.

use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AllFrom, AppendRequest, EventStore, ExpectedRevision, Position, ProposedEvent, ReadAllRequest, RecordedEvent,
    StreamName, SubscribeFrom, SubscribeToAllRequest, SubscriptionItem,
};
use futures::{StreamExt, TryStreamExt};

const ITEM_TIMEOUT: Duration = Duration::from_secs(30);

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

/// Events of varied sizes, so that positions inside them are many.
fn events(count: usize) -> Vec<ProposedEvent> {
    (0..count)
        .map(|index| ProposedEvent::json("Happened", format!("{{\"n\":\"{}\"}}", "x".repeat(index * 37))))
        .collect()
}

/// An engine with small segments holding `count` events, one per append so
/// that they spread over several segments; returns them in log order.
async fn engine_with_events(dir: &tempfile::TempDir, count: usize) -> (Engine, Vec<RecordedEvent>) {
    let mut config = EngineConfig::new(dir.path());
    config.segment_bytes_max = 8 * 1024;
    let engine = Engine::open(config).expect("open");
    for (index, event) in events(count).into_iter().enumerate() {
        let stream = name(&format!("thing-{}", index % 3));
        engine.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
    }
    let all = read(&engine, ReadAllRequest::forwards()).await;
    assert_eq!(all.len(), count);
    (engine, all)
}

async fn read(engine: &Engine, request: ReadAllRequest) -> Vec<RecordedEvent> {
    engine.read_all(request).await.expect("read $all").try_collect().await.expect("events")
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.position.0).collect()
}

/// Positions worth trying around each event: at it, just past it, in its
/// middle and just before the next one.
fn probes(all: &[RecordedEvent]) -> Vec<u64> {
    let mut probes = vec![0, 1];
    for pair in all.windows(2) {
        let (this, next) = (pair[0].position.0, pair[1].position.0);
        probes.extend([this, this + 1, (this + next) / 2, next - 1]);
    }
    probes
}

#[tokio::test]
async fn reading_all_from_any_position_starts_at_the_next_event_forwards_and_before_it_backwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, all) = engine_with_events(&dir, 60).await;
    let everything = positions(&all);
    for probe in probes(&all) {
        let forwards = ReadAllRequest { from: AllFrom::Position(Position(probe)), ..ReadAllRequest::forwards() };
        let expected: Vec<u64> = everything.iter().copied().filter(|position| *position >= probe).collect();
        assert_eq!(positions(&read(&engine, forwards).await), expected, "forwards from {probe}");
        let backwards = ReadAllRequest { from: AllFrom::Position(Position(probe)), ..ReadAllRequest::backwards() };
        let expected: Vec<u64> = everything.iter().rev().copied().filter(|position| *position < probe).collect();
        assert_eq!(positions(&read(&engine, backwards).await), expected, "backwards from {probe}");
    }
    // Past the end: nothing either way past it, everything before it.
    let beyond = everything.last().expect("events") + 1_000_000;
    let forwards = ReadAllRequest { from: AllFrom::Position(Position(beyond)), ..ReadAllRequest::forwards() };
    assert!(read(&engine, forwards).await.is_empty());
    let backwards = ReadAllRequest { from: AllFrom::Position(Position(beyond)), ..ReadAllRequest::backwards() };
    assert_eq!(read(&engine, backwards).await.len(), all.len());
}

#[tokio::test]
async fn a_subscription_to_all_from_any_position_delivers_the_events_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, all) = engine_with_events(&dir, 30).await;
    let everything = positions(&all);
    for probe in probes(&all) {
        let request = SubscribeToAllRequest {
            from: SubscribeFrom::After(Position(probe)),
            filter: None,
            checkpoint_interval: None,
        };
        let mut subscription = engine.subscribe_to_all(request).await.expect("subscribe");
        let mut delivered = Vec::new();
        loop {
            let item = tokio::time::timeout(ITEM_TIMEOUT, subscription.next())
                .await
                .expect("an item in time")
                .expect("the subscription goes on")
                .expect("no error");
            match item {
                SubscriptionItem::Event(event) => delivered.push(event.position.0),
                SubscriptionItem::CaughtUp => break,
                SubscriptionItem::Checkpoint(_) => {}
            }
        }
        let expected: Vec<u64> = everything.iter().copied().filter(|position| *position > probe).collect();
        assert_eq!(delivered, expected, "after {probe}");
    }
}

#[tokio::test]
async fn a_subscription_from_a_position_past_the_end_delivers_only_later_events() {
    // Goal: a position past the end may fall inside an event not written
    // yet; once it is written, the subscription must still read from a frame
    // start and deliver only the events after the position.
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, _) = engine_with_events(&dir, 3).await;
    let last = engine.head_position().expect("events").0;
    let probe = last + 400;
    let request =
        SubscribeToAllRequest { from: SubscribeFrom::After(Position(probe)), filter: None, checkpoint_interval: None };
    let mut subscription = engine.subscribe_to_all(request).await.expect("subscribe");
    // Written before the subscription first reads: it finds them in storage.
    for (index, event) in events(6).into_iter().enumerate() {
        let stream = name(&format!("later-{index}"));
        engine.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
    }
    let later: Vec<u64> = positions(&read(&engine, ReadAllRequest::forwards()).await)
        .into_iter()
        .filter(|position| *position > probe)
        .collect();
    assert!(!later.is_empty() && later.len() < 6, "the probe lies among the new events");
    let mut delivered = Vec::new();
    loop {
        let item = tokio::time::timeout(ITEM_TIMEOUT, subscription.next())
            .await
            .expect("an item in time")
            .expect("the subscription goes on")
            .expect("no error");
        match item {
            SubscriptionItem::Event(event) => delivered.push(event.position.0),
            SubscriptionItem::CaughtUp => break,
            SubscriptionItem::Checkpoint(_) => {}
        }
    }
    assert_eq!(delivered, later);
}
