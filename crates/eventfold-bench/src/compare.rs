//! `eventfold-bench compare`: the standard matrix against every target in
//! one run, the ratios that matter, the goals of issue 13 as measured
//! ratios (`goals.rs`), and the same as Markdown tables for the README.
//! Written to `<out>/<date>.json` and `<out>/<date>.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Value, json};

use crate::goals;
use crate::target::TargetKind::{self, Engine, Grpc, GrpcPostgres, Http, Kurrentdb, Postgres};
use crate::{Settings, Workload, measure_one, stats};

/// One row of the matrix: a name, the workload, the targets it runs on.
pub struct Case {
    pub name: &'static str,
    pub workload: Workload,
    pub targets: &'static [TargetKind],
}

/// Columns of the Markdown table: a target's name in the results, and its
/// heading.
const COLUMNS: [(&str, &str); 7] = [
    ("engine", "engine (in-process)"),
    ("grpc", "gRPC (lean client)"),
    ("kurrentdb", "gRPC (official `kurrentdb` client)"),
    ("http", "HTTP JSON API"),
    ("grpc-postgres", "gRPC on the PostgreSQL backend"),
    ("postgres", "PostgreSQL"),
    ("disk", "disk"),
];

pub fn cases() -> Vec<Case> {
    let append = |writers, events_per_append| Workload::Append { writers, events_per_append };
    let all: &'static [TargetKind] = &[Engine, Grpc, Kurrentdb, Postgres];
    // The JSON API beside them on the cases a browser or a script makes.
    let with_http: &'static [TargetKind] = &[Engine, Grpc, Kurrentdb, Http, GrpcPostgres, Postgres];
    let live: &'static [TargetKind] = &[Engine, Grpc, Kurrentdb];
    // The PostgreSQL backend's subscriptions poll and wake on NOTIFY.
    let live_on_both: &'static [TargetKind] = &[Engine, Grpc, Kurrentdb, GrpcPostgres];
    vec![
        Case {
            name: "disk fsync, 1 record per sync",
            workload: Workload::Fsync { records_per_sync: 1, preallocated: false },
            targets: &[Engine],
        },
        Case {
            name: "disk fsync, 100 records per sync",
            workload: Workload::Fsync { records_per_sync: 100, preallocated: false },
            targets: &[Engine],
        },
        Case {
            name: "disk fsync, 1 record per sync, preallocated",
            workload: Workload::Fsync { records_per_sync: 1, preallocated: true },
            targets: &[Engine],
        },
        Case {
            name: "disk fsync, 100 records per sync, preallocated",
            workload: Workload::Fsync { records_per_sync: 100, preallocated: true },
            targets: &[Engine],
        },
        Case { name: "append 1 writer x 1 event", workload: append(1, 1), targets: with_http },
        Case { name: "append 8 writers x 1 event", workload: append(8, 1), targets: all },
        Case { name: "append 64 writers x 1 event", workload: append(64, 1), targets: with_http },
        Case { name: "append 256 writers x 1 event", workload: append(256, 1), targets: all },
        Case { name: "append 1 writer x 10 events", workload: append(1, 10), targets: all },
        Case { name: "append 1 writer x 100 events", workload: append(1, 100), targets: all },
        Case { name: "append 8 writers x 100 events", workload: append(8, 100), targets: with_http },
        Case { name: "contended, 8 writers on 1 stream", workload: Workload::Contended { writers: 8 }, targets: all },
        Case { name: "read", workload: Workload::Read, targets: with_http },
        Case { name: "catch-up subscription from 0", workload: Workload::Catchup, targets: live_on_both },
        Case { name: "live, 1 subscriber", workload: Workload::Live, targets: live_on_both },
        // Two servers on one PostgreSQL database: a subscriber on the node
        // that took the append and one on the other.
        Case { name: "live across nodes", workload: Workload::LiveAcrossNodes, targets: &[GrpcPostgres] },
        Case { name: "fan-out, 8 subscribers", workload: Workload::Fanout { subscribers: 8 }, targets: live },
        Case { name: "fan-out, 64 subscribers", workload: Workload::Fanout { subscribers: 64 }, targets: live },
        // A fresh server process only: in-process, the bench's own memory
        // from the cases before would be counted too.
        Case {
            name: "lagging, 64 stalled subscribers",
            workload: Workload::Lagging { subscribers: 64 },
            targets: &[Grpc, Kurrentdb],
        },
        Case { name: "restart", workload: Workload::Restart, targets: &[Engine] },
    ]
}

