//! Goal: no gRPC request, however odd, stops the server, panics a handler or
//! leaves it unable to serve. Every method of every service gets thousands of
//! generated requests through the real router: random bytes, and random but
//! well-formed protobuf (nested messages, strings, numbers at any field
//! number 1–9), so that most of them decode and reach the handlers with
//! fields missing, out of range or contradicting each other. Each must be
//! answered with a gRPC status (a streaming answer may be cut off after a
//! short while: a subscription never ends by itself), and afterwards the
//! server still appends and reads.
//!
//! The byte-level decoders are also fuzzed with cargo-fuzz (`fuzz/`); this
//! drives what the decoded requests do.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use support::{open_engine, serve};
use tower::ServiceExt;

/// Every method a client can call, as `/package.Service/Method`.
const METHODS: &[&str] = &[
    "/event_store.client.streams.Streams/Read",
    "/event_store.client.streams.Streams/Append",
    "/event_store.client.streams.Streams/Delete",
    "/event_store.client.streams.Streams/Tombstone",
    "/event_store.client.streams.Streams/BatchAppend",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Create",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Update",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Delete",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Read",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/GetInfo",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/ReplayParked",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/TruncateParked",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/List",
    "/event_store.client.persistent_subscriptions.PersistentSubscriptions/RestartSubsystem",
    "/event_store.client.operations.Operations/StartScavenge",
    "/event_store.client.operations.Operations/StopScavenge",
    "/event_store.client.operations.Operations/MergeIndexes",
    "/event_store.client.operations.Operations/RestartPersistentSubscriptions",
    "/event_store.client.operations.Operations/SetNodePriority",
    "/event_store.client.server_features.ServerFeatures/GetSupportedMethods",
    "/event_store.client.gossip.Gossip/Read",
];

/// Requests per method; the seed makes a failure reproducible.
const REQUESTS_PER_METHOD: usize = 150;
const SEED: u64 = 0x5eed_f01d;
/// How long an answer may stream before the test stops listening.
const LISTEN: Duration = Duration::from_millis(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_to_every_method_are_answered_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve(open_engine(&dir)).await;
    let app = eventfold_server::app(&running.node);
    let mut random = XorShift(SEED);
    let mut answered = 0usize;
    for method in METHODS {
        for round in 0..REQUESTS_PER_METHOD {
            // Client- and bidi-streaming methods take several messages.
            let messages = 1 + random.below(3) as usize;
            let mut body = BytesMut::new();
            for _ in 0..messages {
                let message = if round % 4 == 0 { random.bytes(64) } else { random.message(3) };
                body.put_u8(0);
                body.put_u32(message.len() as u32);
                body.put_slice(&message);
            }
            let request = Request::builder()
                .method("POST")
                .uri(*method)
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(Body::from(body.freeze()))
                .expect("request");
            let response = app.clone().oneshot(request).await.expect("the router is infallible");
            assert_eq!(response.status(), StatusCode::OK, "{method}: gRPC answers in trailers");
            let header_status = response.headers().get("grpc-status").cloned();
            let mut body = response.into_body();
            let mut trailer_status = None;
            let deadline = tokio::time::Instant::now() + LISTEN;
            while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, body.frame()).await {
                let frame = frame.unwrap_or_else(|error| panic!("{method}: the answer broke off: {error}"));
                if let Some(trailers) = frame.trailers_ref() {
                    trailer_status = trailers.get("grpc-status").cloned();
                }
            }
            let status = header_status.or(trailer_status);
            if let Some(status) = status {
                let code: u8 = status.to_str().ok().and_then(|text| text.parse().ok()).expect("a numeric status");
                assert!(code <= 16, "{method}: status {code}");
                answered += 1;
            }
        }
    }
    assert!(answered > METHODS.len() * REQUESTS_PER_METHOD / 2, "only {answered} requests got a status");

    // Still serving, over real connections: gRPC and HTTP.
    use eventfold_proto::event_store::client::server_features::server_features_client::ServerFeaturesClient;
    let mut features = ServerFeaturesClient::new(running.channel().await);
    let methods = features.get_supported_methods(eventfold_proto::event_store::client::Empty {}).await;
    assert!(methods.is_ok_and(|answer| !answer.into_inner().methods.is_empty()), "gRPC still answers");
    let health = get(running.address, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    running.finish().await;
}

/// A plain HTTP/1.1 GET, answered status line first.
async fn get(address: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    answer
}

/// A small deterministic generator: the same seed, the same requests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn bytes(&mut self, most: u64) -> Bytes {
        let length = self.below(most + 1) as usize;
        (0..length).map(|_| self.next() as u8).collect::<Vec<_>>().into()
    }

    /// A well-formed protobuf message: fields 1–9 of every wire type, nested
    /// messages down to `depth`, strings that are mostly valid UTF-8.
    fn message(&mut self, depth: u32) -> Bytes {
        let mut message = BytesMut::new();
        for _ in 0..self.below(6) {
            let field = 1 + self.below(9);
            match self.below(if depth == 0 { 4 } else { 5 }) {
                0 => {
                    put_varint(&mut message, field << 3);
                    let value = match self.below(4) {
                        0 => 0,
                        1 => self.below(4),
                        2 => u64::MAX - self.below(4),
                        _ => self.next(),
                    };
                    put_varint(&mut message, value);
                }
                1 => {
                    put_varint(&mut message, (field << 3) | 1);
                    message.put_u64_le(self.next());
                }
                2 => {
                    put_varint(&mut message, (field << 3) | 5);
                    message.put_u32_le(self.next() as u32);
                }
                3 => {
                    put_varint(&mut message, (field << 3) | 2);
                    let text = self.text();
                    put_varint(&mut message, text.len() as u64);
                    message.put_slice(&text);
                }
                _ => {
                    put_varint(&mut message, (field << 3) | 2);
                    let nested = self.message(depth - 1);
                    put_varint(&mut message, nested.len() as u64);
                    message.put_slice(&nested);
                }
            }
        }
        message.freeze()
    }

    fn text(&mut self) -> Vec<u8> {
        const WORDS: &[&str] =
            &["", "s", "$all", "$$s", "$ce-s", "$persistentsubscription-config", "-1", "a-b", "$>", "\u{0}", "é"];
        match self.below(4) {
            0 => self.bytes(16).to_vec(),
            _ => WORDS[self.below(WORDS.len() as u64) as usize].as_bytes().to_vec(),
        }
    }
}

fn put_varint(buffer: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buffer.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buffer.put_u8(value as u8);
}
