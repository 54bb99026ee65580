//! Goal: the scavenge faces (gRPC `Operations` and HTTP `/admin/scavenge`)
//! answer as the protocol and the HTTP API say, over real loopback TCP, for
//! every answer the store's scavenge contract has: started, already in
//! progress, unknown id, stopped, status, and a backend that does not
//! scavenge. The store is the engine with its scavenge replaced by a small
//! fake that follows the contract, so the faces are tested apart from the
//! engine's own scavenge.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_proto::event_store::client::Empty;
use eventfold_proto::event_store::client::operations::operations_client::OperationsClient;
use eventfold_proto::event_store::client::operations::scavenge_resp::ScavengeResult;
use eventfold_proto::event_store::client::operations::{
    SetNodePriorityReq, StartScavengeReq, StopScavengeReq, start_scavenge_req, stop_scavenge_req,
};
use eventfold_proto::event_store::client::server_features::server_features_client::ServerFeaturesClient;
use eventfold_server::ScavengeStatusBody;
use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, EventStore, EventStream,
    ExpectedRevision, Position, ReadAllRequest, ReadError, ReadStreamRequest, ScavengeError, ScavengeOptions,
    ScavengeState, ScavengeStatus, StreamName, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionError,
    SubscriptionStream, Timestamp,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// The store's scavenge contract, in memory: one runs at a time, the test
/// moves it along.
#[derive(Default)]
struct FakeScavenger {
    current: Mutex<Option<ScavengeStatus>>,
    started_with: Mutex<Vec<ScavengeOptions>>,
    count: Mutex<u32>,
}

impl FakeScavenger {
    fn start(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = current.as_ref().filter(|status| status.state == ScavengeState::Running) {
            return Err(ScavengeError::InProgress(Box::new(running.clone())));
        }
        self.started_with.lock().unwrap_or_else(PoisonError::into_inner).push(options);
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count += 1;
        let status = ScavengeStatus {
            id: format!("00000000-0000-4000-8000-{:012}", *count),
            state: ScavengeState::Running,
            started: Timestamp(17_000_000_000_000_000),
            finished: None,
            segments_total: 4,
            segments_done: 0,
            bytes_read: 0,
            bytes_reclaimed: 0,
            events_kept: 0,
            events_removed: 0,
            error: None,
        };
        *current = Some(status.clone());
        Ok(status)
    }

    fn stop(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_mut() {
            Some(status) if status.id == id => {
                // Stops at once: the fake has no segment to finish first.
                if status.state == ScavengeState::Running {
                    status.state = ScavengeState::Stopped;
                    status.finished = Some(Timestamp(17_000_000_010_000_000));
                }
                Ok(status.clone())
            }
            _ => Err(ScavengeError::NotFound { id: id.to_owned() }),
        }
    }

    /// Ends the running scavenge as having done every segment.
    fn complete(&self) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(status) = current.as_mut() {
            status.state = ScavengeState::Completed;
            status.finished = Some(Timestamp(17_000_000_020_000_000));
            status.segments_done = status.segments_total;
            status.bytes_read = 4096;
            status.bytes_reclaimed = 1024;
            status.events_kept = 30;
            status.events_removed = 10;
        }
    }

    fn status(&self) -> Option<ScavengeStatus> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The engine, with its scavenge replaced by the fake, or with none at all
/// (the trait's defaults: a backend that does not scavenge).
struct TestStore {
    engine: Engine,
    scavenger: Option<Arc<FakeScavenger>>,
}

#[async_trait]
impl EventStore for TestStore {
    async fn append_transaction(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
        self.engine.append_transaction(requests).await
    }

