use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::stats::{Latencies, event_body};

/// Bytes of zeros written ahead at a time in preallocated mode.
const PREALLOCATE_BYTES: u64 = 64 * 1024 * 1024;

/// Writes records of the workload's size to a file, `fdatasync` after every
/// `records_per_sync`: what the disk allows a durable log at best. Growing
/// the file (the plain way) makes every `fdatasync` carry a size change;
/// `preallocated` overwrites zeros synced beforehand instead, as the engine
/// does, which is the disk's real limit.
pub fn run(dir: &Path, records_per_sync: usize, preallocated: bool, duration: Duration) -> anyhow::Result<Value> {
    let path = dir.join("fsync-probe");
    let file =
        OpenOptions::new().create(true).truncate(true).write(true).open(&path).context("creating the probe file")?;
    let record = event_body(0);
    let record_bytes = record.len() + 64;
    let mut buffer = Vec::with_capacity(record_bytes * records_per_sync.max(1));
    let mut latencies = Latencies::new();
    let mut records = 0u64;
    let mut offset = 0u64;
    let mut allocated = 0u64;
    let mut preallocating = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed().saturating_sub(preallocating) < duration {
        buffer.clear();
        for _ in 0..records_per_sync.max(1) {
            buffer.extend_from_slice(&record);
            buffer.resize(buffer.len() + 64, 0);
        }
        if preallocated && offset + buffer.len() as u64 > allocated {
            // Not part of the measurement: the engine does this ahead, rarely.
            let begun = Instant::now();
            allocated = preallocate(&file, allocated, offset + buffer.len() as u64 + PREALLOCATE_BYTES)?;
            preallocating += begun.elapsed();
        }
        let write_started = Instant::now();
        file.write_all_at(&buffer, offset).context("writing")?;
        file.sync_data().context("fdatasync")?;
        latencies.record(write_started.elapsed());
        offset += buffer.len() as u64;
        records += records_per_sync.max(1) as u64;
    }
    let elapsed = (started.elapsed().saturating_sub(preallocating)).as_secs_f64();
    drop(file);
    std::fs::remove_file(&path).context("removing the probe file")?;
    Ok(json!({
        "target": "disk",
        "records_per_sync": records_per_sync,
        "preallocated": preallocated,
        "record_bytes": record_bytes,
        "seconds": elapsed,
        "events_per_second": records as f64 / elapsed,
        "syncs_per_second": latencies.count() as f64 / elapsed,
        "latency": latencies.to_json(),
    }))
}

fn preallocate(file: &File, from: u64, to: u64) -> anyhow::Result<u64> {
    let zeros = vec![0u8; 1024 * 1024];
    let mut offset = from;
    while offset < to {
        let length = (to - offset).min(zeros.len() as u64) as usize;
        file.write_all_at(zeros.get(..length).unwrap_or_default(), offset).context("preallocating")?;
        offset += length as u64;
    }
    file.sync_all().context("syncing the preallocation")?;
    Ok(to)
}
