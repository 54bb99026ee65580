//! Goal: `GET /metrics` serves Prometheus text that a parser accepts, with
//! KurrentDB's metric names and labels, and the values follow the load: after
//! appends, reads, a failed read, a call to an unimplemented method and the
//! creation of a persistent subscription, the counters count at least what
//! was done, the checkpoints are the log's positions and the group's gauges
//! carry its stream and group name. The recorder is the process's global one,
//! so this file holds a single test.

use crate::support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use eventfold_node::NodeOptions;
use eventfold_proto::event_store::client::operations::operations_client::OperationsClient;
use eventfold_proto::event_store::client::streams::read_req::options::{
    CountOption, FilterOption, ReadDirection, StreamOption, StreamOptions, UuidOption, stream_options, uuid_option,
};
use eventfold_proto::event_store::client::streams::streams_client::StreamsClient;
use eventfold_proto::event_store::client::streams::{
    AppendReq, ReadReq, TombstoneReq, append_req, read_req, tombstone_req,
};
use eventfold_proto::event_store::client::{Empty, StreamIdentifier, Uuid, uuid};
use eventfold_server::metrics::SystemSampler;
use eventfold_store::EventStore;
use futures::TryStreamExt;
use support::groups::create_group;
use support::scrape::{get, parse, value};
use tonic::transport::Channel;

const EVENTS: usize = 5;

fn identifier(stream: &str) -> Option<StreamIdentifier> {
    Some(StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() })
}

async fn append(channel: &Channel, stream: &str, index: usize) -> Result<(), tonic::Status> {
    let messages = vec![
        AppendReq {
            content: Some(append_req::Content::Options(append_req::Options {
                stream_identifier: identifier(stream),
                expected_stream_revision: Some(append_req::options::ExpectedStreamRevision::Any(Empty {})),
            })),
        },
        AppendReq {
            content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
                id: Some(Uuid { value: Some(uuid::Value::String(format!("6a1c2d3e-0000-4000-8000-{index:012}"))) }),
                metadata: HashMap::from([
                    ("type".to_owned(), "Counted".to_owned()),
                    ("content-type".to_owned(), "application/json".to_owned()),
                ]),
                custom_metadata: Vec::new().into(),
                data: format!("{{\"index\":{index}}}").into_bytes().into(),
            })),
        },
    ];
    StreamsClient::new(channel.clone()).append(futures::stream::iter(messages)).await.map(|_| ())
}

/// Reads the whole stream; returns how many messages came.
async fn read(channel: &Channel, stream: &str) -> Result<usize, tonic::Status> {
    let request = ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(StreamOption::Stream(StreamOptions {
                stream_identifier: identifier(stream),
                revision_option: Some(stream_options::RevisionOption::Start(Empty {})),
            })),
            read_direction: ReadDirection::Forwards as i32,
            resolve_links: false,
            count_option: Some(CountOption::Count(1000)),
            filter_option: Some(FilterOption::NoFilter(Empty {})),
            uuid_option: Some(UuidOption { content: Some(uuid_option::Content::String(Empty {})) }),
            control_option: None,
        }),
    };
    let messages = StreamsClient::new(channel.clone()).read(request).await?.into_inner();
    let messages: Vec<_> = messages.try_collect().await?;
    Ok(messages.len())
}

