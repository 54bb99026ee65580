//! The conformance suite (`eventfold_testkit::conformance`) on PostgreSQL:
//! one throwaway cluster for the run, a fresh database per case. Skipped,
//! saying so, only where PostgreSQL is not installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_testkit::conformance::{FreshStore, StoreFactory, run_all};
use eventfold_testkit::pg_server::PgServer;

struct PostgresFactory {
    server: PgServer,
    databases: AtomicUsize,
}

#[async_trait::async_trait]
impl StoreFactory for PostgresFactory {
    async fn fresh(&self) -> FreshStore {
        let database = format!("case_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.server.create_database(&database).expect("create database");
        let store = PostgresStore::open(PostgresConfig::new(self.server.url(&database))).await.expect("open");
        FreshStore { store: Arc::new(store), guard: Box::new(()) }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_store_contract() {
    let Some(server) = PgServer::for_test() else { return };
    let factory = PostgresFactory { server, databases: AtomicUsize::new(0) };
    run_all(&factory, std::env::var("CONFORMANCE_ONLY").ok().as_deref()).await;
}
