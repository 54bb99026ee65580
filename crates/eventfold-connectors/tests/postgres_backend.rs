//! Connectors run on every backend: here the log itself is the PostgreSQL
//! backend (positions are its own, a filtered `$all` is filtered in SQL),
//! and a PostgreSQL connector with a stream prefix filter writes exactly
//! the rows expected, then resumes from its checkpoint after the subsystem
//! restarts.

use std::sync::Arc;
use std::time::Duration;

use eventfold_connectors::{Connectors, ConnectorsOptions};
use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use eventfold_testkit::pg_server::PgServer;
use serde_json::json;

async fn append(store: &dyn EventStore, stream: &str, first: u64, count: u64) {
    let events = (first..first + count).map(|n| ProposedEvent::json("Placed", json!({ "n": n }).to_string())).collect();
    let stream = StreamName::new(stream).expect("valid");
    store.append(AppendRequest::new(stream, ExpectedRevision::Any, events)).await.expect("append");
}

async fn rows(client: &tokio_postgres::Client) -> (i64, i64, i64) {
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT (stream, revision)), count(*) FILTER (WHERE n <> revision) FROM orders",
            &[],
        )
        .await
        .expect("count");
    (row.get(0), row.get(1), row.get(2))
}

async fn wait_for(client: &tokio_postgres::Client, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while rows(client).await.0 < expected {
        assert!(tokio::time::Instant::now() < deadline, "{expected} rows in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rows(client).await, (expected, expected, 0), "each event once, with its own values");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_over_the_postgresql_backend_delivers_exactly_once() {
    let Some(pg) = PgServer::for_test() else { return };
    pg.create_database("log").expect("create the log database");
    pg.create_database("shop").expect("create the target database");
    let store: Arc<dyn EventStore> =
        Arc::new(PostgresStore::open(PostgresConfig::new(pg.url("log"))).await.expect("open the backend"));
    let (client, connection) = tokio_postgres::connect(&pg.url("shop"), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        .batch_execute("CREATE TABLE orders (stream text, revision bigint, n bigint)")
        .await
        .expect("create the table");

    for stream in 0..4 {
        append(store.as_ref(), &format!("order-{stream}"), 0, 300).await;
        append(store.as_ref(), &format!("user-{stream}"), 0, 100).await;
    }
    let connectors = Connectors::start(Arc::clone(&store), ConnectorsOptions::default()).await;
    let settings = json!({
        "instanceTypeName": "postgres-sink",
        "connectionString": pg.url("shop"),
        "statements:Placed": "INSERT INTO orders (stream, revision, n) VALUES ($1, $2, $3)",
        "parameters:Placed": "stream, revision, /n",
        "subscription:filter:filterType": "prefix",
        "subscription:filter:expression": "order-",
        "batching:batchSize": 100,
    });
    connectors.create("orders", None, settings.as_object().expect("object")).await.expect("create");
    wait_for(&client, 1200).await;
    let users: i64 =
        client.query_one("SELECT count(*) FROM orders WHERE stream LIKE 'user-%'", &[]).await.expect("count").get(0);
    assert_eq!(users, 0, "the filter held");

    connectors.shutdown().await;
    for stream in 0..4 {
        append(store.as_ref(), &format!("order-{stream}"), 300, 50).await;
    }
    let connectors = Connectors::start(Arc::clone(&store), ConnectorsOptions::default()).await;
    wait_for(&client, 1400).await;
    connectors.shutdown().await;
}
