//! Goal: `POST /admin/backup` copies the node's store into an absolute
//! directory and answers the report; a bad body, a relative path and an
//! unknown field are 400s with a JSON reason, and a second backup into the
//! same place copies nothing that did not change.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use eventfold_node::{Node, NodeOptions};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::Value;
use tower::ServiceExt;

async fn post(node: &Node, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/admin/backup")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = eventfold_server::app(node).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&bytes).expect("a JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_over_http_reports_what_it_copied_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = support::open_engine(&dir);
    let stream = StreamName::new("order-1").expect("name");
    let events = (0..10).map(|index| ProposedEvent::json("Placed", format!(r#"{{"n":{index}}}"#))).collect();
    engine.append(AppendRequest::new(stream, ExpectedRevision::NoStream, events)).await.expect("append");
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    let address: SocketAddr = "127.0.0.1:2113".parse().expect("address");
    let node = Node::start(store, NodeOptions::default(), address).await;

    let destination = tempfile::tempdir().expect("tempdir");
    let body = serde_json::json!({ "destination": destination.path() }).to_string();
    let (code, first) = post(&node, &body).await;
    assert_eq!(code, StatusCode::OK, "{first}");
    assert!(first["bytes_copied"].as_u64() > Some(0) && first["durable_end"].as_u64() > Some(0), "{first}");
    assert!(destination.path().join("manifest.json").is_file());
    let (code, second) = post(&node, &body).await;
    assert_eq!((code, second["bytes_copied"].as_u64()), (StatusCode::OK, Some(0)), "{second}");

    for bad in ["", "{", r#"{"destination":"relative/dir"}"#, r#"{"destination":"/tmp/x","speed":1}"#] {
        let (code, answer) = post(&node, bad).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(answer["error"].is_string(), "{bad}: {answer}");
    }
}