    async fn delete_stream(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
    ) -> Result<DeleteOutcome, AppendError> {
        self.engine.delete_stream(stream, expected, mode).await
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
        self.engine.read_stream(request).await
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<EventStream, ReadError> {
        self.engine.read_all(request).await
    }

    async fn subscribe_to_stream(
        &self,
        request: SubscribeToStreamRequest,
    ) -> Result<SubscriptionStream, SubscriptionError> {
        self.engine.subscribe_to_stream(request).await
    }

    async fn subscribe_to_all(&self, request: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
        self.engine.subscribe_to_all(request).await
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError> {
        self.engine.stream_revision(stream).await
    }

    fn head_position(&self) -> Option<Position> {
        self.engine.head_position()
    }

    async fn start_scavenge(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        match &self.scavenger {
            Some(scavenger) => scavenger.start(options),
            None => Err(ScavengeError::Unsupported),
        }
    }

    async fn stop_scavenge(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        match &self.scavenger {
            Some(scavenger) => scavenger.stop(id),
            None => Err(ScavengeError::NotFound { id: id.to_owned() }),
        }
    }

    async fn scavenge_status(&self) -> Option<ScavengeStatus> {
        self.scavenger.as_ref().and_then(|scavenger| scavenger.status())
    }
}

struct Running {
    address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    engine: Engine,
    _dir: tempfile::TempDir,
}

async fn serve(scavenger: Option<Arc<FakeScavenger>>) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let store: Arc<dyn EventStore> = Arc::new(TestStore { engine: engine.clone(), scavenger });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let node = eventfold_node::Node::start(store, eventfold_node::NodeOptions::default(), address).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = eventfold_server::ConnectionLimits::default();
    let server = tokio::spawn(eventfold_server::serve(node, listener, limits, None, async {
        let _ = stopped.await;
    }));
    Running { address, stop, server, engine, _dir: dir }
}

impl Running {
    async fn operations(&self) -> OperationsClient<tonic::transport::Channel> {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", self.address))
            .expect("uri")
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect");
        OperationsClient::new(channel)
    }

    async fn finish(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "server stops cleanly");
        self.engine.shutdown().await;
    }
}

/// One HTTP/1.1 exchange; returns the status code and the body.
async fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let exchange = async {
        let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.expect("send request");
        let mut response = String::new();
        socket.read_to_string(&mut response).await.expect("read response");
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("answered within 10 s");
    let code = response.get(9..12).and_then(|code| code.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (code, body)
}

fn status_body(body: &str) -> ScavengeStatusBody {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("a status body ({error}): {body}"))
}

fn start_request() -> StartScavengeReq {
    StartScavengeReq { options: Some(start_scavenge_req::Options { thread_count: 1, start_from_chunk: 0 }) }
}

fn stop_request(id: &str) -> StopScavengeReq {
    StopScavengeReq { options: Some(stop_scavenge_req::Options { scavenge_id: id.to_owned() }) }
}

#[tokio::test]
async fn grpc_start_in_progress_stop_as_eventstoredb_answers() {
    let scavenger = Arc::new(FakeScavenger::default());
    let server = serve(Some(Arc::clone(&scavenger))).await;
    let mut client = server.operations().await;

    let started = client.start_scavenge(start_request()).await.expect("start").into_inner();
    assert_eq!(started.scavenge_result(), ScavengeResult::Started);
    assert_eq!(started.scavenge_id, "00000000-0000-4000-8000-000000000001");
    // The protocol has no rate limit: the store is asked for its defaults.
    assert_eq!(scavenger.started_with.lock().expect("lock").as_slice(), &[ScavengeOptions::default()]);

    // A second start is an answer, not an error: the running scavenge's id.
    let again = client.start_scavenge(start_request()).await.expect("second start").into_inner();
    assert_eq!(again.scavenge_result(), ScavengeResult::InProgress);
    assert_eq!(again.scavenge_id, started.scavenge_id);

    let unknown = client.stop_scavenge(stop_request("no-such-scavenge")).await.expect_err("unknown id");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(unknown.message(), "Scavenge id was invalid.");
    assert_eq!(unknown.metadata().get("exception").and_then(|value| value.to_str().ok()), Some("scavenge-not-found"));
    assert_eq!(unknown.metadata().get("scavenge-id").and_then(|value| value.to_str().ok()), Some("no-such-scavenge"));

    let stopped = client.stop_scavenge(stop_request(&started.scavenge_id)).await.expect("stop").into_inner();
    assert_eq!(stopped.scavenge_result(), ScavengeResult::Stopped);
    assert_eq!(stopped.scavenge_id, started.scavenge_id);

    // Once stopped, a new one starts.
    let next = client.start_scavenge(StartScavengeReq { options: None }).await.expect("start again").into_inner();
    assert_eq!(next.scavenge_result(), ScavengeResult::Started);
    assert_ne!(next.scavenge_id, started.scavenge_id);

    // A scavenge that already ended cannot be stopped any more.
    scavenger.complete();
    let ended = client.stop_scavenge(stop_request(&next.scavenge_id)).await.expect_err("already completed");
    assert_eq!(ended.code(), Code::NotFound);
    server.finish().await;
}

