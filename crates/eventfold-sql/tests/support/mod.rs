//! What the SQL tests share: the real engine in a temporary directory, and
//! continuous-query timings short enough for a test.

#![allow(dead_code, reason = "each test file uses a different part")]

pub mod oracle;

use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_sql::{ContinuousOptions, QueryAnswer, QueryRequest, SqlLimits, start_query};
use eventfold_store::EventStore;

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
