//! `GET /info`: what this node is, in KurrentDB's shape (`esVersion`,
//! `state`, `features`, `authentication`) so that tools written for it read
//! it, plus eventfold's own `version`.

use crate::http::caller::Caller;
use std::collections::BTreeMap;

use axum::Json;
use eventfold_projections::RunProjections;
use serde::Serialize;

/// KurrentDB's optional features this node never has. Tools (the KurrentDB
/// UI, exporters) hide what is off.
const FEATURES_OFF: &[&str] = &["userManagement"];

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

/// `insecure` (no authentication: every request has full rights) or
/// `internal` (the node's own users).
#[derive(Serialize)]
struct Authentication {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: BTreeMap<&'static str, String>,
}

pub async fn info(Caller(node): Caller) -> Json<Info> {
    let facts = node.facts();
    Json(Info {
        es_version: facts.protocol_version,
        state: node.member_state().as_str().to_lowercase(),
        features: FEATURES_OFF
            .iter()
            .map(|feature| (*feature, false))
            .chain([
                ("atomPub", facts.atom_pub_over_http),
                // On unless `--run-projections None`: with `System` the
                // standard projections run and user ones are refused.
                ("projections", node.projections().options().run != RunProjections::None),
            ])
            .collect(),
        // KurrentDB names its built-in users provider `internal`.
        authentication: Authentication {
            kind: if node.authentication_enabled() { "internal" } else { "insecure" },
            properties: BTreeMap::new(),
        },
        version: facts.version,
    })
}