#[tokio::test]
async fn grpc_backend_without_scavenge_is_unimplemented_and_other_operations_answer() {
    let server = serve(None).await;
    let mut client = server.operations().await;

    let start = client.start_scavenge(start_request()).await.expect_err("no scavenge");
    assert_eq!(start.code(), Code::Unimplemented, "{start:?}");
    let stop = client.stop_scavenge(stop_request("any")).await.expect_err("nothing to stop");
    assert_eq!(stop.code(), Code::NotFound);

    // The index has nothing to merge; the subsystem restarts for real.
    client.merge_indexes(Empty {}).await.expect("merge indexes is a no-op");
    client.restart_persistent_subscriptions(Empty {}).await.expect("restart persistent subscriptions");
    for status in [
        client.shutdown(Empty {}).await.expect_err("shutdown"),
        client.resign_node(Empty {}).await.expect_err("resign"),
        client.set_node_priority(SetNodePriorityReq { priority: 1 }).await.expect_err("priority"),
    ] {
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    }

    // ServerFeatures lists exactly the operations that are implemented.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.address))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let methods = ServerFeaturesClient::new(channel)
        .get_supported_methods(Empty {})
        .await
        .expect("supported methods")
        .into_inner()
        .methods;
    let mut operations: Vec<&str> = methods
        .iter()
        .filter(|method| method.service_name == "event_store.client.operations.operations")
        .map(|method| method.method_name.as_str())
        .collect();
    operations.sort_unstable();
    assert_eq!(operations, ["mergeindexes", "restartpersistentsubscriptions", "startscavenge", "stopscavenge"]);
    server.finish().await;
}

