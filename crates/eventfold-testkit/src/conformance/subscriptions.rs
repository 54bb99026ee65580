//! Catch-up subscriptions: history, `CaughtUp`, then live events, with no
//! gap and no duplicate however appends and the switch to live interleave.

use std::collections::HashSet;
use std::sync::Arc;

use eventfold_store::{
    AppendRequest, EventFilter, EventStore, ExpectedRevision, Position, ReadAllRequest, RecordedEvent, SubscribeFrom,
    SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionItem,
};

use super::{events, name, next_item, read_all, typed};

/// Appends `rounds` small appends to a few streams, concurrently with
/// whatever the caller does.
fn keep_appending(store: &Arc<dyn EventStore>, rounds: usize) -> tokio::task::JoinHandle<()> {
    let store = Arc::clone(store);
    tokio::spawn(async move {
        for round in 0..rounds {
            let stream = name(&format!("load-{}", round % 4));
            store.append(AppendRequest::new(stream, ExpectedRevision::Any, events(1 + round % 3))).await.expect("a");
        }
    })
}

/// Events until `count` have come, checking the items on the way.
async fn collect_events(
    subscription: &mut eventfold_store::SubscriptionStream,
    count: usize,
) -> (Vec<RecordedEvent>, usize) {
    let mut seen = Vec::new();
    let mut caught_up = 0;
    while seen.len() < count {
        match next_item(subscription).await {
            SubscriptionItem::Event(event) => seen.push(event),
            SubscriptionItem::CaughtUp => caught_up += 1,
            SubscriptionItem::Checkpoint(_) => {}
        }
    }
    (seen, caught_up)
}

pub async fn subscribers_see_every_event_once_in_order_across_the_switch_to_live(store: Arc<dyn EventStore>) {
    for index in 0..10 {
        store
            .append(AppendRequest::new(name(&format!("seed-{index}")), ExpectedRevision::Any, events(3)))
            .await
            .expect("a");
    }
    let history = read_all(store.as_ref(), ReadAllRequest::forwards()).await;
    let mut whole = store.subscribe_to_all(from_start_request()).await.expect("subscribe");
    let middle = history[14].position;
    let after_middle = SubscribeToAllRequest { from: SubscribeFrom::After(middle), ..from_start_request() };
    let mut mid_way = store.subscribe_to_all(after_middle).await.expect("subscribe");
    let end = SubscribeToAllRequest { from: SubscribeFrom::End, ..from_start_request() };
    let mut from_end = store.subscribe_to_all(end).await.expect("subscribe");

    let rounds = 60;
    let appender = keep_appending(&store, rounds);
    appender.await.expect("appender");
    let everything = read_all(store.as_ref(), ReadAllRequest::forwards()).await;
    let live_count = everything.len() - history.len();

    let (seen, caught_up) = collect_events(&mut whole, everything.len()).await;
    assert_eq!(seen, everything, "from the start: every event once, in order");
    assert!(caught_up <= 1);
    let (seen, _) = collect_events(&mut mid_way, everything.len() - 15).await;
    assert_eq!(seen, everything[15..].to_vec(), "after a position: what follows it");
    let (seen, _) = collect_events(&mut from_end, live_count).await;
    assert_eq!(seen, everything[history.len()..].to_vec(), "from the end: only later events");
    let positions: HashSet<Position> = everything.iter().map(|event| event.position).collect();
    assert_eq!(positions.len(), everything.len(), "positions are unique");
}

fn from_start_request() -> SubscribeToAllRequest {
    SubscribeToAllRequest { from: SubscribeFrom::Start, filter: None, checkpoint_interval: None }
}

