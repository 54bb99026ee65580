//! Goal: the management endpoints answer over real TCP as KurrentDB's do,
//! and as a curl user expects: `/health/live` (204, `HEAD`, `?liveCode`),
//! `/ping`, `/info`, `/gossip` (the same member as gRPC Gossip), `/stats`;
//! every body is JSON; bad input is a 4xx with a JSON error, never a 500.
//! While the node starts or stops, liveness is 503: checked on the node's
//! router in process, where the state can be set exactly.

use crate::support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use eventfold_node::{Node, NodeOptions};
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::gossip::gossip_client::GossipClient;
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// One HTTP/1.1 exchange, as curl makes it.
struct Answer {
    code: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("a JSON body ({error}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn is_json(&self) -> bool {
        self.header("content-type").is_some_and(|value| value.starts_with("application/json"))
    }
}

async fn http(address: SocketAddr, method: &str, path: &str) -> Answer {
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
        let request = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.expect("send request");
        let mut response = String::new();
        socket.read_to_string(&mut response).await.expect("read response");
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("answered within 10 s");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let code = lines.next().and_then(|status| status.get(9..12)).and_then(|code| code.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer { code, headers, body: body.to_owned() }
}

#[tokio::test]
async fn live_is_204_with_no_body_for_get_and_head_and_answers_the_asked_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;

    for method in ["GET", "HEAD"] {
        let live = http(address, method, "/health/live").await;
        assert_eq!(live.code, 204, "{method}: {}", live.body);
        assert!(live.body.is_empty(), "{method}: {}", live.body);
    }
    let asked = http(address, "GET", "/health/live?liveCode=200").await;
    assert_eq!(asked.code, 200, "{}", asked.body);
    let asked = http(address, "HEAD", "/health/live?liveCode=299").await;
    assert_eq!(asked.code, 299);

    for bad in ["liveCode=abc", "liveCode=99", "liveCode=600", "liveCode=", "other=1"] {
        let refused = http(address, "GET", &format!("/health/live?{bad}")).await;
        assert_eq!(refused.code, 400, "{bad}: {}", refused.body);
        assert!(refused.is_json() && refused.json()["error"].is_string(), "{bad}: {}", refused.body);
    }
    running.finish().await;
}

#[tokio::test]
async fn ping_info_and_stats_describe_the_node_in_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;

    let ping = http(address, "GET", "/ping").await;
    assert_eq!(ping.code, 200);
    assert!(ping.is_json(), "{:?}", ping.headers);
    assert_eq!(ping.json(), serde_json::json!({ "text": "Ping request successfully handled" }));

    let info = http(address, "GET", "/info").await;
    assert_eq!(info.code, 200);
    assert!(info.is_json());
    let info = info.json();
    assert_eq!(info["esVersion"], eventfold_server::PROTOCOL_SERVER_VERSION);
    assert_eq!(info["version"], eventfold_server::VERSION);
    assert_eq!(info["state"], "leader");
    assert_eq!(
        info["features"],
        serde_json::json!({ "projections": false, "userManagement": false, "atomPub": false })
    );
    assert_eq!(info["authentication"]["type"], "insecure");

    let stream = StreamName::new("stats-1").expect("name");
    let outcome = running
        .engine
        .append(AppendRequest::new(stream, ExpectedRevision::Any, vec![ProposedEvent::json("Counted", "{}")]))
        .await
        .expect("append");
    let stats = http(address, "GET", "/stats").await;
    assert_eq!(stats.code, 200);
    assert!(stats.is_json());
    let stats = stats.json();
    let process = &stats["proc"];
    assert_eq!(process["id"], std::process::id());
    assert!(process["uptimeSeconds"].as_f64().is_some_and(|uptime| uptime >= 0.0), "{stats}");
    assert!(process["startTime"].as_str().is_some_and(|time| time.ends_with('Z') && time.len() == 24), "{stats}");
    assert!(process["connections"].as_u64().is_some_and(|open| open >= 1), "this request's own: {stats}");
    if cfg!(target_os = "linux") {
        assert!(process["mem"].as_u64().is_some_and(|bytes| bytes > 0), "{stats}");
        assert!(process["threadsCount"].as_u64().is_some_and(|threads| threads >= 1), "{stats}");
        assert!(process["cpuSeconds"].as_f64().is_some(), "{stats}");
    }
    assert_eq!(stats["store"]["lastPosition"], outcome.position.expect("a position").0);
    assert_eq!(stats["store"]["health"], "ok");
    running.finish().await;
}

