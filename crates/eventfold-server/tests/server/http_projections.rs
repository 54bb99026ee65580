//! Goal: KurrentDB's projections HTTP API over the real subsystem. A
//! projection is created with its query as the body, listed, read (state,
//! result, query, configuration, statistics), commanded (disable, enable,
//! reset, reset to a position, abort) and deleted; bad requests are JSON
//! 4xx that store nothing (a syntax error names its line and column), and
//! `/info` says whether projections run.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use eventfold_engine::Engine;
use eventfold_projections::RunProjections;
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, Position, ProposedEvent, StreamName};
use serde_json::{Value, json};
use support::http::{HttpResponse, get, request};
use support::{Running, ServeOptions, open_engine, serve_with};

const COUNTER: &str = "fromStream('tally-1').when({ $init: function () { return { count: 0 }; }, \
                       Counted: function (s, e) { s.count += 1; } })";

async fn serve_projections(engine: Engine, run: RunProjections) -> Running {
    let mut options = ServeOptions::default();
    options.node.projections.run = run;
    serve_with(engine, "127.0.0.1:0", options).await
}

async fn append_counted(engine: &Engine, count: usize) -> Position {
    let events = (0..count).map(|_| ProposedEvent::json("Counted", "{}")).collect();
    let request = AppendRequest::new(StreamName::new("tally-1").expect("name"), ExpectedRevision::Any, events);
    engine.append(request).await.expect("append").position.expect("a position")
}

async fn send(address: SocketAddr, method: &str, path: &str, body: &str) -> HttpResponse {
    request(address, method, path, &[], body.as_bytes()).await
}

/// Polls `path` until its JSON satisfies `done`, for a few seconds at most;
/// answers the last JSON seen.
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

async fn status_until(address: SocketAddr, name: &str, status: &str) -> Value {
    json_until(address, &format!("/projection/{name}"), |body| body["status"] == status).await
}

