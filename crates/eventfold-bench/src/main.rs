//! `eventfold-bench`: measurements of eventfold against the limits around
//! it — the embedded engine in-process, the server over gRPC (through the
//! bench's lean client and through the official `kurrentdb` client), a
//! plain PostgreSQL events table, and the raw fsync rate of the same disk —
//! all in the same run, so the ratios compare like with like. Prints one
//! JSON document; the figures are for reading, never for asserting.
//!
//! A binary of its own, apart from `eventfold`, so that the database
//! binary links neither the benchmark clients nor PostgreSQL's. The server
//! it measures is the `eventfold` binary, run as a child process.

mod append;
mod catchup;
mod child_server;
mod compare;
mod connector;
mod connector_kafka;
mod connector_redis;
mod contended;
mod fanout;
mod fsync;
mod goals;
mod grpc_client;
mod http_client;
mod kurrentdb_client;
mod lagging;
mod nodes;
mod pg_client;
mod progress;
mod projection;
mod read;
mod restart;
mod server_client;
mod sql;
mod stats;
mod target;

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::{Map, Value, json};

use progress::Progress;
use target::{Opened, Target, TargetKind, TargetOptions};

#[derive(Parser)]
#[command(name = "eventfold-bench", version, about = "Measure eventfold against PostgreSQL and the disk; prints JSON")]
struct BenchArgs {
    #[command(subcommand)]
    workload: Workload,
    /// Directory for the throwaway databases and files (removed afterwards).
    #[arg(long, global = true, env = "EVENTFOLD_BENCH_DIR")]
    dir: Option<PathBuf>,
    /// What to measure; repeat to compare targets in one run.
    #[arg(long = "target", global = true, value_enum)]
    targets: Vec<TargetKind>,
    #[command(flatten)]
    target_options: TargetOptions,
    /// Length of each timed measurement.
    #[arg(long, global = true, default_value_t = 3.0)]
    seconds: f64,
    /// Events to fill before reads, catch-up and restart.
    #[arg(long, global = true, default_value_t = 100_000)]
    events: u64,
}

#[derive(Clone, clap::Subcommand)]
enum Workload {
    /// Raw write + fdatasync loop: the disk's own limit.
    #[command(alias = "disk")]
    Fsync {
        #[arg(long, default_value_t = 1)]
        records_per_sync: usize,
        /// Overwrite zeros written and synced beforehand, as the engine's
        /// preallocated segments are, instead of growing the file.
        #[arg(long)]
        preallocated: bool,
    },
    /// Concurrent writers, each appending to its own stream.
    Append {
        #[arg(long, default_value_t = 1)]
        writers: usize,
        #[arg(long, default_value_t = 1)]
        events_per_append: usize,
    },
    /// Concurrent writers on one hot stream with exact expected revisions.
    Contended {
        #[arg(long, default_value_t = 8)]
        writers: usize,
    },
    /// Reads of one stream and of `$all`, warm and cold.
    Read,
    /// A catch-up subscription to `$all` from the start.
    Catchup,
    /// A counting and a `partitionBy` projection over `--events` events,
    /// beside a plain `$all` read of them (in-process).
    Projection,
    /// A windowed count per key over `--events` events in SQL, ad hoc and
    /// as a continuous query, beside a plain `$all` read (in-process).
    Sql,
    /// A PostgreSQL connector over `--events` events beside a plain client
    /// loop doing the same inserts (in-process), then append → row lag; the
    /// same for a Redis connector.
    Connector,
    /// Live latency: one writer, one subscriber.
    Live,
    /// Live latency across nodes (`grpc-postgres` only): one writer through
    /// node A, one subscriber on node A and one on node B, a second server
    /// on the same PostgreSQL database; with the appends' sequencing lag.
    LiveAcrossNodes,
    /// One writer, many live subscribers to its stream.
    Fanout {
        #[arg(long, default_value_t = 8)]
        subscribers: usize,
    },
    /// Subscribers that stop reading while one writer goes on: memory of
    /// the serving process must stay flat.
    Lagging {
        #[arg(long, default_value_t = 64)]
        subscribers: usize,
    },
    /// Time to reopen an engine database holding `--events` events.
    Restart,
    /// The standard matrix against every target; writes
    /// `<out>/<date>.json` and `<out>/<date>.md`.
    Compare {
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
    },
}

