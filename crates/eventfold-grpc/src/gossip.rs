use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::gossip::gossip_server::Gossip;
use eventfold_proto::event_store::client::gossip::member_info::VNodeState;
use eventfold_proto::event_store::client::gossip::{ClusterInfo, EndPoint, MemberInfo};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::NodeInfo;
use crate::convert::uuid_to_proto;

/// A single node is its own cluster and always its leader.
pub struct GossipService {
    node: Arc<NodeInfo>,
    instance_id: Uuid,
}

impl GossipService {
    pub fn new(node: Arc<NodeInfo>) -> Self {
        Self { node, instance_id: Uuid::new_v4() }
    }
}

#[tonic::async_trait]
impl Gossip for GossipService {
    async fn read(&self, _request: Request<Empty>) -> Result<Response<ClusterInfo>, Status> {
        let ticks = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| (since.as_nanos() / 100) as i64);
        let member = MemberInfo {
            instance_id: Some(uuid_to_proto(self.instance_id, false)),
            time_stamp: ticks,
            state: VNodeState::Leader as i32,
            is_alive: true,
            http_end_point: Some(EndPoint {
                address: self.node.advertised_host.clone(),
                port: u32::from(self.node.advertised_port),
            }),
        };
        Ok(Response::new(ClusterInfo { members: vec![member] }))
    }
}
