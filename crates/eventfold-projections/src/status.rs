//! What a projection reports: its status, how far it is, and why it
//! faulted. Written by its task, read by statistics at any time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use eventfold_store::Position;

use crate::mode::Mode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Stopped,
    Starting,
    Running,
    Completed,
    Aborted,
    Faulted,
    Deleting,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stopped => "Stopped",
            Status::Starting => "Starting",
            Status::Running => "Running",
            Status::Completed => "Completed",
            Status::Aborted => "Aborted",
            Status::Faulted => "Faulted",
            Status::Deleting => "Deleting",
        }
    }
}

/// One projection's statistics, as every face reports them.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectionStatistics {
    pub name: String,
    pub mode: Mode,
    /// As clients poll it: `Running`, `Stopped`, `Faulted`, `Completed`,
    /// `Aborted`, `Deleting/Stopped`.
    pub status: String,
    pub enabled: bool,
    pub state_reason: String,
    pub position: String,
    /// Percent of the log processed, 0 to 100.
    pub progress: f32,
    pub last_checkpoint: String,
    pub events_processed_after_restart: i64,
    pub epoch: i64,
    pub version: i64,
    pub partitions_cached: i32,
    pub checkpoint_status: String,
    pub buffered_events: i64,
    pub writes_in_progress: i32,
    pub core_processing_time_ms: i64,
    /// Events handled per second since the projection's task started.
    pub events_per_second: f64,
    /// Bytes of log between the head and the projection's position.
    pub lag_bytes: u64,
}

#[derive(Debug)]
pub struct LiveStatus {
    pub status: Status,
    pub reason: String,
    pub position: Option<Position>,
    pub last_checkpoint: Option<Position>,
    pub events_processed: u64,
    pub partitions: usize,
    pub buffered: usize,
    pub processing_nanos: u128,
    pub started: Instant,
    pub epoch: i64,
    pub version: i64,
}

impl Default for LiveStatus {
    fn default() -> Self {
        Self {
            status: Status::Stopped,
            reason: String::new(),
            position: None,
            last_checkpoint: None,
            events_processed: 0,
            partitions: 0,
            buffered: 0,
            processing_nanos: 0,
            started: Instant::now(),
            epoch: -1,
            version: -1,
        }
    }
}

/// Shared between a projection's task and whoever asks for statistics.
#[derive(Clone, Debug, Default)]
pub struct StatusCell(Arc<Mutex<LiveStatus>>);

impl StatusCell {
    pub fn update<T>(&self, change: impl FnOnce(&mut LiveStatus) -> T) -> T {
        let mut live = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut live)
    }

    pub fn status(&self) -> Status {
        self.update(|live| live.status)
    }

    pub fn set(&self, status: Status, reason: impl Into<String>) {
        let reason = reason.into();
        self.update(|live| {
            live.status = status;
            live.reason = reason;
        });
    }

    pub fn statistics(&self, name: &str, mode: Mode, enabled: bool, head: Option<Position>) -> ProjectionStatistics {
        self.update(|live| {
            let mut status = live.status.as_str().to_owned();
            if live.status == Status::Deleting {
                status = "Deleting/Stopped".into();
            } else if enabled && matches!(live.status, Status::Stopped | Status::Faulted) {
                status.push_str(" (Enabled)");
            }
            let head = head.map_or(0, |head| head.0);
            let at = live.position.map_or(0, |position| position.0);
            let progress = if live.status == Status::Completed || head == 0 || at >= head {
                100.0
            } else {
                (at as f64 * 100.0 / head as f64) as f32
            };
            let seconds = live.started.elapsed().as_secs_f64();
            ProjectionStatistics {
                name: name.to_owned(),
                mode,
                status,
                enabled,
                state_reason: live.reason.clone(),
                position: live.position.map_or_else(|| "C:-1/P:-1".into(), tag),
                progress,
                last_checkpoint: live.last_checkpoint.map_or_else(|| "C:-1/P:-1".into(), tag),
                events_processed_after_restart: i64::try_from(live.events_processed).unwrap_or(i64::MAX),
                epoch: live.epoch,
                version: live.version,
                partitions_cached: i32::try_from(live.partitions).unwrap_or(i32::MAX),
                checkpoint_status: String::new(),
                buffered_events: i64::try_from(live.buffered).unwrap_or(i64::MAX),
                writes_in_progress: 0,
                core_processing_time_ms: i64::try_from(live.processing_nanos / 1_000_000).unwrap_or(i64::MAX),
                events_per_second: if seconds > 0.0 { live.events_processed as f64 / seconds } else { 0.0 },
                lag_bytes: head.saturating_sub(at),
            }
        })
    }
}

/// A position as KurrentDB's checkpoint tags print it.
pub fn tag(position: Position) -> String {
    format!("C:{0}/P:{0}", position.0)
}
