//! Goal: every `eventfold-bench` workload runs end to end through the real
//! binary, in a smoke size, against the engine, a child `eventfold serve`
//! over gRPC through the lean client and through the official `kurrentdb`
//! client and over its JSON API, and the PostgreSQL baseline (reported as skipped where
//! PostgreSQL is not installed), and prints JSON of the documented shape
//! with positive counts. The figures themselves are never asserted.
//!
//! The server is the `eventfold` binary beside `eventfold-bench`: a
//! workspace test run builds both (eventfold-cli has tests of its own);
//! alone, this crate's tests need `cargo build -p eventfold-cli` first.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a smoke run may take before the test fails instead of hanging.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The `eventfold` binary the bench finds beside itself and serves with;
/// a missing one fails here with the way to build it.
fn server_binary() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_eventfold-bench"));
    let server = bench.with_file_name("eventfold");
    assert!(
        server.is_file(),
        "{} is missing: build it with `cargo build -p eventfold-cli` (the same profile as the tests)",
        server.display()
    );
    server
}

fn bench(arguments: &[&str]) -> Value {
    server_binary();
    let scratch = tempfile::tempdir().expect("scratch directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold-bench"))
        .args(arguments)
        .args(["--seconds", "0.2", "--events", "600"])
        .arg("--dir")
        .arg(scratch.path())
        .env("EVENTFOLD_LOG", "warn")
        .env_remove("EVENTFOLD_BIN")
        .env_remove("EVENTFOLD_BENCH_SERVER_URL")
        .env_remove("EVENTFOLD_BENCH_PG_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn eventfold-bench");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("bench {arguments:?} ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read stdout");
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    assert!(status.success(), "bench {arguments:?} failed: {stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("bench {arguments:?} printed no JSON ({error}): {stdout}"))
}

const ALL_TARGETS: [&str; 8] =
    ["--target", "engine", "--target", "grpc", "--target", "kurrentdb", "--target", "postgres"];
const ALL_NAMES: [&str; 4] = ["engine", "grpc", "kurrentdb", "postgres"];

/// Checks a per-target result: skipped with a reason, or positive figures.
fn check_result(result: &Value, rate_key: &str) {
    let target = result["target"].as_str().expect("a target name");
    if let Some(reason) = result.get("skipped") {
        assert!(reason.as_str().is_some_and(|reason| !reason.is_empty()), "{result}");
        return;
    }
    assert!(result["events"].as_u64().is_some_and(|events| events > 0), "{target}: {result}");
    assert!(result[rate_key].as_f64().is_some_and(|rate| rate > 0.0), "{target}: {result}");
    assert!(result.get("peak_rss_bytes").is_some(), "{target}: {result}");
    assert!(result.get("bytes_on_disk_per_event").is_some(), "{target}: {result}");
}

fn check_workload(report: &Value, workload: &str, targets: &[&str], rate_key: &str) {
    assert_eq!(report["workload"], workload, "{report}");
    assert!(report["parameters"].is_object(), "{report}");
    assert!(report["ratio"].is_object(), "{report}");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), targets.len(), "{report}");
    for (result, target) in results.iter().zip(targets) {
        assert_eq!(result["target"], *target, "{report}");
        check_result(result, rate_key);
    }
    // The in-process engine always runs.
    assert!(results[0].get("skipped").is_none(), "{report}");
}

#[test]
fn append_runs_on_every_target() {
    let report = bench(&[&["append", "--writers", "4", "--events-per-append", "10"][..], &ALL_TARGETS].concat());
    check_workload(&report, "append", &ALL_NAMES, "events_per_second");
    assert!(report["results"][0]["latency"]["p99_us"].as_f64().is_some_and(|p99| p99 > 0.0), "{report}");
    assert!(report["ratio"]["engine_vs_grpc"].as_f64().is_some(), "{report}");
    assert!(report["ratio"]["grpc_vs_kurrentdb"].as_f64().is_some(), "{report}");
    assert!(report["results"][2]["latency"]["p50_us"].as_f64().is_some_and(|p50| p50 > 0.0), "{report}");
}

