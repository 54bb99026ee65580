//! What the SQL tests share: the real engine in a temporary directory, and
//! continuous-query timings short enough for a test.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod oracle;

use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_sql::{
    ContinuousOptions, QueryAnswer, QueryRequest, RESULT_EVENT_TYPE, SqlLimits, result_stream, start_query,
};
use eventfold_store::{EventStore, ReadError, ReadStreamRequest, RecordedEvent, StreamName};
use futures::StreamExt;

/// The engine on `dir`, and the same engine as the store trait.
pub async fn open_store(dir: &tempfile::TempDir) -> (Engine, Arc<dyn EventStore>) {
    let config = EngineConfig::new(dir.path());
    let engine = tokio::task::spawn_blocking(move || Engine::open(config))
        .await
        .expect("opening task")
        .expect("open the engine");
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    (engine, store)
}

/// Checkpoints, clock ticks and the idle close a test can wait for.
pub fn quick_continuous_options() -> ContinuousOptions {
    ContinuousOptions {
        checkpoint_every: Duration::from_millis(50),
        clock_tick: Duration::from_millis(20),
        idle_close_grace: Duration::from_millis(100),
        groups_max: 10_000,
    }
}

/// `sql` answered ad hoc over `store`, whole, under the default limits.
pub async fn adhoc_answer(store: &Arc<dyn EventStore>, sql: impl Into<String>) -> QueryAnswer {
    start_query(Arc::clone(store), QueryRequest::new(sql), &SqlLimits::default())
        .await
        .expect("start")
        .collect()
        .await
        .expect("answer")
}

/// The result events of the continuous query `name` (`$query-{name}`), in
/// order; none before its first.
pub async fn result_events(store: &Arc<dyn EventStore>, name: &str) -> Vec<RecordedEvent> {
    let stream = StreamName::new(result_stream(name)).expect("name");
    let events = match store.read_stream(ReadStreamRequest::forwards(stream)).await {
        Ok(events) => events,
        Err(ReadError::StreamNotFound { .. }) => return Vec::new(),
        Err(error) => panic!("read the results: {error}"),
    };
    let events: Vec<RecordedEvent> = events.map(|event| event.expect("a result event")).collect().await;
    assert!(events.iter().all(|event| event.event_type == RESULT_EVENT_TYPE), "only result events");
    events
}

/// The rows of the continuous query `name`, each its result event's data.
pub async fn result_rows(store: &Arc<dyn EventStore>, name: &str) -> Vec<serde_json::Value> {
    result_events(store, name)
        .await
        .iter()
        .map(|event| serde_json::from_slice(&event.data).expect("a row as JSON"))
        .collect()
}