#[tokio::test]
async fn a_projection_is_created_read_commanded_and_deleted_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_projections(open_engine(&dir), RunProjections::All).await;
    let address = running.address;
    append_counted(&running.engine, 3).await;

    let created = send(address, "POST", "/projections/continuous?name=tally&emit=no", COUNTER).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert!(created.header("location").is_some_and(|location| location.ends_with("/projection/tally")), "{created:?}");

    let state = json_until(address, "/projection/tally/state", |state| state["count"] == 3).await;
    assert_eq!(state, json!({ "count": 3 }));
    assert_eq!(get(address, "/projection/tally/result", &[]).await.json(), json!({ "count": 3 }));

    let listed = get(address, "/projections/continuous", &[]).await.json();
    let mine: Vec<&Value> =
        listed["projections"].as_array().expect("a list").iter().filter(|p| p["name"] == "tally").collect();
    assert_eq!(mine.len(), 1, "{listed}");
    assert_eq!(mine[0]["mode"], "Continuous");
    assert!(mine[0]["stateUrl"].as_str().is_some_and(|url| url.ends_with("/projection/tally/state")));
    let any = get(address, "/projections/any", &[]).await.json();
    assert!(any["projections"].as_array().expect("a list").iter().any(|p| p["name"] == "$by_category"), "{any}");
    let one = status_until(address, "tally", "Running").await;
    assert_eq!((one["name"].as_str(), one["status"].as_str()), (Some("tally"), Some("Running")), "{one}");
    let statistics = get(address, "/projection/tally/statistics", &[]).await.json();
    assert_eq!(statistics["projections"][0]["name"], "tally");

    let query = get(address, "/projection/tally/query", &[]).await;
    assert_eq!(query.text(), COUNTER);
    assert_eq!(query.header("content-type"), Some("application/javascript"));
    let with_config = get(address, "/projection/tally/query?config=yes", &[]).await.json();
    assert_eq!((with_config["query"].as_str(), with_config["emitEnabled"].as_bool()), (Some(COUNTER), Some(false)));
    let config = get(address, "/projection/tally/config", &[]).await.json();
    assert_eq!(config["emitEnabled"], false);
    assert_eq!(config["projectionExecutionTimeout"], 250);

    // Disabled, it keeps its state; enabled, it counts on.
    assert_eq!(send(address, "POST", "/projection/tally/command/disable", "").await.status, 200);
    let stopped = get(address, "/projection/tally", &[]).await.json();
    assert_eq!(stopped["status"], "Stopped", "{stopped}");
    let after_first = append_counted(&running.engine, 2).await;
    assert_eq!(get(address, "/projection/tally/state", &[]).await.json(), json!({ "count": 3 }));
    assert_eq!(send(address, "POST", "/projection/tally/command/enable", "").await.status, 200);
    let state = json_until(address, "/projection/tally/state", |state| state["count"] == 5).await;
    assert_eq!(state, json!({ "count": 5 }));

    // Reset to a position: only the events after it are counted again.
    let reset = format!("/projection/tally/command/reset?position={}", after_first.0);
    assert_eq!(send(address, "POST", &reset, "").await.status, 200);
    append_counted(&running.engine, 1).await;
    let state = json_until(address, "/projection/tally/state", |state| state["count"] == 1).await;
    assert_eq!(state, json!({ "count": 1 }));
    // A plain reset counts everything again.
    assert_eq!(send(address, "POST", "/projection/tally/command/reset", "").await.status, 200);
    let state = json_until(address, "/projection/tally/state", |state| state["count"] == 6).await;
    assert_eq!(state, json!({ "count": 6 }));

    // The query is replaced through PUT, and a bad one is refused at its line.
    let doubled = COUNTER.replace("s.count += 1", "s.count += 2");
    assert_eq!(send(address, "PUT", "/projection/tally/query?emit=no", &doubled).await.status, 200);
    assert_eq!(get(address, "/projection/tally/query", &[]).await.text(), doubled);
    let broken =
        send(address, "PUT", "/projection/tally/query", "fromAll()\n.when({ $any: function (s, e) { s.x = ; } })")
            .await;
    assert_eq!(broken.status, 400, "{broken:?}");
    assert_eq!(broken.json()["line"], 2, "{broken:?}");
    assert_eq!(get(address, "/projection/tally/query", &[]).await.text(), doubled);

    // A restart of the subsystem keeps it, running on from its checkpoint.
    assert_eq!(send(address, "POST", "/projections/restart", "").await.status, 200);
    let state = json_until(address, "/projection/tally/state", |state| state["count"] == 6).await;
    assert_eq!(state, json!({ "count": 6 }), "the new query counts from the checkpoint on, nothing new came");
    status_until(address, "tally", "Running").await;

    // Deleting a running projection is refused; stopped, it goes.
    let refused = send(address, "DELETE", "/projection/tally", "").await;
    assert_eq!(refused.status, 409, "{refused:?}");
    let off_dir = tempfile::tempdir().expect("tempdir");
    let off = serve_projections(open_engine(&off_dir), RunProjections::None).await;
    assert_eq!(send(off.address, "POST", "/projections/restart", "").await.status, 503);
    off.finish().await;
    assert!(refused.json()["error"].as_str().is_some_and(|error| error.contains("stopped")), "{refused:?}");
    assert_eq!(send(address, "POST", "/projection/tally/command/abort", "").await.status, 200);
    assert_eq!(get(address, "/projection/tally", &[]).await.json()["status"], "Aborted");
    let deleted =
        send(address, "DELETE", "/projection/tally?deleteCheckpointStream=yes&deleteStateStream=yes", "").await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(get(address, "/projection/tally", &[]).await.status, 404);
    running.finish().await;
}

