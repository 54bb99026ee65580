use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use super::stats::{Latencies, event_body};

/// Appends records of the workload's size to a file, `fdatasync` after every
/// `records_per_sync`: what the disk allows a durable log at best.
pub fn run(dir: &Path, records_per_sync: usize, duration: Duration) -> anyhow::Result<Value> {
    let path = dir.join("fsync-probe");
    let mut file = OpenOptions::new().create(true).append(true).open(&path).context("creating the probe file")?;
    let record = event_body(0);
    let record_bytes = record.len() + 64;
    let mut buffer = Vec::with_capacity(record_bytes * records_per_sync.max(1));
    let mut latencies = Latencies::new();
    let mut records = 0u64;
    let started = Instant::now();
    while started.elapsed() < duration {
        buffer.clear();
        for _ in 0..records_per_sync.max(1) {
            buffer.extend_from_slice(&record);
            buffer.resize(buffer.len() + 64, 0);
        }
        let write_started = Instant::now();
        file.write_all(&buffer).context("writing")?;
        file.sync_data().context("fdatasync")?;
        latencies.record(write_started.elapsed());
        records += records_per_sync.max(1) as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path).context("removing the probe file")?;
    Ok(json!({
        "target": "disk",
        "records_per_sync": records_per_sync,
        "record_bytes": record_bytes,
        "seconds": elapsed,
        "events_per_second": records as f64 / elapsed,
        "syncs_per_second": latencies.count() as f64 / elapsed,
        "latency": latencies.to_json(),
    }))
}
