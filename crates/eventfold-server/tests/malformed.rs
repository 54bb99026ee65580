//! Goal: a request whose bytes do not decode as its protobuf message is the
//! client's fault, so every service answers INVALID_ARGUMENT (not INTERNAL,
//! which clients report as a server failure), unary and streaming calls
//! alike, and the server goes on serving.

mod support;

use bytes::{Buf, BufMut};
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
