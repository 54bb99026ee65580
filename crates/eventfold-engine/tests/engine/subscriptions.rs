//! Goal: catch-up subscriptions deliver every event after their start exactly
//! once and in order, across the switch from history to live (`CaughtUp`
//! exactly once, between the two), while other tasks keep appending; filtered
//! `$all` subscriptions get only matching events and checkpoints that never go
//! backwards; a subscriber that stops polling falls back to storage instead
//! of missing events or holding them in memory; and dropping a subscription
//! leaves the engine and later subscriptions working; a live subscription
//! ends once the engine shuts down. Every test is bounded in time, so a bug
//! fails rather than hangs.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, EventFilter, EventStore, ExpectedRevision, Position, ProposedEvent, ReadAllRequest,
    ReadStreamRequest, RecordedEvent, StreamName, SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest,
    SubscriptionItem, SubscriptionStream,
};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

/// No test may take longer than this.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for one subscription item.
const ITEM_TIMEOUT: Duration = Duration::from_secs(30);
/// The event type of the last event a test appends: collectors stop there.
const FINISHED: &str = "Finished";

async fn within_limit<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, test).await.expect("the test finishes within its time limit")
}

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn events(event_type: &str, count: usize) -> Vec<ProposedEvent> {
    (0..count).map(|index| ProposedEvent::json(event_type, format!("{{\"n\":{index}}}"))).collect()
}

fn open_engine(dir: &tempfile::TempDir, configure: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig::new(dir.path());
    config.segment_bytes_max = 64 * 1024;
    configure(&mut config);
    Engine::open(config).expect("open the engine")
}

async fn append(engine: &Engine, stream: &str, event_type: &str, count: usize) {
    engine
        .append(AppendRequest::new(name(stream), ExpectedRevision::Any, events(event_type, count)))
        .await
        .expect("append");
}

async fn read_all(engine: &Engine) -> Vec<RecordedEvent> {
    engine.read_all(ReadAllRequest::forwards()).await.expect("read $all").try_collect().await.expect("$all events")
}

async fn read_stream(engine: &Engine, stream: &str) -> Vec<RecordedEvent> {
    engine
        .read_stream(ReadStreamRequest::forwards(name(stream)))
        .await
        .expect("read the stream")
        .try_collect()
        .await
        .expect("stream events")
}

async fn next_item(subscription: &mut SubscriptionStream) -> SubscriptionItem {
    tokio::time::timeout(ITEM_TIMEOUT, subscription.next())
        .await
        .expect("a subscription item within the limit")
        .expect("the subscription does not end")
        .expect("the subscription does not fail")
}

