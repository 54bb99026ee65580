use std::time::Duration;

use serde_json::{Value, json};

/// Latency percentiles in microseconds from unsorted samples.
pub fn percentiles(mut samples: Vec<Duration>) -> Value {
    samples.sort_unstable();
    let at = |quantile: f64| {
        let index = ((samples.len() as f64 * quantile).ceil() as usize).saturating_sub(1);
        samples.get(index.min(samples.len().saturating_sub(1))).map_or(0.0, |latency| latency.as_secs_f64() * 1e6)
    };
    json!({ "p50_us": at(0.50), "p99_us": at(0.99), "p999_us": at(0.999), "samples": samples.len() })
}

/// Bytes of all files under `dir`.
pub fn directory_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => directory_bytes(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Peak resident set size of this process, from /proc.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// A JSON event body of about 200 bytes, as the benchmark workload uses.
pub fn event_body(sequence: u64) -> Vec<u8> {
    let mut body = format!(
        r#"{{"orderId":"order-{sequence:012}","customer":"customer-{:06}","amount":{}.{:02},"currency":"EUR","items":3,"note":""#,
        sequence % 100_000,
        sequence % 1000,
        sequence % 100
    );
    while body.len() < 198 {
        body.push('x');
    }
    body.push_str("\"}");
    body.into_bytes()
}
