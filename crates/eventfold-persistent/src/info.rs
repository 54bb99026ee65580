//! What GetInfo and List report about a group and its consumers.

use tokio::time::Instant;

use crate::definition::{Cursor, GroupSpec};

#[derive(Clone, Debug, PartialEq)]
pub struct GroupInfo {
    pub spec: GroupSpec,
    pub status: GroupStatus,
    pub connections: Vec<ConnectionInfo>,
    /// Events delivered per second since the previous measurement.
    pub average_per_second: f64,
    /// Events delivered (retries included) since the group started.
    pub total_items: u64,
    pub count_since_last_measurement: u64,
    pub last_checkpointed: Option<Cursor>,
    /// The last event read from the source.
    pub last_known: Option<Cursor>,
    /// Events read and waiting for a consumer, while catching up.
    pub read_buffer_count: usize,
    /// Events read and waiting for a consumer, once live.
    pub live_buffer_count: usize,
    pub retry_buffer_count: usize,
    pub in_flight: usize,
    pub parked_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    /// History is exhausted; events come as they are written.
    pub live: bool,
    pub replaying_parked: bool,
    /// Why reading the source failed last, if it did.
    pub failure: Option<String>,
}

impl GroupStatus {
    /// EventStoreDB's status words.
    pub fn describe(&self) -> String {
        let mut words = vec![if self.live { "Live" } else { "Behind" }];
        if self.replaying_parked {
            words.push("ReplayingParkedMessages");
        }
        if self.failure.is_some() {
            words.push("Faulted");
        }
        words.join(", ")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionInfo {
    pub from: String,
    pub name: String,
    pub average_items_per_second: f64,
    pub total_items: u64,
    pub count_since_last_measurement: u64,
    pub available_slots: usize,
    pub in_flight: usize,
    /// Ack-time figures (name, milliseconds), for groups with extra
    /// statistics on; empty otherwise.
    pub observed_measurements: Vec<(String, i64)>,
}

/// Counts items and reports the rate since the previous measurement.
#[derive(Debug)]
pub(crate) struct Meter {
    total: u64,
    at_last_measurement: u64,
    last_measurement: Instant,
}

impl Meter {
    pub fn new() -> Self {
        Self { total: 0, at_last_measurement: 0, last_measurement: Instant::now() }
    }

    pub fn record(&mut self, count: u64) {
        self.total += count;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// (items per second, items) since the previous call.
    pub fn measure(&mut self) -> (f64, u64) {
        let now = Instant::now();
        let count = self.total - self.at_last_measurement;
        let seconds = now.duration_since(self.last_measurement).as_secs_f64();
        self.at_last_measurement = self.total;
        self.last_measurement = now;
        let rate = if seconds > 0.0 { count as f64 / seconds } else { 0.0 };
        (rate, count)
    }
}