impl Workload {
    fn name(&self) -> &'static str {
        match self {
            Workload::Fsync { .. } => "fsync",
            Workload::Append { .. } => "append",
            Workload::Contended { .. } => "contended",
            Workload::Read => "read",
            Workload::Catchup => "catchup",
            Workload::Projection => "projection",
            Workload::Sql => "sql",
            Workload::Connector => "connector",
            Workload::Live => "live",
            Workload::LiveAcrossNodes => "live-across-nodes",
            Workload::Fanout { .. } => "fanout",
            Workload::Lagging { .. } => "lagging",
            Workload::Restart => "restart",
            Workload::Compare { .. } => "compare",
        }
    }

    /// The parameters that define the workload, as reported.
    fn parameters(&self, settings: &Settings) -> Value {
        let mut parameters = match self {
            Workload::Fsync { records_per_sync, preallocated } => {
                json!({ "records_per_sync": records_per_sync, "preallocated": preallocated })
            }
            Workload::Append { writers, events_per_append } => {
                json!({ "writers": writers, "events_per_append": events_per_append })
            }
            Workload::Contended { writers } => json!({ "writers": writers, "events_per_append": 1 }),
            Workload::Fanout { subscribers } | Workload::Lagging { subscribers } => {
                json!({ "subscribers": subscribers })
            }
            Workload::Live => json!({ "subscribers": 1 }),
            Workload::LiveAcrossNodes => json!({ "subscribers": 2, "nodes": 2 }),
            Workload::Read
            | Workload::Catchup
            | Workload::Projection
            | Workload::Sql
            | Workload::Connector
            | Workload::Restart
            | Workload::Compare { .. } => json!({}),
        };
        if let Value::Object(map) = &mut parameters {
            map.insert("seconds".into(), json!(settings.duration.as_secs_f64()));
            map.insert("events".into(), json!(settings.events));
            map.insert("event_bytes".into(), json!(stats::event_body(0).len()));
        }
        parameters
    }

    /// Whether `kind` can run this workload at all.
    fn supports(&self, kind: TargetKind) -> bool {
        match self {
            Workload::Append { .. } | Workload::Contended { .. } | Workload::Read => true,
            // Live feeds over HTTP are Server-Sent Events, not measured yet.
            Workload::Catchup | Workload::Live | Workload::Fanout { .. } | Workload::Lagging { .. } => {
                kind != TargetKind::Postgres && kind != TargetKind::Http
            }
            Workload::LiveAcrossNodes => kind == TargetKind::GrpcPostgres,
            // In-process, or through the server's Projections service.
            Workload::Projection => matches!(kind, TargetKind::Engine | TargetKind::Grpc),
            Workload::Fsync { .. }
            | Workload::Restart
            | Workload::Connector
            | Workload::Sql
            | Workload::Compare { .. } => kind == TargetKind::Engine,
        }
    }
}

/// What every measurement of a run shares.
struct Settings {
    scratch: PathBuf,
    target_options: TargetOptions,
    duration: Duration,
    events: u64,
}

fn main() -> anyhow::Result<()> {
    // The in-process engine and the official client log through tracing;
    // stdout is kept for the JSON report alone.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVENTFOLD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    run(BenchArgs::parse())
}

