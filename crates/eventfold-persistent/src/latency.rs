//! A consumer's "extra statistics": how long it takes to ack what it was
//! sent, over its most recent acks. Kept only for groups created with
//! `extra_statistics`, as KurrentDB does, and reported by GetInfo as the
//! connection's observed measurements.

use std::collections::VecDeque;
use std::time::Duration;

/// Acks remembered per consumer: bounds the memory (8 bytes each) and makes
/// the figures describe recent behaviour, not the consumer's whole life.
pub(crate) const LATENCY_WINDOW: usize = 2048;

/// The names KurrentDB's clients know, with the quantile each stands for.
const QUANTILES: [(&str, f64); 14] = [
    ("Fastest", 0.0),
    ("Quintile 1", 0.2),
    ("Quintile 2", 0.4),
    ("Quintile 3", 0.6),
    ("Quintile 4", 0.8),
    ("Quintile 5", 1.0),
    ("Median", 0.5),
    ("90%", 0.9),
    ("95%", 0.95),
    ("99%", 0.99),
    ("99.5%", 0.995),
    ("99.9%", 0.999),
    ("99.99%", 0.9999),
    ("Highest", 1.0),
];

/// Send-to-ack times of a consumer's most recent acks, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct AckLatencies {
    recent: VecDeque<u64>,
}

impl AckLatencies {
    pub fn record(&mut self, latency: Duration) {
        if self.recent.len() == LATENCY_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// (name, milliseconds) for every figure, plus the mean; nothing before
    /// the first ack. Milliseconds, as KurrentDB reports them, rounded up so
    /// that a sub-millisecond ack does not read as "no time at all".
    pub fn measurements(&self) -> Vec<(String, i64)> {
        if self.recent.is_empty() {
            return Vec::new();
        }
        let mut sorted: Vec<u64> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let last = sorted.len() - 1;
        let at = |quantile: f64| {
            let index = ((last as f64) * quantile).round() as usize;
            sorted.get(index.min(last)).copied().unwrap_or(0)
        };
        let mean = sorted.iter().map(|&micros| u128::from(micros)).sum::<u128>() / sorted.len() as u128;
        let mut measurements: Vec<(String, i64)> =
            QUANTILES.iter().map(|(name, quantile)| ((*name).to_owned(), milliseconds(at(*quantile)))).collect();
        measurements.push(("Mean".to_owned(), milliseconds(u64::try_from(mean).unwrap_or(u64::MAX))));
        measurements
    }
}

fn milliseconds(micros: u64) -> i64 {
    i64::try_from(micros.div_ceil(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(measurements: &[(String, i64)], name: &str) -> i64 {
        measurements.iter().find(|(key, _)| key == name).map(|(_, value)| *value).expect(name)
    }

    #[test]
    fn figures_are_quantiles_of_the_recent_acks_in_milliseconds() {
        let mut latencies = AckLatencies::default();
        assert!(latencies.measurements().is_empty(), "nothing before the first ack");
        for millis in 1..=100 {
            latencies.record(Duration::from_millis(millis));
        }
        let measurements = latencies.measurements();
        assert_eq!(figure(&measurements, "Fastest"), 1);
        assert_eq!(figure(&measurements, "Highest"), 100);
        assert_eq!(figure(&measurements, "Median"), 51);
        assert_eq!(figure(&measurements, "90%"), 90);
        assert_eq!(figure(&measurements, "Mean"), 51, "50.5 ms rounds up");
        assert_eq!(measurements.len(), QUANTILES.len() + 1);
    }

    #[test]
    fn only_the_most_recent_acks_count_and_sub_millisecond_acks_read_as_one() {
        let mut latencies = AckLatencies::default();
        latencies.record(Duration::from_secs(60));
        for _ in 0..LATENCY_WINDOW {
            latencies.record(Duration::from_micros(300));
        }
        let measurements = latencies.measurements();
        assert_eq!(figure(&measurements, "Highest"), 1, "the minute-long ack left the window");
        assert_eq!(figure(&measurements, "Fastest"), 1);
    }
}
