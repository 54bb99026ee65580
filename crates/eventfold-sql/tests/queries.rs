//! Goal: SQL over the real embedded engine answers what a plain fold over
//! the same events answers; the table functions read the same rows as a
//! filter on `events`; pushdown, LIMIT, the row limit and the timeout all
//! stop the read early; bad queries are refused before anything is read.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::Engine;
use eventfold_sql::{QueryAnswer, QueryRequest, SqlError, SqlLimits, Value, start_query};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};

const STREAMS: u64 = 12;
const TYPES: [&str; 3] = ["OrderPlaced", "OrderShipped", "PaymentFailed"];

/// One generated event, as the test knows it.
#[derive(Clone, Debug)]
struct Generated {
    stream: String,
    event_type: &'static str,
    customer: String,
    lines: i64,
    total: f64,
}

struct Store {
    _dir: tempfile::TempDir,
    engine: Engine,
    store: Arc<dyn EventStore>,
    events: Vec<Generated>,
}

/// `count` events spread over `order-*` and `payment-*` streams, appended
/// in batches per stream.
async fn store_with(count: u64) -> Store {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (engine, store) = support::open_store(&dir).await;
    let mut events = Vec::new();
    let mut batches: BTreeMap<String, Vec<ProposedEvent>> = BTreeMap::new();
    for index in 0..count {
        let stream =
            if index % 5 == 4 { format!("payment-{}", index % STREAMS) } else { format!("order-{}", index % STREAMS) };
        let event_type = TYPES[usize::try_from(index % 3).expect("small")];
        let generated = Generated {
            stream: stream.clone(),
            event_type,
            customer: format!("c-{}", index % 7),
            lines: i64::try_from(index % 4).expect("small") + 1,
            total: (index % 10) as f64 * 2.5,
        };
        let data = serde_json::json!({
            "customer": {"id": generated.customer},
            "lines": generated.lines,
            "total": generated.total,
        });
        batches.entry(stream).or_default().push(ProposedEvent::json(event_type, data.to_string()));
        events.push(generated);
        if batches.values().map(Vec::len).sum::<usize>() >= 500 || index + 1 == count {
            for (stream, batch) in std::mem::take(&mut batches) {
                let stream = StreamName::new(&stream).expect("stream name");
                store.append(AppendRequest::new(stream, ExpectedRevision::Any, batch)).await.expect("append");
            }
        }
    }
    // The appends above reorder events by stream within each batch: read
    // the log order back for the folds that depend on it.
    Store { _dir: dir, engine, store, events }
}

async fn query(store: &Store, sql: &str) -> QueryAnswer {
    run(store, QueryRequest::new(sql)).await.unwrap_or_else(|error| panic!("{sql}: {error}"))
}

