//! The EventStoreDB/KurrentDB client protocol over gRPC, so that the official
//! clients work unchanged. Every service here translates protocol messages
//! to calls on the [`Node`] (its store, subsystems and facts) and back; the
//! protocol's rules (link resolution, the size limit, `$` names) live in
//! `eventfold-store`, and no storage logic lives here.

mod caller;
mod convert;
mod errors;
mod gossip;
mod operations;
mod persistent;
mod projections;
mod server_features;
mod streams;
mod streams_v2;
mod users;

use eventfold_node::Node;
use eventfold_proto::event_store::client::gossip::gossip_server::GossipServer;
use eventfold_proto::event_store::client::operations::operations_server::OperationsServer;
use eventfold_proto::event_store::client::persistent_subscriptions::persistent_subscriptions_server::PersistentSubscriptionsServer;
use eventfold_proto::event_store::client::projections::projections_server::ProjectionsServer;
use eventfold_proto::event_store::client::server_features::server_features_server::ServerFeaturesServer;
use eventfold_proto::event_store::client::streams::streams_server::StreamsServer;
use eventfold_proto::event_store::client::users::users_server::UsersServer;
use eventfold_proto::kurrentdb::protocol::v2::streams::streams_service_server::StreamsServiceServer;

/// All gRPC services of `node`, ready to be merged into the one HTTP router.
/// Every client call reaches the node's client store behind the access check
/// for its caller; persistent subscriptions and projections go to the node's
/// subsystems once the caller may manage them.
pub fn routes(node: &Node) -> tonic::service::Routes {
    let persistent = node.persistent_subscriptions().clone();
    let max_append_bytes = node.facts().max_append_bytes;
    // Messages up to well past the append limit decode, so that an oversized
    // append is answered `MaximumAppendSizeExceeded` rather than with a
    // decoding error.
    let message_bytes_max = max_append_bytes.saturating_mul(2).max(16 * 1024 * 1024);
    let streams = StreamsServer::new(streams::StreamsService::new(node.clone(), max_append_bytes))
        .max_decoding_message_size(message_bytes_max);
    let streams_v2 = StreamsServiceServer::new(streams_v2::StreamsV2Service::new(node.clone(), max_append_bytes))
        .max_decoding_message_size(message_bytes_max);
    tonic::service::Routes::new(streams)
        .add_service(streams_v2)
        .add_service(ServerFeaturesServer::new(server_features::ServerFeaturesService::new(
            node.facts().protocol_version,
        )))
        .add_service(GossipServer::new(gossip::GossipService::new(node.clone())))
        .add_service(OperationsServer::new(operations::OperationsService::new(node.clone(), persistent.clone())))
        .add_service(PersistentSubscriptionsServer::new(persistent::PersistentSubscriptionsService::new(
            node.clone(),
            persistent,
        )))
        .add_service(ProjectionsServer::new(projections::ProjectionsService::new(node.clone())))
        .add_service(UsersServer::new(users::UsersService::new(node.clone())))
}
