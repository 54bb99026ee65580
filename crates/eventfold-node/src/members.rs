//! The cluster members a node reports to clients that discover it (gRPC
//! Gossip, HTTP `/gossip`), built once here so that both say the same.

use eventfold_store::{PeerNode, Timestamp};
use uuid::Uuid;

use crate::{NodeFacts, NodeState};

/// EventStoreDB's node roles that an eventfold node takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    Initializing,
    Leader,
    /// Another node of a shared store leads.
    Follower,
    ShuttingDown,
}

impl MemberState {
    /// The name EventStoreDB gives the role (`VNodeState`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Initializing => "Initializing",
            MemberState::Leader => "Leader",
            MemberState::Follower => "Follower",
            MemberState::ShuttingDown => "ShuttingDown",
        }
    }
}

impl MemberState {
    /// Clients connect to the leader they find; a node that is not serving
    /// yet, or any more, must not look like one. `leads`: this node holds
    /// the lease of a shared store, or is alone on its store.
    pub fn of(state: NodeState, leads: bool) -> Self {
        match state {
            NodeState::Starting => MemberState::Initializing,
            NodeState::Ready if leads => MemberState::Leader,
            NodeState::Ready => MemberState::Follower,
            NodeState::Stopping => MemberState::ShuttingDown,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMember {
    pub instance_id: Uuid,
    /// When this entry was last updated: now, for the node itself.
    pub timestamp: Timestamp,
    pub state: MemberState,
    pub is_alive: bool,
    /// Where clients connect to reach this member (gRPC and HTTP alike).
    pub http_host: String,
    pub http_port: u16,
}

impl ClusterMember {
    pub(crate) fn of_this_node(facts: &NodeFacts, state: MemberState) -> Self {
        Self {
            instance_id: facts.instance_id,
            timestamp: Timestamp::now(),
            state,
            is_alive: true,
            http_host: facts.advertised_host.clone(),
            http_port: facts.advertised_port,
        }
    }

    /// Another node of a shared store, as the store last heard from it.
    pub(crate) fn of_peer(peer: &PeerNode, leads: bool) -> Self {
        let ticks = Timestamp::now()
            .ticks()
            .saturating_sub(i64::try_from(peer.last_seen_ago.as_nanos() / 100).unwrap_or(i64::MAX));
        Self {
            instance_id: peer.instance_id,
            timestamp: Timestamp(ticks.max(0)),
            state: if leads { MemberState::Leader } else { MemberState::Follower },
            is_alive: peer.alive,
            http_host: peer.endpoint.host.clone(),
            http_port: peer.endpoint.port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeOptions;

    #[test]
    fn the_node_is_its_own_leader_only_while_it_serves() {
        let address = "127.0.0.1:2113".parse().expect("address");
        let facts = NodeFacts::new(&NodeOptions::default(), address);
        let member = ClusterMember::of_this_node(&facts, MemberState::of(NodeState::Ready, true));
        assert_eq!(member.state, MemberState::Leader);
        assert_eq!(
            (member.http_host.as_str(), member.http_port, member.instance_id),
            ("127.0.0.1", 2113, facts.instance_id)
        );
        assert_eq!(MemberState::of(NodeState::Starting, true), MemberState::Initializing);
        assert_eq!(MemberState::of(NodeState::Stopping, true).as_str(), "ShuttingDown");
        assert_eq!(MemberState::of(NodeState::Ready, false), MemberState::Follower);
        assert_eq!(MemberState::of(NodeState::Starting, false), MemberState::Initializing);
    }
}