#[tokio::test]
async fn gossip_over_http_is_the_member_grpc_gossip_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;

    let answer = http(address, "GET", "/gossip").await;
    assert_eq!(answer.code, 200);
    assert!(answer.is_json());
    let cluster = answer.json();
    assert_eq!(
        (cluster["serverIp"].as_str(), cluster["serverPort"].as_u64()),
        (Some("127.0.0.1"), Some(u64::from(address.port())))
    );
    let members = cluster["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{cluster}");
    let member = &members[0];
    assert_eq!(member["state"], "Leader");
    assert_eq!(member["isAlive"], true);
    assert_eq!(member["httpEndPointIp"], "127.0.0.1");
    assert_eq!(member["httpEndPointPort"], address.port());
    assert!(member["timeStamp"].as_str().is_some_and(|time| time.ends_with('Z')), "{member}");

    let mut gossip = GossipClient::new(running.channel().await);
    let grpc = gossip.read(Empty {}).await.expect("gossip read").into_inner();
    let grpc_member = grpc.members.first().expect("one member");
    let grpc_id = match grpc_member.instance_id.as_ref().and_then(|id| id.value.as_ref()) {
        Some(eventfold_proto::event_store::client::uuid::Value::String(id)) => id.clone(),
        other => panic!("a string instance id, got {other:?}"),
    };
    assert_eq!(member["instanceId"], grpc_id.as_str(), "one node, one instance id on both faces");
    assert_eq!(member["instanceId"], running.node.facts().instance_id.to_string());
    let endpoint = grpc_member.http_end_point.as_ref().expect("endpoint");
    assert_eq!((endpoint.address.as_str(), endpoint.port), ("127.0.0.1", u32::from(address.port())));
    running.finish().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_4xx() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = support::serve(support::open_engine(&dir)).await;
    let address = running.address;

    let missing = http(address, "GET", "/no/such/thing").await;
    assert_eq!(missing.code, 404);
    assert!(missing.is_json() && missing.json()["error"].as_str().is_some_and(|e| e.contains("/no/such/thing")));
    for (method, path) in [("PUT", "/info"), ("POST", "/ping"), ("DELETE", "/gossip"), ("POST", "/health/live")] {
        let refused = http(address, method, path).await;
        assert_eq!(refused.code, 405, "{method} {path}: {}", refused.body);
        assert!(refused.is_json() && refused.json()["error"].is_string(), "{method} {path}: {}", refused.body);
    }
    running.finish().await;
}

/// One request to the node's router, in process.
async fn call(node: &Node, method: Method, path: &str) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).expect("request");
    let response = eventfold_server::app(node).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
    (status, body)
}

#[tokio::test]
async fn a_node_that_starts_or_stops_is_not_live_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = support::open_engine(&dir);
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    let address: SocketAddr = "127.0.0.1:2113".parse().expect("address");
    let node = Node::start(store, NodeOptions::default(), address).await;

    let (code, body) = call(&node, Method::GET, "/health/live").await;
    assert_eq!((code, body["state"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("starting")));
    let (code, _) = call(&node, Method::GET, "/health/live?liveCode=200").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "the asked code is for a live node only");
    let (code, body) = call(&node, Method::GET, "/health").await;
    assert_eq!((code, body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("starting")));
    let (_, info) = call(&node, Method::GET, "/info").await;
    assert_eq!(info["state"], "initializing");
    let (_, gossip) = call(&node, Method::GET, "/gossip").await;
    assert_eq!(gossip["members"][0]["state"], "Initializing", "not a leader to connect to yet");

    node.mark_ready();
    let (code, body) = call(&node, Method::GET, "/health/live").await;
    assert_eq!((code, body), (StatusCode::NO_CONTENT, Value::Null));
    let (code, _) = call(&node, Method::HEAD, "/health/live").await;
    assert_eq!(code, StatusCode::NO_CONTENT);

    node.stop().await;
    let (code, body) = call(&node, Method::GET, "/health/live").await;
    assert_eq!((code, body["state"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("stopping")));
    let (code, _) = call(&node, Method::HEAD, "/health/live").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let (code, body) = call(&node, Method::GET, "/health").await;
    assert_eq!((code, body["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("stopping")));
    let (_, gossip) = call(&node, Method::GET, "/gossip").await;
    assert_eq!(gossip["members"][0]["state"], "ShuttingDown");
    node.mark_ready();
    let (code, _) = call(&node, Method::GET, "/health/live").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "a stopping node does not come back");
    engine.shutdown().await;
}
