//! The PostgreSQL sink against a throwaway PostgreSQL, over the embedded
//! engine: 100k events become exactly the rows expected; PostgreSQL
//! crashing and coming back mid-run loses and duplicates nothing; a row
//! the database refuses dead-letters its event; a missing table is refused
//! at create.

mod support;

use eventfold_connectors::{CHECKPOINT_TABLE, ConnectorError, DEFINITIONS_STREAM, dead_letter_stream};
use eventfold_testkit::pg_server::PgServer;
use serde_json::json;
use support::{Node, wait_until};

const TABLE: &str = "CREATE TABLE orders (stream text NOT NULL, revision bigint NOT NULL, n bigint NOT NULL \
                     CHECK (n >= 0), position bigint NOT NULL, body jsonb)";

async fn client(pg: &PgServer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg.url("shop"), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

async fn prepared(pg: &PgServer) -> tokio_postgres::Client {
    pg.create_database("shop").expect("create the database");
    let client = client(pg).await;
    client.batch_execute(TABLE).await.expect("create the table");
    client
}

fn settings(pg: &PgServer) -> serde_json::Value {
    json!({
        "instanceTypeName": "postgres-sink",
        "connectionString": pg.url("shop"),
        "statements:OrderPlaced": "INSERT INTO orders (stream, revision, n, position, body) VALUES ($1, $2, $3, $4, $5)",
        "parameters:OrderPlaced": "stream, revision, /n, position, data",
        "batching:batchSize": 1000,
        "resilience:firstDelayMs": 20,
        "resilience:maxDelayMs": 300,
    })
}

/// Row count, distinct (stream, revision) count, and whether each stream's
/// revisions are exactly 0..per_stream.
async fn rows(client: &tokio_postgres::Client) -> (i64, i64) {
    let row = client
        .query_one("SELECT count(*), count(DISTINCT (stream, revision)) FROM orders", &[])
        .await
        .expect("count rows");
    (row.get(0), row.get(1))
}

async fn assert_exact(client: &tokio_postgres::Client, streams: usize, per_stream: usize) {
    let total = (streams * per_stream) as i64;
    assert_eq!(rows(client).await, (total, total), "every event exactly once");
    let bad = client
        .query_one(
            "SELECT count(*) FROM (SELECT stream FROM orders GROUP BY stream \
             HAVING min(revision) <> 0 OR max(revision) <> count(*) - 1 OR bool_or(n <> revision) \
             OR bool_or((body->>'n')::bigint <> n)) AS wrong",
            &[],
        )
        .await
        .expect("check streams");
    assert_eq!(bad.get::<_, i64>(0), 0, "each stream's rows are its events, contents included");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_become_exactly_the_rows_expected() {
    let Some(pg) = PgServer::for_test() else { return };
    let target = prepared(&pg).await;
    let node = Node::start().await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 0, 500, "OrderPlaced").await;
    }
    node.append("order-0", 0, 100, "Ignored").await;
    node.create("orders", settings(&pg)).await;
    for stream in 0..100 {
        node.append(&format!("order-{stream}"), 500, 500, "OrderPlaced").await;
    }
    wait_until("every row written", || async { rows(&target).await.0 >= 100_000 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // "Ignored" events have no statement: order-0 has 100 more revisions.
    let row = target.query_one("SELECT count(*) FROM orders WHERE stream <> 'order-0'", &[]).await.expect("count");
    assert_eq!(row.get::<_, i64>(0), 99_000);
    let total = rows(&target).await;
    assert_eq!(total, (100_000, 100_000), "every event exactly once");
    let checkpoint = target
        .query_one(&format!("SELECT position FROM {CHECKPOINT_TABLE} WHERE connector = 'orders'"), &[])
        .await
        .expect("the checkpoint row");
    assert!(checkpoint.get::<_, i64>(0) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_crashing_mid_run_loses_and_duplicates_nothing() {
    let Some(pg) = PgServer::for_test() else { return };
    prepared(&pg).await;
    let node = Node::start().await;
    node.create("orders", settings(&pg)).await;
    let writer = support::spawn_orders_writer(std::sync::Arc::clone(&node.store));
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        pg.stop_immediately().expect("crash PostgreSQL");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        pg.start_again().expect("start PostgreSQL again");
    }
    writer.await.expect("the writer");
    let target = client(&pg).await;
    wait_until("every row written", || async { rows(&target).await.0 >= 20_000 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_exact(&target, 10, 2000).await;
    let info = node.connectors.info("orders").await.expect("status");
    assert!(info.errors > 0, "the crashes were seen: {info:?}");
    assert_eq!(info.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_database_refuses_dead_letters_its_event() {
    let Some(pg) = PgServer::for_test() else { return };
    let target = prepared(&pg).await;
    let node = Node::start().await;
    node.append("order-1", 0, 200, "OrderPlaced").await;
    node.store
        .append(eventfold_store::AppendRequest::new(
            support::name("order-2"),
            eventfold_store::ExpectedRevision::Any,
            vec![eventfold_store::ProposedEvent::json("OrderPlaced", r#"{"n":-1}"#)],
        ))
        .await
        .expect("append the poison event");
    node.append("order-1", 200, 200, "OrderPlaced").await;
    node.create("orders", settings(&pg)).await;
    wait_until("the rest written", || async { rows(&target).await.0 >= 400 }).await;
    wait_until("the poison event dead-lettered", || async {
        node.connectors.info("orders").await.is_ok_and(|info| info.dead_lettered == 1)
    })
    .await;
    assert_exact(&target, 1, 400).await;
    let dead = node.read(dead_letter_stream("orders").as_str()).await;
    assert_eq!(dead.len(), 1);
    let metadata: serde_json::Value = serde_json::from_slice(&dead[0].metadata).expect("JSON metadata");
    assert_eq!(metadata["$originalStream"], "order-2");
    assert!(metadata["$error"].as_str().is_some_and(|error| error.contains("23514")), "{metadata}");

    // The dead letter's place is committed with the rows: a restart does
    // not try it again.
    let node = node.restart().await;
    node.append("order-1", 400, 10, "OrderPlaced").await;
    wait_until("the next rows written", || async { rows(&target).await.0 >= 410 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(node.read(dead_letter_stream("orders").as_str()).await.len(), 1);
    assert_exact(&target, 1, 410).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_refused_at_create() {
    let Some(pg) = PgServer::for_test() else { return };
    pg.create_database("shop").expect("create the database");
    let node = Node::start().await;
    let settings = settings(&pg);
    let error = node
        .connectors
        .create("orders", None, settings.as_object().expect("object"))
        .await
        .expect_err("the table does not exist");
    match error {
        ConnectorError::Target(reason) => assert!(reason.contains("orders"), "{reason}"),
        other => panic!("expected a target error, got {other:?}"),
    }
    assert!(node.read(DEFINITIONS_STREAM).await.is_empty(), "nothing stored");
}