pub async fn run(settings: &Settings, out: &Path) -> anyhow::Result<Value> {
    let mut results = Vec::new();
    for case in cases() {
        for &kind in case.targets {
            let mut report = measure_one(case.workload.clone(), kind, settings).await?;
            if let Value::Object(map) = &mut report {
                map.insert("case".into(), json!(case.name));
            }
            results.push(report);
        }
    }
    let ratio = ratios(&results);
    let goals = goals::measure(&results);
    let document = json!({
        "date": today(),
        "machine": machine(),
        "seconds_per_measurement": settings.duration.as_secs_f64(),
        "events_filled": settings.events,
        "results": results,
        "ratio": ratio,
        "goals": goals,
    });
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stem = out.join(today());
    let json_path = stem.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&document)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let markdown_path = stem.with_extension("md");
    std::fs::write(&markdown_path, markdown(&document))
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    eprintln!("wrote {} and {}", json_path.display(), markdown_path.display());
    Ok(document)
}

/// The result of `case` on `target`, if it ran.
pub fn find<'a>(results: &'a [Value], case: &str, target: &str) -> Option<&'a Value> {
    results
        .iter()
        .find(|result| result["case"] == case && result["target"] == target && result.get("skipped").is_none())
}

pub fn figure(results: &[Value], case: &str, target: &str, key: &str) -> Option<f64> {
    find(results, case, target).and_then(|result| result[key].as_f64())
}

