//! Shared by the integration tests: the real embedded engine in a temporary
//! directory with the connector subsystem over it, an HTTP receiver that
//! can go down and come back on the same port, and waits bounded in time.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod receiver;
pub mod search_server;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventfold_connectors::{ConnectorInfo, Connectors, ConnectorsOptions};
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadStreamRequest, RecordedEvent, StreamName,
};
use futures::StreamExt;

/// Longest wait for something that must happen.
pub const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Node {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub store: Arc<dyn EventStore>,
    pub connectors: Connectors,
}

impl Node {
    pub async fn start() -> Node {
        let dir = tempfile::tempdir().expect("temporary directory");
        Node::open(dir).await
    }

    async fn open(dir: tempfile::TempDir) -> Node {
        let config = EngineConfig::new(dir.path());
        let engine = tokio::task::spawn_blocking(move || Engine::open(config))
            .await
            .expect("opening task")
            .expect("open the engine");
        let store: Arc<dyn EventStore> = Arc::new(engine.clone());
        let connectors = Connectors::start(Arc::clone(&store), ConnectorsOptions::default()).await;
        Node { dir, engine, store, connectors }
    }

    /// A clean restart: connectors stop (last checkpoints), the engine
    /// closes, both open again on the same directory.
    pub async fn restart(self) -> Node {
        self.connectors.shutdown().await;
        self.engine.shutdown().await;
        let Node { dir, engine, store, connectors } = self;
        drop(connectors);
        drop(store);
        drop(engine);
        Node::open(dir).await
    }

    /// Appends `count` events to `stream`, data `{"stream":..,"n":<first + i>}`,
    /// in appends of at most 500.
    pub async fn append(&self, stream: &str, first: usize, count: usize, event_type: &str) {
        let mut next = first;
        while next < first + count {
            let end = (next + 500).min(first + count);
            let events: Vec<ProposedEvent> = (next..end)
                .map(|n| ProposedEvent::json(event_type, serde_json::json!({ "stream": stream, "n": n }).to_string()))
                .collect();
            self.store.append(AppendRequest::new(name(stream), ExpectedRevision::Any, events)).await.expect("append");
            next = end;
        }
    }

    pub async fn read(&self, stream: &str) -> Vec<RecordedEvent> {
        match self.store.read_stream(ReadStreamRequest::forwards(name(stream))).await {
            Ok(events) => events.map(|event| event.expect("read")).collect().await,
            Err(eventfold_store::ReadError::StreamNotFound { .. }) => Vec::new(),
            Err(error) => panic!("reading {stream}: {error}"),
        }
    }

    pub async fn create(&self, id: &str, settings: serde_json::Value) -> ConnectorInfo {
        let settings = settings.as_object().expect("settings object").clone();
        self.connectors.create(id, None, &settings).await.expect("create the connector")
    }
}

pub fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future).await.expect("finished in time")
}

/// Polls `condition` until it holds; fails the test after [`TIMEOUT`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The load a fault test runs under, on a task of its own: 40 rounds of one
/// append of 50 `OrderPlaced` events (`{"stream": "order-<s>", "n": …}`) to
/// each of `order-0` … `order-9`, 20 ms apart: 20,000 events, 2,000 a
/// stream.
pub fn spawn_orders_writer(store: Arc<dyn EventStore>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for round in 0..40 {
            for stream in 0..10 {
                let events = (0..50)
                    .map(|index| {
                        let n = round * 50 + index;
                        let data = serde_json::json!({ "stream": format!("order-{stream}"), "n": n }).to_string();
                        ProposedEvent::json("OrderPlaced", data)
                    })
                    .collect();
                store
                    .append(AppendRequest::new(name(&format!("order-{stream}")), ExpectedRevision::Any, events))
                    .await
                    .expect("append");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}
