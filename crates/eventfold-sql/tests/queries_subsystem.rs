//! Goal: the continuous-queries subsystem stores its definitions, runs each
//! query, answers its result, refuses (storing nothing) what cannot be
//! maintained, resumes after a restart from its checkpoint without writing
//! any window twice, rebuilds on reset and forgets on delete.

mod support;
use support::open_store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_sql::{ContinuousQueries, QueriesError, QueriesOptions, QueryState, result_stream};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadError, ReadStreamRequest, StreamName,
};
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(20);

const COUNT_PER_WINDOW: &str = "SELECT date_bin('100 milliseconds', created) AS window, count(*) AS orders \
     FROM category('order') GROUP BY window";

fn options() -> QueriesOptions {
    QueriesOptions { run: true, continuous: support::quick_continuous_options(), result_rows_max: 1_000 }
}

/// Appends `count` orders, a few milliseconds apart, so they span windows.
async fn append_orders(store: &Arc<dyn EventStore>, count: u64) {
    for index in 0..count {
        let stream = StreamName::new(format!("order-{}", index % 3)).expect("name");
        let event = ProposedEvent::json("OrderPlaced", format!(r#"{{"n":{index}}}"#));
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
}

/// The number of orders in the log, by reading `$ce-order`.
async fn orders_in_log(store: &Arc<dyn EventStore>) -> i64 {
    let stream = StreamName::new("$ce-order").expect("name");
    let events = store.read_stream(ReadStreamRequest::forwards(stream)).await.expect("read $ce-order");
    i64::try_from(events.count().await).expect("a count")
}

/// Waits until the rows of the closed windows count every order in the
/// log, and answers the result's rows.
async fn settle(queries: &ContinuousQueries, store: &Arc<dyn EventStore>, name: &str) -> Vec<serde_json::Value> {
    let expected = orders_in_log(store).await;
    let started = Instant::now();
    loop {
        let result = queries.result(name, None).await.expect("result");
        let counted: i64 = result.rows.iter().map(|row| row["orders"].as_i64().expect("a count")).sum();
        if counted == expected || started.elapsed() > WAIT {
            assert_eq!(counted, expected, "{name}: the closed windows count every order");
            assert_eq!(result.columns, ["window", "orders"]);
            return result.rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn each_window_once(rows: &[serde_json::Value]) {
    let windows: BTreeMap<String, usize> = rows.iter().fold(BTreeMap::new(), |mut seen, row| {
        *seen.entry(row["window"].to_string()).or_default() += 1;
        seen
    });
    assert!(windows.values().all(|count| *count == 1), "each window once: {windows:?}");
}

async fn stream_is_empty(store: &Arc<dyn EventStore>, stream: &str) -> bool {
    let stream = StreamName::new(stream).expect("name");
    match store.read_stream(ReadStreamRequest::forwards(stream)).await {
        Ok(events) => events.count().await == 0,
        Err(ReadError::StreamNotFound { .. }) => true,
        Err(error) => panic!("read: {error}"),
    }
}

#[tokio::test]
async fn create_list_result_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    append_orders(&store, 20).await;
    let queries = ContinuousQueries::start(Arc::clone(&store), options()).await;
    let created = queries.create("per-window", COUNT_PER_WINDOW, None).await.expect("create");
    assert_eq!(created.name, "per-window");
    assert_eq!(created.result_stream, "$query-per-window");
    assert!(matches!(
        queries.create("per-window", COUNT_PER_WINDOW, None).await,
        Err(QueriesError::AlreadyExists { .. })
    ));
    append_orders(&store, 20).await;
    let rows = settle(&queries, &store, "per-window").await;
    each_window_once(&rows);
    let listed = queries.list().await.expect("list");
    assert_eq!(listed.len(), 1);
    let info = queries.info("per-window").await.expect("info");
    assert_eq!(info.state, QueryState::Running);
    assert!(info.live && info.events_read >= 40, "{info:?}");
    let limited = queries.result("per-window", Some(1)).await.expect("result");
    assert_eq!(limited.rows.len(), 1);
    assert!(limited.truncated || rows.len() == 1);
    assert_eq!(limited.rows.last(), rows.last(), "the latest rows are kept");

    queries.delete("per-window").await.expect("delete");
    assert!(matches!(queries.info("per-window").await, Err(QueriesError::NotFound { .. })));
    assert!(matches!(queries.delete("per-window").await, Err(QueriesError::NotFound { .. })));
    assert!(stream_is_empty(&store, &result_stream("per-window")).await, "the rows go with the query");
    queries.shutdown().await;
    let restarted = ContinuousQueries::start(Arc::clone(&store), options()).await;
    assert!(restarted.list().await.expect("list").is_empty(), "a deleted query stays deleted");
    restarted.shutdown().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_refused_query_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    let queries = ContinuousQueries::start(Arc::clone(&store), options()).await;
    let unbounded = queries.create("sorted", "SELECT * FROM events ORDER BY created", None).await;
    match unbounded {
        Err(QueriesError::Invalid(error)) => assert!(error.to_string().contains("cannot be maintained"), "{error}"),
        other => panic!("an unbounded ORDER BY is refused: {other:?}"),
    }
    assert!(matches!(queries.create("typo", "SELEC 1", None).await, Err(QueriesError::Invalid(_))));
    assert!(matches!(queries.create("bad/name", COUNT_PER_WINDOW, None).await, Err(QueriesError::InvalidName { .. })));
    assert!(queries.list().await.expect("list").is_empty());
    assert!(stream_is_empty(&store, "$queries").await, "no definition stored");
    assert!(stream_is_empty(&store, "$query-sorted").await);
    queries.shutdown().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_and_writes_no_window_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    let queries = ContinuousQueries::start(Arc::clone(&store), options()).await;
    queries.create("resumed", COUNT_PER_WINDOW, None).await.expect("create");
    append_orders(&store, 30).await;
    queries.shutdown().await;
    append_orders(&store, 30).await;
    let queries = ContinuousQueries::start(Arc::clone(&store), options()).await;
    let rows = settle(&queries, &store, "resumed").await;
    each_window_once(&rows);
    assert_eq!(queries.info("resumed").await.expect("info").state, QueryState::Running);
    queries.shutdown().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn reset_rebuilds_from_the_start_or_a_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    let queries = ContinuousQueries::start(Arc::clone(&store), options()).await;
    queries.create("rebuilt", COUNT_PER_WINDOW, None).await.expect("create");
    append_orders(&store, 30).await;
    let before = settle(&queries, &store, "rebuilt").await;
    let reset = queries.reset("rebuilt", None).await.expect("reset");
    assert_eq!(reset.from, None);
    let after = settle(&queries, &store, "rebuilt").await;
    each_window_once(&after);
    assert_eq!(after, before, "a rebuild from the start writes the same rows");

    // From the head: nothing before it counts.
    let head = store.head_position().expect("a head").0;
    queries.reset("rebuilt", Some(head)).await.expect("reset from the head");
    let started = Instant::now();
    while queries.info("rebuilt").await.expect("info").position.is_none() && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let emptied = queries.result("rebuilt", None).await.expect("result");
    assert!(emptied.rows.is_empty(), "no row survives a reset: {:?}", emptied.rows);
    append_orders(&store, 10).await;
    let started = Instant::now();
    loop {
        let rows = queries.result("rebuilt", None).await.expect("result").rows;
        let counted: i64 = rows.iter().map(|row| row["orders"].as_i64().expect("a count")).sum();
        if counted == 10 || started.elapsed() > WAIT {
            assert_eq!(counted, 10, "only the orders after the position count");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    queries.shutdown().await;
    let restarted = ContinuousQueries::start(Arc::clone(&store), options()).await;
    assert_eq!(restarted.info("rebuilt").await.expect("info").from, Some(head), "the reset is stored");
    restarted.shutdown().await;
    engine.shutdown().await;
}
