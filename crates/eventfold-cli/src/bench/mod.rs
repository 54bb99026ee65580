//! `eventfold bench`: measurements of the embedded engine in-process, next
//! to the raw fsync rate of the same disk measured in the same run. Prints
//! one JSON document; the figures are for reading, never for asserting.

mod append;
mod fsync;
mod restart;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    workload: Workload,
    /// Directory for the throwaway databases and files (removed afterwards).
    #[arg(long, global = true, env = "EVENTFOLD_BENCH_DIR")]
    dir: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Workload {
    /// Raw write + fdatasync loop: the disk's own limit.
    Fsync {
        #[arg(long, default_value_t = 1)]
        records_per_sync: usize,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Concurrent appenders, in-process.
    Append {
        #[arg(long, default_value_t = 1)]
        writers: usize,
        #[arg(long, default_value_t = 1)]
        events_per_append: usize,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Time to reopen a database holding this many events.
    Restart {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
    },
    /// The standard set: fsync 1 and 100, appends 1/64 writers × 1/100
    /// events, restart; with ratios.
    Matrix {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1_000_000)]
        restart_events: u64,
    },
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let scratch = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir_in("."),
    }
    .context("creating a scratch directory")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let report = match args.workload {
        Workload::Fsync { records_per_sync, seconds } => {
            fsync::run(scratch.path(), records_per_sync, Duration::from_secs_f64(seconds))?
        }
        Workload::Append { writers, events_per_append, seconds } => runtime.block_on(append::run(
            scratch.path(),
            writers,
            events_per_append,
            Duration::from_secs_f64(seconds),
        ))?,
        Workload::Restart { events } => runtime.block_on(restart::run(scratch.path(), events))?,
        Workload::Matrix { seconds, restart_events } => {
            runtime.block_on(matrix(scratch.path(), Duration::from_secs_f64(seconds), restart_events))?
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn matrix(dir: &std::path::Path, duration: Duration, restart_events: u64) -> anyhow::Result<Value> {
    let fsync_1 = fsync::run(dir, 1, duration)?;
    let fsync_100 = fsync::run(dir, 100, duration)?;
    let mut appends = Vec::new();
    for (writers, events_per_append) in [(1, 1), (64, 1), (1, 100), (64, 100)] {
        appends.push(append::run(dir, writers, events_per_append, duration).await?);
    }
    let restart = restart::run(dir, restart_events).await?;
    let rate = |report: &Value| report["events_per_second"].as_f64().unwrap_or(0.0);
    let ratio = |numerator: f64, denominator: f64| if denominator > 0.0 { numerator / denominator } else { 0.0 };
    let ratios = json!({
        "append_1x1_vs_fsync_1": ratio(rate(&appends[0]), rate(&fsync_1)),
        "append_64x1_vs_fsync_1": ratio(rate(&appends[1]), rate(&fsync_1)),
        "append_1x100_vs_fsync_100": ratio(rate(&appends[2]), rate(&fsync_100)),
        "append_64x100_vs_fsync_100": ratio(rate(&appends[3]), rate(&fsync_100)),
    });
    Ok(json!({ "fsync": [fsync_1, fsync_100], "append": appends, "restart": restart, "ratio": ratios }))
}
