//! Projections through the official Rust client (`kurrentdb`): create with
//! emit (the crate sends `emit` as a follow-up update, and its
//! `track_emitted_streams` lands in the server's `emit_enabled`), status,
//! state and result of a partition, disable, enable, reset, abort, delete,
//! and the errors of a missing projection.

use std::time::Duration;

use eventfold_rust_client_tests::{Server, json_event, within};
use kurrentdb::{
    AppendToStreamOptions, ClientSettings, CreateProjectionOptions, DeleteProjectionOptions, GenericProjectionOptions,
    GetResultProjectionOptions, GetStateProjectionOptions, ProjectionClient, ReadStreamOptions, StreamState,
};

const OP: u64 = 15;

fn category() -> String {
    // A category is the stream name up to its first dash: none in here.
    format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(OP, what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn projection_lifecycle_through_the_rust_client() {
    let server = Server::start().await;
    let client = server.client();
    let settings: ClientSettings = server.connection_string().parse().expect("settings");
    let projections = ProjectionClient::new(settings).expect("projection client");
    let source = category();
    let name = format!("count-{source}");
    let append = AppendToStreamOptions::default().stream_state(StreamState::Any);
    client
        .append_to_stream(format!("{source}-a"), &append, vec![json_event("Added", serde_json::json!({"n": 2}))])
        .await
        .expect("append");
    let query = format!(
        "fromCategory('{source}').foreachStream().when({{ $init: function () {{ return {{ count: 0 }}; }}, \
         Added: function (s, e) {{ s.count += e.data.n; emit('{source}out', 'Counted', {{ count: s.count }}); }} }})"
    );
    let create = CreateProjectionOptions::default().emit(true).track_emitted_streams(true);
    projections.create(&name, query, &create).await.expect("create");

    let partition = GetStateProjectionOptions::default().partition(format!("{source}-a"));
    eventually("the partition's state", || async {
        let state: Option<serde_json::Value> = projections.get_state(&name, &partition).await.ok().and_then(Result::ok);
        state == Some(serde_json::json!({"count": 2.0})) || state == Some(serde_json::json!({"count": 2}))
    })
    .await;
    let result: serde_json::Value = projections
        .get_result(&name, &GetResultProjectionOptions::default().partition(format!("{source}-a")))
        .await
        .expect("result")
        .expect("json");
    assert_eq!(result["count"].as_f64(), Some(2.0));
    // A projection reports Starting until its task has read its checkpoint.
    eventually("the projection runs", || async {
        let status = projections.get_status(&name, &GenericProjectionOptions::default()).await;
        status.ok().flatten().is_some_and(|status| status.status == "Running")
    })
    .await;
    eventually("the emitted event", || async {
        let Ok(mut events) = client.read_stream(format!("{source}out"), &ReadStreamOptions::default()).await else {
            return false;
        };
        matches!(events.next().await, Ok(Some(_)))
    })
    .await;

    let generic = GenericProjectionOptions::default();
    projections.disable(&name, &generic).await.expect("disable");
    projections.enable(&name, &generic).await.expect("enable");
    projections.reset(&name, &generic).await.expect("reset");
    projections.abort(&name, &generic).await.expect("abort");
    eventually("Aborted", || async {
        projections.get_status(&name, &generic).await.ok().flatten().is_some_and(|status| status.status == "Aborted")
    })
    .await;
    projections.delete(&name, &DeleteProjectionOptions::default().delete_emitted_streams(true)).await.expect("delete");
    assert!(projections.get_status(&name, &generic).await.ok().flatten().is_none());
    assert!(projections.enable("missing-projection", &generic).await.is_err());
}
