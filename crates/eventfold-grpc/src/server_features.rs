use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::server_features::server_features_server::ServerFeatures;
use eventfold_proto::event_store::client::server_features::{SupportedMethod, SupportedMethods};
use tonic::{Request, Response, Status};

/// Exactly the methods implemented: clients switch features on by this list.
const SUPPORTED: &[(&str, &str, &[&str])] = &[
    ("event_store.client.streams.streams", "read", &["position", "events"]),
    ("event_store.client.streams.streams", "append", &[]),
    ("event_store.client.streams.streams", "batchappend", &[]),
    ("event_store.client.streams.streams", "delete", &[]),
    ("event_store.client.streams.streams", "tombstone", &[]),
    // Clients check it before `multiStreamAppend`; AppendRecords is not
    // served, so it is left out.
    ("kurrentdb.protocol.v2.streams.streamsservice", "appendsession", &[]),
    ("event_store.client.server_features.serverfeatures", "getsupportedmethods", &[]),
    ("event_store.client.gossip.gossip", "read", &[]),
    // Clients look for "all" before they use groups on $all, and need the
    // four management methods before they leave the HTTP fallback.
    (PERSISTENT, "create", &["stream", "all"]),
    (PERSISTENT, "update", &["stream", "all"]),
    (PERSISTENT, "delete", &["stream", "all"]),
    (PERSISTENT, "read", &["stream", "all"]),
    (PERSISTENT, "getinfo", &["stream", "all"]),
    (PERSISTENT, "list", &["stream", "all"]),
    (PERSISTENT, "replayparked", &["stream", "all"]),
    (PERSISTENT, "truncateparked", &["stream", "all"]),
    (PERSISTENT, "restartsubsystem", &[]),
    // Shutdown, ResignNode and SetNodePriority answer UNIMPLEMENTED, so
    // they are left out.
    (OPERATIONS, "startscavenge", &[]),
    (OPERATIONS, "stopscavenge", &[]),
    (OPERATIONS, "mergeindexes", &[]),
    (OPERATIONS, "restartpersistentsubscriptions", &[]),
    (PROJECTIONS, "create", &["track_emitted_streams", "emit_enabled"]),
    (PROJECTIONS, "update", &[]),
    (PROJECTIONS, "delete", &[]),
    (PROJECTIONS, "statistics", &[]),
    (PROJECTIONS, "disable", &[]),
    (PROJECTIONS, "enable", &[]),
    (PROJECTIONS, "reset", &[]),
    (PROJECTIONS, "state", &[]),
    (PROJECTIONS, "result", &[]),
    (PROJECTIONS, "restartsubsystem", &[]),
    (USERS, "create", &[]),
    (USERS, "update", &[]),
    (USERS, "delete", &[]),
    (USERS, "disable", &[]),
    (USERS, "enable", &[]),
    (USERS, "details", &[]),
    (USERS, "changepassword", &[]),
    (USERS, "resetpassword", &[]),
];

const USERS: &str = "event_store.client.users.users";

const PROJECTIONS: &str = "event_store.client.projections.projections";

const OPERATIONS: &str = "event_store.client.operations.operations";

const PERSISTENT: &str = "event_store.client.persistent_subscriptions.persistentsubscriptions";

pub struct ServerFeaturesService {
    /// Reported as `event_store_server_version`; clients check features by it.
    protocol_version: &'static str,
}

impl ServerFeaturesService {
    pub fn new(protocol_version: &'static str) -> Self {
        Self { protocol_version }
    }
}

#[tonic::async_trait]
impl ServerFeatures for ServerFeaturesService {
    async fn get_supported_methods(&self, _request: Request<Empty>) -> Result<Response<SupportedMethods>, Status> {
        let methods = SUPPORTED
            .iter()
            .map(|(service, method, features)| SupportedMethod {
                method_name: (*method).to_owned(),
                service_name: (*service).to_owned(),
                features: features.iter().map(|feature| (*feature).to_owned()).collect(),
            })
            .collect();
        Ok(Response::new(SupportedMethods { methods, event_store_server_version: self.protocol_version.to_owned() }))
    }
}
