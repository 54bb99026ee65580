//! Goal: a continuous query windowed on a timestamp field of the data,
//! over the real engine, with events whose times come out of order: late
//! events update the windows already shown (a row with the same `$key`),
//! the subsystem's result answers the latest row per key, and at several
//! positions of the log that result equals the batch `GROUP BY` of the
//! ad-hoc engine over the events up to that position (restricted to the
//! windows the latest time seen has passed). Events later than the
//! query's lateness are counted in its status.

mod support;
use support::open_store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_sql::{ContinuousQueries, QueriesOptions, Value};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadStreamRequest, StreamName};
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(20);

/// Orders per minute of the time written in the order, per customer.
fn per_minute(lateness: &str, restriction: &str) -> String {
    format!(
        "SELECT date_bin('1 minute', lateness(json_time(data, 'at'), '{lateness}')) AS minute, \
         json_str(data, 'customer') AS customer, count(*) AS orders, sum(json_int(data, 'amount')) AS amount \
         FROM category('order') {restriction} GROUP BY minute, customer"
    )
}

/// 2026-12-05T12:00:00Z in epoch milliseconds.
const BASE_MILLISECONDS: i64 = 1_796_472_000_000;

/// The order times, in seconds after the base: mostly forward, every
/// fifth one to three minutes late.
fn order_seconds() -> Vec<i64> {
    (0..80_i64).map(|index| if index % 5 == 4 { index * 9 - 60 - (index % 3) * 60 } else { index * 9 }).collect()
}

async fn append_orders(store: &Arc<dyn EventStore>) {
    for (index, second) in order_seconds().into_iter().enumerate() {
        let stream = StreamName::new(format!("order-{}", index % 4)).expect("name");
        // Half the times as ISO text, half as epoch milliseconds.
        let at = BASE_MILLISECONDS + second * 1_000;
        let at = if index % 2 == 0 {
            serde_json::json!(at)
        } else {
            serde_json::json!(eventfold_sql::format_timestamp(at * 10_000))
        };
        let data = serde_json::json!({"at": at, "customer": format!("c-{}", index % 3), "amount": index});
        let event = ProposedEvent::json("OrderPlaced", data.to_string());
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
    }
}

/// The positions of the orders, in log order.
async fn order_positions(store: &Arc<dyn EventStore>) -> Vec<u64> {
    let stream = StreamName::new("$ce-order").expect("name");
    let events = store.read_stream(ReadStreamRequest::forwards(stream)).await.expect("read $ce-order");
    events.map(|event| event.expect("an order").position.0).collect().await
}

/// Floats to 6 places, rows sorted: a comparable row set.
fn comparable(rows: impl IntoIterator<Item = serde_json::Value>) -> Vec<String> {
    let mut rows: Vec<String> = rows
        .into_iter()
        .map(|row| match row {
            serde_json::Value::Object(fields) => fields
                .into_iter()
                .map(|(key, value)| match value.as_f64() {
                    Some(number) if !value.is_i64() => format!("{key}={number:.6}"),
                    _ => format!("{key}={value}"),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        })
        .collect();
    rows.sort();
    rows
}

/// The batch answer over the orders up to `through`, restricted to the
/// minutes the latest order time among them has passed.
async fn batch_through(store: &Arc<dyn EventStore>, through: u64, frontier_ms: i64) -> Vec<String> {
    let sql = per_minute("1 hour", &format!("WHERE position <= {through}"));
    let answer = support::adhoc_answer(store, sql).await;
    let rows = answer.rows.iter().filter_map(|row| {
        let Some(Value::Timestamp(start)) = row.first() else { return None };
        (start / 10_000 + 60_000 <= frontier_ms).then(|| {
            let object: serde_json::Map<String, serde_json::Value> =
                answer.columns.iter().cloned().zip(row.iter().map(Value::to_json)).collect();
            serde_json::Value::Object(object)
        })
    });
    comparable(rows)
}

/// The rows of `$query-{name}` produced at or before `through`, the
/// latest per `$key`.
async fn result_through(store: &Arc<dyn EventStore>, name: &str, through: u64) -> (Vec<String>, usize) {
    let mut latest = BTreeMap::new();
    let mut updates = 0;
    for event in support::result_events(store, name).await {
        let metadata: serde_json::Value = serde_json::from_slice(&event.metadata).expect("metadata");
        if metadata["$position"].as_u64().expect("$position") > through {
            continue;
        }
        let key = metadata["$key"].as_str().expect("a $key").to_owned();
        let row: serde_json::Value = serde_json::from_slice(&event.data).expect("data");
        if latest.insert(key, row).is_some() {
            updates += 1;
        }
    }
    (comparable(latest.into_values()), updates)
}

async fn wait_until_read(queries: &ContinuousQueries, store: &Arc<dyn EventStore>, name: &str) {
    let head = store.head_position().map(|head| head.0);
    let started = Instant::now();
    loop {
        let info = queries.info(name).await.expect("info");
        if info.position >= head || started.elapsed() > WAIT {
            assert!(info.position >= head, "{name} read the whole log: {info:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn late_events_update_windows_and_the_result_equals_the_batch_answer_at_every_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    append_orders(&store).await;
    let options =
        QueriesOptions { run: true, continuous: support::quick_continuous_options(), result_rows_max: 10_000 };
    let queries = ContinuousQueries::start(Arc::clone(&store), options).await;
    queries.create("minutes", &per_minute("1 hour", ""), None).await.expect("create");
    queries.create("strict", &per_minute("30 seconds", ""), None).await.expect("create a strict one");
    wait_until_read(&queries, &store, "minutes").await;
    wait_until_read(&queries, &store, "strict").await;

    let positions = order_positions(&store).await;
    let seconds = order_seconds();
    let mut updates_seen = 0;
    for (index, through) in positions.iter().enumerate() {
        if index % 7 != 3 && index + 1 != positions.len() {
            continue;
        }
        let frontier_ms = BASE_MILLISECONDS + seconds[..=index].iter().max().expect("an order") * 1_000;
        let (result, updates) = result_through(&store, "minutes", *through).await;
        assert_eq!(result, batch_through(&store, *through, frontier_ms).await, "at position {through}");
        updates_seen = updates;
    }
    assert!(updates_seen > 0, "late orders updated windows already shown");

    // The subsystem's answer: the latest row per key.
    let answered = queries.result("minutes", None).await.expect("result");
    let last = *positions.last().expect("orders");
    let frontier_ms = BASE_MILLISECONDS + seconds.iter().max().expect("orders") * 1_000;
    assert_eq!(comparable(answered.rows), batch_through(&store, last, frontier_ms).await);
    let info = queries.info("minutes").await.expect("info");
    assert_eq!(info.late_events, 0, "an hour covers every late order");
    let strict = queries.info("strict").await.expect("info");
    assert!(strict.late_events > 0, "orders minutes late miss a 30-second lateness: {strict:?}");
    queries.shutdown().await;
    engine.shutdown().await;
}
