//! Persistent subscription groups over gRPC, for the tests that need one.

use eventfold_proto::event_store::client::persistent_subscriptions::persistent_subscriptions_client::PersistentSubscriptionsClient;
use eventfold_proto::event_store::client::persistent_subscriptions::{CreateReq, DeleteReq, create_req, delete_req};
use eventfold_proto::event_store::client::{Empty, StreamIdentifier};
use tonic::transport::Channel;

fn identifier(stream: &str) -> Option<StreamIdentifier> {
    Some(StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() })
}

/// Creates a group on `stream` from its start, with the settings the
/// official clients send by default.
pub async fn create_group(channel: &Channel, stream: &str, group: &str) {
    let settings = create_req::Settings {
        max_retry_count: 10,
        min_checkpoint_count: 10,
        max_checkpoint_count: 1000,
        live_buffer_size: 500,
        read_batch_size: 20,
        history_buffer_size: 500,
        consumer_strategy: "RoundRobin".to_owned(),
        ..Default::default()
    };
    let request = CreateReq {
        options: Some(create_req::Options {
            group_name: group.to_owned(),
            settings: Some(settings),
            stream_option: Some(create_req::options::StreamOption::Stream(create_req::StreamOptions {
                stream_identifier: identifier(stream),
                revision_option: Some(create_req::stream_options::RevisionOption::Start(Empty {})),
            })),
            ..Default::default()
        }),
    };
    PersistentSubscriptionsClient::new(channel.clone())
        .create(request)
        .await
        .expect("create a persistent subscription");
}

pub async fn delete_group(channel: &Channel, stream: &str, group: &str) {
    let request = DeleteReq {
        options: Some(delete_req::Options {
            group_name: group.to_owned(),
            stream_option: identifier(stream).map(delete_req::options::StreamOption::StreamIdentifier),
        }),
    };
    PersistentSubscriptionsClient::new(channel.clone())
        .delete(request)
        .await
        .expect("delete a persistent subscription");
}
