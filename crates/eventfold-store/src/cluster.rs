//! Several nodes over one shared store (the PostgreSQL backend): which
//! nodes serve it, and which one leads. The leader runs the subsystems that
//! must run once per store (persistent subscription groups, projections);
//! every node serves appends, reads and catch-up subscriptions.
//!
//! A backend that can be shared implements [`Coordination`] with a lease in
//! the store itself, timed by the store's clock so that the nodes' clocks
//! need not agree. The embedded engine cannot be shared (its directory is
//! locked): a node on it leads alone and has no coordination.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::StorageError;

/// Where clients reach a node: what a follower tells them when a call must
/// go to the leader (KurrentDB's `not-leader` answer).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeEndpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for NodeEndpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.host, self.port)
    }
}

/// A node as it announces itself to the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAnnouncement {
    pub instance_id: Uuid,
    pub endpoint: NodeEndpoint,
}

/// A node the store has heard from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerNode {
    pub instance_id: Uuid,
    pub endpoint: NodeEndpoint,
    /// Heard from within the lease time.
    pub alive: bool,
    /// How long ago it was last heard from, by the store's clock.
    pub last_seen_ago: Duration,
}

/// What one heartbeat learned: the nodes, and who holds the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    pub peers: Vec<PeerNode>,
    pub leader: Option<Uuid>,
}

impl ClusterView {
    /// Where the leader is reached, when it is known and another node.
    pub fn leader_endpoint(&self) -> Option<&NodeEndpoint> {
        let leader = self.leader?;
        self.peers.iter().find(|peer| peer.instance_id == leader).map(|peer| &peer.endpoint)
    }
}

/// The nodes of one shared store agree on a leader through it.
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    /// Records that `me` is alive, takes the leader lease for `lease` when
    /// it is free or expired, or extends it when `me` holds it, and answers
    /// what the store knows now. The lease is timed by the store's clock.
    async fn heartbeat(&self, me: &NodeAnnouncement, lease: Duration) -> Result<ClusterView, StorageError>;

    /// `me` stops: it gives the lease up (so another node takes over at
    /// once, not when it expires) and leaves the list of nodes.
    async fn leave(&self, me: &NodeAnnouncement) -> Result<(), StorageError>;
}
