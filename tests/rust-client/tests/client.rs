//! The official Rust client (`kurrentdb`) against a real `eventfold serve`:
//! appends with every expected-revision kind, reads of streams and `$all`,
//! catch-up subscriptions (history, then live) with and without filters,
//! batch appends and the error kinds the client maps.

use std::time::Duration;

use eventfold_rust_client_tests::{Server, json_event, numbered_events, unique_stream, within};
use kurrentdb::{
    AppendToStreamOptions, Client, CurrentRevision, Error, EventData, Position, ReadAllOptions, ReadEvent,
    ReadStreamOptions, ResolvedEvent, StreamPosition, StreamState, SubscribeToAllOptions, SubscribeToStreamOptions,
    Subscription, SubscriptionEvent, SubscriptionFilter, WriteResult,
};

/// Seconds any single client operation may take.
const OP: u64 = 15;

async fn append(
    client: &Client,
    stream: &str,
    state: StreamState,
    events: Vec<EventData>,
) -> kurrentdb::Result<WriteResult> {
    let options = AppendToStreamOptions::default().stream_state(state);
    within(OP, &format!("append to {stream}"), client.append_to_stream(stream, &options, events)).await
}

async fn read_stream(
    client: &Client,
    stream: &str,
    options: ReadStreamOptions,
) -> kurrentdb::Result<Vec<ResolvedEvent>> {
    within(OP, &format!("read {stream}"), async {
        let mut reader = client.read_stream(stream, &options).await?;
        let mut events = Vec::new();
        while let Some(event) = reader.next().await? {
            events.push(event);
        }
        Ok(events)
    })
    .await
}

async fn read_all(client: &Client, options: ReadAllOptions) -> Vec<ResolvedEvent> {
    within(OP, "read $all", async {
        let mut reader = client.read_all(&options).await.expect("read $all");
        let mut events = Vec::new();
        while let Some(event) = reader.next().await.expect("next event of $all") {
            events.push(event);
        }
        events
    })
    .await
}

fn revisions(events: &[ResolvedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.get_original_event().revision).collect()
}

fn numbers(events: &[ResolvedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|event| {
            let value: serde_json::Value = event.get_original_event().as_json().expect("JSON data");
            value["n"].as_u64().expect("numbered event")
        })
        .collect()
}

/// `(stream, revision)` of each event.
fn ids(events: &[ResolvedEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|event| {
            let event = event.get_original_event();
            (event.stream_id().to_owned(), event.revision)
        })
        .collect()
}

/// The next subscription message, failing the test on error or silence.
async fn next_message(subscription: &mut Subscription, what: &str) -> SubscriptionEvent {
    within(OP, what, subscription.next_subscription_event())
        .await
        .unwrap_or_else(|error| panic!("subscription failed while waiting for {what}: {error}"))
}

/// What a subscription delivered up to and including its `CaughtUp`:
/// the events (in order) and the checkpoints. The first message must be
/// the confirmation.
async fn until_caught_up(subscription: &mut Subscription) -> (Vec<ResolvedEvent>, Vec<Position>) {
    let first = next_message(subscription, "the subscription confirmation").await;
    assert!(matches!(first, SubscriptionEvent::Confirmed(_)), "first subscription message: {first:?}");
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    loop {
        match next_message(subscription, "history and then caught-up").await {
            SubscriptionEvent::EventAppeared(event) => events.push(event),
            SubscriptionEvent::Checkpoint(position) => checkpoints.push(position),
            SubscriptionEvent::CaughtUp(_) => return (events, checkpoints),
            SubscriptionEvent::Confirmed(id) => panic!("second confirmation {id}"),
            SubscriptionEvent::FellBehind(_) => panic!("fell behind while reading history"),
            _ => {}
        }
    }
}

/// The next `count` events, skipping checkpoints and other notices.
async fn next_events(subscription: &mut Subscription, count: usize) -> Vec<ResolvedEvent> {
    let mut events = Vec::new();
    while events.len() < count {
        match next_message(subscription, &format!("live event {} of {count}", events.len() + 1)).await {
            SubscriptionEvent::EventAppeared(event) => events.push(event),
            SubscriptionEvent::Confirmed(id) => panic!("second confirmation {id}"),
            _ => {}
        }
    }
    events
}

