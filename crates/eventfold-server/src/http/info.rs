//! `GET /info`: what this node is, in KurrentDB's shape (`esVersion`,
//! `state`, `features`, `authentication`) so that tools written for it read
//! it, plus eventfold's own `version`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use eventfold_node::{MemberState, Node};
use serde::Serialize;

/// KurrentDB's optional features this node never has. Tools (the KurrentDB
/// UI, exporters) hide what is off.
const FEATURES_OFF: &[&str] = &["projections", "userManagement"];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// The EventStoreDB version whose protocol the node speaks.
    es_version: &'static str,
    /// The node's role in lower case, as KurrentDB writes it: `leader`
    /// while it serves.
    state: String,
    features: BTreeMap<&'static str, bool>,
    authentication: Authentication,
    /// eventfold's own version.
    version: &'static str,
}

/// KurrentDB's `authentication` object: `insecure` (no TLS, every client
/// let in) or, in secure mode, `internal` (its own users).
#[derive(Serialize)]
struct Authentication {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: BTreeMap<&'static str, String>,
}

pub async fn info(State(node): State<Node>) -> Json<Info> {
    let facts = node.facts();
    Json(Info {
        es_version: facts.protocol_version,
        state: MemberState::from(node.state()).as_str().to_lowercase(),
        features: FEATURES_OFF
            .iter()
            .map(|feature| (*feature, false))
            .chain([("atomPub", facts.atom_pub_over_http)])
            .collect(),
        authentication: Authentication {
            kind: if facts.secure { "internal" } else { "insecure" },
            properties: BTreeMap::new(),
        },
        version: facts.version,
    })
}
