//! The conformance suite (`eventfold_testkit::conformance`) on the embedded
//! engine, each case in a fresh data directory.

use std::sync::Arc;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_testkit::conformance::{FreshStore, StoreFactory, run_all};

struct EngineFactory;

#[async_trait::async_trait]
impl StoreFactory for EngineFactory {
    async fn fresh(&self) -> FreshStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
        // The engine is dropped (its writer stopped) before its directory.
        FreshStore { store: Arc::new(engine), guard: Box::new(dir) }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_keeps_the_store_contract() {
    run_all(&EngineFactory, std::env::var("CONFORMANCE_ONLY").ok().as_deref()).await;
}