fn run(args: BenchArgs) -> anyhow::Result<()> {
    let scratch = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir_in("."),
    }
    .context("creating a scratch directory")?;
    let settings = Settings {
        scratch: scratch.path().to_path_buf(),
        target_options: args.target_options,
        duration: Duration::from_secs_f64(args.seconds),
        events: args.events,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let targets = if args.targets.is_empty() { vec![TargetKind::Engine] } else { args.targets };
    let report = runtime.block_on(async {
        match &args.workload {
            Workload::Compare { out } => compare::run(&settings, out).await,
            workload => workload_report(workload, &targets, &settings).await,
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// One workload against each target, with the ratios between them.
async fn workload_report(workload: &Workload, targets: &[TargetKind], settings: &Settings) -> anyhow::Result<Value> {
    let mut results = Vec::new();
    for &kind in targets {
        results.push(measure(workload, kind, settings).await?);
    }
    Ok(json!({
        "workload": workload.name(),
        "parameters": workload.parameters(settings),
        "results": results,
        "ratio": ratios(&results),
    }))
}

/// One workload against one target, opened for it alone.
async fn measure(workload: &Workload, kind: TargetKind, settings: &Settings) -> anyhow::Result<Value> {
    let label = format!("{} on {}", workload.name(), kind.name());
    let _progress = Progress::start(label);
    let duration = settings.duration;
    let events = settings.events;
    let scratch = settings.scratch.as_path();
    if !workload.supports(kind) {
        return Ok(
            json!({ "target": kind.name(), "skipped": format!("{} does not run on {}", workload.name(), kind.name()) }),
        );
    }
    match workload.clone() {
        Workload::Fsync { records_per_sync, preallocated } => {
            fsync::run(scratch, records_per_sync, preallocated, duration)
        }
        Workload::Restart => restart::run(scratch, events).await,
        Workload::Append { writers, events_per_append } => {
            on_target(kind, settings, writers, |target| append::run(target, writers, events_per_append, duration)).await
        }
        Workload::Contended { writers } => {
            on_target(kind, settings, writers, |target| contended::run(target, writers, duration)).await
        }
        Workload::Read => on_target(kind, settings, 8, |target| read::run(target, events)).await,
        Workload::Catchup => on_target(kind, settings, 8, |target| catchup::run(target, events)).await,
        Workload::Projection => on_target(kind, settings, 8, |target| projection::run(target, events)).await,
        Workload::Sql => on_target(kind, settings, 8, |target| sql::run(target, events)).await,
        Workload::Connector => on_target(kind, settings, 8, |target| connector::run(target, events)).await,
        Workload::Live => on_target(kind, settings, 8, |target| fanout::run(target, 1, duration)).await,
        Workload::LiveAcrossNodes => {
            let options = &settings.target_options;
            on_target(kind, settings, 8, |target| nodes::run(target, options, scratch, duration)).await
        }
        Workload::Fanout { subscribers } => {
            on_target(kind, settings, 8, |target| fanout::run(target, subscribers, duration)).await
        }
        Workload::Lagging { subscribers } => {
            on_target(kind, settings, 8, |target| lagging::run(target, subscribers, duration)).await
        }
        Workload::Compare { .. } => anyhow::bail!("compare is not a single measurement"),
    }
}

/// Opens `kind`, runs `body` on it, adds what the target itself reports
/// (bytes on disk, peak RSS) and closes it. A target that cannot run here
/// answers `"skipped"` instead of failing the run.
async fn on_target<F, Fut>(kind: TargetKind, settings: &Settings, connections: usize, body: F) -> anyhow::Result<Value>
where
    F: FnOnce(Arc<Target>) -> Fut,
    Fut: Future<Output = anyhow::Result<Value>>,
{
    let target = match Target::open(kind, &settings.target_options, &settings.scratch, connections).await? {
        Opened::Ready(target) => Arc::new(*target),
        Opened::Skipped(reason) => return Ok(json!({ "target": kind.name(), "skipped": reason })),
    };
    let mut report = body(Arc::clone(&target)).await.with_context(|| format!("measuring {}", kind.name()))?;
    let events = report["events"].as_u64().unwrap_or(0);
    if let (Value::Object(report), Value::Object(described)) = (&mut report, target.describe(events).await) {
        for (key, value) in described {
            report.entry(key).or_insert(value);
        }
    }
    // Tasks of the workload are done, so this is the last handle.
    if let Ok(target) = Arc::try_unwrap(target) {
        target.close().await;
    }
    Ok(report)
}

/// For each pair of targets measured, how many times faster the first is,
/// on every `*events_per_second` figure both report.
fn ratios(results: &[Value]) -> Value {
    let mut ratios = Map::new();
    for (index, first) in results.iter().enumerate() {
        for second in results.iter().skip(index + 1) {
            let (Some(first_name), Some(second_name)) = (first["target"].as_str(), second["target"].as_str()) else {
                continue;
            };
            let Some(figures) = first.as_object() else { continue };
            for (key, value) in figures {
                if !key.ends_with("events_per_second") {
                    continue;
                }
                let name = format!(
                    "{first_name}_vs_{second_name}{}",
                    key.strip_suffix("events_per_second").map_or(String::new(), |prefix| if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("_{}", prefix.trim_end_matches('_'))
                    })
                );
                ratios.insert(name, stats::ratio(value.as_f64(), second[key].as_f64()));
            }
        }
    }
    Value::Object(ratios)
}

/// Runs one workload on one target for `compare`.
async fn measure_one(workload: Workload, kind: TargetKind, settings: &Settings) -> anyhow::Result<Value> {
    let mut report = measure(&workload, kind, settings).await?;
    if let Value::Object(map) = &mut report {
        map.insert("workload".into(), json!(workload.name()));
        map.insert("parameters".into(), workload.parameters(settings));
    }
    Ok(report)
}
