use eventfold_node::{ClusterMember, MemberState, Node};
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::gossip::gossip_server::Gossip;
use eventfold_proto::event_store::client::gossip::member_info::VNodeState;
use eventfold_proto::event_store::client::gossip::{ClusterInfo, EndPoint, MemberInfo};
use tonic::{Request, Response, Status};

use crate::convert::uuid_to_proto;

/// The node's members (one node: its own cluster) as the protocol spells
/// them; the node decides who they are, for HTTP `/gossip` too.
pub struct GossipService {
    node: Node,
}

impl GossipService {
    pub fn new(node: Node) -> Self {
        Self { node }
    }
}

#[tonic::async_trait]
impl Gossip for GossipService {
    async fn read(&self, _request: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        let members = self.node.cluster_members().iter().map(member_info).collect();
        Ok(Response::new(ClusterInfo { members }))
    }
}

fn member_info(member: &ClusterMember) -> MemberInfo {
    let state = match member.state {
        MemberState::Initializing => VNodeState::Initializing,
        MemberState::Leader => VNodeState::Leader,
        MemberState::Follower => VNodeState::Follower,
        MemberState::ShuttingDown => VNodeState::ShuttingDown,
    };
    MemberInfo {
        instance_id: Some(uuid_to_proto(member.instance_id, false)),
        time_stamp: member.timestamp.ticks(),
        state: state as i32,
        is_alive: member.is_alive,
        http_end_point: Some(EndPoint { address: member.http_host.clone(), port: u32::from(member.http_port) }),
    }
}
