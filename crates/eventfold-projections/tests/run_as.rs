//! Goal: a projection acts with the rights of the user who created it, as
//! KurrentDB's do: a source that user may not read, or a stream it may not
//! write, faults the projection with the user and the stream named, and
//! nothing is emitted there; what the user may do runs as usual.

mod support;

use eventfold_projections::{CreateProjection, Mode, RunAs, Select};
use serde_json::json;
use support::Node;

fn alice() -> RunAs {
    RunAs { name: "alice".into(), roles: vec!["readers".into()] }
}

async fn create_as(node: &Node, name: &str, query: &str, run_as: RunAs) {
    node.projections
        .create(CreateProjection {
            name: name.into(),
            mode: Mode::Continuous,
            query: query.into(),
            emit_enabled: true,
            track_emitted_streams: false,
            engine_version: 1,
            run_as: Some(run_as),
        })
        .await
        .expect("created");
}

async fn reason(node: &Node, name: &str) -> String {
    let statistics = node.projections.statistics(Select::Named(name.into())).await.expect("statistics");
    statistics[0].state_reason.clone()
}

#[tokio::test]
async fn a_user_without_the_right_to_read_all_cannot_project_it() {
    let node = Node::start().await;
    node.append("order-1", "added", json!({"n": 1})).await;
    create_as(&node, "everything", "fromAll().when({$any: function (s, e) { return s; }})", alice()).await;
    node.await_status("everything", "Faulted").await;
    let reason = reason(&node, "everything").await;
    assert!(reason.contains("`alice`") && reason.contains("$all"), "{reason}");

    // The same query as an admin runs.
    let admin = RunAs { name: "admin".into(), roles: vec!["$admins".into()] };
    create_as(&node, "everything-admin", "fromAll().when({$any: function (s, e) { return s; }})", admin).await;
    node.await_status("everything-admin", "Running").await;
}

#[tokio::test]
async fn an_emit_to_a_stream_the_user_may_not_write_faults_and_writes_nothing() {
    let node = Node::start().await;
    // Only bob may write `ledger`.
    node.append("$$ledger", "$metadata", json!({"$acl": {"$w": ["bob"]}})).await;
    node.append("order-1", "added", json!({"n": 1})).await;
    let emits = |target: &str| {
        format!(
            "fromStream('order-1').when({{added: function (s, e) {{ emit('{target}', 'Seen', {{}}); return s; }}}})"
        )
    };
    create_as(&node, "to-ledger", &emits("ledger"), alice()).await;
    node.await_status("to-ledger", "Faulted").await;
    let reason = reason(&node, "to-ledger").await;
    assert!(reason.contains("`alice`") && reason.contains("ledger"), "{reason}");
    assert!(node.read("ledger").await.is_empty(), "nothing was emitted where alice may not write");

    // A stream alice may write gets the emit.
    create_as(&node, "to-notes", &emits("alice-notes"), alice()).await;
    node.await_status("to-notes", "Running").await;
    support::within(async {
        while node.read("alice-notes").await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}
