//! Throughput, printed (never asserted): a counting projection and a
//! `partitionBy` projection over the same events as a plain `$all` read,
//! in one run, in-process over the embedded engine. Size with
//! `EVENTFOLD_PROJECTION_EVENTS` (default 20,000).

mod support;

use std::time::Instant;

use eventfold_projections::Select;
use eventfold_store::{AppendRequest, ExpectedRevision, ProposedEvent, ReadAllRequest, StreamName};
use futures::StreamExt;
use serde_json::json;
use support::Node;

const COUNTER: &str = "fromAll().when({ $init: function () { return { count: 0 }; }, \
    $any: function (s, e) { s.count += 1; } })";
const PARTITIONED: &str = "fromAll().partitionBy(function (e) { return e.streamId; }).when({ \
    $init: function () { return { count: 0 }; }, $any: function (s, e) { s.count += e.data.n; } })";

fn events() -> usize {
    std::env::var("EVENTFOLD_PROJECTION_EVENTS").ok().and_then(|text| text.parse().ok()).unwrap_or(20_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_and_partitioned_projections_beside_a_plain_read() {
    let total = events();
    let node = Node::start().await;
    // Ten streams, a hundred events an append, so that every stream holds a
    // tenth of the events when the total is a multiple of 1000.
    let total = total.div_ceil(1000) * 1000;
    for batch in 0..total / 100 {
        let stream = StreamName::new(format!("item-{}", batch % 10)).expect("name");
        let count = 100;
        let events = (0..count).map(|_| ProposedEvent::json("Counted", br#"{"n":1}"#.to_vec())).collect();
        node.store.append(AppendRequest::new(stream, ExpectedRevision::Any, events)).await.expect("append");
    }

    let started = Instant::now();
    let read = node.store.read_all(ReadAllRequest::forwards()).await.expect("read").count().await;
    let read_seconds = started.elapsed().as_secs_f64();
    assert!(read >= total);

    let started = Instant::now();
    node.create("counter", COUNTER, false).await;
    node.await_state("counter", "", json!({"count": total})).await;
    let counting_seconds = started.elapsed().as_secs_f64();
    let counting_engine = engine_seconds(&node, "counter").await;

    let started = Instant::now();
    node.create("partitioned", PARTITIONED, false).await;
    node.await_state("partitioned", "item-9", json!({"count": total / 10})).await;
    let partitioned_seconds = started.elapsed().as_secs_f64();
    let partitioned_engine = engine_seconds(&node, "partitioned").await;

    let rate = |seconds: f64| total as f64 / seconds.max(f64::EPSILON);
    println!(
        "projection throughput over {total} events: $all read {:.0} events/s; counting {:.0} events/s \
         ({:.2} of the read rate, {:.2} of the time in the engine); partitionBy {:.0} events/s ({:.2} of the \
         read rate, {:.2} in the engine)",
        rate(read_seconds),
        rate(counting_seconds),
        read_seconds / counting_seconds,
        counting_engine / counting_seconds,
        rate(partitioned_seconds),
        read_seconds / partitioned_seconds,
        partitioned_engine / partitioned_seconds,
    );
}

/// The time the projection spent in its engine (handlers and the host's
/// work around them), from its statistics.
async fn engine_seconds(node: &Node, name: &str) -> f64 {
    let statistics = node.projections.statistics(Select::Named(name.to_owned())).await.expect("statistics");
    statistics.first().map_or(0.0, |statistics| statistics.core_processing_time_ms as f64 / 1000.0)
}
