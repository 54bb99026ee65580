//! Goal: no client can make the server unable to start. The streams that
//! hold eventfold's own state (persistent subscription config, checkpoints,
//! parked events, and their metadata streams) cannot be tombstoned, deleted,
//! truncated or written through the gRPC face: each attempt answers
//! PERMISSION_DENIED with the `access-denied` trailer and writes nothing.
//! And a data directory where an older version let a client tombstone the
//! config stream still starts and serves the log.

use crate::support;

use std::collections::HashMap;

use eventfold_proto::event_store::client::persistent_subscriptions::ListReq;
use eventfold_proto::event_store::client::persistent_subscriptions::list_req;
use eventfold_proto::event_store::client::persistent_subscriptions::persistent_subscriptions_client::PersistentSubscriptionsClient;
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use eventfold_proto::event_store::client::streams::{
    AppendReq, DeleteReq, TombstoneReq, append_req, append_resp, delete_req, tombstone_req,
};
use eventfold_proto::event_store::client::{Empty, StreamIdentifier, Uuid, uuid};
use eventfold_store::{CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ReadStreamRequest, StreamName};
use futures::TryStreamExt;
use support::{Running, open_engine, serve};
use tonic::Code;
use tonic::transport::Channel;

const CONFIG: &str = "$persistentsubscription-config";
const CHECKPOINT: &str = "$persistentsubscription-orders::billing-checkpoint";
const PARKED: &str = "$persistentsubscription-$all::g-parked";

fn identifier(stream: &str) -> Option<StreamIdentifier> {
    Some(StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() })
}

fn name(stream: &str) -> StreamName {
    StreamName::new(stream).expect("valid stream name")
}

async fn tombstone(channel: &Channel, stream: &str) -> Result<(), tonic::Status> {
    let request = TombstoneReq {
        options: Some(tombstone_req::Options {
            stream_identifier: identifier(stream),
            expected_stream_revision: Some(tombstone_req::options::ExpectedStreamRevision::Any(Empty {})),
        }),
    };
    StreamsClient::new(channel.clone()).tombstone(request).await.map(|_| ())
}

async fn delete(channel: &Channel, stream: &str) -> Result<(), tonic::Status> {
    let request = DeleteReq {
        options: Some(delete_req::Options {
            stream_identifier: identifier(stream),
            expected_stream_revision: Some(delete_req::options::ExpectedStreamRevision::Any(Empty {})),
        }),
    };
    StreamsClient::new(channel.clone()).delete(request).await.map(|_| ())
}

/// One JSON event of `event_type` with `data`, expecting nothing.
async fn append(channel: &Channel, stream: &str, event_type: &str, data: &str) -> Result<(), tonic::Status> {
    let messages = vec![
        AppendReq {
            content: Some(append_req::Content::Options(append_req::Options {
                stream_identifier: identifier(stream),
                expected_stream_revision: Some(append_req::options::ExpectedStreamRevision::Any(Empty {})),
            })),
        },
        AppendReq {
            content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
                id: Some(Uuid { value: Some(uuid::Value::String("6a1c2d3e-0000-4000-8000-000000000001".into())) }),
                metadata: HashMap::from([
                    ("type".to_owned(), event_type.to_owned()),
                    ("content-type".to_owned(), "application/json".to_owned()),
                ]),
                custom_metadata: Vec::new().into(),
                data: data.as_bytes().to_vec().into(),
            })),
        },
    ];
    let response = StreamsClient::new(channel.clone()).append(futures::stream::iter(messages)).await?.into_inner();
    match response.result {
        Some(append_resp::Result::Success(_)) => Ok(()),
        other => panic!("append answered {other:?}"),
    }
}

fn assert_denied(what: &str, result: Result<(), tonic::Status>) {
    let status = result.expect_err(what);
    assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    let exception = status.metadata().get("exception").and_then(|value| value.to_str().ok());
    assert_eq!(exception, Some("access-denied"), "{what}");
}

async fn revision(server: &Running, stream: &str) -> CurrentRevision {
    server.engine.stream_revision(&name(stream)).await.expect("stream revision")
}

#[tokio::test]
async fn clients_cannot_delete_truncate_or_write_the_servers_own_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(open_engine(&dir)).await;
    let channel = server.channel().await;
    let head = server.engine.head_position();

    assert_denied("tombstone the config stream", tombstone(&channel, CONFIG).await);
    assert_denied("soft-delete the config stream", delete(&channel, CONFIG).await);
    assert_denied(
        "truncate the config stream",
        append(&channel, &format!("$${CONFIG}"), "$metadata", r#"{"$tb":1}"#).await,
    );
    assert_denied(
        "cap the config stream",
        append(&channel, &format!("$${CONFIG}"), "$metadata", r#"{"$maxCount":1}"#).await,
    );
    assert_denied("write to the config stream", append(&channel, CONFIG, "$PersistentSubscriptionPut", "{}").await);
    assert_denied("tombstone a config metadata stream", tombstone(&channel, &format!("$${CONFIG}")).await);
    for stream in [CHECKPOINT, PARKED] {
        assert_denied("tombstone a group's state stream", tombstone(&channel, stream).await);
        assert_denied("delete a group's state stream", delete(&channel, stream).await);
        assert_denied(
            "truncate a group's state stream",
            append(&channel, &format!("$${stream}"), "$metadata", r#"{"$tb":5}"#).await,
        );
        assert_denied("write to a group's state stream", append(&channel, stream, "x", "{}").await);
    }

    assert_eq!(server.engine.head_position(), head, "nothing was written");
    assert_eq!(revision(&server, CONFIG).await, CurrentRevision::NoStream);
    // Everything else stays open to clients, system streams included.
    append(&channel, "order-1", "OrderPlaced", "{}").await.expect("an ordinary append");
    append(&channel, "$$order-1", "$metadata", r#"{"$maxCount":3}"#).await.expect("ordinary metadata");
    tombstone(&channel, "order-1").await.expect("an ordinary tombstone");
    server.finish().await;
}

#[tokio::test]
async fn a_data_directory_with_a_tombstoned_config_stream_starts_and_serves_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // As an older version let any client do: through the store itself.
    let engine = open_engine(&dir);
    engine.delete_stream(name(CONFIG), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    engine.shutdown().await;
    drop(engine);

    let server = serve(open_engine(&dir)).await;
    let channel = server.channel().await;
    append(&channel, "order-1", "OrderPlaced", r#"{"n":1}"#).await.expect("appends are served");
    let events: Vec<_> = server
        .engine
        .read_stream(ReadStreamRequest::forwards(name("order-1")))
        .await
        .expect("read")
        .try_collect()
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    // Persistent subscriptions say what is wrong instead of stopping the server.
    let list = ListReq {
        options: Some(list_req::Options {
            list_option: Some(list_req::options::ListOption::ListAllSubscriptions(Empty {})),
        }),
    };
    let status = PersistentSubscriptionsClient::new(channel.clone()).list(list).await.expect_err("unavailable");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("is deleted"), "{}", status.message());
    server.finish().await;
}
