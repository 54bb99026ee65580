//! Soft delete (`Streams.Delete`) and tombstone (`Streams.Tombstone`)
//! through the official Rust client.
//!
//! Soft delete: the stream reads as not found and can be appended to again,
//! its revisions continuing. Tombstone: reads, appends, subscriptions and
//! further deletes fail with "stream deleted" forever.

use eventfold_rust_client_tests::{Server, numbered_events, unique_stream, within};
use kurrentdb::{
    AppendToStreamOptions, Client, DeleteStreamOptions, Error, Position, ReadStreamOptions, ResolvedEvent,
    StreamPosition, StreamState, SubscribeToStreamOptions, TombstoneStreamOptions, WriteResult,
};

const OP: u64 = 15;

async fn append(client: &Client, stream: &str, state: StreamState, count: usize) -> kurrentdb::Result<WriteResult> {
    let options = AppendToStreamOptions::default().stream_state(state);
    within(OP, &format!("append to {stream}"), client.append_to_stream(stream, &options, numbered_events("d", count)))
        .await
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

async fn delete(client: &Client, stream: &str, state: StreamState) -> kurrentdb::Result<Option<Position>> {
    let options = DeleteStreamOptions::default().stream_state(state);
    within(OP, &format!("delete {stream}"), client.delete_stream(stream, &options)).await
}

async fn tombstone(client: &Client, stream: &str, state: StreamState) -> kurrentdb::Result<Option<Position>> {
    let options = TombstoneStreamOptions::default().stream_state(state);
    within(OP, &format!("tombstone {stream}"), client.tombstone_stream(stream, &options)).await
}

fn revisions(events: &[ResolvedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.get_original_event().revision).collect()
}

fn assert_not_found<T: std::fmt::Debug>(result: kurrentdb::Result<T>, what: &str) {
    match result {
        Err(Error::ResourceNotFound) => {}
        other => panic!("{what}: expected ResourceNotFound, got {other:?}"),
    }
}

fn assert_deleted<T: std::fmt::Debug>(result: kurrentdb::Result<T>, what: &str) {
    match result {
        Err(Error::ResourceDeleted) => {}
        other => panic!("{what}: expected ResourceDeleted (exception trailer `stream-deleted`), got {other:?}"),
    }
}

/// Delete/Tombstone conflicts are FAILED_PRECONDITION statuses whose
/// message names WrongExpectedVersion (the Rust client maps them to
/// `Error::Grpc`; accept its dedicated variant too).
fn assert_wrong_expected_version<T: std::fmt::Debug>(result: kurrentdb::Result<T>, actual: &str, what: &str) {
    match result {
        Err(Error::WrongExpectedVersion { .. }) => {}
        Err(Error::Grpc { code, message }) => {
            assert_eq!(format!("{code:?}"), "FailedPrecondition", "{what}: {message}");
            assert!(message.contains("WrongExpectedVersion"), "{what}: message {message:?}");
            assert!(message.contains(&format!("Actual version: {actual}")), "{what}: message {message:?}");
        }
        other => panic!("{what}: expected a wrong-expected-version error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_hides_the_stream_and_revisions_continue() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("soft");
    let written = append(&client, &stream, StreamState::NoStream, 3).await.unwrap();

    let position = delete(&client, &stream, StreamState::StreamRevision(2)).await.expect("soft delete");
    if let Some(position) = position {
        assert!(position.commit >= written.position.commit, "delete position {position:?} before the last write");
    }
    assert_not_found(read_stream(&client, &stream, ReadStreamOptions::default()).await, "read after soft delete");
    let backwards = ReadStreamOptions::default().position(StreamPosition::End).backwards();
    assert_not_found(read_stream(&client, &stream, backwards).await, "backwards read after soft delete");

    // Appending again re-creates it; revisions continue from before.
    let again = append(&client, &stream, StreamState::Any, 2).await.expect("append after soft delete");
    assert_eq!(again.next_expected_version, 4, "revisions continue after a soft delete");
    let events = read_stream(&client, &stream, ReadStreamOptions::default()).await.expect("read re-created stream");
    assert_eq!(revisions(&events), vec![3, 4], "only the events written after the delete");
    let more =
        append(&client, &stream, StreamState::StreamRevision(4), 1).await.expect("exact revision after re-create");
    assert_eq!(more.next_expected_version, 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_with_the_wrong_expected_version_fails() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("softwev");
    append(&client, &stream, StreamState::NoStream, 3).await.unwrap();
    assert_wrong_expected_version(
        delete(&client, &stream, StreamState::StreamRevision(1)).await,
        "2",
        "stale revision",
    );
    assert_wrong_expected_version(delete(&client, &stream, StreamState::NoStream).await, "2", "NoStream on a stream");
    // Still there.
    assert_eq!(revisions(&read_stream(&client, &stream, ReadStreamOptions::default()).await.unwrap()), vec![0, 1, 2]);

    let missing = unique_stream("softwev");
    assert_wrong_expected_version(
        delete(&client, &missing, StreamState::StreamRevision(3)).await,
        "-1",
        "missing stream",
    );
    assert_wrong_expected_version(
        delete(&client, &missing, StreamState::StreamExists).await,
        "-1",
        "StreamExists on a missing stream",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstone_deletes_the_stream_forever() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("tomb");
    append(&client, &stream, StreamState::NoStream, 2).await.unwrap();
    tombstone(&client, &stream, StreamState::Any).await.expect("tombstone");

    assert_deleted(read_stream(&client, &stream, ReadStreamOptions::default()).await, "read after tombstone");
    let backwards = ReadStreamOptions::default().position(StreamPosition::End).backwards();
    assert_deleted(read_stream(&client, &stream, backwards).await, "backwards read after tombstone");
    assert_deleted(append(&client, &stream, StreamState::Any, 1).await, "append (Any) after tombstone");
    assert_deleted(append(&client, &stream, StreamState::NoStream, 1).await, "append (NoStream) after tombstone");
    assert_deleted(tombstone(&client, &stream, StreamState::Any).await, "second tombstone");
    assert_deleted(delete(&client, &stream, StreamState::Any).await, "soft delete after tombstone");

    let options = SubscribeToStreamOptions::default().start_from(StreamPosition::Start);
    let mut subscription = client.subscribe_to_stream(stream.as_str(), &options).await;
    let outcome = within(OP, "subscription to a tombstoned stream", async {
        loop {
            match subscription.next_subscription_event().await {
                Ok(kurrentdb::SubscriptionEvent::EventAppeared(event)) => {
                    break Ok(event.get_original_event().revision);
                }
                Ok(_) => continue,
                Err(error) => break Err(error),
            }
        }
    })
    .await;
    assert_deleted(outcome, "subscription to a tombstoned stream");

    // Survives a restart of the connection: a new client sees the same.
    let fresh = server.client();
    assert_deleted(read_stream(&fresh, &stream, ReadStreamOptions::default()).await, "read from a new client");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstone_with_expected_versions() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("tombwev");
    append(&client, &stream, StreamState::NoStream, 3).await.unwrap();
    assert_wrong_expected_version(
        tombstone(&client, &stream, StreamState::StreamRevision(0)).await,
        "2",
        "stale revision",
    );
    append(&client, &stream, StreamState::StreamRevision(2), 1).await.expect("stream still writable");
    tombstone(&client, &stream, StreamState::StreamRevision(3)).await.expect("tombstone at the exact revision");
    assert_deleted(read_stream(&client, &stream, ReadStreamOptions::default()).await, "read after tombstone");

    // A stream that never existed can be tombstoned, and then never created.
    let never = unique_stream("tombwev");
    tombstone(&client, &never, StreamState::NoStream).await.expect("tombstone a missing stream");
    assert_deleted(append(&client, &never, StreamState::Any, 1).await, "append to a tombstoned missing stream");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstone_after_soft_delete() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("softtomb");
    append(&client, &stream, StreamState::NoStream, 2).await.unwrap();
    delete(&client, &stream, StreamState::Any).await.expect("soft delete");
    tombstone(&client, &stream, StreamState::Any).await.expect("tombstone after soft delete");
    assert_deleted(read_stream(&client, &stream, ReadStreamOptions::default()).await, "read");
    assert_deleted(append(&client, &stream, StreamState::Any, 1).await, "append");
    server.stop().await;
}
