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

use crate::support;

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
    "/kurrentdb.protocol.v2.streams.StreamsService/AppendSession",
    "/kurrentdb.protocol.v2.streams.StreamsService/AppendRecords",
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
            let seeds = seeds(method);
            let mut body = BytesMut::new();
            for index in 0..messages {
                let message = match (round % 4, seeds.get(index.min(seeds.len().saturating_sub(1)))) {
                    (0, _) => random.bytes(64),
                    (1, _) | (_, None) => random.message(3),
                    (_, Some(seed)) => random.mutate(seed, 3),
                };
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

/// Valid requests of the methods whose handlers do the most, for mutation:
/// changed, dropped and added fields at every depth reach much further into
/// a handler than random messages, which mostly miss a required option.
fn seeds(method: &str) -> Vec<Bytes> {
    use eventfold_proto::event_store::client::streams::append_req::options::ExpectedStreamRevision;
    use eventfold_proto::event_store::client::streams::read_req::options::{
        AllOptions, ControlOption, CountOption, FilterOption, FilterOptions, ReadDirection, StreamOption,
        StreamOptions, SubscriptionOptions, UuidOption, all_options, filter_options, stream_options, uuid_option,
    };
    use eventfold_proto::event_store::client::streams::{
        AppendReq, DeleteReq, ReadReq, TombstoneReq, append_req, delete_req, read_req, tombstone_req,
    };
    use eventfold_proto::event_store::client::{Empty, StreamIdentifier, Uuid, uuid};
    use prost::Message;

    let stream = || Some(StreamIdentifier { stream_name: b"hostile-s".to_vec().into() });
    let read = |stream_option, count_option, filter_option| ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(stream_option),
            read_direction: ReadDirection::Forwards as i32,
            resolve_links: true,
            count_option: Some(count_option),
            filter_option: Some(filter_option),
            uuid_option: Some(UuidOption { content: Some(uuid_option::Content::String(Empty {})) }),
            control_option: Some(ControlOption { compatibility: 1 }),
        }),
    };
    let encode = |message: &dyn Fn() -> Vec<u8>| Bytes::from(message());
    match method.rsplit('/').next().unwrap_or_default() {
        "Append" => vec![
            encode(&|| {
                AppendReq {
                    content: Some(append_req::Content::Options(append_req::Options {
                        stream_identifier: stream(),
                        expected_stream_revision: Some(ExpectedStreamRevision::Any(Empty {})),
                    })),
                }
                .encode_to_vec()
            }),
            encode(&|| {
                AppendReq {
                    content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
                        id: Some(Uuid {
                            value: Some(uuid::Value::String("3f1c6d2e-8a5b-4c1d-9e7f-0a1b2c3d4e5f".into())),
                        }),
                        metadata: [("type", "Hostile"), ("content-type", "application/json")]
                            .into_iter()
                            .map(|(key, value)| (key.to_owned(), value.to_owned()))
                            .collect(),
                        custom_metadata: b"{}".to_vec().into(),
                        data: br#"{"a":1}"#.to_vec().into(),
                    })),
                }
                .encode_to_vec()
            }),
        ],
        "Read" if method.contains("Streams") => vec![
            encode(&|| {
                read(
                    StreamOption::Stream(StreamOptions {
                        stream_identifier: stream(),
                        revision_option: Some(stream_options::RevisionOption::Start(Empty {})),
                    }),
                    CountOption::Count(10),
                    FilterOption::NoFilter(Empty {}),
                )
                .encode_to_vec()
            }),
            encode(&|| {
                read(
                    StreamOption::All(AllOptions { all_option: Some(all_options::AllOption::Start(Empty {})) }),
                    CountOption::Subscription(SubscriptionOptions {}),
                    FilterOption::Filter(FilterOptions {
                        filter: Some(filter_options::Filter::StreamIdentifier(filter_options::Expression {
                            regex: "^hostile".into(),
                            prefix: Vec::new(),
                        })),
                        window: Some(filter_options::Window::Max(4)),
                        checkpoint_interval_multiplier: 1,
                    }),
                )
                .encode_to_vec()
            }),
        ],
        "Delete" if method.contains("Streams") => vec![encode(&|| {
            DeleteReq {
                options: Some(delete_req::Options {
                    stream_identifier: stream(),
                    expected_stream_revision: Some(delete_req::options::ExpectedStreamRevision::Any(Empty {})),
                }),
            }
            .encode_to_vec()
        })],
        "Tombstone" => vec![encode(&|| {
            TombstoneReq {
                options: Some(tombstone_req::Options {
                    stream_identifier: stream(),
                    expected_stream_revision: Some(tombstone_req::options::ExpectedStreamRevision::Any(Empty {})),
                }),
            }
            .encode_to_vec()
        })],
        "AppendSession" => vec![encode(&|| {
            use eventfold_proto::kurrentdb::protocol::v2::streams::{
                AppendRecord, AppendRequest, SchemaFormat, SchemaInfo,
            };
            let property = prost_types::Value { kind: Some(prost_types::value::Kind::StringValue("web".into())) };
            AppendRequest {
                stream: "hostile-v2".into(),
                records: vec![AppendRecord {
                    record_id: Some("3f1c6d2e-8a5b-4c1d-9e7f-0a1b2c3d4e5f".into()),
                    properties: [("source".to_owned(), property)].into_iter().collect(),
                    schema: Some(SchemaInfo { format: SchemaFormat::Json as i32, name: "Hostile".into(), id: None }),
                    data: br#"{"a":1}"#.to_vec().into(),
                    stream: String::new(),
                }],
                expected_revision: Some(-2),
            }
            .encode_to_vec()
        })],
        _ => Vec::new(),
    }
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

    /// `seed` with one change at some depth: a field's value replaced, the
    /// field dropped, a random field added, or a nested message mutated.
    fn mutate(&mut self, seed: &[u8], depth: u32) -> Bytes {
        let Some(fields) = fields(seed) else { return self.message(depth) };
        let mut out = BytesMut::new();
        let target = self.below(fields.len() as u64 + 1) as usize;
        for (index, (key, value)) in fields.iter().enumerate() {
            if index != target {
                out.put_slice(key);
                out.put_slice(value);
                continue;
            }
            match self.below(4) {
                0 => {}
                1 => {
                    out.put_slice(key);
                    out.put_slice(value);
                    out.put_slice(&self.message(0));
                }
                2 if depth > 0 && key.last().is_some_and(|byte| byte & 7 == 2) => {
                    // A length-delimited field: mutate what it holds.
                    let inner = value.get(varint_length(value)..).unwrap_or_default();
                    let mutated = self.mutate(inner, depth - 1);
                    out.put_slice(key);
                    put_varint(&mut out, mutated.len() as u64);
                    out.put_slice(&mutated);
                }
                _ => {
                    out.put_slice(key);
                    let wire = key.last().map_or(0, |byte| byte & 7);
                    match wire {
                        0 => put_varint(&mut out, self.next() >> self.below(64)),
                        1 => out.put_u64_le(self.next()),
                        5 => out.put_u32_le(self.next() as u32),
                        _ => {
                            let text = self.text();
                            put_varint(&mut out, text.len() as u64);
                            out.put_slice(&text);
                        }
                    }
                }
            }
        }
        if target == fields.len() {
            out.put_slice(&self.message(0));
        }
        out.freeze()
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

/// The top-level fields of a protobuf message as (key bytes, value bytes),
/// or `None` when it does not parse (then it is not mutated field-wise).
fn fields(message: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut fields = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let key_length = varint_length(rest);
        let key = rest.get(..key_length)?;
        let (_, tag) = read_varint(key)?;
        let body = rest.get(key_length..)?;
        let value_length = match tag & 7 {
            0 => varint_length(body),
            1 => 8,
            5 => 4,
            2 => {
                let (prefix, length) = read_varint(body)?;
                prefix + usize::try_from(length).ok()?
            }
            _ => return None,
        };
        fields.push((key.to_vec(), body.get(..value_length)?.to_vec()));
        rest = body.get(value_length..)?;
    }
    Some(fields)
}

fn varint_length(bytes: &[u8]) -> usize {
    bytes.iter().position(|byte| byte & 0x80 == 0).map_or(bytes.len(), |last| last + 1)
}

fn read_varint(bytes: &[u8]) -> Option<(usize, u64)> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((index + 1, value));
        }
    }
    None
}
