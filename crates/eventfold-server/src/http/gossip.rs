//! `GET /gossip`: the cluster as the gRPC Gossip service reports it (the
//! node builds the members for both), in KurrentDB's JSON shape.

use crate::http::caller::Caller;
use axum::Json;
use eventfold_node::ClusterMember;
use serde::Serialize;

use super::time::iso8601;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    members: Vec<Member>,
    /// The address of the node that answered, as clients should reach it.
    server_ip: String,
    server_port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    instance_id: String,
    time_stamp: String,
    /// `Leader` while the node serves; `Initializing`, `ShuttingDown`.
    state: &'static str,
    is_alive: bool,
    is_read_only_replica: bool,
    http_end_point_ip: String,
    http_end_point_port: u16,
    es_version: &'static str,
}

pub async fn gossip(Caller(node): Caller) -> Json<ClusterInfo> {
    let facts = node.facts();
    let member = |member: ClusterMember| Member {
        instance_id: member.instance_id.hyphenated().to_string(),
        time_stamp: iso8601(member.timestamp),
        state: member.state.as_str(),
        is_alive: member.is_alive,
        is_read_only_replica: false,
        http_end_point_ip: member.http_host,
        http_end_point_port: member.http_port,
        es_version: facts.protocol_version,
    };
    Json(ClusterInfo {
        members: node.cluster_members().into_iter().map(member).collect(),
        server_ip: facts.advertised_host.clone(),
        server_port: facts.advertised_port,
    })
}