pub async fn filtered_subscriptions_get_matching_events_and_checkpoints_that_never_go_back(store: Arc<dyn EventStore>) {
    for round in 0..30 {
        let (stream, event_type) = if round % 3 == 0 { ("wanted-1", "Wanted") } else { ("other-1", "Other") };
        store.append(AppendRequest::new(name(stream), ExpectedRevision::Any, typed(event_type, 2))).await.expect("a");
    }
    let filters =
        [EventFilter::StreamNamePrefix(vec!["wanted-".into()]), EventFilter::event_type_regex("^Want").expect("regex")];
    // Each pass appends one more wanted event, which the next pass reads.
    for (pass, filter) in filters.into_iter().enumerate() {
        let request = SubscribeToAllRequest {
            from: SubscribeFrom::Start,
            filter: Some(filter.clone()),
            checkpoint_interval: Some(5),
        };
        let mut subscription = store.subscribe_to_all(request).await.expect("subscribe");
        let mut seen = Vec::new();
        let mut checkpoints = Vec::new();
        loop {
            match next_item(&mut subscription).await {
                SubscriptionItem::Event(event) => {
                    assert!(filter.matches(&event), "{filter:?} let through {event:?}");
                    seen.push(event);
                }
                SubscriptionItem::Checkpoint(position) => checkpoints.push(position),
                SubscriptionItem::CaughtUp => break,
            }
        }
        assert_eq!(seen.len(), 20 + pass, "{filter:?}");
        assert!(checkpoints.len() >= 60 / 5, "{filter:?}: a checkpoint every 5 scanned events: {checkpoints:?}");
        assert!(checkpoints.windows(2).all(|pair| pair[0] <= pair[1]), "{filter:?}: {checkpoints:?}");
        store.append(AppendRequest::new(name("wanted-2"), ExpectedRevision::Any, typed("Wanted", 1))).await.expect("a");
        store.append(AppendRequest::new(name("other-2"), ExpectedRevision::Any, typed("Other", 1))).await.expect("a");
        loop {
            match next_item(&mut subscription).await {
                SubscriptionItem::Event(event) => {
                    assert_eq!(event.stream.as_str(), "wanted-2", "{filter:?}");
                    break;
                }
                SubscriptionItem::Checkpoint(position) => {
                    assert!(checkpoints.last().is_none_or(|last| *last <= position), "{filter:?}");
                    checkpoints.push(position);
                }
                SubscriptionItem::CaughtUp => panic!("caught up twice"),
            }
        }
    }
}

pub async fn stream_subscriptions_catch_up_then_go_live(store: Arc<dyn EventStore>) {
    let stream = name("orders-7");
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events(3))).await.expect("append");
    let request = SubscribeToStreamRequest { stream: stream.clone(), from: SubscribeFrom::After(0) };
    let mut subscription = store.subscribe_to_stream(request).await.expect("subscribe");
    let request = SubscribeToStreamRequest { stream: name("not-yet"), from: SubscribeFrom::Start };
    let mut not_yet = store.subscribe_to_stream(request).await.expect("subscribe to a missing stream");
    assert_eq!(next_item(&mut not_yet).await, SubscriptionItem::CaughtUp);
    let mut revisions = Vec::new();
    loop {
        match next_item(&mut subscription).await {
            SubscriptionItem::Event(event) => revisions.push(event.revision),
            SubscriptionItem::CaughtUp => break,
            SubscriptionItem::Checkpoint(_) => panic!("no checkpoints on a stream"),
        }
    }
    assert_eq!(revisions, vec![1, 2]);
    store.append(AppendRequest::new(name("elsewhere"), ExpectedRevision::Any, events(1))).await.expect("append");
    store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Exact(2), events(2))).await.expect("append");
    store.append(AppendRequest::new(name("not-yet"), ExpectedRevision::NoStream, events(1))).await.expect("append");
    for expected in [3, 4] {
        match next_item(&mut subscription).await {
            SubscriptionItem::Event(event) => {
                assert_eq!((event.stream.clone(), event.revision), (stream.clone(), expected))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    match next_item(&mut not_yet).await {
        SubscriptionItem::Event(event) => assert_eq!(event.revision, 0),
        other => panic!("unexpected {other:?}"),
    }
}
