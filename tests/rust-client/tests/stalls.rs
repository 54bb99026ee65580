//! Goal: the official client never waits on the kernel's delayed ACK. The
//! client leaves Nagle's algorithm on and sends a call as several small
//! segments; a server that sends nothing until the call has arrived would
//! make each call wait ~40 ms for the ACK that releases the rest. These
//! bounds are far above what a working server needs (a few hundred
//! milliseconds here) and far below what the stall costs (200 appends × 40
//! ms = 8 s), so a noisy machine cannot fail them and the stall cannot pass.

use std::time::{Duration, Instant};

use eventfold_rust_client_tests::{Server, json_event, numbered_events, postgres_base, unique_stream, within};
use kurrentdb::{
    AppendToStreamOptions, ReadStreamOptions, StreamPosition, StreamState, SubscribeToStreamOptions, SubscriptionEvent,
};

const APPENDS: usize = 200;
const EVENTS: usize = 10_000;

/// Each case: its bound, and what the stall would cost.
const APPENDS_BOUND: Duration = Duration::from_secs(2);
const READ_BOUND: Duration = Duration::from_secs(3);
const SUBSCRIPTION_BOUND: Duration = Duration::from_secs(3);
/// On PostgreSQL an append is two transactions (its own, then the
/// sequencing step that gives its position): twice the appends' bound,
/// still half of what the stall would add.
const APPENDS_BOUND_ON_POSTGRES: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_appends_reads_and_subscriptions_do_not_stall() {
    let server = Server::start().await;
    let client = server.client();
    let stream = unique_stream("stall");

    // One warm-up call: the connection and the first request are not timed.
    let options = AppendToStreamOptions::default().stream_state(StreamState::Any);
    within(
        30,
        "warm-up append",
        client.append_to_stream(stream.as_str(), &options, vec![json_event("warmup", serde_json::json!({}))]),
    )
    .await
    .expect("warm-up append");

    let started = Instant::now();
    for number in 0..APPENDS {
        client
            .append_to_stream(
                stream.as_str(),
                &options,
                vec![json_event("Appended", serde_json::json!({ "n": number }))],
            )
            .await
            .expect("append");
    }
    let appends = started.elapsed();
    let appends_bound = if postgres_base().is_some() { APPENDS_BOUND_ON_POSTGRES } else { APPENDS_BOUND };
    assert!(
        appends < appends_bound,
        "{APPENDS} sequential one-event appends took {appends:?} (bound {appends_bound:?})"
    );

    // 10,000 events in batches, then one plain read of them all.
    let filled = unique_stream("stall-read");
    for batch in numbered_events("Filled", EVENTS).chunks(1_000) {
        within(30, "fill", client.append_to_stream(filled.as_str(), &options, batch.to_vec())).await.expect("fill");
    }
    let started = Instant::now();
    let mut reader = client.read_stream(filled.as_str(), &ReadStreamOptions::default()).await.expect("read");
    let mut read = 0;
    while reader.next().await.expect("next event").is_some() {
        read += 1;
    }
    let reading = started.elapsed();
    assert_eq!(read, EVENTS);
    assert!(reading < READ_BOUND, "reading {EVENTS} events took {reading:?} (bound {READ_BOUND:?})");

    let started = Instant::now();
    let mut subscription = client
        .subscribe_to_stream(filled.as_str(), &SubscribeToStreamOptions::default().start_from(StreamPosition::Start))
        .await;
    let mut received = 0;
    while received < EVENTS {
        match within(30, "subscription event", subscription.next_subscription_event()).await.expect("subscription") {
            SubscriptionEvent::EventAppeared(_) => received += 1,
            _ => continue,
        }
    }
    let subscribing = started.elapsed();
    assert!(
        subscribing < SUBSCRIPTION_BOUND,
        "a catch-up subscription of {EVENTS} events took {subscribing:?} (bound {SUBSCRIPTION_BOUND:?})"
    );
    eprintln!("appends {appends:?}, read {reading:?}, subscription {subscribing:?}");
    server.stop().await;
}
