//! Goal: persistent subscriptions over KurrentDB's HTTP API. Listing and a
//! group's info are always served, in the shapes exporters read; with the
//! HTTP stream API on, groups are created, updated and deleted, read a few
//! events at a time, acked and nacked by id (a parked event comes back on
//! replay), and bad requests are 4xx that change nothing.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use eventfold_engine::Engine;
use eventfold_persistent::{GroupKey, GroupSettings, GroupSpec, Source, StartFrom};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::Value;
use support::http::{HttpResponse, get, request};
use support::{open_engine, serve, serve_with_atom_pub};

async fn append_numbered(engine: &Engine, stream: &str, count: u64) {
    let events = (0..count).map(|n| ProposedEvent::json("Placed", format!(r#"{{"n":{n}}}"#))).collect();
    let request = AppendRequest::new(StreamName::new(stream).expect("name"), ExpectedRevision::Any, events);
    engine.append(request).await.expect("append");
}

async fn send(address: SocketAddr, method: &str, path: &str, body: &str) -> HttpResponse {
    request(address, method, path, &[("content-type", "application/json")], body.as_bytes()).await
}

fn relative(uri: &str) -> String {
    uri.trim_start_matches("http://localhost").to_owned()
}

/// Polls the group's info until `done` holds (the group works in the
/// background), for a few seconds at most.
async fn info_until(address: SocketAddr, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let info = get(address, path, &[]).await.json();
        if done(&info) || started.elapsed() > Duration::from_secs(5) {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn listing_and_info_are_served_without_the_stream_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve(open_engine(&dir)).await;
    let address = running.address;
    assert_eq!(get(address, "/subscriptions", &[]).await.json(), serde_json::json!([]));

    let key = GroupKey::new(Source::Stream(StreamName::new("orders").expect("name")), "billing").expect("key");
    let spec = GroupSpec { key, start_from: StartFrom::Start, filter: None, settings: GroupSettings::default() };
    running.node.persistent_subscriptions().create(spec).await.expect("create");

    let listed = get(address, "/subscriptions", &[]).await.json();
    let group = &listed[0];
    assert_eq!((group["eventStreamId"].as_str(), group["groupName"].as_str()), (Some("orders"), Some("billing")));
    assert_eq!(group["links"][0]["rel"], "detail");
    assert_eq!(group["links"][0]["href"], "http://localhost/subscriptions/orders/billing/info");
    assert_eq!(
        group["parkedMessageUri"],
        "http://localhost/streams/%24persistentsubscription-orders%3A%3Abilling-parked"
    );
    assert_eq!(group["getMessagesUri"], "http://localhost/subscriptions/orders/billing");
    assert!(group["status"].is_string() && group["connectionCount"] == 0 && group["totalInFlightMessages"] == 0);
    assert_eq!(get(address, "/subscriptions/orders", &[]).await.json().as_array().map(Vec::len), Some(1));
    assert_eq!(get(address, "/subscriptions/other", &[]).await.json(), serde_json::json!([]));

    let info = get(address, "/subscriptions/orders/billing/info", &[]).await.json();
    assert_eq!(info["config"]["namedConsumerStrategy"], "RoundRobin");
    assert_eq!(info["config"]["messageTimeoutMilliseconds"], 30_000);
    assert!(info["connections"].as_array().is_some_and(Vec::is_empty));
    let missing = get(address, "/subscriptions/orders/nobody/info", &[]).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(missing.json()["error"].is_string());

    // The rest needs the stream API.
    assert_eq!(send(address, "PUT", "/subscriptions/orders/other", "{}").await.status, 404);
    assert_eq!(get(address, "/subscriptions/orders/billing", &[]).await.status, 404);
    assert_eq!(send(address, "DELETE", "/subscriptions/orders/billing", "").await.status, 404);
    assert_eq!(get(address, "/subscriptions", &[]).await.json().as_array().map(Vec::len), Some(1));
    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_managed_read_acked_nacked_and_replayed_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = serve_with_atom_pub(open_engine(&dir)).await;
    let address = running.address;
    append_numbered(&running.engine, "jobs", 3).await;

    let created = send(address, "PUT", "/subscriptions/jobs/workers", r#"{"messageTimeoutMilliseconds":60000}"#).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("location"), Some("http://localhost/subscriptions/jobs/workers"));
    assert_eq!(send(address, "PUT", "/subscriptions/jobs/workers", "{}").await.status, 409);
    for bad in [r#"{"startFrom":-7}"#, "{", r#"{"namedConsumerStrategy":"Random"}"#, r#"{"readBatchSize":9999}"#] {
        let refused = send(address, "PUT", "/subscriptions/jobs/bad", bad).await;
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
    }
    assert_eq!(send(address, "PUT", "/subscriptions/%24all/workers", "{}").await.status, 400);
    assert_eq!(get(address, "/subscriptions/jobs", &[]).await.json().as_array().map(Vec::len), Some(1));

    // Two events, each with its ack and nack links.
    let read = get(address, "/subscriptions/jobs/workers/2?embed=rich", &[]).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert!(read.header("content-type").is_some_and(|value| value.contains("competingatom+json")));
    let feed = read.json();
    assert_eq!(feed["title"], "Messages for 'jobs/workers'");
    let entries = feed["entries"].as_array().expect("entries").clone();
    assert_eq!(entries.len(), 2, "{feed}");
    let numbers: Vec<u64> = entries.iter().filter_map(|entry| entry["eventNumber"].as_u64()).collect();
    assert_eq!(numbers, [1, 0], "newest first");
    let link = |entry: &Value, relation: &str| {
        let links = entry["links"].as_array().expect("links");
        relative(links.iter().find(|link| link["relation"] == relation).expect(relation)["uri"].as_str().expect("uri"))
    };
    let info_path = "/subscriptions/jobs/workers/info";
    let info = get(address, info_path, &[]).await.json();
    assert_eq!(info["totalInFlightMessages"], 2, "{info}");

    assert_eq!(send(address, "POST", &link(&entries[1], "ack"), "").await.status, 202);
    let park = format!("{}?action=Park", link(&entries[0], "nack"));
    assert_eq!(send(address, "POST", &park, "").await.status, 202);
    let info = info_until(address, info_path, |info| info["parkedMessageCount"] == 1).await;
    assert_eq!((info["parkedMessageCount"].as_u64(), info["totalInFlightMessages"].as_u64()), (Some(1), Some(0)));

    // The third event, then the parked one again after a replay.
    let third = get(address, "/subscriptions/jobs/workers?embed=rich", &[]).await.json();
    assert_eq!(third["entries"][0]["eventNumber"], 2, "{third}");
    let ack_all =
        relative(
            third["links"].as_array().expect("links").iter().find(|link| link["relation"] == "ackAll").expect("ackAll")
                ["uri"]
                .as_str()
                .expect("uri"),
        );
    assert_eq!(send(address, "POST", &ack_all, "").await.status, 202);
    assert_eq!(send(address, "POST", "/subscriptions/jobs/workers/replayParked", "").await.status, 200);
    let started = Instant::now();
    let replayed = loop {
        let read = get(address, "/subscriptions/jobs/workers/5?embed=rich", &[]).await.json();
        if !read["entries"].as_array().is_some_and(Vec::is_empty) || started.elapsed() > Duration::from_secs(5) {
            break read;
        }
    };
    assert_eq!(replayed["entries"][0]["eventNumber"], 1, "the parked event: {replayed}");
    let id = replayed["entries"][0]["eventId"].as_str().expect("an id").to_owned();
    let acked = send(address, "POST", &format!("/subscriptions/jobs/workers/ack?ids={id}"), "").await;
    assert_eq!(acked.status, 202);

    // Bad acks and nacks change nothing.
    for (path, status) in [
        ("/subscriptions/jobs/workers/ack/not-an-id", 400),
        ("/subscriptions/jobs/workers/ack", 400),
        (&format!("/subscriptions/jobs/workers/nack/{id}?action=Explode"), 400),
        ("/subscriptions/jobs/nobody/ack/fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4", 404),
        ("/subscriptions/jobs/workers/replayParked?stopAt=soon", 400),
    ] {
        let answer = send(address, "POST", path, "").await;
        assert_eq!(answer.status, status, "{path}: {answer:?}");
        assert!(answer.json()["error"].is_string());
    }
    assert_eq!(get(address, "/subscriptions/jobs/workers/0", &[]).await.status, 400);
    assert_eq!(get(address, "/subscriptions/jobs/nobody", &[]).await.status, 404);
    assert_eq!(get(address, "/subscriptions/jobs/workers", &[("accept", "application/atom+xml")]).await.status, 406);

    let updated = send(address, "POST", "/subscriptions/jobs/workers", r#"{"maxRetryCount":3}"#).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    let info = get(address, info_path, &[]).await.json();
    assert_eq!(info["config"]["maxRetryCount"], 3);
    assert_eq!(send(address, "POST", "/subscriptions/jobs/nobody", "{}").await.status, 404);

    assert_eq!(send(address, "DELETE", "/subscriptions/jobs/workers", "").await.status, 200);
    assert_eq!(get(address, info_path, &[]).await.status, 404);
    assert_eq!(send(address, "DELETE", "/subscriptions/jobs/workers", "").await.status, 404);
    running.finish().await;
}
