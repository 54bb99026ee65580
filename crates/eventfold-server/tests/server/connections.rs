//! Goal: idle or hostile connections cannot hold the server's file
//! descriptors. A connection that sends nothing, or half an HTTP/2 preface,
//! is closed after the request-header timeout; an HTTP/1.1 keep-alive
//! connection left unused is closed once the wait for its next request's
//! headers (or the idle timeout, whichever is shorter) runs out; and no
//! more than `max_connections` are served at once, the next one being served
//! as soon as a slot frees.

use crate::support;

use std::time::{Duration, Instant};

use eventfold_server::ConnectionLimits;
use support::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);
const IDLE_TIMEOUT: Duration = Duration::from_millis(600);
/// Far more than the timeouts: a server that never closes fails, a slow
/// machine does not.
const PATIENCE: Duration = Duration::from_secs(10);

/// The server, and its data directory, which must outlive it.
async fn start(max_connections: usize) -> (support::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ServeOptions {
        connections: ConnectionLimits {
            max_connections,
            request_header_timeout: HEADER_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            ..ConnectionLimits::default()
        },
        ..ServeOptions::default()
    };
    (support::serve_with(support::open_engine(&dir), "127.0.0.1:0", options).await, dir)
}

/// Reads until the server closes the connection; returns how long it took.
async fn closed_by_server(socket: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {PATIENCE:?}"),
        }
    }
}

async fn health_on(socket: &mut TcpStream, close: bool) -> String {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!("GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: {connection}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send request");
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    // The body is small JSON ending in `}`; read until it is complete.
    while !response.ends_with(b"}") {
        let read = tokio::time::timeout(PATIENCE, socket.read(&mut buffer)).await.expect("response in time");
        let read = read.expect("read response");
        assert!(read > 0, "connection closed before the response");
        response.extend_from_slice(buffer.get(..read).unwrap_or_default());
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_request_header_timeout() {
    let (server, _dir) = start(16).await;
    let mut silent = TcpStream::connect(server.address).await.expect("connect");
    let waited = closed_by_server(&mut silent).await;
    assert!(waited >= HEADER_TIMEOUT / 2, "closed after {waited:?}, before the timeout");
    server.finish().await;
}

#[tokio::test]
async fn half_an_http2_preface_is_closed_after_the_request_header_timeout() {
    let (server, _dir) = start(16).await;
    let mut half = TcpStream::connect(server.address).await.expect("connect");
    half.write_all(b"PRI * HTTP/2.0\r\n").await.expect("send half a preface");
    closed_by_server(&mut half).await;
    server.finish().await;
}

#[tokio::test]
async fn a_keep_alive_connection_left_unused_is_closed() {
    let (server, _dir) = start(16).await;
    let mut socket = TcpStream::connect(server.address).await.expect("connect");
    let response = health_on(&mut socket, false).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let waited = closed_by_server(&mut socket).await;
    let shorter = HEADER_TIMEOUT.min(IDLE_TIMEOUT);
    assert!(waited >= shorter / 2, "closed after {waited:?}, before either timeout");
    server.finish().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let (server, _dir) = start(2).await;
    let mut first = TcpStream::connect(server.address).await.expect("connect");
    let mut second = TcpStream::connect(server.address).await.expect("connect");
    // Both slots are taken (give the server a moment to accept them): a
    // third connection is not served until one of them closes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut third = TcpStream::connect(server.address).await.expect("connect (backlog)");
    let request = b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
    third.write_all(request).await.expect("send request");
    let mut buffer = [0u8; 64];
    let early = tokio::time::timeout(HEADER_TIMEOUT / 3, third.read(&mut buffer)).await;
    assert!(early.is_err(), "a third connection was served while two held every slot");
    // The silent ones time out; then the third is served.
    closed_by_server(&mut first).await;
    closed_by_server(&mut second).await;
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, third.read_to_string(&mut response))
        .await
        .expect("served once a slot freed")
        .expect("read response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.finish().await;
}
