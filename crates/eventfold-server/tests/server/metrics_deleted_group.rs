//! Goal: a persistent subscription group's gauges leave `/metrics` once the
//! group is deleted. The `metrics` facade cannot remove a series; the
//! exporter forgets a gauge nobody sets for a while, and only a running
//! group's task sets its gauges. Here the exporter forgets after 2 s (30 s
//! in `eventfold serve`), so the test sees the group appear, then go. The
//! recorder is the process's global one, so this file holds a single test.

use crate::support;

use std::time::{Duration, Instant};

use eventfold_node::NodeOptions;
use support::groups::{create_group, delete_group};
use support::scrape::{get, parse, value};

const FORGET_AFTER: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_groups_gauges_leave_the_scrape() {
    let recorder = eventfold_server::metrics::recorder_forgetting_gauges_after(FORGET_AFTER);
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the first recorder of this process");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = support::open_engine(&dir);
    let node = NodeOptions { metrics: Some(eventfold_server::metrics::text(handle, || {})), ..Default::default() };
    let server = support::serve_with(engine, "127.0.0.1:0", support::ServeOptions { node, ..Default::default() }).await;
    let channel = server.channel().await;
    let group = [("event_stream_id", "orders-1"), ("group_name", "billing")];
    let connections = |body: &str| value(&parse(body), "kurrentdb_persistent_sub_connections", &group);

    create_group(&channel, "orders-1", "billing").await;
    // The group's task sets its gauges as soon as it has loaded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get(server.address, "/metrics").await;
        if connections(&body) == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "the new group's gauges are not scraped:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    delete_group(&channel, "orders-1", "billing").await;
    let deadline = Instant::now() + FORGET_AFTER * 5;
    loop {
        let (_, body) = get(server.address, "/metrics").await;
        if connections(&body).is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "the deleted group's gauges are still scraped:\n{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.finish().await;
}
