//! The node: one value that holds everything a running eventfold serves,
//! composed once by the binary and handed to every face (gRPC, HTTP).
//!
//! - the store as clients see it, behind the access check ([`ClientAccess`]):
//!   whatever protocol a client speaks, what it may do is decided there;
//! - the subsystems running over the store itself (persistent
//!   subscriptions, projections, connectors), which write their own state
//!   streams;
//! - facts about this node ([`NodeFacts`]: advertised address, versions,
//!   limits, start time) and its lifecycle ([`NodeState`]);
//! - what the faces report but only the transport knows (open connections).
//!
//! The faces translate their protocol to calls on these and hold no state of
//! their own, so gRPC and HTTP cannot tell two stories about one node. The
//! server crate only carries bytes: listener, connections, drain.

mod connections;
mod facts;
mod members;
mod metrics;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use eventfold_connectors::Connectors;
use eventfold_persistent::PersistentSubscriptions;
use eventfold_projections::Projections;
use eventfold_store::{AccessPolicy, ClientAccess, EventStore};

pub use connections::OpenConnections;
pub use facts::{NodeFacts, NodeOptions};
pub use members::{ClusterMember, MemberState};
pub use metrics::MetricsText;
pub use state::NodeState;

/// eventfold's own version, reported by its own faces.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The EventStoreDB server version whose client protocol eventfold speaks.
/// Clients turn features on by this number, so it names the protocol level,
/// not eventfold's release.
pub const PROTOCOL_SERVER_VERSION: &str = "25.1.0";

/// A running node. Cheap to clone: every clone is the same node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// Everything here is built once, in [`Node::start`]; a handle that faces
/// share (a metrics recorder, projections, authentication) belongs here
/// beside the others, so that every face reaches the same one.
struct Inner {
    client_store: Arc<dyn EventStore>,
    persistent: PersistentSubscriptions,
    projections: Projections,
    connectors: Connectors,
    facts: NodeFacts,
    state: state::SharedState,
    connections: OpenConnections,
    metrics: Option<MetricsText>,
}

impl Node {
    /// Starts the node's subsystems over `store` and composes the node, in
    /// state [`NodeState::Starting`]. `bound` is the address the listener
    /// is bound to, advertised unless `options` say otherwise.
    ///
    /// Persistent subscriptions, projections and connectors run over the
    /// store itself:
    /// their state streams are theirs to write, and clients may not. A start
    /// that cannot read their state leaves them reporting why; the log is
    /// served all the same.
    pub async fn start(store: Arc<dyn EventStore>, options: NodeOptions, bound: SocketAddr) -> Self {
        let persistent = PersistentSubscriptions::start(Arc::clone(&store)).await;
        let projections = Projections::start(Arc::clone(&store), options.projections).await;
        let connectors = Connectors::start(Arc::clone(&store), options.connectors).await;
        let client_store: Arc<dyn EventStore> = Arc::new(ClientAccess::new(store, AccessPolicy));
        let facts = NodeFacts::new(&options, bound);
        let metrics = options.metrics;
        Self {
            inner: Arc::new(Inner {
                client_store,
                persistent,
                projections,
                connectors,
                facts,
                state: state::SharedState::default(),
                connections: OpenConnections::default(),
                metrics,
            }),
        }
    }

    /// The store as every client request must reach it: behind the access
    /// check.
    pub fn client_store(&self) -> &Arc<dyn EventStore> {
        &self.inner.client_store
    }

    pub fn persistent_subscriptions(&self) -> &PersistentSubscriptions {
        &self.inner.persistent
    }

    pub fn projections(&self) -> &Projections {
        &self.inner.projections
    }

    pub fn connectors(&self) -> &Connectors {
        &self.inner.connectors
    }

    pub fn facts(&self) -> &NodeFacts {
        &self.inner.facts
    }

    pub fn state(&self) -> NodeState {
        self.inner.state.get()
    }

    /// The node serves: called once the listener accepts connections. A node
    /// already stopping stays stopping.
    pub fn mark_ready(&self) {
        self.inner.state.ready();
    }

    /// Begins the node's stop: it reports [`NodeState::Stopping`] from now on
    /// and its subsystems stop (persistent subscriptions write their last
    /// checkpoints and drop their consumers, so that their open calls end
    /// rather than hold the drain open; projections checkpoint what they
    /// processed; connectors checkpoint what they delivered). Calling it
    /// again does no harm.
    pub async fn stop(&self) {
        self.inner.state.stopping();
        self.inner.persistent.shutdown().await;
        self.inner.projections.shutdown().await;
        self.inner.connectors.shutdown().await;
    }

    /// The connections the transport serves now.
    pub fn connections(&self) -> &OpenConnections {
        &self.inner.connections
    }

    /// What `GET /metrics` serves, if the binary installed a recorder.
    pub fn metrics(&self) -> Option<&MetricsText> {
        self.inner.metrics.as_ref()
    }

    /// The cluster as clients discover it (gRPC Gossip, HTTP `/gossip`): a
    /// single node is its own cluster and its leader while it serves.
    pub fn cluster_members(&self) -> Vec<ClusterMember> {
        vec![ClusterMember::of_this_node(&self.inner.facts, self.state())]
    }
}