async fn run(store: &Store, request: QueryRequest) -> Result<QueryAnswer, SqlError> {
    start_query(Arc::clone(&store.store), request, &SqlLimits::default()).await?.collect().await
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

#[tokio::test]
async fn grouped_counts_sums_and_averages_equal_a_plain_fold() {
    let store = store_with(900).await;
    let answer = query(
        &store,
        "SELECT json_str(data, 'customer.id') AS customer, count(*) AS n, sum(json_int(data, 'lines')), \
         min(json_int(data, 'lines')), max(data ->> 'total'), avg(json_float(data, 'total')) \
         FROM events WHERE event_type = 'OrderPlaced' AND stream LIKE 'order-%' \
         GROUP BY customer ORDER BY customer",
    )
    .await;
    assert_eq!(answer.columns[0], "customer");
    assert_eq!(answer.columns[1], "n");

    let mut folded: BTreeMap<String, (i64, i64, i64, i64, f64)> = BTreeMap::new();
    for event in
        store.events.iter().filter(|event| event.event_type == "OrderPlaced" && event.stream.starts_with("order-"))
    {
        let entry = folded.entry(event.customer.clone()).or_insert((0, 0, i64::MAX, i64::MIN, 0.0));
        entry.0 += 1;
        entry.1 += event.lines;
        entry.2 = entry.2.min(event.lines);
        entry.3 = entry.3.max(event.lines);
        entry.4 += event.total;
    }
    let max_total_text = |customer: &str| {
        // `->>` gives text: the maximum is the largest text, as SQL compares it.
        store
            .events
            .iter()
            .filter(|event| {
                event.event_type == "OrderPlaced" && event.stream.starts_with("order-") && event.customer == customer
            })
            .map(|event| serde_json::json!(event.total).to_string())
            .max()
            .expect("a group has events")
    };
    let expected: Vec<Vec<Value>> = folded
        .iter()
        .map(|(customer, (count, lines, least, _most, total))| {
            vec![
                text(customer),
                Value::Int(*count),
                Value::Int(*lines),
                Value::Int(*least),
                text(&max_total_text(customer)),
                Value::Float(total / *count as f64),
            ]
        })
        .collect();
    assert_eq!(answer.rows.len(), expected.len());
    for (row, expected) in answer.rows.iter().zip(&expected) {
        assert_eq!(row[..5], expected[..5]);
        let (Value::Float(average), Value::Float(expected_average)) = (&row[5], &expected[5]) else {
            panic!("averages are floats: {row:?}");
        };
        assert!((average - expected_average).abs() < 1e-9, "{average} vs {expected_average}");
    }
}

#[tokio::test]
async fn whole_log_aggregates_and_windows_count_every_event() {
    let store = store_with(300).await;
    let answer =
        query(&store, "SELECT count(*), count(DISTINCT stream), sum(json_float(data, 'total')) FROM events").await;
    let streams: std::collections::BTreeSet<&str> = store.events.iter().map(|event| event.stream.as_str()).collect();
    let total: f64 = store.events.iter().map(|event| event.total).sum();
    assert_eq!(
        answer.rows,
        vec![vec![Value::Int(300), Value::Int(i64::try_from(streams.len()).expect("small")), Value::Float(total)]]
    );
    let windows = query(
        &store,
        "SELECT date_bin(INTERVAL '1 hour', created) AS window, count(*) FROM events GROUP BY 1 ORDER BY window",
    )
    .await;
    let counted: i64 = windows
        .rows
        .iter()
        .map(|row| match row[1] {
            Value::Int(count) => count,
            _ => panic!("a count: {row:?}"),
        })
        .sum();
    assert_eq!(counted, 300);
    assert!(windows.rows.iter().all(|row| matches!(row[0], Value::Timestamp(_))));
}

#[tokio::test]
async fn table_functions_read_the_rows_a_filter_on_events_keeps() {
    let store = store_with(400).await;
    for (table, filter) in [
        ("category('order')", "category = 'order'"),
        ("event_type('OrderShipped')", "event_type = 'OrderShipped'"),
        ("stream('payment-4')", "stream = 'payment-4'"),
    ] {
        let columns = "stream, revision, position, event_type, event_id, created, data, category";
        let through_index = query(&store, &format!("SELECT {columns} FROM {table}")).await;
        let filtered = query(&store, &format!("SELECT {columns} FROM events WHERE {filter} ORDER BY position")).await;
        assert!(!filtered.rows.is_empty(), "{filter} keeps some events");
        assert_eq!(through_index.rows, filtered.rows, "{table} against {filter}");
    }
    let missing = query(&store, "SELECT count(*) FROM category('nothing')").await;
    assert_eq!(missing.rows, vec![vec![Value::Int(0)]]);
}

#[tokio::test]
async fn pushed_down_filters_read_only_what_can_match() {
    let store = store_with(600).await;
    let in_stream = store.events.iter().filter(|event| event.stream == "order-3").count() as u64;
    let running = start_query(
        Arc::clone(&store.store),
        QueryRequest::new("SELECT count(*) FROM events WHERE stream = 'order-3'"),
        &SqlLimits::default(),
    )
    .await
    .expect("start");
    let counter = running.events_read_counter();
    let answer = running.collect().await.expect("answer");
    assert_eq!(answer.rows, vec![vec![Value::Int(i64::try_from(in_stream).expect("small"))]]);
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), in_stream, "the $all read was filtered");

    let positions = query(&store, "SELECT position FROM events ORDER BY position").await;
    let Value::Int(middle) = positions.rows[300][0] else { panic!("a position") };
    let running = start_query(
        Arc::clone(&store.store),
        QueryRequest::new(format!(
            "SELECT position FROM events WHERE position >= {middle} AND position < {middle} + 1000000"
        )),
        &SqlLimits::default(),
    )
    .await
    .expect("start");
    let counter = running.events_read_counter();
    let answer = running.collect().await.expect("answer");
    assert_eq!(answer.rows, positions.rows[300..].to_vec());
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 300, "the read started at the bound");
}

#[tokio::test]
async fn limit_and_the_row_limit_stop_the_read_early() {
    let store = store_with(2000).await;
    let running =
        start_query(Arc::clone(&store.store), QueryRequest::new("SELECT * FROM events LIMIT 5"), &SqlLimits::default())
            .await
            .expect("start");
    let counter = running.events_read_counter();
    let answer = running.collect().await.expect("answer");
    assert_eq!((answer.rows.len(), answer.truncated), (5, false));
    assert_eq!(answer.columns.len(), 9);
    assert!(counter.load(std::sync::atomic::Ordering::Relaxed) < 100, "LIMIT stopped the read");

    let request = QueryRequest { row_limit: Some(10), ..QueryRequest::new("SELECT stream FROM events") };
    let answer = run(&store, request).await.expect("answer");
    assert_eq!((answer.rows.len(), answer.truncated), (10, true));

    let request =
        QueryRequest { row_limit: Some(3), ..QueryRequest::new("SELECT position FROM events ORDER BY position DESC") };
    let answer = run(&store, request).await.expect("answer");
    assert_eq!((answer.rows.len(), answer.truncated), (3, true));
    let everything = query(&store, "SELECT max(position) FROM events").await;
    assert_eq!(answer.rows[0], everything.rows[0], "the top row of the whole log");
}

