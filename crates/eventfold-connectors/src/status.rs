//! What a connector reports: its state, where it is, and counters, shared
//! between its task (which writes) and the manager (which reads), and
//! exported as metrics labelled by connector id.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Metric names, as `/metrics` shows them.
pub mod metric_names {
    pub const DELIVERED: &str = "eventfold_connector_delivered_events_total";
    pub const DEAD_LETTERED: &str = "eventfold_connector_dead_lettered_events_total";
    pub const ERRORS: &str = "eventfold_connector_errors_total";
    pub const POSITION: &str = "eventfold_connector_position";
    pub const LAG: &str = "eventfold_connector_lag";
    pub const RUNNING: &str = "eventfold_connector_running";
}

/// The span over which events/s is measured.
const RATE_WINDOW: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ConnectorState {
    Stopped,
    Running,
    /// Stopped by a fault it cannot get past by itself (settings that no
    /// longer build a sink, say); `start` tries again.
    Faulted {
        reason: String,
    },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub position: Option<u64>,
    pub lag: Option<u64>,
    pub delivered: u64,
    pub dead_lettered: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub events_per_second: f64,
    window_start: Option<Instant>,
    window_count: u64,
}

/// A connector's live status; one per connector, kept across restarts of
/// its task so counters add up for the life of the process.
#[derive(Clone)]
pub(crate) struct SharedStatus {
    id: Arc<str>,
    state: Arc<Mutex<ConnectorState>>,
    counters: Arc<Mutex<Counters>>,
}

impl SharedStatus {
    pub fn new(id: &str) -> Self {
        Self {
            id: Arc::from(id),
            state: Arc::new(Mutex::new(ConnectorState::Stopped)),
            counters: Arc::new(Mutex::new(Counters::default())),
        }
    }

    pub fn state(&self) -> ConnectorState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_state(&self, state: ConnectorState) {
        let running = u8::from(state == ConnectorState::Running);
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
        metrics::gauge!(metric_names::RUNNING, "connector" => self.id.to_string()).set(f64::from(running));
    }

    pub fn counters(&self) -> Counters {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // A rate not refreshed for a whole window is stale: nothing came.
        if counters.window_start.is_none_or(|start| start.elapsed() > RATE_WINDOW * 2) {
            counters.events_per_second = 0.0;
        }
        counters
    }

    /// Where the connector is (`position`: its checkpoint value) and how
    /// far its last event is behind the head of the log (`lag`, in log
    /// positions).
    pub fn set_position(&self, position: Option<u64>, lag: Option<u64>) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.position = position;
        counters.lag = lag;
        drop(counters);
        let label = self.id.to_string();
        if let Some(position) = position {
            #[allow(clippy::cast_precision_loss, reason = "a gauge is a float")]
            metrics::gauge!(metric_names::POSITION, "connector" => label.clone()).set(position as f64);
        }
        if let Some(lag) = lag {
            #[allow(clippy::cast_precision_loss, reason = "a gauge is a float")]
            metrics::gauge!(metric_names::LAG, "connector" => label).set(lag as f64);
        }
    }

    pub fn delivered(&self, count: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.delivered += count;
        let now = Instant::now();
        let start = *counters.window_start.get_or_insert(now);
        counters.window_count += count;
        let elapsed = now.duration_since(start);
        if elapsed >= RATE_WINDOW {
            #[allow(clippy::cast_precision_loss, reason = "a rate is a float")]
            let rate = counters.window_count as f64 / elapsed.as_secs_f64();
            counters.events_per_second = rate;
            counters.window_start = Some(now);
            counters.window_count = 0;
        }
        drop(counters);
        metrics::counter!(metric_names::DELIVERED, "connector" => self.id.to_string()).increment(count);
    }

    pub fn dead_lettered(&self) {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner).dead_lettered += 1;
        metrics::counter!(metric_names::DEAD_LETTERED, "connector" => self.id.to_string()).increment(1);
    }

    pub fn error(&self, error: &str) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.errors += 1;
        counters.last_error = Some(error.to_owned());
        drop(counters);
        metrics::counter!(metric_names::ERRORS, "connector" => self.id.to_string()).increment(1);
    }
}
