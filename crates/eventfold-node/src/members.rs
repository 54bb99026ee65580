//! The cluster members a node reports to clients that discover it (gRPC
//! Gossip, HTTP `/gossip`), built once here so that both say the same.

use eventfold_store::Timestamp;
use uuid::Uuid;

use crate::{NodeFacts, NodeState};

/// EventStoreDB's node roles that a single eventfold node takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    Initializing,
    Leader,
    ShuttingDown,
}

impl MemberState {
    /// The name EventStoreDB gives the role (`VNodeState`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Initializing => "Initializing",
            MemberState::Leader => "Leader",
            MemberState::ShuttingDown => "ShuttingDown",
        }
    }
}

impl From<NodeState> for MemberState {
    /// Clients connect to the leader they find; a node that is not serving
    /// yet, or any more, must not look like one.
    fn from(state: NodeState) -> Self {
        match state {
            NodeState::Starting => MemberState::Initializing,
            NodeState::Ready => MemberState::Leader,
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
    pub(crate) fn of_this_node(facts: &NodeFacts, state: NodeState) -> Self {
        Self {
            instance_id: facts.instance_id,
            timestamp: Timestamp::now(),
            state: state.into(),
            is_alive: true,
            http_host: facts.advertised_host.clone(),
            http_port: facts.advertised_port,
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
        let member = ClusterMember::of_this_node(&facts, NodeState::Ready);
        assert_eq!(member.state, MemberState::Leader);
        assert_eq!(
            (member.http_host.as_str(), member.http_port, member.instance_id),
            ("127.0.0.1", 2113, facts.instance_id)
        );
        assert_eq!(ClusterMember::of_this_node(&facts, NodeState::Starting).state, MemberState::Initializing);
        assert_eq!(ClusterMember::of_this_node(&facts, NodeState::Stopping).state.as_str(), "ShuttingDown");
    }
}