#[tokio::test]
async fn a_query_past_its_timeout_stops_with_an_error() {
    let store = store_with(20_000).await;
    let request = QueryRequest {
        timeout: Some(Duration::from_millis(1)),
        ..QueryRequest::new("SELECT json_str(data, 'customer.id'), count(*) FROM events GROUP BY 1")
    };
    let outcome = match start_query(Arc::clone(&store.store), request, &SqlLimits::default()).await {
        Err(error) => Err(error),
        Ok(running) => {
            let counter = running.events_read_counter();
            let outcome = running.collect().await;
            assert!(counter.load(std::sync::atomic::Ordering::Relaxed) < 20_000, "the read was cut short");
            outcome
        }
    };
    assert!(matches!(outcome, Err(SqlError::Timeout { .. })), "{outcome:?}");
    store.engine.shutdown().await;
}

#[tokio::test]
async fn bad_queries_are_refused_with_a_reason_and_a_position() {
    let store = store_with(10).await;
    let refusal = |sql: &'static str| {
        let store = &store;
        async move { run(store, QueryRequest::new(sql)).await.expect_err(sql) }
    };
    let unknown = refusal("SELECT stream,\n  colour FROM events").await;
    assert!(matches!(unknown, SqlError::Plan { .. }), "{unknown:?}");
    assert_eq!(unknown.position().map(|position| (position.line, position.column)), Some((2, 3)));
    assert!(matches!(refusal("DROP TABLE events").await, SqlError::NotAQuery { .. }));
    assert!(matches!(refusal("SELECT stream FROM events WHERE").await, SqlError::Syntax { .. }));
    assert!(matches!(refusal("SELECT stream, count(*) FROM events").await, SqlError::Plan { .. }));
    assert!(matches!(refusal("SELECT * FROM events JOIN events e2 ON true").await, SqlError::Plan { .. }));
    assert!(matches!(refusal("SELECT * FROM orders").await, SqlError::Plan { .. }));
    let evaluation = refusal("SELECT json_int(data, 'lines') + 'x' FROM events").await;
    assert!(matches!(evaluation, SqlError::Evaluation { .. }), "{evaluation:?}");
}

#[tokio::test]
async fn tumbling_and_hopping_windows_count_what_a_plain_loop_over_created_counts() {
    let store = store_with(400).await;
    // Spread the events over time: a second batch, later.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let more = store_with_appended(&store, 200).await;
    let created: Vec<i64> = query(&store, "SELECT created FROM events")
        .await
        .rows
        .iter()
        .map(|row| match row[0] {
            Value::Timestamp(ticks) => ticks,
            _ => panic!("a timestamp: {row:?}"),
        })
        .collect();
    assert_eq!(created.len(), 400 + more);
    let (slide, size) = (10 * 10_000_i64, 30 * 10_000_i64); // 10 ms and 30 ms, in ticks
    let first = created.iter().min().copied().expect("events");
    let last = created.iter().max().copied().expect("events");

    let mut tumbling: BTreeMap<i64, i64> = BTreeMap::new();
    for at in &created {
        *tumbling.entry(at - at.rem_euclid(size)).or_default() += 1;
    }
    let mut hopping: BTreeMap<i64, i64> = BTreeMap::new();
    let mut start = first - first.rem_euclid(slide) - size;
    while start <= last {
        let count = created.iter().filter(|at| start <= **at && **at < start + size).count();
        if count > 0 {
            hopping.insert(start, i64::try_from(count).expect("small"));
        }
        start += slide;
    }

    let windows = |answer: QueryAnswer| -> BTreeMap<i64, i64> {
        answer
            .rows
            .iter()
            .map(|row| match (&row[0], &row[1]) {
                (Value::Timestamp(start), Value::Int(count)) => (*start, *count),
                _ => panic!("a window and a count: {row:?}"),
            })
            .collect()
    };
    let tumbled =
        query(&store, "SELECT date_bin('30 milliseconds', created) AS w, count(*) FROM events GROUP BY w").await;
    assert_eq!(windows(tumbled), tumbling);
    let hopped = query(
        &store,
        "SELECT hop(created, INTERVAL '10 milliseconds', INTERVAL '30 milliseconds') AS w, count(*) FROM events GROUP BY w",
    )
    .await;
    assert_eq!(windows(hopped), hopping);
}

/// Appends `count` more events to `store`; answers how many it appended.
async fn store_with_appended(store: &Store, count: usize) -> usize {
    let stream = StreamName::new("later-1").expect("name");
    let events = (0..count).map(|index| ProposedEvent::json("Later", format!(r#"{{"n":{index}}}"#))).collect();
    store.store.append(AppendRequest::new(stream, ExpectedRevision::Any, events)).await.expect("append");
    count
}
