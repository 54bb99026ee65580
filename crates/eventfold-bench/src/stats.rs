use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies of one measurement, in an HDR histogram (nanoseconds, three
/// significant digits): constant memory however long the run, and tasks
/// merge their own histograms at the end instead of sharing a lock.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Self {
        // Auto-resizing: a stall longer than any fixed bound is still counted.
        let mut histogram = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
        histogram.auto(true);
        Self(histogram)
    }

    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        // Cannot fail: the histogram grows to fit.
        let _ = self.0.record(nanos);
    }

    pub fn merge(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// p50/p99/p999 in microseconds.
    pub fn to_json(&self) -> Value {
        let at = |quantile: f64| {
            if self.0.is_empty() { 0.0 } else { self.0.value_at_quantile(quantile) as f64 / 1e3 }
        };
        json!({
            "p50_us": at(0.50),
            "p99_us": at(0.99),
            "p999_us": at(0.999),
            "max_us": if self.0.is_empty() { 0.0 } else { self.0.max() as f64 / 1e3 },
            "samples": self.0.len(),
        })
    }
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

/// Peak resident set size of a process (this one for `"self"`), from
/// `VmHWM` in /proc: the most memory it has held at once.
pub fn peak_rss_bytes(pid: &str) -> Option<u64> {
    status_kilobytes(pid, "VmHWM:").map(|kilobytes| kilobytes * 1024)
}

/// Resident set size of a process now (`VmRSS`).
pub fn rss_bytes(pid: &str) -> Option<u64> {
    status_kilobytes(pid, "VmRSS:").map(|kilobytes| kilobytes * 1024)
}

fn status_kilobytes(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `numerator / denominator`, or null when there is nothing to divide by,
/// so a skipped target shows as missing rather than as zero.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Value {
    quotient(numerator, denominator).map_or(Value::Null, |quotient| json!(quotient))
}

/// `numerator / denominator` where both are known and the denominator is
/// positive.
pub fn quotient(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if denominator > 0.0 => Some(numerator / denominator),
        _ => None,
    }
}

/// Events per second of `events` over `elapsed`.
pub fn rate(events: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 { events as f64 / seconds } else { 0.0 }
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