#[tokio::test]
async fn http_start_conflict_status_and_stop() {
    let scavenger = Arc::new(FakeScavenger::default());
    let server = serve(Some(Arc::clone(&scavenger))).await;
    let address = server.address;

    let (code, body) = http(address, "GET", "/admin/scavenge", "").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains(r#""error""#), "{body}");

    let (code, body) = http(address, "POST", "/admin/scavenge", r#"{"max_bytes_per_second": 1048576}"#).await;
    assert_eq!(code, 202, "{body}");
    let started = status_body(&body);
    assert_eq!(started.state, "running");
    assert_eq!((started.segments_total, started.segments_done, started.finished), (4, 0, None));
    assert_eq!(started.started, 1_700_000_000_000, "Unix milliseconds");
    assert_eq!(
        scavenger.started_with.lock().expect("lock").as_slice(),
        &[ScavengeOptions { max_bytes_per_second: Some(1_048_576) }]
    );

    let (code, body) = http(address, "POST", "/admin/scavenge", "").await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(status_body(&body).id, started.id, "the conflict names the running scavenge");

    let (code, body) = http(address, "GET", "/admin/scavenge", "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(status_body(&body), started);

    let (code, body) = http(address, "DELETE", "/admin/scavenge/no-such-scavenge", "").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("was invalid"), "{body}");

    let (code, body) = http(address, "DELETE", &format!("/admin/scavenge/{}", started.id), "").await;
    assert_eq!(code, 200, "the fake stops at once, so the answer is the ended status: {body}");
    let stopped = status_body(&body);
    assert_eq!((stopped.state.as_str(), stopped.finished), ("stopped", Some(1_700_000_001_000)));

    // The last scavenge stays visible after it ends.
    let (code, body) = http(address, "POST", "/admin/scavenge", "  ").await;
    assert_eq!(code, 202, "{body}");
    scavenger.complete();
    let (code, body) = http(address, "GET", "/admin/scavenge", "").await;
    assert_eq!(code, 200, "{body}");
    let completed = status_body(&body);
    assert_eq!(completed.state, "completed");
    assert_eq!(
        (completed.segments_done, completed.bytes_reclaimed, completed.events_kept, completed.events_removed),
        (4, 1024, 30, 10)
    );
    assert!(completed.error.is_none());
    server.finish().await;
}

#[tokio::test]
async fn http_bad_options_and_backend_without_scavenge() {
    let scavenger = Arc::new(FakeScavenger::default());
    let server = serve(Some(Arc::clone(&scavenger))).await;
    for bad in ["not json", r#"{"max_bytes_per_second": -1}"#, r#"{"threads": 2}"#] {
        let (code, body) = http(server.address, "POST", "/admin/scavenge", bad).await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    assert!(scavenger.status().is_none(), "nothing started");
    server.finish().await;

    let server = serve(None).await;
    let (code, body) = http(server.address, "POST", "/admin/scavenge", "").await;
    assert_eq!(code, 501, "{body}");
    let (code, body) = http(server.address, "GET", "/admin/scavenge", "").await;
    assert_eq!(code, 404, "{body}");
    server.finish().await;
}

/// Goal: a curl user of KurrentDB's scavenge API gets its answers: the id as
/// `scavengeId` from the start, the scavenge by id and as `current` and
/// `last`, a stop by id or `current`, KurrentDB's query options accepted and
/// anything else refused with a JSON error.
#[tokio::test]
async fn http_kurrentdb_paths_and_fields() {
    let scavenger = Arc::new(FakeScavenger::default());
    let server = serve(Some(Arc::clone(&scavenger))).await;
    let address = server.address;
    let json = |body: &str| -> serde_json::Value {
        serde_json::from_str(body).unwrap_or_else(|error| panic!("JSON ({error}): {body}"))
    };

    for path in ["/admin/scavenge/current", "/admin/scavenge/last", "/admin/scavenge/anything"] {
        let (code, body) = http(address, "GET", path, "").await;
        assert_eq!(code, 404, "nothing ran yet: {path}: {body}");
        assert!(json(&body)["error"].is_string(), "{body}");
    }
    let (code, body) = http(address, "DELETE", "/admin/scavenge/current", "").await;
    assert_eq!(code, 404, "{body}");

    for bad in ["?threads=two", "?threads=-1", "?syncOnly=maybe", "?threadz=1"] {
        let (code, body) = http(address, "POST", &format!("/admin/scavenge{bad}"), "").await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(json(&body)["error"].as_str().is_some_and(|error| error.contains("option")), "{body}");
    }
    assert!(scavenger.status().is_none(), "a refused start starts nothing");

    let (code, body) = http(address, "POST", "/admin/scavenge?threads=2&startFromChunk=0", "").await;
    assert_eq!(code, 202, "{body}");
    let started = json(&body);
    let id = started["scavengeId"].as_str().expect("scavengeId").to_owned();
    assert_eq!(started["id"], id.as_str(), "eventfold's own fields stay");
    assert_eq!(started["scavengeLink"], format!("/admin/scavenge/{id}"));
    assert_eq!(started["scavengeResult"], "InProgress");

    for path in [format!("/admin/scavenge/{id}"), "/admin/scavenge/current".into(), "/admin/scavenge/last".into()] {
        let (code, body) = http(address, "GET", &path, "").await;
        assert_eq!(code, 200, "{path}: {body}");
        assert_eq!(json(&body)["scavengeId"], id.as_str(), "{path}");
    }
    let (code, body) = http(address, "GET", "/admin/scavenge/00000000-0000-4000-8000-999999999999", "").await;
    assert_eq!(code, 404, "another id: {body}");

    let (code, body) = http(address, "DELETE", "/admin/scavenge/current", "").await;
    assert_eq!(code, 200, "the fake stops at once: {body}");
    let stopped = json(&body);
    assert_eq!(
        (stopped["scavengeId"].as_str(), stopped["scavengeResult"].as_str()),
        (Some(id.as_str()), Some("Stopped"))
    );
    let (code, _) = http(address, "GET", "/admin/scavenge/current", "").await;
    assert_eq!(code, 404, "none runs after the stop");
    let (code, body) = http(address, "GET", &format!("/admin/scavenge/{id}"), "").await;
    assert_eq!((code, json(&body)["state"].as_str()), (200, Some("stopped")), "the last one stays readable by id");

    let (code, body) = http(address, "POST", "/admin/scavenge", "").await;
    assert_eq!(code, 202, "{body}");
    scavenger.complete();
    let (code, body) = http(address, "GET", "/admin/scavenge/last", "").await;
    assert_eq!((code, json(&body)["scavengeResult"].as_str()), (200, Some("Success")), "{body}");
    server.finish().await;
}