#[test]
fn the_http_target_appends_and_reads_beside_grpc() {
    let targets = ["--target", "engine", "--target", "grpc", "--target", "http"];
    let append = bench(&[&["append", "--writers", "4", "--events-per-append", "10"][..], &targets].concat());
    check_workload(&append, "append", &["engine", "grpc", "http"], "events_per_second");
    assert!(append["ratio"]["grpc_vs_http"].as_f64().is_some(), "{append}");
    let read = bench(&[&["read"][..], &targets].concat());
    check_workload(&read, "read", &["engine", "grpc", "http"], "all_warm_events_per_second");
    assert!(read["results"][2]["all_events"].as_u64().is_some_and(|events| events >= 600), "{read}");
    let live = bench(&["live", "--target", "http"]);
    assert!(live["results"][0]["skipped"].is_string(), "{live}");
}

#[test]
fn the_grpc_tls_target_appends_and_reads_beside_plaintext_grpc() {
    let targets = ["--target", "grpc", "--target", "grpc-tls"];
    let append = bench(&[&["append", "--writers", "4"][..], &targets].concat());
    check_workload(&append, "append", &["grpc", "grpc-tls"], "events_per_second");
    assert!(append["ratio"]["grpc_vs_grpc-tls"].as_f64().is_some(), "{append}");
    let read = bench(&[&["read"][..], &targets].concat());
    check_workload(&read, "read", &["grpc", "grpc-tls"], "all_warm_events_per_second");
}

#[test]
fn the_grpc_postgres_target_serves_from_postgresql_beside_the_engine_and_the_plain_table() {
    let targets = ["--target", "grpc", "--target", "grpc-postgres", "--target", "postgres"];
    let append = bench(&[&["append", "--writers", "4"][..], &targets].concat());
    check_workload(&append, "append", &["grpc", "grpc-postgres", "postgres"], "events_per_second");
    let live = bench(&["live", "--target", "grpc", "--target", "grpc-postgres"]);
    check_workload(&live, "live", &["grpc", "grpc-postgres"], "events_per_second");
}

#[test]
fn live_across_nodes_subscribes_on_a_second_server_of_the_same_postgresql_database() {
    let report = bench(&["live-across-nodes", "--target", "grpc", "--target", "grpc-postgres"]);
    assert_eq!(report["workload"], "live-across-nodes", "{report}");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{report}");
    // One node of the engine is all there is: it says so.
    assert!(results[0]["skipped"].as_str().is_some_and(|reason| reason.contains("does not run")), "{report}");
    let result = &results[1];
    check_result(result, "appends_per_second");
    if result.get("skipped").is_some() {
        return; // PostgreSQL is not installed: the reason was checked.
    }
    let events = result["events"].as_u64().expect("events");
    for node in ["latency_same_node", "latency_other_node"] {
        assert_eq!(result[node]["samples"].as_u64(), Some(events), "every append reaches {node}: {result}");
        assert!(result[node]["p99_us"].as_f64().is_some_and(|p99| p99 > 0.0), "{result}");
    }
    assert!(result["other_vs_same_node_p50"].as_f64().is_some_and(|ratio| ratio > 0.0), "{result}");
    let lag = &result["sequencing_lag"];
    assert!(lag["samples"].as_u64().is_some_and(|samples| samples >= events), "{result}");
    assert!(lag["p50_us"].as_f64().is_some_and(|p50| p50 > 0.0), "{result}");
}

#[test]
fn contended_reports_conflicts() {
    let report = bench(&[&["contended", "--writers", "4"][..], &ALL_TARGETS].concat());
    check_workload(&report, "contended", &ALL_NAMES, "events_per_second");
    for result in report["results"].as_array().expect("results") {
        if result.get("skipped").is_none() {
            assert!(result["conflict_rate"].as_f64().is_some_and(|rate| (0.0..=1.0).contains(&rate)), "{result}");
        }
    }
}

