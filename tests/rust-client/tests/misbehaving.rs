//! Misbehaving clients must neither crash the server nor stall anyone else:
//! garbage bytes, broken and stalled HTTP/2, and catch-up subscriptions
//! that are never read. Meanwhile another client keeps appending and
//! reading, and `/health` keeps answering.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use eventfold_rust_client_tests::{Server, json_event, unique_stream, within};
use kurrentdb::{
    AppendToStreamOptions, Client, EventData, ReadStreamOptions, StreamPosition, StreamState, SubscribeToAllOptions,
    SubscribeToStreamOptions, Subscription, SubscriptionEvent,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const OP: u64 = 15;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame header: length, type, flags, stream id.
fn frame_header(length: u32, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let mut header = length.to_be_bytes()[1..].to_vec();
    header.push(kind);
    header.push(flags);
    header.extend_from_slice(&stream.to_be_bytes());
    header
}

/// Deterministic bytes that are no protocol at all.
fn garbage(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Reads until the server closes the connection; `true` if it did so
/// within `patience`.
async fn closed_by_server(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buffer = vec![0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// `/health` answers 200 within 5 s; the time it took.
async fn health_ok(server: &Server) -> Duration {
    let started = Instant::now();
    let (status, body) = within(5, "GET /health", server.health()).await.expect("GET /health");
    assert_eq!(status, 200, "GET /health: {body}");
    started.elapsed()
}

/// One append and one read by a well-behaved client: the time they took.
async fn append_and_read(client: &Client, stream: &str, n: u64) -> Duration {
    let started = Instant::now();
    let options = AppendToStreamOptions::default().stream_state(StreamState::Any);
    let event = json_event("probe", serde_json::json!({ "n": n }));
    within(5, "a well-behaved append", client.append_to_stream(stream, &options, event))
        .await
        .expect("well-behaved append");
    let read = ReadStreamOptions::default().position(StreamPosition::End).backwards().max_count(1);
    let last = within(5, "a well-behaved read", async {
        let mut reader = client.read_stream(stream, &read).await?;
        reader.next().await
    })
    .await
    .expect("well-behaved read")
    .expect("the event just written");
    let value: serde_json::Value = last.get_original_event().as_json().unwrap();
    assert_eq!(value["n"].as_u64(), Some(n), "read back the event just appended");
    started.elapsed()
}

/// Well-behaved traffic for `duration`: appends, reads and health checks
/// must all succeed, each within 5 s. Returns (iterations, slowest).
async fn keep_working(server: &Server, client: &Client, duration: Duration) -> (u64, Duration) {
    let stream = unique_stream("wellbehaved");
    let deadline = Instant::now() + duration;
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    while Instant::now() < deadline {
        slowest = slowest.max(append_and_read(client, &stream, n).await);
        slowest = slowest.max(health_ok(server).await);
        n += 1;
    }
    (n, slowest)
}

fn assert_running(server: &mut Server) {
    if let Some(status) = server.try_wait() {
        panic!("eventfold exited ({status}); log:\n{}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_broken_http2_do_not_hurt_other_clients() {
    let mut server = Server::start().await;
    let address: SocketAddr = server.address();
    let client = server.client();
    append_and_read(&client, &unique_stream("before"), 0).await;

    // Garbage: the server must close the connection, not keep it forever.
    let mut unclosed = Vec::new();
    for seed in 1..=5u64 {
        let mut connection = TcpStream::connect(address).await.unwrap();
        let _ = connection.write_all(&garbage(64 * 1024, seed)).await;
        if !closed_by_server(&mut connection, Duration::from_secs(10)).await {
            unclosed.push(format!("64 KiB of garbage (seed {seed})"));
        }
    }
    // The HTTP/2 preface, then a frame cut short, then the client leaves.
    for _ in 0..20 {
        let mut connection = TcpStream::connect(address).await.unwrap();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame_header(0, 4, 0, 0)); // SETTINGS
        bytes.extend(frame_header(100, 1, 0x4, 1)); // HEADERS promising 100 bytes...
        bytes.extend_from_slice(&[0x82, 0x86, 0x84]); // ...3 arrive.
        let _ = connection.write_all(&bytes).await;
        drop(connection);
    }
    // A frame larger than any allowed size: a connection error.
    {
        let mut connection = TcpStream::connect(address).await.unwrap();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame_header(0, 4, 0, 0));
        bytes.extend(frame_header(0xFF_FFFF, 0, 0, 1)); // DATA of 16 MiB on an idle stream
        bytes.extend(garbage(1024, 7));
        let _ = connection.write_all(&bytes).await;
        if !closed_by_server(&mut connection, Duration::from_secs(10)).await {
            unclosed.push("an oversized HTTP/2 frame".to_owned());
        }
    }
    // A preface, then a truncated SETTINGS frame, then the client leaves.
    for _ in 0..20 {
        let mut connection = TcpStream::connect(address).await.unwrap();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame_header(12, 4, 0, 0));
        bytes.extend_from_slice(&[0, 3, 0]);
        let _ = connection.write_all(&bytes).await;
        let _ = connection.shutdown().await;
    }
    // Connections that connect and vanish.
    for _ in 0..50 {
        drop(TcpStream::connect(address).await.unwrap());
    }
    // Stalled connections held open while others work: half an HTTP/2
    // frame, half an HTTP/1.1 request, and a bare preface.
    let mut stalled = Vec::new();
    for index in 0..30 {
        let mut connection = TcpStream::connect(address).await.unwrap();
        let bytes = match index % 3 {
            0 => {
                let mut bytes = PREFACE.to_vec();
                bytes.extend(frame_header(0, 4, 0, 0));
                bytes.extend(frame_header(1000, 1, 0x4, 1));
                bytes.extend_from_slice(&[0x82, 0x86]);
                bytes
            }
            1 => b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec(),
            _ => PREFACE[..10].to_vec(),
        };
        connection.write_all(&bytes).await.unwrap();
        stalled.push(connection);
    }

    let (iterations, slowest) = keep_working(&server, &client, Duration::from_secs(3)).await;
    eprintln!("well-behaved client: {iterations} append+read+health rounds, slowest step {slowest:?}");
    assert!(iterations >= 5, "only {iterations} rounds of well-behaved traffic in 3 s");
    // A brand-new client connects fine too.
    append_and_read(&server.client(), &unique_stream("after"), 1).await;
    assert_running(&mut server);
    assert!(unclosed.is_empty(), "the server kept these connections open for 10 s: {unclosed:?}");

    drop(stalled);
    health_ok(&server).await;
    server.stop().await;
}

fn big_event(n: usize) -> EventData {
    json_event("big", serde_json::json!({ "n": n, "padding": "x".repeat(900) }))
}

/// Appends `count` ~1 KB events to `stream` in batches of 500.
async fn fill(client: &Client, stream: &str, count: usize) {
    let options = AppendToStreamOptions::default().stream_state(StreamState::Any);
    for start in (0..count).step_by(500) {
        let events: Vec<EventData> = (start..(start + 500).min(count)).map(big_event).collect();
        within(OP, "filling a big stream", client.append_to_stream(stream, &options, events)).await.expect("fill");
    }
}

/// Reads `subscription` until `expected` events (filtered by `keep`) have
/// arrived or it ends with an error. Events must be in order without gaps
/// or repeats. Returns how many arrived and the error, if any; fails if the
/// subscription goes silent for 15 s before that.
async fn drain(
    subscription: &mut Subscription,
    expected: usize,
    keep: impl Fn(&str) -> bool,
    what: &str,
) -> (usize, Option<kurrentdb::Error>) {
    let mut seen = 0usize;
    let mut messages = 0usize;
    let started = Instant::now();
    while seen < expected {
        let next = tokio::time::timeout(Duration::from_secs(15), subscription.next_subscription_event()).await;
        match next {
            Err(_) => panic!(
                "{what}: silent for 15 s after {seen} of {expected} events ({messages} messages, {:?} after resuming)",
                started.elapsed()
            ),
            Ok(Ok(SubscriptionEvent::EventAppeared(event))) => {
                messages += 1;
                if !keep(event.get_original_stream_id()) {
                    continue;
                }
                let value: serde_json::Value = event.get_original_event().as_json().unwrap();
                assert_eq!(value["n"].as_u64(), Some(seen as u64), "{what}: event out of order, repeated or lost");
                seen += 1;
            }
            Ok(Ok(_)) => messages += 1,
            Ok(Err(error)) => return (seen, Some(error)),
        }
    }
    eprintln!("{what}: all {expected} events in {:?}", started.elapsed());
    (seen, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_subscriptions_do_not_stall_others() {
    const EVENTS: usize = 20_000;
    let mut server = Server::start().await;
    let writer = server.client();
    // The stuck readers share connections, two to a client (one HTTP/2
    // connection each); the well-behaved client has its own. Two, not four:
    // a connection's flow-control window is shared by its calls, and the
    // client grants each call a large part of it, so more unread calls would
    // starve each other's first messages on that connection (the client's
    // limit, whatever the server does) and make the setup below racy.
    let stuck_client = server.client();
    let stuck_client_2 = server.client();
    let big = unique_stream("big");

    // A live subscriber to $all that stops reading before a flood.
    let mut stuck_live =
        stuck_client.subscribe_to_all(&SubscribeToAllOptions::default().position(StreamPosition::End)).await;
    loop {
        match within(OP, "live $all subscription to catch up", stuck_live.next_subscription_event()).await.unwrap() {
            SubscriptionEvent::CaughtUp(_) => break,
            _ => continue,
        }
    }
    let rss_before = server.rss_kib();
    let started = Instant::now();
    fill(&writer, &big, EVENTS).await;
    eprintln!("appended {EVENTS} events of ~1 KB in {:?}", started.elapsed());

    // Catch-up subscriptions over the whole history, confirmed and then
    // never read.
    let mut stuck_stream = stuck_client
        .subscribe_to_stream(big.as_str(), &SubscribeToStreamOptions::default().start_from(StreamPosition::Start))
        .await;
    let mut stuck_all =
        stuck_client_2.subscribe_to_all(&SubscribeToAllOptions::default().position(StreamPosition::Start)).await;
    for subscription in [&mut stuck_stream, &mut stuck_all] {
        let first = within(OP, "subscription confirmation", subscription.next_subscription_event()).await.unwrap();
        assert!(matches!(first, SubscriptionEvent::Confirmed(_)), "first message {first:?}");
    }
    // A plain read of the whole stream, one event taken.
    let mut stuck_read =
        within(OP, "big read", stuck_client_2.read_stream(big.as_str(), &ReadStreamOptions::default()))
            .await
            .expect("big read");
    within(OP, "first event of the big read", stuck_read.next()).await.unwrap().expect("an event");

    // Meanwhile, others are served promptly.
    let other = server.client();
    let (iterations, slowest) = keep_working(&server, &other, Duration::from_secs(4)).await;
    eprintln!("well-behaved client beside 4 stuck readers: {iterations} rounds, slowest step {slowest:?}");
    assert!(iterations >= 5, "only {iterations} rounds of well-behaved traffic in 4 s");
    // A live subscriber that does read gets new events promptly.
    let live_stream = unique_stream("live");
    let mut reader = other
        .subscribe_to_stream(
            live_stream.as_str(),
            &SubscribeToStreamOptions::default().start_from(StreamPosition::Start),
        )
        .await;
    loop {
        match within(OP, "reading subscriber caught up", reader.next_subscription_event()).await.unwrap() {
            SubscriptionEvent::CaughtUp(_) => break,
            _ => continue,
        }
    }
    let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
    within(OP, "append for the live reader", writer.append_to_stream(live_stream.as_str(), &options, big_event(0)))
        .await
        .unwrap();
    let event = within(5, "live event to a reading subscriber", reader.next()).await.unwrap();
    assert_eq!(event.get_original_event().revision, 0);

    let rss_during = server.rss_kib();
    eprintln!("server RSS: {rss_before:?} KiB before the flood, {rss_during:?} KiB with stuck readers");
    if let (Some(before), Some(during)) = (rss_before, rss_during) {
        assert!(
            during < before + 512 * 1024,
            "server memory grew by {} MiB with stuck readers",
            (during - before) / 1024
        );
    }
    assert_running(&mut server);

    // The stuck readers resume, all at once (they share one HTTP/2
    // connection, whose window the unread ones would otherwise hold):
    // everything arrives, in order, no gaps. A server may instead drop a
    // subscriber it gave up on (ABORTED).
    let only_big = |stream: &str| stream == big;
    let read_rest = async {
        let mut seen = 1usize;
        let started = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(15), stuck_read.next()).await {
                Err(_) => panic!("big read: silent for 15 s after {seen} of {EVENTS} events"),
                Ok(Ok(Some(event))) => {
                    let value: serde_json::Value = event.get_original_event().as_json().unwrap();
                    assert_eq!(value["n"].as_u64(), Some(seen as u64), "big read: out of order");
                    seen += 1;
                }
                Ok(Ok(None)) => break,
                Ok(Err(error)) => panic!("big read failed after {seen} events: {error}"),
            }
        }
        assert_eq!(seen, EVENTS, "big read: events");
        eprintln!("big read: all {EVENTS} events in {:?}", started.elapsed());
    };
    let (stream_outcome, all_outcome, live_outcome, ()) = tokio::join!(
        drain(&mut stuck_stream, EVENTS, only_big, "stream subscription"),
        drain(&mut stuck_all, EVENTS, only_big, "$all subscription"),
        drain(&mut stuck_live, EVENTS, only_big, "live $all subscription"),
        read_rest,
    );
    for ((seen, error), what) in [
        (stream_outcome, "stream subscription"),
        (all_outcome, "$all subscription"),
        (live_outcome, "live $all subscription"),
    ] {
        match error {
            None => assert_eq!(seen, EVENTS),
            Some(kurrentdb::Error::Grpc { code, message }) if format!("{code:?}") == "Aborted" => {
                eprintln!("{what}: dropped by the server after {seen} events: {message}")
            }
            Some(error) => panic!("{what}: failed after {seen} of {EVENTS} events: {error}"),
        }
    }
    // Subscribers disconnect before the stop (tests/shutdown.rs stops with
    // them open).
    drop((stuck_stream, stuck_all, stuck_live, reader));

    // Readers that vanish mid-stream: many subscriptions dropped unread.
    let mut dropped = Vec::new();
    for _ in 0..16 {
        let client = server.client();
        let mut subscription =
            client.subscribe_to_all(&SubscribeToAllOptions::default().position(StreamPosition::Start)).await;
        within(OP, "confirmation", subscription.next_subscription_event()).await.unwrap();
        dropped.push((client, subscription));
    }
    drop(dropped);
    let (iterations, _) = keep_working(&server, &other, Duration::from_secs(1)).await;
    assert!(iterations >= 1);
    assert_running(&mut server);
    server.stop().await;
}
