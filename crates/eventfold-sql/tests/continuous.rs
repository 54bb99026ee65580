//! Goal: a continuous windowed GROUP BY over the real engine writes to
//! `$query-{name}` exactly the rows the same query answers ad hoc over the
//! same events, each window once: with tumbling and hopping windows, with
//! windows closed by later events and by the clock on an idle log, and
//! across a stop and restart in the middle of the run; and an idle query
//! writes nothing (its own rows and checkpoints, read back from `$all`,
//! call for no further checkpoint).

mod support;
use support::open_store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_sql::{ContinuousOptions, Value, start_continuous};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadError, ReadStreamRequest, StreamName,
};
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(20);

fn options() -> ContinuousOptions {
    support::quick_continuous_options()
}

/// A batch of orders (and a payment, which the category leaves out).
async fn append_batch(store: &Arc<dyn EventStore>, batch: u64) {
    for index in 0..6_u64 {
        let stream = StreamName::new(format!("order-{}", index % 3)).expect("name");
        let data = serde_json::json!({"customer": {"id": format!("c-{}", (batch + index) % 2)}, "lines": index + 1});
        let event = ProposedEvent::json("OrderPlaced", data.to_string());
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
    }
    let payment = ProposedEvent::json("PaymentTaken", r#"{"customer":{"id":"c-0"},"lines":100}"#);
    let stream = StreamName::new("payment-1").expect("name");
    store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![payment])).await.expect("append");
}

/// The same query answered ad hoc, each row as the object a result event holds.
async fn batch_rows(store: &Arc<dyn EventStore>, sql: &str) -> Vec<serde_json::Value> {
    let answer = support::adhoc_answer(store, sql).await;
    answer
        .rows
        .iter()
        .map(|row| {
            let object: serde_json::Map<String, serde_json::Value> =
                answer.columns.iter().cloned().zip(row.iter().map(Value::to_json)).collect();
            serde_json::Value::Object(object)
        })
        .collect()
}

/// Sorted, floats to 9 places: JSON text read back may differ from the
/// float written in its last place.
fn sorted(rows: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| match row {
            serde_json::Value::Object(fields) => fields
                .into_iter()
                .map(|(key, value)| match value.as_f64() {
                    Some(number) if !value.is_i64() => (key, serde_json::json!(format!("{number:.9}"))),
                    _ => (key, value),
                })
                .collect(),
            other => other,
        })
        .collect();
    rows.sort_by_key(|row| row.to_string());
    rows
}

