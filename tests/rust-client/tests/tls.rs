//! The official Rust client (`kurrentdb`) over TLS: a server in secure mode
//! with a certificate from `eventfold certs`, reached with the connection
//! string the client documents (`tls=true&tlsCaFile=...`), appends and
//! reads back. The credentials are sent as secure mode expects.

use eventfold_rust_client_tests::{Server, numbered_events, unique_stream, within};
use kurrentdb::{AppendToStreamOptions, Client, ClientSettings, ReadStreamOptions, StreamState};

#[tokio::test]
async fn appends_and_reads_over_tls() {
    let server = Server::start_secure().await;
    let settings: ClientSettings = server.secure_connection_string().parse().expect("a connection string");
    let client = Client::new(settings).expect("a client");
    let stream = unique_stream("tls");
    let options = AppendToStreamOptions::default().stream_state(StreamState::NoStream);
    let written =
        within(15, "append over TLS", client.append_to_stream(stream.as_str(), &options, numbered_events("Placed", 3)))
            .await
            .unwrap_or_else(|error| panic!("append over TLS: {error}; log:\n{}", server.log()));
    assert_eq!(written.next_expected_version, 2);
    let events = within(15, "read over TLS", async {
        let mut reader = client.read_stream(stream.as_str(), &ReadStreamOptions::default()).await.expect("read");
        let mut events = Vec::new();
        while let Some(event) = reader.next().await.expect("an event") {
            events.push(event.get_original_event().revision);
        }
        events
    })
    .await;
    assert_eq!(events, vec![0, 1, 2]);
    server.stop().await;
}

/// The quick ACK works under TLS too (TLS wraps the same socket): 200
/// sequential one-event appends through the official client, which leaves
/// Nagle's algorithm on, stay far below the 8 s that 40 ms delayed-ACK
/// stalls would cost (the bound is generous for a noisy machine; see
/// `stalls.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_appends_over_tls_do_not_stall() {
    const APPENDS: usize = 200;
    const BOUND: std::time::Duration = std::time::Duration::from_secs(3);
    let server = Server::start_secure().await;
    let settings: ClientSettings = server.secure_connection_string().parse().expect("a connection string");
    let client = Client::new(settings).expect("a client");
    let stream = unique_stream("tls-stall");
    let options = AppendToStreamOptions::default().stream_state(StreamState::Any);
    within(30, "warm-up append", client.append_to_stream(stream.as_str(), &options, numbered_events("Warm", 1)))
        .await
        .expect("warm-up append");
    let started = std::time::Instant::now();
    for _ in 0..APPENDS {
        client.append_to_stream(stream.as_str(), &options, numbered_events("Appended", 1)).await.expect("append");
    }
    let took = started.elapsed();
    assert!(took < BOUND, "{APPENDS} sequential appends over TLS took {took:?} (bound {BOUND:?})");
    server.stop().await;
}
