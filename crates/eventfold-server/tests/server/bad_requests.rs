//! Goal: requests a client got wrong are answered INVALID_ARGUMENT, at once
//! and briefly, and the server goes on serving. Bytes that do not decode as
//! the protobuf message are the client's fault, not INTERNAL (which clients
//! report as a server failure), on every service, unary and streaming calls
//! alike. A filter regex of megabytes is refused before it is compiled, and
//! the answer does not repeat it (it would not fit in the trailers).

use crate::support;

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::streams::read_req::options::{
    AllOptions, CountOption, FilterOption, FilterOptions, ReadDirection, StreamOption, UuidOption, all_options,
    filter_options, uuid_option,
};
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use eventfold_proto::event_store::client::streams::{ReadReq, read_req};
use support::{open_engine, serve};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// Field 1, length-delimited, announcing 50 bytes and carrying one.
const MALFORMED: &[u8] = &[0x0a, 0x32, 0x01];

/// Sends and receives message bodies as they are, so that the test can
/// send bytes no generated client would.
#[derive(Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buffer: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buffer.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(buffer.copy_to_bytes(buffer.remaining()).to_vec()))
    }
}

async fn unary(channel: &Channel, path: &'static str, body: &[u8]) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let answer = grpc.unary(tonic::Request::new(body.to_vec()), PathAndQuery::from_static(path), RawCodec).await;
    answer.map(tonic::Response::into_inner)
}

async fn client_streaming(channel: &Channel, path: &'static str) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let messages = futures::stream::iter(vec![MALFORMED.to_vec()]);
    let answer = grpc.client_streaming(tonic::Request::new(messages), PathAndQuery::from_static(path), RawCodec).await;
    answer.expect_err(path)
}

#[tokio::test]
async fn undecodable_requests_are_invalid_argument_on_every_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(open_engine(&dir)).await;
    let channel = server.channel().await;
    for path in [
        "/event_store.client.streams.Streams/Delete",
        "/event_store.client.streams.Streams/Tombstone",
        "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Create",
        "/event_store.client.operations.Operations/StartScavenge",
    ] {
        let status = unary(&channel, path, MALFORMED).await.expect_err(path);
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
    }
    let status = client_streaming(&channel, "/event_store.client.streams.Streams/Append").await;
    assert_eq!(status.code(), Code::InvalidArgument, "Append: {status:?}");
    // The connection and the server are fine: a well-formed request works.
    let features = "/event_store.client.server_features.ServerFeatures/GetSupportedMethods";
    unary(&channel, features, &[]).await.expect("an empty message is a valid `Empty`");
    server.finish().await;
}

/// A read of `$all` filtered by stream name with `regex`.
fn filtered_read(regex: String, count: CountOption) -> ReadReq {
    ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(StreamOption::All(AllOptions {
                all_option: Some(all_options::AllOption::Start(Empty {})),
            })),
            read_direction: ReadDirection::Forwards as i32,
            resolve_links: false,
            count_option: Some(count),
            filter_option: Some(FilterOption::Filter(FilterOptions {
                filter: Some(filter_options::Filter::StreamIdentifier(filter_options::Expression {
                    regex,
                    prefix: Vec::new(),
                })),
                window: Some(filter_options::Window::Max(32)),
                checkpoint_interval_multiplier: 1,
            })),
            uuid_option: Some(UuidOption { content: Some(uuid_option::Content::String(Empty {})) }),
            control_option: None,
        }),
    }
}

#[tokio::test]
async fn a_huge_filter_regex_is_refused_quickly_with_a_short_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(open_engine(&dir)).await;
    let channel = server.channel().await;
    // 4 MB of alternatives: far past the limit, within the message size limit.
    let huge = format!("^({})$", "order-[0-9]+|".repeat(320_000));
    for count in [CountOption::Count(10), CountOption::Subscription(read_req::options::SubscriptionOptions {})] {
        let started = Instant::now();
        let answer = StreamsClient::new(channel.clone()).read(filtered_read(huge.clone(), count)).await;
        // Refused when the call starts, or as the stream's first message.
        let status = match answer {
            Err(status) => status,
            Ok(response) => response.into_inner().message().await.expect_err("refused"),
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().len() < 512, "a short message, not the regex: {} bytes", status.message().len());
        assert!(status.message().contains("limit"), "{}", status.message());
        assert!(started.elapsed() < Duration::from_secs(5), "refused before compiling: {:?}", started.elapsed());
    }
    server.finish().await;
}
