//! Goal: the JSON API's projections routes over the real subsystem, as the
//! web UI uses them: create (a syntax error refused at its line and column,
//! nothing stored), list with status and rate, state per partition, result,
//! emitted streams, change the query, disable, enable, abort, reset (to a
//! position too) and delete with its options; `--run-projections None` is
//! a 503 that says so.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use eventfold_engine::Engine;
use eventfold_projections::RunProjections;
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, Position, ProposedEvent, StreamName};
use serde_json::{Value, json};
use support::http::{HttpResponse, get, request};
use support::{Running, ServeOptions, open_engine, serve_with};

const BY_CUSTOMER: &str = "fromCategory('order')\n  .partitionBy(function (e) { return e.data.customer; })\n  \
                           .when({ $init: function () { return { total: 0 }; },\n    \
                           Placed: function (s, e) { s.total += e.data.amount; } })";

async fn serve_projections(engine: Engine, run: RunProjections) -> Running {
    let mut options = ServeOptions::default();
    options.node.projections.run = run;
    serve_with(engine, "127.0.0.1:0", options).await
}

async fn place(engine: &Engine, stream: &str, customer: &str, amount: u32) -> Position {
    let data = format!(r#"{{"customer":"{customer}","amount":{amount}}}"#);
    let request = AppendRequest::new(
        StreamName::new(stream).expect("name"),
        ExpectedRevision::Any,
        vec![ProposedEvent::json("Placed", data)],
    );
    engine.append(request).await.expect("append").position.expect("a position")
}

async fn send(address: SocketAddr, method: &str, path: &str, body: Value) -> HttpResponse {
    let text = if body.is_null() { String::new() } else { body.to_string() };
    request(address, method, path, &[("content-type", "application/json")], text.as_bytes()).await
}

async fn json_until(address: SocketAddr, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let response = get(address, path, &[]).await;
        let seen = if response.status == 200 { response.json() } else { Value::Null };
        if done(&seen) || started.elapsed() > Duration::from_secs(10) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_ui_routes_create_inspect_command_and_delete_a_projection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_projections(open_engine(&dir), RunProjections::All).await;
    let address = running.address;
    place(&running.engine, "order-1", "ada", 5).await;
    let after_first = place(&running.engine, "order-2", "bob", 7).await;

    // A syntax error is refused at its line; nothing is stored.
    let broken = BY_CUSTOMER.replace("s.total += e.data.amount;", "s.total += ;");
    let refused = send(address, "POST", "/api/v1/projections", json!({ "name": "totals", "query": broken })).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let body = refused.json();
    assert_eq!((body["code"].as_str(), body["line"].as_u64()), (Some("invalid-query"), Some(4)), "{body}");
    assert_eq!(get(address, "/api/v1/projections/totals", &[]).await.status, 404);

    let created = send(address, "POST", "/api/v1/projections", json!({ "name": "totals", "query": BY_CUSTOMER })).await;
    assert_eq!(created.status, 201, "{created:?}");
    let detail = created.json();
    assert_eq!(
        (detail["query"].as_str(), detail["statistics"]["mode"].as_str()),
        (Some(BY_CUSTOMER), Some("Continuous"))
    );
    let again = send(address, "POST", "/api/v1/projections", json!({ "name": "totals", "query": BY_CUSTOMER })).await;
    assert_eq!((again.status, again.json()["code"].as_str()), (409, Some("projection-exists")));

    let partitions = json_until(address, "/api/v1/projections/totals/partitions", |body| {
        body["partitions"].as_array().is_some_and(|all| all.len() == 2)
    })
    .await;
    assert_eq!(
        partitions["partitions"],
        json!([
            { "partition": "ada", "state": { "total": 5 }, "result": { "total": 5 } },
            { "partition": "bob", "state": { "total": 7 }, "result": { "total": 7 } },
        ])
    );
    let bob = get(address, "/api/v1/projections/totals/state?partition=bob", &[]).await.json();
    assert_eq!(bob, json!({ "partition": "bob", "state": { "total": 7 }, "result": { "total": 7 } }));
    let root = get(address, "/api/v1/projections/totals/state", &[]).await.json();
    assert_eq!(root, json!({ "partition": "", "state": null, "result": null }));
    let emitted = get(address, "/api/v1/projections/totals/emitted-streams", &[]).await.json();
    assert_eq!(emitted, json!({ "streams": [] }));

    let listed = get(address, "/api/v1/projections", &[]).await.json();
    let mine = listed["projections"].as_array().expect("a list").iter().find(|p| p["name"] == "totals").cloned();
    let mine = mine.expect("listed");
    assert_eq!(mine["status"], "Running", "{mine}");
    assert!(mine["eventsPerSecond"].is_number() && mine["progress"].is_number(), "{mine}");

    // Disable, enable, abort: each answers the projection after it.
    let disabled = send(address, "POST", "/api/v1/projections/totals/disable", Value::Null).await;
    assert_eq!(disabled.json()["statistics"]["status"], "Stopped");
    let enabled = send(address, "POST", "/api/v1/projections/totals/enable", Value::Null).await;
    assert_eq!(enabled.json()["statistics"]["enabled"], true);

    // Reset to a position: only what comes after it is folded again.
    let reset =
        send(address, "POST", &format!("/api/v1/projections/totals/reset?position={}", after_first.0), Value::Null)
            .await;
    assert_eq!(reset.status, 200, "{reset:?}");
    place(&running.engine, "order-3", "ada", 1).await;
    let partitions = json_until(address, "/api/v1/projections/totals/partitions", |body| {
        body["partitions"].as_array().is_some_and(|all| all.len() == 1)
    })
    .await;
    assert_eq!(
        partitions["partitions"],
        json!([{ "partition": "ada", "state": { "total": 1 }, "result": { "total": 1 } }])
    );
    let bad = send(address, "POST", "/api/v1/projections/totals/reset?position=soon", Value::Null).await;
    assert_eq!((bad.status, bad.json()["code"].as_str()), (400, Some("invalid-position")));

    // A new query: refused at its line when broken (the old one stays).
    let replaced = send(address, "PUT", "/api/v1/projections/totals/query", json!({ "query": broken })).await;
    assert_eq!((replaced.status, replaced.json()["line"].as_u64()), (400, Some(4)));
    let doubled = BY_CUSTOMER.replace("s.total += e.data.amount", "s.total += 2 * e.data.amount");
    let replaced = send(address, "PUT", "/api/v1/projections/totals/query", json!({ "query": doubled })).await;
    assert_eq!((replaced.status, replaced.json()["query"].as_str()), (200, Some(doubled.as_str())));

    let running_delete = send(address, "DELETE", "/api/v1/projections/totals", Value::Null).await;
    assert_eq!((running_delete.status, running_delete.json()["code"].as_str()), (409, Some("operation-failed")));
    let aborted = send(address, "POST", "/api/v1/projections/totals/abort", Value::Null).await;
    assert_eq!(aborted.json()["statistics"]["status"], "Aborted");
    let deleted = send(address, "DELETE", "/api/v1/projections/totals?deleteCheckpointStream=true", Value::Null).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let gone = get(address, "/api/v1/projections/totals/partitions", &[]).await;
    assert_eq!((gone.status, gone.json()["code"].as_str()), (404, Some("projection-not-found")));
    let unknown_option = send(address, "DELETE", "/api/v1/projections/totals?everything=true", Value::Null).await;
    assert_eq!(unknown_option.status, 400);
    running.finish().await;
}

#[tokio::test]
async fn with_projections_off_the_ui_routes_answer_503_and_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_projections(open_engine(&dir), RunProjections::None).await;
    let listed = get(running.address, "/api/v1/projections", &[]).await;
    assert_eq!((listed.status, listed.json()["code"].as_str()), (503, Some("projections-not-running")));
    running.finish().await;
}
