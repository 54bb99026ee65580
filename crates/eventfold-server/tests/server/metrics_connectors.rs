//! Goal: a connector's counters and gauges are in `/metrics`, labelled by
//! connector id: delivered and dead-lettered events, errors, position, lag
//! and whether it runs. The recorder is the process's global one, so this
//! file holds a single test.

use crate::support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use eventfold_connectors::metric_names;
use eventfold_node::NodeOptions;
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::{Value, json};
use support::scrape::{get, parse, value};

/// A receiver that refuses events whose data says `"poison": true`.
async fn receiver() -> std::net::SocketAddr {
    let router = axum::Router::new().route(
        "/hook",
        post(|body: axum::Json<Vec<Value>>| async move {
            if body.0.iter().any(|event| event["data"]["poison"] == true) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_metrics_are_scraped() {
    let recorder = eventfold_server::metrics::recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the first recorder of this process");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = support::open_engine(&dir);
    let node = NodeOptions { metrics: Some(eventfold_server::metrics::text(handle, || {})), ..Default::default() };
    let server =
        support::serve_with(engine.clone(), "127.0.0.1:0", support::ServeOptions { node, ..Default::default() }).await;
    let receiver = receiver().await;
    let settings = json!({ "instanceTypeName": "http-sink", "url": format!("http://{receiver}/hook") });
    server
        .node
        .connectors()
        .create("hook", None, settings.as_object().expect("object"))
        .await
        .expect("create the connector");
    let mut events: Vec<ProposedEvent> =
        (0..9).map(|n| ProposedEvent::json("Happened", format!("{{\"n\":{n}}}"))).collect();
    events.push(ProposedEvent::json("Happened", r#"{"poison":true}"#));
    let stream = StreamName::new("thing-1").expect("valid");
    engine.append(AppendRequest::new(stream, ExpectedRevision::Any, events)).await.expect("append");

    let connector = [("connector", "hook")];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get(server.address, "/metrics").await;
        let samples = parse(&body);
        let delivered = value(&samples, metric_names::DELIVERED, &connector);
        let dead = value(&samples, metric_names::DEAD_LETTERED, &connector);
        if delivered == Some(9.0) && dead == Some(1.0) {
            assert!(value(&samples, metric_names::ERRORS, &connector).is_some_and(|errors| errors >= 1.0), "{body}");
            assert!(value(&samples, metric_names::POSITION, &connector).is_some_and(|position| position > 0.0));
            assert!(value(&samples, metric_names::LAG, &connector).is_some(), "{body}");
            assert_eq!(value(&samples, metric_names::RUNNING, &connector), Some(1.0));
            break;
        }
        assert!(Instant::now() < deadline, "the connector's metrics are not scraped:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
