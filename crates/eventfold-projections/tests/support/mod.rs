//! Shared by the integration tests: the real embedded engine in a temporary
//! directory (reopened on the same directory for restarts), projections
//! over it, and waits that fail a test instead of letting it hang.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_projections::{CheckpointPolicy, CreateProjection, Mode, Projections, ProjectionsOptions, Select};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadStreamRequest, StreamName};
use futures::StreamExt;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Node {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub store: Arc<dyn EventStore>,
    pub projections: Projections,
    pub options: ProjectionsOptions,
}

pub fn test_options() -> ProjectionsOptions {
    ProjectionsOptions {
        checkpoints: CheckpointPolicy { after: Duration::from_millis(50), ..CheckpointPolicy::default() },
        ..ProjectionsOptions::default()
    }
}

impl Node {
    pub async fn start() -> Node {
        Node::start_with(test_options()).await
    }

    pub async fn start_with(options: ProjectionsOptions) -> Node {
        let dir = tempfile::tempdir().expect("temporary directory");
        Node::open(dir, options).await
    }

    async fn open(dir: tempfile::TempDir, options: ProjectionsOptions) -> Node {
        let config = EngineConfig::new(dir.path());
        let engine = tokio::task::spawn_blocking(move || Engine::open(config))
            .await
            .expect("opening task")
            .expect("open the engine");
        let store: Arc<dyn EventStore> = Arc::new(engine.clone());
        let projections = Projections::start(Arc::clone(&store), options).await;
        Node { dir, engine, store, projections, options }
    }

    /// A clean restart: projections stop (last checkpoints), the engine
    /// closes, both open again on the same directory.
    pub async fn restart(self) -> Node {
        self.projections.shutdown().await;
        self.engine.shutdown().await;
        let Node { dir, engine, store, projections, options } = self;
        drop(projections);
        drop(store);
        drop(engine);
        Node::open(dir, options).await
    }

    pub async fn append(&self, stream: &str, event_type: &str, data: serde_json::Value) {
        self.append_with_metadata(stream, event_type, data, serde_json::json!({})).await;
    }

    pub async fn append_with_metadata(
        &self,
        stream: &str,
        event_type: &str,
        data: serde_json::Value,
        metadata: serde_json::Value,
    ) {
        let mut event = ProposedEvent::json(event_type, serde_json::to_vec(&data).expect("json"));
        event.metadata = serde_json::to_vec(&metadata).expect("json").into();
        let request = AppendRequest::new(StreamName::new(stream).expect("name"), ExpectedRevision::Any, vec![event]);
        self.store.append(request).await.expect("append");
    }

    pub async fn create(&self, name: &str, query: &str, emit: bool) -> String {
        self.projections
            .create(CreateProjection {
                name: name.into(),
                mode: Mode::Continuous,
                query: query.into(),
                emit_enabled: emit,
                track_emitted_streams: emit,
                engine_version: 1,
                run_as: None,
            })
            .await
            .expect("created")
    }

    pub async fn status(&self, name: &str) -> String {
        let statistics = self.projections.statistics(Select::Named(name.into())).await.expect("statistics");
        statistics[0].status.clone()
    }

    pub async fn state_json(&self, name: &str, partition: &str) -> Option<serde_json::Value> {
        let state = self.projections.state(name, partition).await.expect("state")?;
        serde_json::from_str(&state).ok()
    }

    /// Waits until the partition's state is `expected`.
    pub async fn await_state(&self, name: &str, partition: &str, expected: serde_json::Value) {
        within(async {
            loop {
                if self.state_json(name, partition).await.as_ref() == Some(&expected) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    pub async fn await_status(&self, name: &str, wanted: &str) {
        within(async {
            loop {
                if self.status(name).await.starts_with(wanted) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }

    pub async fn read(&self, stream: &str) -> Vec<(String, String)> {
        Reader { store: Arc::clone(&self.store) }.read(stream).await
    }
}

/// Reads streams of a store that a test opened itself.
pub struct Reader {
    pub store: Arc<dyn EventStore>,
}

impl Reader {
    /// The events of `stream` as (type, data) pairs; none when it does not exist.
    pub async fn read(&self, stream: &str) -> Vec<(String, String)> {
        let Ok(events) =
            self.store.read_stream(ReadStreamRequest::forwards(StreamName::new(stream).expect("name"))).await
        else {
            return Vec::new();
        };
        events
            .map(|event| {
                let event = event.expect("event");
                (event.event_type, String::from_utf8_lossy(&event.data).into_owned())
            })
            .collect()
            .await
    }
}

/// Runs `work`, failing the test when it takes longer than [`WAIT`].
pub async fn within<T>(work: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, work).await.expect("waited too long")
}