async fn tombstone(channel: &Channel, stream: &str) {
    let request = TombstoneReq {
        options: Some(tombstone_req::Options {
            stream_identifier: identifier(stream),
            expected_stream_revision: Some(tombstone_req::options::ExpectedStreamRevision::Any(Empty {})),
        }),
    };
    StreamsClient::new(channel.clone()).tombstone(request).await.expect("tombstone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_as_prometheus_text_with_kurrentdbs_names_and_follow_the_load() {
    let handle = eventfold_server::metrics::install().expect("the first recorder of this process");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = support::open_engine(&dir);
    let sampled = engine.clone();
    let system = SystemSampler::new(dir.path());
    let text = eventfold_server::metrics::text(handle, move || {
        sampled.record_metrics();
        system.sample();
    });
    let node = NodeOptions { metrics: Some(text), ..Default::default() };
    let options = support::ServeOptions { node, ..Default::default() };
    let server = support::serve_with(engine, "127.0.0.1:0", options).await;
    let channel = server.channel().await;

    for index in 0..EVENTS {
        append(&channel, "orders-1", index).await.expect("append");
    }
    assert!(read(&channel, "orders-1").await.expect("read") >= EVENTS);
    // A read that fails: the stream is tombstoned.
    append(&channel, "gone-1", 100).await.expect("append");
    tombstone(&channel, "gone-1").await;
    read(&channel, "gone-1").await.expect_err("reading a tombstoned stream fails");
    // A method eventfold answers UNIMPLEMENTED: a node cannot be shut down
    // over gRPC.
    let status = OperationsClient::new(channel.clone()).shutdown(Empty {}).await.expect_err("unimplemented");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    create_group(&channel, "orders-1", "billing").await;

    // The group's task sets its gauges within a few seconds of starting.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = get(server.address, "/metrics").await;
        assert!(status.contains("200"), "{status}");
        let samples = parse(&body);
        let group = [("event_stream_id", "orders-1"), ("group_name", "billing")];
        if value(&samples, "kurrentdb_persistent_sub_connections", &group).is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no persistent subscription gauges in:\n{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Scraped once more, so that the scrapes above are among the requests.
    let samples = parse(&get(server.address, "/metrics").await.1);

    let at_least = |name: &str, labels: &[(&str, &str)], minimum: f64| {
        let found = value(&samples, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} is missing"));
        assert!(found >= minimum, "{name} {labels:?} = {found}, expected at least {minimum}");
        found
    };
    let appended = EVENTS + 1;
    at_least("kurrentdb_io_events_total", &[("activity", "written")], appended as f64);
    at_least("kurrentdb_io_events_total", &[("activity", "read")], EVENTS as f64);
    at_least("kurrentdb_io_bytes_total", &[("activity", "read")], 1.0);
    at_least("kurrentdb_incoming_grpc_calls_total", &[("kind", "total")], (appended + 4) as f64);
    at_least("kurrentdb_incoming_grpc_calls_total", &[("kind", "failed")], 1.0);
    at_least("kurrentdb_incoming_grpc_calls_total", &[("kind", "unimplemented")], 1.0);
    at_least("kurrentdb_incoming_grpc_calls_total", &[("kind", "deadline-exceeded")], 0.0);
    // This scrape's own connection is HTTP/1.1, not gRPC: nothing is open.
    at_least("kurrentdb_current_incoming_grpc_calls", &[], 0.0);
    let bucket = "kurrentdb_grpc_method_duration_seconds_bucket";
    at_least(bucket, &[("activity", "append"), ("status", "successful"), ("le", "+Inf")], appended as f64);
    at_least(bucket, &[("activity", "read"), ("status", "successful"), ("le", "+Inf")], 1.0);
    at_least(bucket, &[("activity", "read"), ("status", "failed"), ("le", "+Inf")], 1.0);
    // KurrentDB's bounds, which the dashboards' heatmaps name.
    let mut bounds: Vec<f64> = samples
        .iter()
        .filter(|sample| sample.name == bucket && sample.labels.get("activity").is_some_and(|a| a == "append"))
        .filter(|sample| sample.labels.get("status").is_some_and(|status| status == "successful"))
        .filter_map(|sample| sample.labels.get("le")?.parse::<f64>().ok())
        .collect();
    bounds.sort_by(f64::total_cmp);
    assert_eq!(bounds, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, f64::INFINITY]);

    // The checkpoints are the log's real positions.
    let end = server.engine.head_position().expect("events were written").0 as f64;
    let writer = at_least("kurrentdb_checkpoints", &[("name", "writer"), ("read", "non-flushed")], end);
    at_least("kurrentdb_checkpoints", &[("name", "index"), ("read", "non-flushed")], 1.0);
    assert!(writer > end, "the writer checkpoint is the end of the log, past the last event");
    at_least("kurrentdb_statuses", &[("name", "Index"), ("status", "Idle")], 1.0e9);
    at_least("kurrentdb_statuses", &[("name", "Scavenge"), ("status", "Idle")], 1.0e9);
    at_least("kurrentdb_cache_hits_misses_total", &[("cache", "stream-info"), ("kind", "hits")], 1.0);
    at_least("kurrentdb_cache_resources_entries", &[("cache", "stream-info"), ("kind", "count")], 1.0);
    at_least("kurrentdb_writer_flush_size_max", &[("range", "16-20 seconds")], 1.0);
    at_least("kurrentdb_writer_flush_duration_max_seconds", &[("range", "16-20 seconds")], 0.0);
    at_least("kurrentdb_queue_queueing_duration_max_seconds", &[("name", "Writer"), ("range", "16-20 seconds")], 0.0);
    at_least("eventfold_writer_fsync_duration_seconds_count", &[], 1.0);
    at_least("eventfold_writer_batch_appends_bucket", &[("le", "+Inf")], 1.0);
    at_least("eventfold_http_request_duration_seconds_count", &[("method", "GET"), ("route", "/metrics")], 1.0);

    // The process and the machine.
    at_least("kurrentdb_proc_mem_bytes", &[("kind", "working-set")], 1.0);
    at_least("kurrentdb_sys_mem_bytes", &[("kind", "total")], 1.0);
    at_least("kurrentdb_sys_disk_bytes", &[("kind", "total")], 1.0);
    at_least("kurrentdb_disk_io_bytes_total", &[("activity", "written")], 0.0);
    at_least("eventfold_data_directory_bytes", &[], 1.0);

    // The group, labelled by its stream and name; nothing read yet (no
    // consumer connected), so nothing is known: -1, as KurrentDB reports.
    let group = [("event_stream_id", "orders-1"), ("group_name", "billing")];
    assert_eq!(value(&samples, "kurrentdb_persistent_sub_connections", &group), Some(0.0));
    assert_eq!(value(&samples, "kurrentdb_persistent_sub_in_flight_messages", &group), Some(0.0));
    assert_eq!(value(&samples, "kurrentdb_persistent_sub_parked_messages", &group), Some(0.0));
    assert_eq!(value(&samples, "kurrentdb_persistent_sub_last_known_event_number", &group), Some(-1.0));
    assert_eq!(value(&samples, "kurrentdb_persistent_sub_items_processed_total", &group), Some(0.0));

    server.finish().await;
}