/// Waits until the results equal the batch answer (every window closed).
async fn settle(store: &Arc<dyn EventStore>, name: &str, sql: &str) -> Vec<serde_json::Value> {
    let expected = sorted(batch_rows(store, sql).await);
    let started = Instant::now();
    loop {
        let written = support::result_rows(store, name).await;
        if sorted(written.clone()) == expected || started.elapsed() > WAIT {
            assert_eq!(sorted(written.clone()), expected, "{name}: the results against the batch answer");
            return written;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const TUMBLING: &str = "SELECT date_bin('100 milliseconds', created) AS window, json_str(data, 'customer.id') AS customer, \
     count(*) AS orders, sum(json_int(data, 'lines')) AS lines, max(json_int(data, 'lines')) AS largest \
     FROM category('order') GROUP BY window, customer";
const HOPPING: &str = "SELECT hop(created, '50 milliseconds', '150 milliseconds') AS window, count(*) AS events, \
     avg(json_float(data, 'lines')) AS mean FROM events WHERE stream LIKE 'order-%' GROUP BY window";

#[tokio::test]
async fn windowed_results_equal_the_batch_answer_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    let tumbling = start_continuous(Arc::clone(&store), "orders", TUMBLING, options()).await.expect("tumbling");
    let hopping = start_continuous(Arc::clone(&store), "hops", HOPPING, options()).await.expect("hopping");
    for batch in 0..5 {
        append_batch(&store, batch).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // Stop one query mid-run, append while it is stopped, start it again.
    let before = tumbling.status();
    tumbling.stop().await;
    for batch in 5..10 {
        append_batch(&store, batch).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let tumbling = start_continuous(Arc::clone(&store), "orders", TUMBLING, options()).await.expect("restart");

    let written = settle(&store, "orders", TUMBLING).await;
    let windows: BTreeMap<String, usize> = written.iter().fold(BTreeMap::new(), |mut seen, row| {
        *seen.entry(format!("{}{}", row["window"], row["customer"])).or_default() += 1;
        seen
    });
    assert!(windows.values().all(|count| *count == 1), "each window once: {windows:?}");
    assert!(windows.len() >= 4, "the run spans several windows: {windows:?}");
    assert!(before.events_read > 0, "the first run read events before it stopped");
    settle(&store, "hops", HOPPING).await;

    let status = tumbling.status();
    assert!(status.live && status.failure.is_none(), "{status:?}");
    tumbling.stop().await;
    hopping.stop().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn queries_that_cannot_be_maintained_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    append_batch(&store, 0).await;
    for sql in [
        "SELECT stream, count(*) FROM events GROUP BY stream",
        "SELECT date_bin('1 minute', created) AS w, count(*) FROM events GROUP BY w ORDER BY w",
        "DELETE FROM events",
    ] {
        assert!(start_continuous(Arc::clone(&store), "refused", sql, options()).await.is_err(), "{sql}");
    }
    assert!(start_continuous(Arc::clone(&store), "bad$name", TUMBLING, options()).await.is_err());
    assert!(support::result_rows(&store, "refused").await.is_empty());
    let checkpoint = StreamName::new("$query-refused-checkpoint").expect("name");
    assert!(matches!(
        store.read_stream(ReadStreamRequest::forwards(checkpoint)).await.err(),
        Some(ReadError::StreamNotFound { .. })
    ));
    engine.shutdown().await;
}

#[tokio::test]
async fn an_idle_query_stops_writing_once_it_has_saved_what_it_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    let query = start_continuous(Arc::clone(&store), "idle", TUMBLING, options()).await.expect("start");
    append_batch(&store, 0).await;
    settle(&store, "idle", TUMBLING).await;
    // Long enough for many clock ticks and checkpoint periods.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let head = store.head_position();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.head_position(), head, "an idle query appends nothing: the log's head stays");
    let status = query.status();
    assert!(status.live && status.failure.is_none(), "{status:?}");
    query.stop().await;
    engine.shutdown().await;
}

/// Open groups enough for a state of several hundred kilobytes.
const MANY_GROUPS: u64 = 6_000;

#[tokio::test]
async fn a_state_larger_than_one_append_is_checkpointed_in_parts_and_restored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    for chunk in 0..MANY_GROUPS / 1_000 {
        let requests = (0..1_000)
            .map(|index| {
                let stream = StreamName::new(format!("device-{}", chunk * 1_000 + index)).expect("name");
                let event = ProposedEvent::json("Reading", r#"{"t":20}"#);
                AppendRequest::new(stream, ExpectedRevision::Any, vec![event])
            })
            .collect();
        store.append_transaction(requests).await.expect("append");
    }
    let head = store.head_position().map(|position| position.0);
    // An hour's window stays open: every group is state.
    let sql = "SELECT date_bin('1 hour', created) AS hour, stream, count(*) AS readings FROM category('device') \
               GROUP BY hour, stream";
    let query = start_continuous(Arc::clone(&store), "devices", sql, options()).await.expect("start");
    let started = Instant::now();
    let checkpoints = StreamName::new("$query-devices-checkpoint").expect("name");
    let parts = loop {
        let status = query.status();
        assert!(status.failure.is_none(), "{status:?}");
        let types: Vec<String> = match store.read_stream(ReadStreamRequest::forwards(checkpoints.clone())).await {
            Ok(events) => events.map(|event| event.expect("a checkpoint event").event_type).collect().await,
            Err(_) => Vec::new(),
        };
        let parts = types.iter().filter(|event_type| *event_type == "$QueryCheckpointPart").count();
        if status.position >= head && parts > 1 {
            break parts;
        }
        assert!(started.elapsed() < WAIT, "caught up and checkpointed in parts: {status:?}, {types:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(parts > 1, "the state took several parts");
    let before = query.status();
    assert_eq!(before.open_windows, MANY_GROUPS as usize);
    query.stop().await;

    let query = start_continuous(Arc::clone(&store), "devices", sql, options()).await.expect("restart");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = query.status();
    assert!(after.failure.is_none(), "{after:?}");
    assert_eq!(after.open_windows, MANY_GROUPS as usize, "every group came back from the parts");
    assert!(after.events_read < MANY_GROUPS, "resumed from the checkpoint, not the start: {after:?}");
    assert!(support::result_rows(&store, "devices").await.is_empty(), "no window has closed");
    query.stop().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn rows_more_than_one_append_holds_are_written_in_several_each_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = open_store(&dir).await;
    let pad = "p".repeat(700);
    for chunk in 0..5_u64 {
        let requests = (0..1_000)
            .map(|index| {
                let stream = StreamName::new(format!("fat-{}", chunk * 1_000 + index)).expect("name");
                let event = ProposedEvent::json("Padded", serde_json::json!({ "pad": pad }).to_string());
                AppendRequest::new(stream, ExpectedRevision::Any, vec![event])
            })
            .collect();
        store.append_transaction(requests).await.expect("append");
    }
    // 5,000 rows of over 700 bytes close in at most a few windows: each
    // closing writes more than 1 MiB of rows.
    let sql = "SELECT date_bin('1 second', created) AS second, stream, max(json_str(data, 'pad')) AS pad \
               FROM category('fat') GROUP BY second, stream";
    let query = start_continuous(Arc::clone(&store), "fat", sql, options()).await.expect("start");
    let started = Instant::now();
    let rows = loop {
        let status = query.status();
        assert!(status.failure.is_none(), "{status:?}");
        let rows = support::result_rows(&store, "fat").await;
        if rows.len() >= 5_000 || started.elapsed() > WAIT {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let streams: std::collections::BTreeSet<String> =
        rows.iter().map(|row| row["stream"].as_str().expect("a stream").to_owned()).collect();
    assert_eq!((rows.len(), streams.len()), (5_000, 5_000), "each group's row once");
    query.stop().await;
    engine.shutdown().await;
}