fn ratios(results: &[Value]) -> Value {
    let rate = |case: &str, target: &str| figure(results, case, target, "events_per_second");
    let fsync_1 = rate("disk fsync, 1 record per sync", "disk");
    let fsync_100 = rate("disk fsync, 100 records per sync", "disk");
    let fsync_1_preallocated = rate("disk fsync, 1 record per sync, preallocated", "disk");
    let fsync_100_preallocated = rate("disk fsync, 100 records per sync, preallocated", "disk");
    let one = "append 1 writer x 1 event";
    let many = "append 64 writers x 1 event";
    let eight = "append 8 writers x 1 event";
    let batch = "append 1 writer x 100 events";
    let batches = "append 8 writers x 100 events";
    let all_warm = |target| figure(results, "read", target, "all_warm_events_per_second");
    let p99 =
        |case: &str, target: &str| find(results, case, target).and_then(|result| result["latency"]["p99_us"].as_f64());
    let across_nodes =
        |key: &str| find(results, "live across nodes", "grpc-postgres").and_then(|result| result[key].as_f64());
    let mut ratios = json!({
        "append_1x1_engine_vs_fsync_1": stats::ratio(rate(one, "engine"), fsync_1),
        "append_1x1_grpc_vs_fsync_1": stats::ratio(rate(one, "grpc"), fsync_1),
        "append_1x1_engine_vs_fsync_1_preallocated": stats::ratio(rate(one, "engine"), fsync_1_preallocated),
        "append_1x1_engine_vs_postgres": stats::ratio(rate(one, "engine"), rate(one, "postgres")),
        "append_1x1_grpc_vs_postgres": stats::ratio(rate(one, "grpc"), rate(one, "postgres")),
        "append_1x1_kurrentdb_vs_postgres": stats::ratio(rate(one, "kurrentdb"), rate(one, "postgres")),
        "append_1x1_kurrentdb_vs_fsync_1": stats::ratio(rate(one, "kurrentdb"), fsync_1),
        "append_1x1_kurrentdb_vs_grpc": stats::ratio(rate(one, "kurrentdb"), rate(one, "grpc")),
        "append_64x1_engine_vs_postgres_8_clients": stats::ratio(rate(many, "engine"), rate(eight, "postgres")),
        "append_64x1_grpc_vs_postgres_8_clients": stats::ratio(rate(many, "grpc"), rate(eight, "postgres")),
        "append_64x1_kurrentdb_vs_postgres_8_clients": stats::ratio(rate(many, "kurrentdb"), rate(eight, "postgres")),
        "append_64x1_kurrentdb_vs_postgres_64_clients": stats::ratio(rate(many, "kurrentdb"), rate(many, "postgres")),
        "append_64x1_kurrentdb_vs_grpc": stats::ratio(rate(many, "kurrentdb"), rate(many, "grpc")),
        "append_64x1_engine_vs_fsync_1": stats::ratio(rate(many, "engine"), fsync_1),
        "append_1x100_engine_vs_fsync_100": stats::ratio(rate(batch, "engine"), fsync_100),
        "append_1x100_grpc_vs_fsync_100": stats::ratio(rate(batch, "grpc"), fsync_100),
        "append_1x100_engine_vs_fsync_100_preallocated": stats::ratio(rate(batch, "engine"), fsync_100_preallocated),
        "append_1x100_engine_vs_postgres": stats::ratio(rate(batch, "engine"), rate(batch, "postgres")),
        "append_1x100_kurrentdb_vs_fsync_100": stats::ratio(rate(batch, "kurrentdb"), fsync_100),
        "append_8x100_engine_vs_fsync_100": stats::ratio(rate(batches, "engine"), fsync_100),
        "append_8x100_grpc_vs_fsync_100": stats::ratio(rate(batches, "grpc"), fsync_100),
        "append_8x100_kurrentdb_vs_fsync_100": stats::ratio(rate(batches, "kurrentdb"), fsync_100),
        "append_8x100_kurrentdb_vs_postgres": stats::ratio(rate(batches, "kurrentdb"), rate(batches, "postgres")),
        "append_8x100_kurrentdb_vs_grpc": stats::ratio(rate(batches, "kurrentdb"), rate(batches, "grpc")),
        "append_1x1_http_vs_grpc": stats::ratio(rate(one, "http"), rate(one, "grpc")),
        "append_1x1_http_vs_engine": stats::ratio(rate(one, "http"), rate(one, "engine")),
        "append_64x1_http_vs_grpc": stats::ratio(rate(many, "http"), rate(many, "grpc")),
        "append_64x1_http_vs_engine": stats::ratio(rate(many, "http"), rate(many, "engine")),
        "append_8x100_http_vs_grpc": stats::ratio(rate(batches, "http"), rate(batches, "grpc")),
        "append_8x100_http_vs_engine": stats::ratio(rate(batches, "http"), rate(batches, "engine")),
        "read_all_http_vs_grpc": stats::ratio(all_warm("http"), all_warm("grpc")),
        "read_all_http_vs_engine": stats::ratio(all_warm("http"), all_warm("engine")),
        "read_all_grpc_vs_engine": stats::ratio(all_warm("grpc"), all_warm("engine")),
        "read_all_engine_vs_postgres": stats::ratio(all_warm("engine"), all_warm("postgres")),
        "read_all_grpc_vs_postgres": stats::ratio(all_warm("grpc"), all_warm("postgres")),
        "read_all_kurrentdb_vs_grpc": stats::ratio(all_warm("kurrentdb"), all_warm("grpc")),
        "read_all_kurrentdb_vs_postgres": stats::ratio(all_warm("kurrentdb"), all_warm("postgres")),
        "live_latency_p99_us_engine": p99("live, 1 subscriber", "engine"),
        "live_latency_p99_us_grpc": p99("live, 1 subscriber", "grpc"),
        "live_latency_p99_us_kurrentdb": p99("live, 1 subscriber", "kurrentdb"),
    });
    // The PostgreSQL backend through the server, beside the engine's server
    // and the plain table (a second object: one macro call has a depth limit).
    let backend = json!({
        "append_1x1_grpc_postgres_vs_postgres": stats::ratio(rate(one, "grpc-postgres"), rate(one, "postgres")),
        "append_1x1_grpc_postgres_vs_grpc": stats::ratio(rate(one, "grpc-postgres"), rate(one, "grpc")),
        "append_64x1_grpc_postgres_vs_postgres_64_clients":
            stats::ratio(rate(many, "grpc-postgres"), rate(many, "postgres")),
        "append_64x1_grpc_postgres_vs_grpc": stats::ratio(rate(many, "grpc-postgres"), rate(many, "grpc")),
        "append_8x100_grpc_postgres_vs_postgres": stats::ratio(rate(batches, "grpc-postgres"), rate(batches, "postgres")),
        "read_all_grpc_postgres_vs_grpc": stats::ratio(all_warm("grpc-postgres"), all_warm("grpc")),
        "live_across_nodes_p50_other_vs_same_node": across_nodes("other_vs_same_node_p50"),
        "live_across_nodes_p99_other_vs_same_node": across_nodes("other_vs_same_node_p99"),
    });
    if let (Some(all), Value::Object(more)) = (ratios.as_object_mut(), backend) {
        all.extend(more);
    }
    ratios
}