/// Nothing but checkpoints or notices for `quiet`: no stray events.
async fn assert_no_event_for(subscription: &mut Subscription, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, subscription.next_subscription_event()).await {
            Err(_) => return,
            Ok(Ok(SubscriptionEvent::EventAppeared(event))) => {
                let event = event.get_original_event();
                panic!("unexpected event {}@{} of type {}", event.stream_id(), event.revision, event.event_type)
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => panic!("subscription failed: {error}"),
        }
    }
}

fn expect_wrong_expected_version(
    result: kurrentdb::Result<WriteResult>,
    expected: StreamState,
    current: CurrentRevision,
) {
    match result {
        Err(Error::WrongExpectedVersion { expected: got_expected, current: got_current }) => {
            assert_eq!(got_expected, expected, "`expected` of the WrongExpectedVersion error");
            assert_eq!(got_current, current, "`current` of the WrongExpectedVersion error");
        }
        other => panic!("expected WrongExpectedVersion {{ {expected:?}, {current:?} }}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_and_reads_the_server_features() {
    let server = Server::start().await;
    let client = server.client();
    let info = within(OP, "server_info", client.server_info()).await.expect("server info");
    let version = info.version();
    assert!(
        (version.major(), version.minor()) >= (23, 10),
        "server version {version} is below 23.10: clients would not expect caught-up messages"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_with_each_expected_revision_kind() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("expect");
    let mut positions = Vec::new();

    // NoStream creates the stream.
    let written = append(&client, &stream, StreamState::NoStream, numbered_events("e", 1)).await.expect("NoStream");
    assert_eq!(written.next_expected_version, 0);
    positions.push(written.position.commit);
    // ... and only once.
    expect_wrong_expected_version(
        append(&client, &stream, StreamState::NoStream, numbered_events("e", 1)).await,
        StreamState::NoStream,
        CurrentRevision::Current(0),
    );

    // StreamExists on an existing stream.
    let written = append(&client, &stream, StreamState::StreamExists, numbered_events("e", 1)).await.expect("exists");
    assert_eq!(written.next_expected_version, 1);
    positions.push(written.position.commit);

    // The exact revision, two events at once.
    let written =
        append(&client, &stream, StreamState::StreamRevision(1), numbered_events("e", 2)).await.expect("exact 1");
    assert_eq!(written.next_expected_version, 3);
    positions.push(written.position.commit);
    // A stale and a future revision both conflict.
    expect_wrong_expected_version(
        append(&client, &stream, StreamState::StreamRevision(1), numbered_events("e", 1)).await,
        StreamState::StreamRevision(1),
        CurrentRevision::Current(3),
    );
    expect_wrong_expected_version(
        append(&client, &stream, StreamState::StreamRevision(10), numbered_events("e", 1)).await,
        StreamState::StreamRevision(10),
        CurrentRevision::Current(3),
    );

    // Any always goes through.
    let written = append(&client, &stream, StreamState::Any, numbered_events("e", 1)).await.expect("any");
    assert_eq!(written.next_expected_version, 4);
    positions.push(written.position.commit);

    // On a stream that does not exist.
    let missing = unique_stream("expect");
    expect_wrong_expected_version(
        append(&client, &missing, StreamState::StreamExists, numbered_events("e", 1)).await,
        StreamState::StreamExists,
        CurrentRevision::NoStream,
    );
    expect_wrong_expected_version(
        append(&client, &missing, StreamState::StreamRevision(0), numbered_events("e", 1)).await,
        StreamState::StreamRevision(0),
        CurrentRevision::NoStream,
    );
    let created = append(&client, &missing, StreamState::Any, numbered_events("e", 1)).await.expect("any, new");
    assert_eq!(created.next_expected_version, 0);
    positions.push(created.position.commit);

    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "positions must increase: {positions:?}");
    // The refused appends wrote nothing.
    let events = read_stream(&client, &stream, ReadStreamOptions::default()).await.expect("read back");
    assert_eq!(revisions(&events), vec![0, 1, 2, 3, 4]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_position_is_the_events_position_and_retries_are_idempotent() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("idem");
    let id_a = uuid::Uuid::new_v4();
    let id_b = uuid::Uuid::new_v4();
    let batch = || {
        vec![
            json_event("idem", serde_json::json!({ "n": 0 })).id(id_a),
            json_event("idem", serde_json::json!({ "n": 1 })).id(id_b),
        ]
    };
    let first = append(&client, &stream, StreamState::NoStream, batch()).await.expect("first append");
    assert_eq!(first.next_expected_version, 1);
    // The same events at the same expected revision: success, nothing new.
    let again = append(&client, &stream, StreamState::NoStream, batch()).await.expect("idempotent retry");
    assert_eq!(again.next_expected_version, 1, "a retried append reports the original revision");
    assert_eq!(again.position, first.position, "a retried append reports the original position");

    let single = append(&client, &stream, StreamState::StreamRevision(1), numbered_events("idem", 1)).await.unwrap();
    let events = read_stream(&client, &stream, ReadStreamOptions::default()).await.unwrap();
    assert_eq!(revisions(&events), vec![0, 1, 2]);
    assert_eq!(events[0].get_original_event().id, id_a);
    assert_eq!(events[1].get_original_event().id, id_b);
    assert_eq!(events[2].get_original_event().position, single.position, "append position = read position");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_stream_forwards_and_backwards_with_max_count() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("counted");
    append(&client, &stream, StreamState::NoStream, numbered_events("counted", 10)).await.unwrap();

    let all = read_stream(&client, &stream, ReadStreamOptions::default()).await.unwrap();
    assert_eq!(revisions(&all), (0..10).collect::<Vec<_>>());
    assert_eq!(numbers(&all), (0..10).collect::<Vec<_>>());
    for event in &all {
        let event = event.get_original_event();
        assert_eq!(event.stream_id(), stream);
        assert_eq!(event.event_type, "counted");
        assert!(event.is_json, "JSON events read back as JSON");
    }
    let positions: Vec<u64> = all.iter().map(|event| event.get_original_event().position.commit).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "positions must increase: {positions:?}");

    let first_three = read_stream(&client, &stream, ReadStreamOptions::default().max_count(3)).await.unwrap();
    assert_eq!(revisions(&first_three), vec![0, 1, 2]);

    let from_four = ReadStreamOptions::default().position(StreamPosition::Position(4)).forwards().max_count(3);
    assert_eq!(revisions(&read_stream(&client, &stream, from_four).await.unwrap()), vec![4, 5, 6]);

    let last_three = ReadStreamOptions::default().position(StreamPosition::End).backwards().max_count(3);
    assert_eq!(revisions(&read_stream(&client, &stream, last_three).await.unwrap()), vec![9, 8, 7]);

    let everything_backwards = ReadStreamOptions::default().position(StreamPosition::End).backwards();
    assert_eq!(
        revisions(&read_stream(&client, &stream, everything_backwards).await.unwrap()),
        (0..10).rev().collect::<Vec<_>>()
    );

    let from_five_back = ReadStreamOptions::default().position(StreamPosition::Position(5)).backwards().max_count(2);
    assert_eq!(revisions(&read_stream(&client, &stream, from_five_back).await.unwrap()), vec![5, 4]);

    let past_the_end = ReadStreamOptions::default().position(StreamPosition::Position(20)).forwards();
    assert!(read_stream(&client, &stream, past_the_end).await.unwrap().is_empty(), "reading past the end");
    server.stop().await;
}

/// Every message of a stream read, as the client's `next_read_event` gives
/// them: events by revision, and the bounds the server adds.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    Event(u64),
    First(u64),
    Last(u64),
}

async fn read_messages(client: &Client, stream: &str, options: ReadStreamOptions) -> Vec<Read> {
    within(OP, &format!("read {stream}"), async {
        let mut reader = client.read_stream(stream, &options).await.expect("read");
        let mut messages = Vec::new();
        while let Some(message) = reader.next_read_event().await.expect("next message") {
            messages.push(match message {
                ReadEvent::Event(event) => Read::Event(event.get_original_event().revision),
                ReadEvent::FirstStreamPosition(revision) => Read::First(revision),
                ReadEvent::LastStreamPosition(revision) => Read::Last(revision),
                ReadEvent::LastAllStreamPosition(position) => panic!("a stream read sent $all's {position:?}"),
            });
        }
        messages
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_reads_end_with_the_streams_last_position_as_current_servers_send_it() {
    // Goal: like KurrentDB, a stream read ends with `last_stream_position`
    // (the stream's last revision, however far the read went), and a
    // forward read that finds nothing first says where the stream goes on.
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("bounded");
    append(&client, &stream, StreamState::NoStream, numbered_events("bounded", 5)).await.unwrap();
    use Read::{Event, First, Last};

    let everything = read_messages(&client, &stream, ReadStreamOptions::default()).await;
    assert_eq!(everything, vec![Event(0), Event(1), Event(2), Event(3), Event(4), Last(4)]);
    let two = read_messages(&client, &stream, ReadStreamOptions::default().max_count(2)).await;
    assert_eq!(two, vec![Event(0), Event(1), Last(4)]);
    let back = ReadStreamOptions::default().position(StreamPosition::End).backwards().max_count(2);
    assert_eq!(read_messages(&client, &stream, back).await, vec![Event(4), Event(3), Last(4)]);
    let at_end = ReadStreamOptions::default().position(StreamPosition::Position(5));
    assert_eq!(read_messages(&client, &stream, at_end).await, vec![Last(4)]);
    let past_end = ReadStreamOptions::default().position(StreamPosition::Position(9));
    assert_eq!(read_messages(&client, &stream, past_end).await, vec![First(5), Last(4)]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_events_and_custom_metadata_round_trip() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("binary");
    let id = uuid::Uuid::new_v4();
    let payload: Vec<u8> = vec![0, 1, 2, 254, 255, b'{'];
    let custom_metadata: Vec<u8> = br#"{"correlation":"abc"}"#.to_vec();
    let event = EventData::binary("blob", payload.clone().into()).id(id).metadata(custom_metadata.clone().into());
    let before = std::time::SystemTime::now();
    append(&client, &stream, StreamState::NoStream, vec![event]).await.unwrap();

    let events = read_stream(&client, &stream, ReadStreamOptions::default()).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = events[0].get_original_event();
    assert_eq!(event.id, id);
    assert_eq!(event.event_type, "blob");
    assert!(!event.is_json, "binary events read back as binary");
    assert_eq!(event.data.as_ref(), payload.as_slice());
    assert_eq!(event.custom_metadata.as_ref(), custom_metadata.as_slice());
    assert_eq!(event.metadata.get("content-type").map(String::as_str), Some("application/octet-stream"));
    // `created` is whole seconds after the client's conversion.
    let created: std::time::SystemTime = event.created.into();
    let slack = Duration::from_secs(5);
    assert!(created + slack >= before && created <= std::time::SystemTime::now() + slack, "created {created:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_missing_stream_is_resource_not_found() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("missing");
    match read_stream(&client, &stream, ReadStreamOptions::default()).await {
        Err(Error::ResourceNotFound) => {}
        other => panic!("forwards read of a missing stream: expected ResourceNotFound, got {other:?}"),
    }
    let backwards = ReadStreamOptions::default().position(StreamPosition::End).backwards();
    match read_stream(&client, &stream, backwards).await {
        Err(Error::ResourceNotFound) => {}
        other => panic!("backwards read of a missing stream: expected ResourceNotFound, got {other:?}"),
    }
    // The connection is still good afterwards.
    append(&client, &stream, StreamState::NoStream, numbered_events("e", 1)).await.unwrap();
    assert_eq!(read_stream(&client, &stream, ReadStreamOptions::default()).await.unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_all_in_both_directions() {
    let server = Server::start().await;
    let client = server.client();
    let a = unique_stream("alla");
    let b = unique_stream("allb");
    let c = unique_stream("allc");
    let order = [&a, &b, &a, &c, &b];
    let mut written = Vec::new();
    for stream in order {
        let result = append(&client, stream, StreamState::Any, numbered_events("all-test", 1)).await.unwrap();
        written.push((stream.clone(), result.next_expected_version, result.position));
    }
    let ours = |events: Vec<ResolvedEvent>| -> Vec<ResolvedEvent> {
        events.into_iter().filter(|event| [&a, &b, &c].contains(&&event.get_original_stream_id().to_owned())).collect()
    };
    let expected: Vec<(String, u64)> =
        written.iter().map(|(stream, revision, _)| (stream.clone(), *revision)).collect();

    let forwards = ours(read_all(&client, ReadAllOptions::default()).await);
    assert_eq!(ids(&forwards), expected, "$all forwards from the start");
    for (event, (_, _, position)) in forwards.iter().zip(&written) {
        assert_eq!(event.get_original_event().position, *position, "$all position = append position");
        assert_eq!(event.commit_position, Some(position.commit));
    }

    let backwards = ours(read_all(&client, ReadAllOptions::default().position(StreamPosition::End)).await);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(ids(&backwards), reversed, "$all backwards from the end");

    // Nothing was written after our events, and a read from the first of
    // them starts there (the server's own registrations come before), so
    // counts apply to our events.
    let first = written[0].2;
    let first_two =
        read_all(&client, ReadAllOptions::default().position(StreamPosition::Position(first)).forwards().max_count(2))
            .await;
    assert_eq!(ids(&first_two), expected[..2].to_vec(), "$all forwards, max 2");
    let last_two = read_all(&client, ReadAllOptions::default().position(StreamPosition::End).max_count(2)).await;
    assert_eq!(ids(&last_two), reversed[..2].to_vec(), "$all backwards, max 2");

    // Forwards from a position includes the event at that position.
    let third = written[2].2;
    let from_third =
        read_all(&client, ReadAllOptions::default().position(StreamPosition::Position(third)).forwards()).await;
    assert_eq!(ids(&ours(from_third)), expected[2..].to_vec(), "$all forwards from the third event's position");

    // Filtered reads: by stream-name prefix and by an event-type regex.
    let only_b =
        read_all(&client, ReadAllOptions::default().filter(SubscriptionFilter::on_stream_name().add_prefix("allb-")))
            .await;
    assert_eq!(ids(&only_b), vec![(b.clone(), 0), (b.clone(), 1)], "$all filtered by stream prefix");
    let by_type = read_all(
        &client,
        ReadAllOptions::default().filter(SubscriptionFilter::on_event_type().regex("^(?!\\$)all-t.st$")),
    )
    .await;
    assert_eq!(ids(&by_type), expected, "$all filtered by event-type regex with lookahead");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_stream_receives_history_then_live_events() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("sub");
    let other = unique_stream("sub");
    append(&client, &stream, StreamState::NoStream, numbered_events("s", 3)).await.unwrap();
    append(&client, &other, StreamState::NoStream, numbered_events("s", 2)).await.unwrap();

    let from_start = SubscribeToStreamOptions::default().start_from(StreamPosition::Start);
    let mut subscription = client.subscribe_to_stream(stream.as_str(), &from_start).await;
    let (history, _) = until_caught_up(&mut subscription).await;
    assert_eq!(revisions(&history), vec![0, 1, 2], "history before caught-up");
    assert_eq!(numbers(&history), vec![0, 1, 2]);

    // After revision 1: history is revision 2 only.
    let after_one = SubscribeToStreamOptions::default().start_from(StreamPosition::Position(1));
    let mut from_revision = client.subscribe_to_stream(stream.as_str(), &after_one).await;
    let (history, _) = until_caught_up(&mut from_revision).await;
    assert_eq!(revisions(&history), vec![2], "a subscription from revision 1 starts after it");

    // From the end: no history.
    let from_end = SubscribeToStreamOptions::default().start_from(StreamPosition::End);
    let mut live_only = client.subscribe_to_stream(stream.as_str(), &from_end).await;
    let (history, _) = until_caught_up(&mut live_only).await;
    assert!(history.is_empty(), "a subscription from the end has no history: {:?}", ids(&history));

    // Live: events of the stream arrive, others' do not.
    append(&client, &other, StreamState::Any, numbered_events("s", 1)).await.unwrap();
    append(&client, &stream, StreamState::StreamRevision(2), numbered_events("s", 2)).await.unwrap();
    for (name, subscription) in
        [("from start", &mut subscription), ("from 1", &mut from_revision), ("from end", &mut live_only)]
    {
        let live = next_events(subscription, 2).await;
        assert_eq!(
            ids(&live),
            vec![(stream.clone(), 3), (stream.clone(), 4)],
            "live events of the subscription {name}"
        );
    }
    assert_no_event_for(&mut subscription, Duration::from_millis(300)).await;
    // Subscribers disconnect first (tests/shutdown.rs stops with them open).
    drop((subscription, from_revision, live_only));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_a_stream_that_does_not_exist_yet() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("later");
    let options = SubscribeToStreamOptions::default().start_from(StreamPosition::Start);
    let mut subscription = client.subscribe_to_stream(stream.as_str(), &options).await;
    let (history, _) = until_caught_up(&mut subscription).await;
    assert!(history.is_empty());
    append(&client, &stream, StreamState::NoStream, numbered_events("s", 2)).await.unwrap();
    assert_eq!(revisions(&next_events(&mut subscription, 2).await), vec![0, 1]);
    drop(subscription);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_all_filtered_by_stream_prefix() {
    let server = Server::start().await;
    let client = server.client();
    let prefix = format!("pfx{}", uuid::Uuid::new_v4().simple());
    let first = format!("{prefix}-first");
    let second = format!("{prefix}-second");
    let unrelated = unique_stream("unrelated");
    append(&client, &first, StreamState::Any, numbered_events("p", 2)).await.unwrap();
    append(&client, &unrelated, StreamState::Any, numbered_events("p", 3)).await.unwrap();
    append(&client, &second, StreamState::Any, numbered_events("p", 1)).await.unwrap();

    let filter = SubscriptionFilter::on_stream_name().add_prefix(&prefix);
    let options = SubscribeToAllOptions::default().position(StreamPosition::Start).filter(filter);
    let mut subscription = client.subscribe_to_all(&options).await;
    let (history, checkpoints) = until_caught_up(&mut subscription).await;
    assert_eq!(
        ids(&history),
        vec![(first.clone(), 0), (first.clone(), 1), (second.clone(), 0)],
        "filtered history of $all"
    );
    assert!(
        checkpoints.windows(2).all(|pair| pair[0].commit <= pair[1].commit),
        "checkpoints must not go back: {checkpoints:?}"
    );

    append(&client, &unrelated, StreamState::Any, numbered_events("p", 1)).await.unwrap();
    append(&client, &second, StreamState::Any, numbered_events("p", 1)).await.unwrap();
    append(&client, &first, StreamState::Any, numbered_events("p", 1)).await.unwrap();
    let live = next_events(&mut subscription, 2).await;
    assert_eq!(ids(&live), vec![(second.clone(), 1), (first.clone(), 2)], "filtered live events of $all");
    assert_no_event_for(&mut subscription, Duration::from_millis(300)).await;
    drop(subscription);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_all_from_a_position_starts_after_it() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("frompos");
    let mut positions = Vec::new();
    for _ in 0..4 {
        positions.push(append(&client, &stream, StreamState::Any, numbered_events("p", 1)).await.unwrap().position);
    }
    let options = SubscribeToAllOptions::default().position(StreamPosition::Position(positions[1]));
    let mut subscription = client.subscribe_to_all(&options).await;
    let (history, _) = until_caught_up(&mut subscription).await;
    let history: Vec<_> = history.into_iter().filter(|event| event.get_original_stream_id() == stream).collect();
    assert_eq!(revisions(&history), vec![2, 3], "a $all subscription from P starts after P");
    drop(subscription);
    server.stop().await;
}

/// The exclude-system-events filters clients send by default: the Rust
/// client's `^[^\$].*` and the lookahead form other clients use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_all_excluding_system_event_types() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("types");
    let typed = |event_type: &str| json_event(event_type, serde_json::json!({ "type": event_type }));
    append(
        &client,
        &stream,
        StreamState::NoStream,
        vec![typed("wanted"), typed("$system-like"), typed("PersistentConfig1"), typed("wanted")],
    )
    .await
    .unwrap();

    let client_default = SubscriptionFilter::on_event_type().exclude_system_events();
    let lookahead = SubscriptionFilter::on_event_type().regex(r"^(?!(\$.+|PersistentConfig\d+)$).*");
    let mut subscriptions = Vec::new();
    for filter in [client_default, lookahead] {
        let options = SubscribeToAllOptions::default().position(StreamPosition::Start).filter(filter);
        subscriptions.push(client.subscribe_to_all(&options).await);
    }
    let (history, _) = until_caught_up(&mut subscriptions[0]).await;
    let types: Vec<_> = history.iter().map(|event| event.get_original_event().event_type.clone()).collect();
    assert_eq!(types, vec!["wanted", "PersistentConfig1", "wanted"], "history, filter ^[^\\$].*");
    let (history, _) = until_caught_up(&mut subscriptions[1]).await;
    assert_eq!(revisions(&history), vec![0, 3], "history, lookahead filter");

    append(&client, &stream, StreamState::StreamRevision(3), vec![typed("$another"), typed("live")]).await.unwrap();
    for subscription in &mut subscriptions {
        let live = next_events(subscription, 1).await;
        assert_eq!(ids(&live), vec![(stream.clone(), 5)], "live event passing the filter");
        assert_no_event_for(subscription, Duration::from_millis(300)).await;
    }
    drop(subscriptions);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_append_succeeds_and_reports_conflicts() {
    let server = Server::start().await;
    let client = server.client();
    let batch = within(OP, "open batch append", client.batch_append(&Default::default())).await.expect("batch append");
    let stream = unique_stream("batch");
    let written =
        within(OP, "batch 1", batch.append_to_stream(&stream, StreamState::NoStream, numbered_events("b", 3)))
            .await
            .expect("batch append to a new stream");
    assert_eq!(written.current_revision(), Some(2));
    assert_eq!(written.stream_name(), stream);
    let written =
        within(OP, "batch 2", batch.append_to_stream(&stream, StreamState::StreamRevision(2), numbered_events("b", 1)))
            .await
            .expect("batch append at revision 2");
    assert_eq!(written.current_revision(), Some(3));
    let conflict =
        within(OP, "batch 3", batch.append_to_stream(&stream, StreamState::NoStream, numbered_events("b", 1))).await;
    match conflict {
        Err(Error::Grpc { code, message }) => {
            assert_eq!(format!("{code:?}"), "FailedPrecondition", "a conflicting batch: {message}")
        }
        other => panic!("conflicting batch append: {other:?}"),
    }
    let events = read_stream(&client, &stream, ReadStreamOptions::default()).await.unwrap();
    assert_eq!(numbers(&events), vec![0, 1, 2, 0]);
    server.stop().await;
}

/// A refused batch must still name its stream: the Rust client unwraps
/// `BatchAppendResp.stream_identifier` (EventStoreDB echoes the request's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_append_refusing_an_invalid_stream_name_still_names_the_stream() {
    let server = Server::start().await;
    let client = server.client();
    let batch = within(OP, "open batch append", client.batch_append(&Default::default())).await.expect("batch append");
    match within(
        OP,
        "batch append to an empty stream name (no answer: the client panicked on a response without stream_identifier?)",
        batch.append_to_stream("", StreamState::Any, numbered_events("e", 1)),
    )
    .await
    {
        Err(Error::Grpc { code, message }) => {
            assert_eq!(format!("{code:?}"), "InvalidArgument", "empty stream name in a batch: {message}")
        }
        other => panic!("batch append to an empty stream name: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_kinds() {
    let server = Server::start().await;
    let client = server.client();

    // An invalid stream name is refused as INVALID_ARGUMENT.
    match append(&client, "", StreamState::Any, numbered_events("e", 1)).await {
        Err(Error::Grpc { code, message }) => {
            assert_eq!(format!("{code:?}"), "InvalidArgument", "empty stream name: {message}")
        }
        other => panic!("append to an empty stream name: {other:?}"),
    }
    // The client still works after the errors.
    let stream = unique_stream("after-errors");
    append(&client, &stream, StreamState::NoStream, numbered_events("e", 1)).await.unwrap();
    server.stop().await;

    // A server that is gone: a connection error, not a hang.
    let settings =
        format!("esdb://127.0.0.1:{}?tls=false&maxDiscoverAttempts=1&gossipTimeout=2000", server_port_closed())
            .parse()
            .unwrap();
    let gone = Client::new(settings).unwrap();
    match within(
        OP,
        "append to a closed port",
        gone.append_to_stream(stream.as_str(), &Default::default(), numbered_events("e", 1)),
    )
    .await
    {
        Err(Error::GrpcConnectionError(_)) | Err(Error::ServerError(_)) => {}
        other => panic!("append with no server: {other:?}"),
    }
}

/// A loopback port nothing listens on.
fn server_port_closed() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