#[tokio::test]
async fn bad_requests_are_json_refusals_that_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_projections(open_engine(&dir), RunProjections::All).await;
    let address = running.address;

    let broken = send(address, "POST", "/projections/continuous?name=broken", "fromAll()\n  .when({ $any: ( })").await;
    assert_eq!(broken.status, 400, "{broken:?}");
    let body = broken.json();
    assert_eq!(body["line"], 2, "{body}");
    assert!(body["column"].as_u64().is_some_and(|column| column > 0), "{body}");
    assert!(body["error"].as_str().is_some_and(|error| error.contains("line 2")), "{body}");
    assert_eq!(get(address, "/projection/broken", &[]).await.status, 404);

    assert_eq!(send(address, "POST", "/projections/continuous?name=twice", COUNTER).await.status, 201);
    let again = send(address, "POST", "/projections/continuous?name=twice", COUNTER).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert!(again.json()["error"].as_str().is_some_and(|error| error.contains("already exists")));

    let tracking = send(address, "POST", "/projections/continuous?name=t&trackemittedstreams=yes", COUNTER).await;
    assert_eq!(tracking.status, 201, "tracking without emit is dropped, as the reference server does");
    assert_eq!(get(address, "/projection/t/config", &[]).await.json()["trackEmittedStreams"], false);

    for path in
        ["/projection/nobody", "/projection/nobody/state", "/projection/nobody/query", "/projection/nobody/config"]
    {
        let missing = get(address, path, &[]).await;
        assert_eq!(missing.status, 404, "{path}: {missing:?}");
        assert!(missing.json()["error"].as_str().is_some_and(|error| error.contains("nobody")));
    }
    assert_eq!(send(address, "POST", "/projection/nobody/command/enable", "").await.status, 404);
    assert_eq!(send(address, "POST", "/projection/twice/command/jump", "").await.status, 404);
    assert_eq!(get(address, "/projections/sometimes", &[]).await.status, 404);
    let bad_position = send(address, "POST", "/projection/twice/command/reset?position=later", "").await;
    assert_eq!(bad_position.status, 400, "{bad_position:?}");
    let bad_config = send(address, "PUT", "/projection/twice/config", "{not json").await;
    assert_eq!(bad_config.status, 400, "{bad_config:?}");
    let bad_timeout = send(
        address,
        "PUT",
        "/projection/twice/config",
        r#"{"emitEnabled":false,"trackEmittedStreams":false,"projectionExecutionTimeout":0}"#,
    )
    .await;
    assert_eq!(bad_timeout.status, 400, "{bad_timeout:?}");
    let standard = send(address, "DELETE", "/projection/$by_category", "").await;
    assert_eq!(standard.status, 409, "{standard:?}");

    // Created disabled, it runs nothing until enabled.
    append_counted(&running.engine, 2).await;
    let stopped = send(address, "POST", "/projections/continuous?name=later&enabled=no", COUNTER).await;
    assert_eq!(stopped.status, 201, "{stopped:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = get(address, "/projection/later", &[]).await.json();
    assert_eq!(later["status"], "Stopped", "{later}");
    assert_eq!(get(address, "/projection/later/state", &[]).await.json(), json!({}));
    assert_eq!(send(address, "POST", "/projection/later/command/enable", "").await.status, 200);
    let state = json_until(address, "/projection/later/state", |state| state["count"] == 2).await;
    assert_eq!(state, json!({ "count": 2 }));

    let info = get(address, "/info", &[]).await.json();
    assert_eq!(info["features"]["projections"], true, "{info}");
    running.finish().await;
}

#[tokio::test]
async fn with_projections_off_the_routes_say_so_and_info_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_projections(open_engine(&dir), RunProjections::None).await;
    let address = running.address;
    let listed = get(address, "/projections/any", &[]).await;
    assert_eq!(listed.status, 503, "{listed:?}");
    assert!(listed.json()["error"].as_str().is_some_and(|error| error.contains("not running")));
    let created = send(address, "POST", "/projections/continuous?name=off", COUNTER).await;
    assert_eq!(created.status, 503, "{created:?}");
    let info = get(address, "/info", &[]).await.json();
    assert_eq!(info["features"]["projections"], false, "{info}");
    running.finish().await;
}