#[test]
fn reads_run_warm_and_cold() {
    let report = bench(&[&["read"][..], &ALL_TARGETS].concat());
    check_workload(&report, "read", &ALL_NAMES, "all_warm_events_per_second");
    let engine = &report["results"][0];
    assert!(engine["stream_warm_events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{engine}");
    assert!(engine["all_cold_events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{engine}");
    let official = &report["results"][2];
    assert!(official["stream_warm_events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{official}");
}

#[test]
fn catch_up_live_and_fan_out_run_on_engine_and_both_grpc_clients() {
    for workload in [&["catchup"][..], &["live"], &["fanout", "--subscribers", "3"], &["lagging", "--subscribers", "3"]]
    {
        let report = bench(&[workload, &ALL_TARGETS].concat());
        check_workload(&report, workload[0], &ALL_NAMES, "events_per_second");
        // Subscriptions are not a plain table's to offer.
        assert!(report["results"][3]["skipped"].is_string(), "{report}");
        assert!(report["results"][1].get("skipped").is_none(), "{report}");
        assert!(report["results"][2].get("skipped").is_none(), "{report}");
    }
}

#[test]
fn projections_run_in_process_and_through_the_server_beside_a_read() {
    let report = bench(&["projection", "--target", "engine", "--target", "grpc"]);
    for (index, target) in ["engine", "grpc"].iter().enumerate() {
        let result = &report["results"][index];
        assert_eq!(result["target"], *target, "{report}");
        for query in ["counting", "partitioned"] {
            assert!(result[query]["events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
            assert!(result[query]["share_of_read_rate"].as_f64().is_some_and(|share| share > 0.0), "{report}");
            for ceiling in ["share_of_js_plain_loop", "share_of_js_dispatch"] {
                assert!(result[query][ceiling].as_f64().is_some_and(|share| share > 0.0), "{report}");
            }
            for figure in ["plain_loop_events_per_second", "dispatch_events_per_second"] {
                assert!(result["js_alone"][query][figure].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
            }
        }
        assert!(result["read_all"]["events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
    }
}

#[test]
fn the_postgresql_redis_and_kafka_connectors_run_beside_plain_loops() {
    let report = bench(&["connector"]);
    let engine = &report["results"][0];
    if engine["skipped"].is_string() {
        return;
    }
    for sink in [engine, &engine["redis"], &engine["kafka"]] {
        // Each target is skipped only where its server is not installed.
        if sink["skipped"].is_string() {
            continue;
        }
        for part in ["connector", "plain_loop"] {
            assert!(sink[part]["events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{report}");
        }
        assert!(sink["append_to_visible"]["p50_us"].as_f64().is_some_and(|lag| lag > 0.0), "{report}");
    }
}

#[test]
fn disk_and_restart_run_on_the_engine_side() {
    let fsync = bench(&["fsync", "--records-per-sync", "100"]);
    assert_eq!(fsync["results"][0]["target"], "disk", "{fsync}");
    assert!(fsync["results"][0]["events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{fsync}");
    let preallocated = bench(&["fsync", "--preallocated"]);
    assert_eq!(preallocated["results"][0]["preallocated"], true, "{preallocated}");
    assert!(preallocated["results"][0]["events_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{preallocated}");
    let restart = bench(&["restart"]);
    assert!(restart["results"][0]["open_seconds"].as_f64().is_some(), "{restart}");
}

#[test]
fn lagging_subscribers_report_the_memory_of_the_serving_process() {
    let report = bench(&["lagging", "--subscribers", "2", "--target", "engine", "--target", "grpc"]);
    for result in report["results"].as_array().expect("results") {
        for key in ["rss_bytes_with_stalled_subscribers", "rss_bytes_highest_while_writing", "data_bytes_written"] {
            assert!(result[key].as_u64().is_some_and(|value| value > 0), "{key}: {result}");
        }
    }
}

#[test]
fn a_missing_server_binary_is_named_in_the_error() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let missing = scratch.path().join("no-such-eventfold");
    let output = Command::new(env!("CARGO_BIN_EXE_eventfold-bench"))
        .args(["append", "--target", "grpc", "--seconds", "0.1", "--server-bin"])
        .arg(&missing)
        .arg("--dir")
        .arg(scratch.path())
        .env_remove("EVENTFOLD_BENCH_SERVER_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run eventfold-bench");
    assert!(!output.status.success(), "ran without a server binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-eventfold") && stderr.contains("--server-bin"), "{stderr}");
}
