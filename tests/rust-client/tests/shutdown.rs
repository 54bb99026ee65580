//! SIGTERM stops the server promptly and cleanly, whatever its clients are
//! doing: idle, subscribed, or holding half-open connections.

use std::time::Duration;

use eventfold_rust_client_tests::{Server, numbered_events, unique_stream, within};
use kurrentdb::{AppendToStreamOptions, StreamPosition, SubscribeToAllOptions, SubscriptionEvent};
use tokio::io::AsyncWriteExt as _;

/// How long a stop may take.
const PATIENCE: Duration = Duration::from_secs(10);

async fn stop_promptly(server: Server, situation: &str) {
    match server.stop_within(PATIENCE).await {
        Ok(status) => assert!(status.success(), "{situation}: eventfold exited with {status}"),
        Err(error) => panic!("{situation}: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_sigterm_after_use() {
    let server = Server::start().await;
    let client = server.client();
    let options = AppendToStreamOptions::default();
    within(15, "append", client.append_to_stream(unique_stream("s").as_str(), &options, numbered_events("e", 3)))
        .await
        .unwrap();
    stop_promptly(server, "after an append, client connection still open").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_sigterm_with_an_open_subscription() {
    let server = Server::start().await;
    let client = server.client();
    let options = AppendToStreamOptions::default();
    within(15, "append", client.append_to_stream(unique_stream("s").as_str(), &options, numbered_events("e", 3)))
        .await
        .unwrap();
    let mut subscription =
        client.subscribe_to_all(&SubscribeToAllOptions::default().position(StreamPosition::Start)).await;
    loop {
        match within(15, "subscription to catch up", subscription.next_subscription_event()).await.unwrap() {
            SubscriptionEvent::CaughtUp(_) => break,
            _ => continue,
        }
    }
    stop_promptly(server, "with a live catch-up subscription open").await;
    // The subscriber learns that the server went away instead of hanging.
    let ended = within(15, "the subscription to end after the server stopped", async {
        loop {
            match subscription.next_subscription_event().await {
                Ok(SubscriptionEvent::EventAppeared(_)) => continue,
                Ok(_) => continue,
                Err(error) => break error,
            }
        }
    })
    .await;
    eprintln!("subscription ended with: {ended}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_sigterm_with_a_stalled_http2_connection() {
    let server = Server::start().await;
    let mut stalled = tokio::net::TcpStream::connect(server.address()).await.unwrap();
    // The client preface: the magic and an empty SETTINGS frame; then the
    // client goes silent (it never acknowledges the server's SETTINGS or
    // answers a PING).
    stalled.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_promptly(server, "with a silent HTTP/2 connection (client preface sent, nothing more)").await;
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_sigterm_with_half_an_http1_request() {
    let server = Server::start().await;
    let mut half_http1 = tokio::net::TcpStream::connect(server.address()).await.unwrap();
    half_http1.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_promptly(server, "with a connection that sent half an HTTP/1.1 request head").await;
    drop(half_http1);
}
