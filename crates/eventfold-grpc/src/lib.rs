//! The EventStoreDB/KurrentDB client protocol over gRPC, so that the official
//! clients work unchanged. Every service here translates protocol messages
//! to [`EventStore`] calls and back; no storage logic lives here.

mod convert;
mod errors;
mod gossip;
mod operations;
mod persistent;
mod server_features;
mod streams;

use std::sync::Arc;

use eventfold_persistent::PersistentSubscriptions;
use eventfold_proto::event_store::client::gossip::gossip_server::GossipServer;
use eventfold_proto::event_store::client::operations::operations_server::OperationsServer;
use eventfold_proto::event_store::client::persistent_subscriptions::persistent_subscriptions_server::PersistentSubscriptionsServer;
use eventfold_proto::event_store::client::server_features::server_features_server::ServerFeaturesServer;
use eventfold_proto::event_store::client::streams::streams_server::StreamsServer;
use eventfold_store::EventStore;

/// Facts about this node that the protocol reports.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The host and port clients reach this node on (Gossip answers with
    /// them): a name where one was configured, not the bound address.
    pub advertised_host: String,
    pub advertised_port: u16,
    /// Reported as `event_store_server_version`; clients check features by it.
    pub server_version: String,
    /// Largest append accepted, reported in `MaximumAppendSizeExceeded`.
    pub max_append_bytes: usize,
}

/// All gRPC services, ready to be merged into the one HTTP router.
/// `persistent` serves the persistent subscriptions over the same store.
pub fn routes(
    store: Arc<dyn EventStore>,
    node: NodeInfo,
    persistent: PersistentSubscriptions,
) -> tonic::service::Routes {
    let node = Arc::new(node);
    // Messages up to well past the append limit decode, so that an oversized
    // append is answered `MaximumAppendSizeExceeded` rather than with a
    // decoding error.
    let message_bytes_max = node.max_append_bytes.saturating_mul(2).max(16 * 1024 * 1024);
    let streams = StreamsServer::new(streams::StreamsService::new(Arc::clone(&store), Arc::clone(&node)))
        .max_decoding_message_size(message_bytes_max);
    tonic::service::Routes::new(streams)
        .add_service(ServerFeaturesServer::new(server_features::ServerFeaturesService::new(Arc::clone(&node))))
        .add_service(GossipServer::new(gossip::GossipService::new(node)))
        .add_service(OperationsServer::new(operations::OperationsService::new(store, persistent.clone())))
        .add_service(PersistentSubscriptionsServer::new(persistent::PersistentSubscriptionsService::new(persistent)))
}