fn markdown(document: &Value) -> String {
    let empty = Vec::new();
    let results = document["results"].as_array().unwrap_or(&empty);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "eventfold-bench compare, {} ({}); {} s per measurement, {} events filled for reads, catch-up and restart.\n",
        document["date"].as_str().unwrap_or("?"),
        document["machine"].as_str().unwrap_or("?"),
        document["seconds_per_measurement"],
        document["events_filled"],
    );
    let headings: Vec<&str> = COLUMNS.iter().map(|(_, heading)| *heading).collect();
    let _ = writeln!(text, "| case | {} |", headings.join(" | "));
    let _ = writeln!(text, "|---|{}", "---|".repeat(COLUMNS.len()));
    for case in cases() {
        let mut row = format!("| {} |", case.name);
        for (target, _) in COLUMNS {
            let cell = match results.iter().find(|result| result["case"] == case.name && result["target"] == target) {
                Some(result) => cell(result),
                None => String::new(),
            };
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(text, "{row}");
    }
    let _ = writeln!(text, "\nCells: events/s, then p50 / p99 latency in µs where there is one.");
    let _ = writeln!(text, "Reads: `$all` warm events/s (one stream warm in brackets).");
    let _ = writeln!(text, "Restart: seconds to reopen (seconds rebuilding the index from the log).");
    let _ = writeln!(
        text,
        "Lagging: resident memory of the serving process once 64 subscribers stopped reading, and at most \
         while one writer went on.\n"
    );
    let _ = writeln!(text, "| ratio | value |");
    let _ = writeln!(text, "|---|---|");
    if let Some(ratios) = document["ratio"].as_object() {
        for (name, value) in ratios {
            let shown = value.as_f64().map_or_else(|| "n/a".to_owned(), |value| format!("{value:.2}"));
            let _ = writeln!(text, "| {name} | {shown} |");
        }
    }
    text.push_str(&goals::markdown(&document["goals"]));
    text
}

fn cell(result: &Value) -> String {
    if let Some(reason) = result["skipped"].as_str() {
        return format!("skipped: {reason}");
    }
    if let Some(open) = result["open_seconds"].as_f64() {
        let rebuild = result["open_seconds_rebuilding_index"].as_f64().unwrap_or(0.0);
        return format!("{open:.3} s ({rebuild:.3} s)");
    }
    if let Some(all) = result["all_warm_events_per_second"].as_f64() {
        let stream = result["stream_warm_events_per_second"].as_f64().unwrap_or(0.0);
        return format!("{} ({})", thousands(all), thousands(stream));
    }
    if let (Some(stalled), Some(highest)) =
        (result["rss_bytes_with_stalled_subscribers"].as_f64(), result["rss_bytes_highest_while_writing"].as_f64())
    {
        let written = result["data_bytes_written"].as_f64().unwrap_or(0.0);
        return format!(
            "RSS {:.0} → {:.0} MB while {:.0} MB were written",
            stalled / 1e6,
            highest / 1e6,
            written / 1e6
        );
    }
    if let (Some(same), Some(other)) = (result.get("latency_same_node"), result.get("latency_other_node")) {
        let lag = &result["sequencing_lag"];
        let micros =
            |value: &Value, key: &str| value[key].as_f64().map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"));
        return format!(
            "same node {} / {} µs; other node {} / {} µs; sequencing lag {} / {} µs",
            micros(same, "p50_us"),
            micros(same, "p99_us"),
            micros(other, "p50_us"),
            micros(other, "p99_us"),
            micros(lag, "p50_us"),
            micros(lag, "p99_us"),
        );
    }
    let mut text = result["events_per_second"].as_f64().map(thousands).unwrap_or_default();
    if let (Some(p50), Some(p99)) = (result["latency"]["p50_us"].as_f64(), result["latency"]["p99_us"].as_f64()) {
        let _ = write!(text, "; {p50:.0} / {p99:.0} µs");
    }
    if let Some(rate) = result["conflict_rate"].as_f64() {
        let _ = write!(text, "; {:.0}% conflicts", rate * 100.0);
    }
    text
}

/// 12345.6 as "12.3k", 1234567 as "1.23M": readable in a table.
pub fn thousands(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

/// Today's date (UTC) as YYYY-MM-DD, from the days since the epoch.
fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs() / 86_400) as i64;
    // Civil-from-days, proleptic Gregorian calendar.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// CPU count and model, so a table says what it was measured on.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {model}")
}