async fn next_event(subscription: &mut SubscriptionStream) -> RecordedEvent {
    match next_item(subscription).await {
        SubscriptionItem::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Takes items up to and including `CaughtUp`; returns the events before it.
async fn events_until_caught_up(subscription: &mut SubscriptionStream) -> Vec<RecordedEvent> {
    let mut history = Vec::new();
    loop {
        match next_item(subscription).await {
            SubscriptionItem::Event(event) => history.push(event),
            SubscriptionItem::CaughtUp => return history,
            SubscriptionItem::Checkpoint(_) => {}
        }
    }
}

fn events_of(items: &[SubscriptionItem]) -> Vec<RecordedEvent> {
    items
        .iter()
        .filter_map(|item| match item {
            SubscriptionItem::Event(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn caught_up_index(context: &str, items: &[SubscriptionItem]) -> usize {
    let indexes: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| **item == SubscriptionItem::CaughtUp)
        .map(|(index, _)| index)
        .collect();
    assert_eq!(indexes.len(), 1, "{context}: CaughtUp arrives exactly once");
    indexes[0]
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.position.0).collect()
}

// ---------------------------------------------------------------------------
// Subscribers started mid-way while others append
// ---------------------------------------------------------------------------

const BUSY_STREAMS: [&str; 3] = ["order-1", "order-2", "cart-1"];
/// The stream the stream subscribers follow.
const WATCHED_STREAM: &str = "order-1";

/// Appends to the busy streams until told to stop; counts its appends in
/// `progress`.
async fn keep_appending(
    engine: Engine,
    task: usize,
    progress: Arc<watch::Sender<usize>>,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut appended = 0;
    while !stop.load(Ordering::Acquire) && appended < 20_000 {
        let stream = BUSY_STREAMS[(task + appended) % BUSY_STREAMS.len()];
        append(&engine, stream, "Happened", 1 + appended % 3).await;
        appended += 1;
        progress.send_modify(|done| *done += 1);
    }
    appended
}

/// What a subscriber saw, and the bound its history stayed below: one past
/// the head position (for `$all`) or the stream's event count, sampled right
/// after it received `CaughtUp`.
struct Collected {
    items: Vec<SubscriptionItem>,
    bound_at_caught_up: u64,
}

/// Takes items until the `Finished` event, reporting `CaughtUp` in
/// `caught_up`. Pauses now and then while catching up.
async fn collect_until_finished(
    mut subscription: SubscriptionStream,
    engine: Engine,
    watched_stream: Option<StreamName>,
    caught_up: Arc<watch::Sender<usize>>,
) -> Collected {
    let mut items = Vec::new();
    let mut bound_at_caught_up = None;
    loop {
        if bound_at_caught_up.is_none() && items.len() % 100 == 99 {
            // A slow reader of history: commits surely happen while it
            // catches up, so that history and live overlap.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let item = next_item(&mut subscription).await;
        match &item {
            SubscriptionItem::CaughtUp => {
                let bound = match &watched_stream {
                    None => engine.head_position().map_or(0, |position| position.0 + 1),
                    Some(stream) => engine.stream_revision(stream).await.expect("stream revision").next(),
                };
                bound_at_caught_up = Some(bound);
                caught_up.send_modify(|count| *count += 1);
            }
            SubscriptionItem::Event(event) if event.event_type == FINISHED => {
                items.push(item);
                break;
            }
            _ => {}
        }
        items.push(item);
    }
    Collected { items, bound_at_caught_up: bound_at_caught_up.expect("CaughtUp arrived before the end") }
}

/// Where a mid-way subscriber started, as the test can know it.
enum Started {
    /// Everything from this index of the final `$all` (or stream) on.
    FromIndex(usize),
    /// From `End`: the first event at or after a log end (or stream revision)
    /// sampled somewhere in `before..=after`.
    FromEndBetween { before: u64, after: u64 },
}

fn check_mid_way_subscriber(
    context: &str,
    collected: &Collected,
    everything: &[RecordedEvent],
    started: Started,
    key: impl Fn(&RecordedEvent) -> u64,
) {
    let received = events_of(&collected.items);
    let first_index = match started {
        Started::FromIndex(index) => index,
        Started::FromEndBetween { before, after } => {
            let first = received.first().unwrap_or_else(|| panic!("{context}: received nothing"));
            let index = everything
                .iter()
                .position(|event| event == first)
                .unwrap_or_else(|| panic!("{context}: received {first:?}, which is not in the log"));
            assert!(key(first) >= before, "{context}: the first event {first:?} precedes the subscription");
            if let Some(previous) = index.checked_sub(1).map(|previous| &everything[previous]) {
                assert!(
                    key(previous) < after,
                    "{context}: {previous:?} was committed before the subscription but not delivered"
                );
            }
            index
        }
    };
    let expected = &everything[first_index..];
    assert_eq!(received.len(), expected.len(), "{context}: number of events");
    assert_eq!(received, expected, "{context}: every event after the start, once, in order");
    let caught_up = caught_up_index(context, &collected.items);
    let before_caught_up = events_of(&collected.items[..caught_up]);
    assert!(
        before_caught_up.iter().all(|event| key(event) < collected.bound_at_caught_up),
        "{context}: history ran past what was committed when CaughtUp arrived"
    );
    assert!(
        collected.items.len() > caught_up + 1,
        "{context}: live events follow CaughtUp (appends went on after every subscriber caught up)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_started_mid_way_see_every_later_event_once_in_order_across_the_switch_to_live() {
    within_limit(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open_engine(&dir, |_| {});
        // Several pages of history (a page is 512 events), in every stream.
        for index in 0..90 {
            append(&engine, BUSY_STREAMS[index % BUSY_STREAMS.len()], "Seeded", 20).await;
        }
        let seeded = read_all(&engine).await;
        let after_position = seeded[900].position;
        let after_revision = 300;

        let progress = Arc::new(watch::Sender::new(0usize));
        let stop = Arc::new(AtomicBool::new(false));
        let appenders: Vec<_> = (0..4)
            .map(|task| tokio::spawn(keep_appending(engine.clone(), task, Arc::clone(&progress), Arc::clone(&stop))))
            .collect();
        let mut progress_seen = progress.subscribe();
        progress_seen.wait_for(|done| *done >= 30).await.expect("appenders progress");

        let caught_up = Arc::new(watch::Sender::new(0usize));
        let collect = |subscription, watched_stream| {
            tokio::spawn(collect_until_finished(subscription, engine.clone(), watched_stream, Arc::clone(&caught_up)))
        };
        let all_request = |from| SubscribeToAllRequest { from, filter: None, checkpoint_interval: None };
        let stream_request = |from| SubscribeToStreamRequest { stream: name(WATCHED_STREAM), from };
        let watched = Some(name(WATCHED_STREAM));

        let all_from_start =
            collect(engine.subscribe_to_all(all_request(SubscribeFrom::Start)).await.expect("subscribe"), None);
        let all_after = collect(
            engine.subscribe_to_all(all_request(SubscribeFrom::After(after_position))).await.expect("subscribe"),
            None,
        );
        let end_before = engine.committed_end().0;
        let all_end_subscription = engine.subscribe_to_all(all_request(SubscribeFrom::End)).await.expect("subscribe");
        let end_after = engine.committed_end().0;
        let all_from_end = collect(all_end_subscription, None);

        let stream_from_start = collect(
            engine.subscribe_to_stream(stream_request(SubscribeFrom::Start)).await.expect("subscribe"),
            watched.clone(),
        );
        let stream_after = collect(
            engine.subscribe_to_stream(stream_request(SubscribeFrom::After(after_revision))).await.expect("subscribe"),
            watched.clone(),
        );
        let revision_before = engine.stream_revision(&name(WATCHED_STREAM)).await.expect("revision").next();
        let stream_end_subscription =
            engine.subscribe_to_stream(stream_request(SubscribeFrom::End)).await.expect("subscribe");
        let revision_after = engine.stream_revision(&name(WATCHED_STREAM)).await.expect("revision").next();
        let stream_from_end = collect(stream_end_subscription, watched.clone());

        // Keep appending until every subscriber is live, and a while after.
        caught_up.subscribe().wait_for(|count| *count == 6).await.expect("every subscriber catches up");
        let live_from = *progress.borrow();
        progress_seen.wait_for(|done| *done >= live_from + 150).await.expect("appenders progress");
        stop.store(true, Ordering::Release);
        for appender in appenders {
            appender.await.expect("appender task");
        }
        append(&engine, WATCHED_STREAM, FINISHED, 1).await;

        let everything = read_all(&engine).await;
        let stream = read_stream(&engine, WATCHED_STREAM).await;
        assert!(everything.windows(2).all(|pair| pair[0].position < pair[1].position));
        let by_position = |event: &RecordedEvent| event.position.0;
        let by_revision = |event: &RecordedEvent| event.revision;
        let after_index = everything.iter().position(|event| event.position > after_position).expect("later events");

        check_mid_way_subscriber(
            "$all from Start",
            &all_from_start.await.expect("collector"),
            &everything,
            Started::FromIndex(0),
            by_position,
        );
        check_mid_way_subscriber(
            "$all after a position",
            &all_after.await.expect("collector"),
            &everything,
            Started::FromIndex(after_index),
            by_position,
        );
        check_mid_way_subscriber(
            "$all from End",
            &all_from_end.await.expect("collector"),
            &everything,
            Started::FromEndBetween { before: end_before, after: end_after },
            by_position,
        );
        check_mid_way_subscriber(
            "stream from Start",
            &stream_from_start.await.expect("collector"),
            &stream,
            Started::FromIndex(0),
            by_revision,
        );
        check_mid_way_subscriber(
            "stream after a revision",
            &stream_after.await.expect("collector"),
            &stream,
            Started::FromIndex(after_revision as usize + 1),
            by_revision,
        );
        check_mid_way_subscriber(
            "stream from End",
            &stream_from_end.await.expect("collector"),
            &stream,
            Started::FromEndBetween { before: revision_before, after: revision_after },
            by_revision,
        );
        engine.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// The first event
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_from_the_start_or_after_position_zero_sees_the_first_event() {
    within_limit(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open_engine(&dir, |_| {});
        let all_from = |from| SubscribeToAllRequest { from, filter: None, checkpoint_interval: None };
        let stream_from = |from| SubscribeToStreamRequest { stream: name("first-1"), from };
        let subscribe_all = async |from| engine.subscribe_to_all(all_from(from)).await.expect("subscribe");
        let subscribe_stream = async |from| engine.subscribe_to_stream(stream_from(from)).await.expect("subscribe");

        // Subscribed while the store is empty: the first event arrives live.
        let mut empty_start = subscribe_all(SubscribeFrom::Start).await;
        let mut empty_after_zero = subscribe_all(SubscribeFrom::After(Position(0))).await;
        let mut empty_end = subscribe_all(SubscribeFrom::End).await;
        let mut empty_stream_start = subscribe_stream(SubscribeFrom::Start).await;
        let mut empty_stream_end = subscribe_stream(SubscribeFrom::End).await;
        for subscription in
            [&mut empty_start, &mut empty_after_zero, &mut empty_end, &mut empty_stream_start, &mut empty_stream_end]
        {
            assert_eq!(next_item(subscription).await, SubscriptionItem::CaughtUp, "nothing to catch up on");
        }
        append(&engine, "first-1", "Happened", 2).await;
        append(&engine, "second-1", "Happened", 1).await;
        let everything = read_all(&engine).await;
        for (context, subscription) in [
            ("$all from Start", &mut empty_start),
            ("$all after 0", &mut empty_after_zero),
            ("$all from End", &mut empty_end),
        ] {
            for expected in &everything {
                assert_eq!(&next_event(subscription).await, expected, "{context}, live");
            }
        }
        for (context, subscription) in
            [("stream from Start", &mut empty_stream_start), ("stream from End", &mut empty_stream_end)]
        {
            for expected in &everything[..2] {
                assert_eq!(&next_event(subscription).await, expected, "{context}, live");
            }
        }

        // Subscribed once there are events: the first event comes from history.
        for (context, mut subscription) in [
            ("$all from Start", subscribe_all(SubscribeFrom::Start).await),
            ("$all after 0", subscribe_all(SubscribeFrom::After(Position(0))).await),
        ] {
            assert_eq!(events_until_caught_up(&mut subscription).await, everything, "{context}, history");
        }
        let mut stream_start = subscribe_stream(SubscribeFrom::Start).await;
        assert_eq!(events_until_caught_up(&mut stream_start).await, everything[..2].to_vec(), "stream from Start");
        let mut after_first = subscribe_all(SubscribeFrom::After(everything[0].position)).await;
        assert_eq!(events_until_caught_up(&mut after_first).await, everything[1..].to_vec(), "after the first event");
        engine.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Filtered subscriptions and checkpoints
// ---------------------------------------------------------------------------

/// Checks a filtered subscription's items against the whole log: exactly the
/// matching events, in order; checkpoints that never go backwards, sit on
/// event positions, never pass an event still to come, and come at least
/// every `interval` scanned events.
fn check_filtered(
    context: &str,
    items: &[SubscriptionItem],
    everything: &[RecordedEvent],
    matches: impl Fn(&RecordedEvent) -> bool,
    interval: usize,
) {
    let expected: Vec<RecordedEvent> = everything.iter().filter(|event| matches(event)).cloned().collect();
    assert_eq!(events_of(items), expected, "{context}: only and every matching event");
    let caught_up = caught_up_index(context, items);
    let index_of = |position: Position| {
        everything
            .iter()
            .position(|event| event.position == position)
            .unwrap_or_else(|| panic!("{context}: checkpoint {position} is not an event's position"))
    };
    let mut last_event: Option<Position> = None;
    let mut last_checkpoint: Option<Position> = None;
    let mut checkpoints_before_caught_up = 0;
    let mut checkpoints_after_caught_up = 0;
    let mut previous_checkpoint_index: Option<usize> = None;
    for (item_index, item) in items.iter().enumerate() {
        match item {
            SubscriptionItem::Event(event) => {
                assert!(
                    last_checkpoint.is_none_or(|checkpoint| event.position > checkpoint),
                    "{context}: event at {} after checkpoint {last_checkpoint:?}",
                    event.position
                );
                last_event = Some(event.position);
            }
            SubscriptionItem::Checkpoint(position) => {
                assert!(
                    last_checkpoint.is_none_or(|checkpoint| *position >= checkpoint),
                    "{context}: checkpoint {position} goes back from {last_checkpoint:?}"
                );
                assert!(
                    last_event.is_none_or(|event| *position >= event),
                    "{context}: checkpoint {position} is before the event at {last_event:?} it follows"
                );
                let index = index_of(*position);
                let gap = match previous_checkpoint_index {
                    Some(previous) => index - previous,
                    None => index + 1,
                };
                assert!(gap <= interval, "{context}: {gap} events scanned between checkpoints, interval {interval}");
                previous_checkpoint_index = Some(index);
                last_checkpoint = Some(*position);
                if item_index < caught_up {
                    checkpoints_before_caught_up += 1;
                } else {
                    checkpoints_after_caught_up += 1;
                }
            }
            SubscriptionItem::CaughtUp => {}
        }
    }
    assert!(checkpoints_before_caught_up > 0, "{context}: checkpoints while catching up");
    assert!(checkpoints_after_caught_up > 0, "{context}: checkpoints while live");
}

/// Appends a mix of events: long runs that neither filter below wants, some
/// that one wants, some that both want.
async fn append_filter_mix(engine: &Engine, round: usize) {
    append(engine, "cart-1", "CartOpened", 12).await;
    append(engine, &format!("$$order-{round}"), "$metadata", 2).await;
    append(engine, &format!("order-{round}"), "OrderPlaced", 2).await;
    append(engine, "$stats-1", "$statistics", 9).await;
    append(engine, &format!("order-{round}"), "$metadata", 1).await;
    append(engine, "user-1", "UserJoined", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_all_subscriptions_get_only_matching_events_and_checkpoints_that_never_go_back() {
    within_limit(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open_engine(&dir, |_| {});
        for round in 0..8 {
            append_filter_mix(&engine, round).await;
        }
        let prefix_interval = 5;
        let regex_interval = 3;
        let subscribe = async |filter, interval: usize| {
            let request = SubscribeToAllRequest {
                from: SubscribeFrom::Start,
                filter: Some(filter),
                checkpoint_interval: Some(u32::try_from(interval).expect("small interval")),
            };
            engine.subscribe_to_all(request).await.expect("subscribe")
        };
        let by_prefix = subscribe(EventFilter::StreamNamePrefix(vec!["order-".into()]), prefix_interval).await;
        let not_system =
            subscribe(EventFilter::event_type_regex(r"^(?!\$).*").expect("valid regex"), regex_interval).await;

        let caught_up = Arc::new(watch::Sender::new(0usize));
        let by_prefix = tokio::spawn(collect_until_finished(by_prefix, engine.clone(), None, Arc::clone(&caught_up)));
        let not_system = tokio::spawn(collect_until_finished(not_system, engine.clone(), None, Arc::clone(&caught_up)));
        // Appending while they catch up, and after both are live.
        for round in 8..12 {
            append_filter_mix(&engine, round).await;
        }
        caught_up.subscribe().wait_for(|count| *count == 2).await.expect("both catch up");
        for round in 12..20 {
            append_filter_mix(&engine, round).await;
        }
        append(&engine, "order-99", FINISHED, 1).await;

        let everything = read_all(&engine).await;
        check_filtered(
            "stream name prefix `order-`",
            &by_prefix.await.expect("collector").items,
            &everything,
            |event| event.stream.as_str().starts_with("order-"),
            prefix_interval,
        );
        check_filtered(
            "event type regex `^(?!\\$).*`",
            &not_system.await.expect("collector").items,
            &everything,
            |event| !event.event_type.starts_with('$'),
            regex_interval,
        );
        engine.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// A subscriber that stops polling
// ---------------------------------------------------------------------------

/// Resident memory of this process, where the platform tells it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

const STALL_APPENDERS: usize = 4;
const STALL_APPENDS_PER_TASK: usize = 250;
const STALL_EVENTS_PER_APPEND: usize = 2;
/// Every event's data is its own allocation of this size, so that a
/// subscriber holding on to what it missed would show in resident memory.
const STALL_EVENT_BYTES: usize = 32 * 1024;

async fn append_large_events(engine: Engine, task: usize) {
    let stream = if task.is_multiple_of(2) { "stall-1" } else { "stall-2" };
    for append_index in 0..STALL_APPENDS_PER_TASK {
        let events = (0..STALL_EVENTS_PER_APPEND)
            .map(|index| {
                let mut data = vec![b' '; STALL_EVENT_BYTES];
                let label = format!("{{\"task\":{task},\"append\":{append_index},\"index\":{index}}}");
                data[..label.len()].copy_from_slice(label.as_bytes());
                ProposedEvent::json("Large", Bytes::from(data))
            })
            .collect();
        engine.append(AppendRequest::new(name(stream), ExpectedRevision::Any, events)).await.expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_falls_back_to_storage_and_misses_nothing() {
    within_limit(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open_engine(&dir, |config| {
            config.live_buffer_batches = 4;
            config.segment_bytes_max = 4 * 1024 * 1024;
        });
        append(&engine, "stall-1", "Seeded", 5).await;
        append(&engine, "stall-2", "Seeded", 5).await;
        let mut all = engine
            .subscribe_to_all(SubscribeToAllRequest {
                from: SubscribeFrom::Start,
                filter: None,
                checkpoint_interval: None,
            })
            .await
            .expect("subscribe");
        let mut stream = engine
            .subscribe_to_stream(SubscribeToStreamRequest { stream: name("stall-1"), from: SubscribeFrom::Start })
            .await
            .expect("subscribe");
        let mut all_received = events_until_caught_up(&mut all).await;
        let mut stream_received = events_until_caught_up(&mut stream).await;
        // Both are live now: a few events arrive through the live buffer.
        append(&engine, "stall-1", "Live", 2).await;
        for _ in 0..2 {
            all_received.push(next_event(&mut all).await);
            stream_received.push(next_event(&mut stream).await);
        }

        // Stop polling while hundreds of separate commits go by: far more than
        // the four batches the live buffer keeps.
        let resident_before = resident_bytes();
        let appenders: Vec<_> =
            (0..STALL_APPENDERS).map(|task| tokio::spawn(append_large_events(engine.clone(), task))).collect();
        for appender in appenders {
            appender.await.expect("appender task");
        }
        let resident_after = resident_bytes();
        let appended_bytes = (STALL_APPENDERS * STALL_APPENDS_PER_TASK * STALL_EVENTS_PER_APPEND * STALL_EVENT_BYTES) as u64;
        if let (Some(before), Some(after)) = (resident_before, resident_after) {
            // The missed events are in the log, not in the subscribers: the
            // process grew by far less than what was appended.
            let grown = after.saturating_sub(before);
            assert!(
                grown < appended_bytes / 2,
                "resident memory grew by {grown} bytes while {appended_bytes} bytes were appended past stalled subscribers"
            );
        }

        // Resume: everything arrives, once, in order.
        let everything = read_all(&engine).await;
        let last = everything.last().expect("events").position;
        while all_received.last().is_none_or(|event| event.position < last) {
            all_received.push(next_event(&mut all).await);
        }
        assert_eq!(positions(&all_received), positions(&everything), "$all subscriber: every event once, in order");
        assert_eq!(all_received, everything);

        let stream_events = read_stream(&engine, "stall-1").await;
        let last_revision = stream_events.last().expect("events").revision;
        while stream_received.last().is_none_or(|event| event.revision < last_revision) {
            stream_received.push(next_event(&mut stream).await);
        }
        assert_eq!(stream_received, stream_events, "stream subscriber: every event once, in order");

        // And it is live again.
        append(&engine, "stall-1", "AfterResume", 1).await;
        assert_eq!(next_event(&mut all).await.event_type, "AfterResume");
        assert_eq!(next_event(&mut stream).await.event_type, "AfterResume");
        engine.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Dropping subscriptions
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscription_mid_way_leaves_the_engine_and_new_subscriptions_working() {
    within_limit(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open_engine(&dir, |config| config.live_buffer_batches = 4);
        // More than two pages of history.
        for index in 0..120 {
            append(&engine, BUSY_STREAMS[index % BUSY_STREAMS.len()], "Seeded", 10).await;
        }
        let all_from_start =
            || SubscribeToAllRequest { from: SubscribeFrom::Start, filter: None, checkpoint_interval: None };

        // Dropped while reading history.
        let mut in_history = engine.subscribe_to_all(all_from_start()).await.expect("subscribe");
        for _ in 0..10 {
            next_event(&mut in_history).await;
        }
        drop(in_history);
        let mut stream_in_history = engine
            .subscribe_to_stream(SubscribeToStreamRequest { stream: name(WATCHED_STREAM), from: SubscribeFrom::Start })
            .await
            .expect("subscribe");
        for _ in 0..5 {
            next_event(&mut stream_in_history).await;
        }
        drop(stream_in_history);
        // Dropped while live.
        let mut live = engine.subscribe_to_all(all_from_start()).await.expect("subscribe");
        events_until_caught_up(&mut live).await;
        drop(live);
        // Dropped while its first page is (most likely) still being read:
        // the first item was asked for, then given up on.
        let mut abandoned = engine.subscribe_to_all(all_from_start()).await.expect("subscribe");
        let first_item = tokio::time::timeout(Duration::from_millis(1), abandoned.next()).await;
        drop(first_item);
        drop(abandoned);

        // The engine goes on: appends, far more commits than the live
        // buffer holds, and a new subscription that sees everything.
        for index in 0..20 {
            append(&engine, BUSY_STREAMS[index % BUSY_STREAMS.len()], "AfterDrops", 1).await;
        }
        let everything = read_all(&engine).await;
        let mut fresh = engine.subscribe_to_all(all_from_start()).await.expect("subscribe");
        assert_eq!(events_until_caught_up(&mut fresh).await, everything, "a new subscription sees the whole log");
        append(&engine, WATCHED_STREAM, "Live", 1).await;
        let live_event = next_event(&mut fresh).await;
        assert_eq!(live_event.event_type, "Live");
        assert_eq!(engine.head_position(), Some(live_event.position));
        drop(fresh);
        engine.shutdown().await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// Shutting down
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscription_ends_when_the_engine_shuts_down() {
    within_limit(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open_engine(&dir, |_| {});
        append(&engine, "order-1", "Happened", 1).await;
        let mut all = engine
            .subscribe_to_all(SubscribeToAllRequest {
                from: SubscribeFrom::Start,
                filter: None,
                checkpoint_interval: None,
            })
            .await
            .expect("subscribe");
        let mut stream = engine
            .subscribe_to_stream(SubscribeToStreamRequest { stream: name("order-1"), from: SubscribeFrom::Start })
            .await
            .expect("subscribe");
        events_until_caught_up(&mut all).await;
        events_until_caught_up(&mut stream).await;
        engine.shutdown().await;
        drop(engine);
        for (context, subscription) in [("$all", &mut all), ("stream", &mut stream)] {
            let ended = tokio::time::timeout(Duration::from_secs(5), subscription.next())
                .await
                .unwrap_or_else(|_| panic!("{context}: a live subscription still waits after the engine shut down"));
            match ended {
                None | Some(Err(_)) => {}
                Some(Ok(item)) => panic!("{context}: got {item:?} after the engine shut down"),
            }
        }
    })
    .await;
}
