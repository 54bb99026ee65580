//! Goal: KurrentDB's connector routes over real loopback HTTP: bad settings
//! answer 400 and store nothing; a connector is created, delivers to an
//! HTTP receiver, reports its status, stops, starts, resets, takes new
//! settings and is deleted.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::post;
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadStreamRequest, StreamName};
use serde_json::{Value, json};
use support::http::{get, request};

/// A receiver that counts the events posted to it.
async fn receiver() -> (SocketAddr, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new().route(
        "/hook",
        post({
            let count = Arc::clone(&count);
            move |body: axum::Json<Vec<Value>>| async move {
                count.fetch_add(body.0.len(), Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, count)
}

async fn wait_for_count(count: &AtomicUsize, expected: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::SeqCst) < expected {
        assert!(tokio::time::Instant::now() < deadline, "{expected} events delivered in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count.load(Ordering::SeqCst), expected, "no more than expected");
}

async fn post_json(address: SocketAddr, path: &str, body: &Value) -> support::http::HttpResponse {
    let body = body.to_string();
    request(address, "POST", path, &[("content-type", "application/json")], body.as_bytes()).await
}

async fn append(store: &dyn EventStore, count: usize) {
    let events = (0..count).map(|n| ProposedEvent::json("Happened", format!("{{\"n\":{n}}}"))).collect();
    let stream = StreamName::new("thing-1").expect("valid");
    store.append(AppendRequest::new(stream, ExpectedRevision::Any, events)).await.expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_are_managed_over_http() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;
    let (receiver, count) = receiver().await;
    let url = format!("http://{receiver}/hook");

    for settings in [
        json!({ "instanceTypeName": "http-sink", "url": "nope" }),
        json!({ "instanceTypeName": "who-knows", "url": url }),
        json!({ "instanceTypeName": "postgres-sink", "connectionString": "host=127.0.0.1 port=1 connect_timeout=2",
                "statements:X": "SELECT 1" }),
    ] {
        let response = post_json(address, "/connectors/hook", &json!({ "settings": settings })).await;
        assert_eq!(response.status, 400, "{settings}: {response:?}");
        assert!(response.json()["error"].as_str().is_some_and(|error| !error.is_empty()));
    }
    assert_eq!(post_json(address, "/connectors/hook", &json!({ "name": 5 })).await.status, 400);
    assert_eq!(request(address, "POST", "/connectors/hook", &[], b"{").await.status, 400);
    let listed = get(address, "/connectors", &[]).await;
    assert_eq!((listed.status, listed.json()["totalSize"].as_u64()), (200, Some(0)));
    let definitions = StreamName::new(eventfold_connectors::DEFINITIONS_STREAM).expect("valid");
    assert!(
        running.engine.read_stream(ReadStreamRequest::forwards(definitions.clone())).await.is_err(),
        "nothing stored"
    );

    let settings = json!({ "instanceTypeName": "http-sink", "url": url, "batching:batchTimeoutMs": 10 });
    let created = post_json(address, "/connectors/hook", &json!({ "name": "Hook", "settings": settings })).await;
    assert_eq!(created.status, 200, "{created:?}");
    assert_eq!(created.json()["state"], "running");
    assert_eq!(created.json()["name"], "Hook");
    assert_eq!(post_json(address, "/connectors/hook", &json!({ "settings": settings })).await.status, 409);

    append(&running.engine, 10).await;
    wait_for_count(&count, 10).await;
    let status = get(address, "/connectors/hook", &[]).await.json();
    assert_eq!(status["delivered"], 10, "{status}");
    assert!(status["position"].as_u64().is_some(), "{status}");
    assert_eq!(status["settings"]["url"], Value::from(url.as_str()));

    let stopped = post_json(address, "/connectors/hook/stop", &json!({})).await;
    assert_eq!((stopped.status, stopped.json()["state"].clone()), (200, Value::from("stopped")));
    append(&running.engine, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count.load(Ordering::SeqCst), 10, "a stopped connector delivers nothing");
    assert_eq!(post_json(address, "/connectors/hook/start", &json!({})).await.status, 200);
    wait_for_count(&count, 15).await;

    assert_eq!(post_json(address, "/connectors/hook/reset/abc", &json!({})).await.status, 400);
    assert_eq!(post_json(address, "/connectors/hook/reset", &json!({})).await.status, 200);
    wait_for_count(&count, 30).await;

    let bad = json!({ "instanceTypeName": "http-sink", "url": "ftp://h/x" });
    let body = bad.to_string();
    let refused = request(address, "PUT", "/connectors/hook/settings", &[], body.as_bytes()).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let good =
        json!({ "settings": { "instanceTypeName": "http-sink", "url": url, "batching:batchSize": 7 } }).to_string();
    let replaced = request(address, "PUT", "/connectors/hook/settings", &[], good.as_bytes()).await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert_eq!(replaced.json()["settings"]["batching:batchSize"], "7");

    let listed = get(address, "/connectors", &[]).await.json();
    assert_eq!(listed["items"][0]["connectorId"], "hook");
    assert_eq!(request(address, "DELETE", "/connectors/hook", &[], b"").await.status, 200);
    assert_eq!(get(address, "/connectors/hook", &[]).await.status, 404);
    assert_eq!(post_json(address, "/connectors/hook/start", &json!({})).await.status, 404);
    assert_eq!(get(address, "/connectors", &[]).await.json()["totalSize"], 0);

    // Created again under the same id, it starts afresh: every event again.
    let again = post_json(address, "/connectors/hook", &json!({ "settings": settings })).await;
    assert_eq!(again.status, 200, "{again:?}");
    wait_for_count(&count, 45).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_filter_on_the_events_json_data_and_refuse_bad_transforms() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;
    let (receiver, count) = receiver().await;
    let url = format!("http://{receiver}/hook");
    let with_filter = |expression: &str| {
        json!({ "settings": {
            "instanceTypeName": "http-sink",
            "url": url,
            "batching:batchTimeoutMs": 10,
            "subscription": { "filter": { "scope": "record", "filterType": "jsonPath", "expression": expression } },
        } })
    };

    let refused = post_json(address, "/connectors/big", &with_filter("$[?(@.n >= )]")).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let reason = refused.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("subscription:filter:expression") && reason.contains("byte"), "{reason}");
    let mut with_bad_transform = with_filter("$.n");
    with_bad_transform["settings"]["transform"] = Value::from("return {n: e.data.n +};");
    let refused = post_json(address, "/connectors/big", &with_bad_transform).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let reason = refused.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("transform") && reason.contains("syntax error"), "{reason}");
    assert_eq!(get(address, "/connectors", &[]).await.json()["totalSize"], 0, "nothing stored");

    let created = post_json(address, "/connectors/big", &with_filter("$[?(@.n >= 7)]")).await;
    assert_eq!(created.status, 200, "{created:?}");
    // Ten JSON events `{"n": 0..9}` and one that is not JSON: `n` 7, 8, 9 pass.
    append(&running.engine, 10).await;
    let binary = ProposedEvent {
        content_type: eventfold_store::ContentType::Binary,
        ..ProposedEvent::json("Happened", b"{\"n\":100}".to_vec())
    };
    let stream = StreamName::new("thing-2").expect("valid");
    running.engine.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![binary])).await.expect("append");
    wait_for_count(&count, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_show_settings_with_their_secrets_redacted() {
    use futures::StreamExt;

    let dir = tempfile::tempdir().expect("temporary directory");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;
    let (receiver, count) = receiver().await;
    let settings = json!({
        "instanceTypeName": "http-sink",
        "url": format!("http://{receiver}/hook"),
        "authentication": { "method": "Basic", "basic": { "username": "admin", "password": "changeit" } },
        "headers:X-Api-Key": "k3y",
        "defaultHeaders": "X-One:1",
        "batching:batchTimeoutMs": 10,
    });
    let created = post_json(address, "/connectors/hook", &json!({ "settings": settings })).await;
    assert_eq!(created.status, 200, "{created:?}");
    for shown in [created.json(), get(address, "/connectors/hook", &[]).await.json()] {
        assert_eq!(shown["settings"]["authentication:basic:password"], "***", "{shown}");
        assert_eq!(shown["settings"]["headers:X-Api-Key"], "***", "{shown}");
        assert_eq!(shown["settings"]["authentication:basic:username"], "admin", "{shown}");
        assert!(!shown.to_string().contains("changeit") && !shown.to_string().contains("k3y"), "{shown}");
    }
    let listed = get(address, "/connectors", &[]).await.json();
    assert!(!listed.to_string().contains("changeit"), "{listed}");

    // Sent back as shown: the stored password stays, and delivery goes on.
    let mut shown = get(address, "/connectors/hook", &[]).await.json()["settings"].clone();
    shown["batching:batchSize"] = Value::from("9");
    let body = json!({ "settings": shown }).to_string();
    let replaced = request(address, "PUT", "/connectors/hook/settings", &[], body.as_bytes()).await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    let definitions = StreamName::new(eventfold_connectors::DEFINITIONS_STREAM).expect("valid");
    let stored: Vec<String> = running
        .engine
        .read_stream(ReadStreamRequest::forwards(definitions))
        .await
        .expect("definitions")
        .map(|event| String::from_utf8_lossy(&event.expect("read").data).into_owned())
        .collect()
        .await;
    let last = stored.last().expect("a reconfiguration");
    assert!(last.contains("changeit") && !last.contains("***"), "the stored password kept: {last}");
    append(&running.engine, 4).await;
    wait_for_count(&count, 4).await;
}
