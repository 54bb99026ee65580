//! What the projections routes answer and accept.

use eventfold_projections::{Mode, ProjectionRecord, ProjectionStatistics};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModeBody {
    #[default]
    Continuous,
    OneTime,
    Transient,
}

impl From<ModeBody> for Mode {
    fn from(mode: ModeBody) -> Self {
        match mode {
            ModeBody::Continuous => Mode::Continuous,
            ModeBody::OneTime => Mode::OneTime,
            ModeBody::Transient => Mode::Transient,
        }
    }
}

impl From<Mode> for ModeBody {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Continuous => ModeBody::Continuous,
            Mode::OneTime => ModeBody::OneTime,
            Mode::Transient => ModeBody::Transient,
        }
    }
}

/// A projection and how it is doing.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionBody {
    pub name: String,
    pub mode: ModeBody,
    /// As clients poll it: `Running`, `Stopped`, `Faulted`, `Completed`,
    /// `Aborted`, `Deleting/Stopped`, with ` (Enabled)` when a stopped or
    /// faulted projection is enabled.
    pub status: String,
    pub enabled: bool,
    /// Why it faulted, when it did.
    pub state_reason: String,
    /// Where it is in the log, as KurrentDB's checkpoint tags print it.
    pub position: String,
    /// Percent of the log processed, 0 to 100.
    pub progress: f32,
    pub last_checkpoint: String,
    pub events_processed_after_restart: i64,
    /// Events handled per second since its task started.
    pub events_per_second: f64,
    /// Bytes of log between the head and its position.
    pub lag_bytes: u64,
    pub epoch: i64,
    pub version: i64,
    pub partitions_cached: i32,
    pub buffered_events: i64,
    pub core_processing_time_ms: i64,
}

impl From<ProjectionStatistics> for ProjectionBody {
    fn from(statistics: ProjectionStatistics) -> Self {
        Self {
            name: statistics.name,
            mode: statistics.mode.into(),
            status: statistics.status,
            enabled: statistics.enabled,
            state_reason: statistics.state_reason,
            position: statistics.position,
            progress: if statistics.progress.is_finite() { statistics.progress } else { 0.0 },
            last_checkpoint: statistics.last_checkpoint,
            events_processed_after_restart: statistics.events_processed_after_restart,
            events_per_second: if statistics.events_per_second.is_finite() {
                statistics.events_per_second
            } else {
                0.0
            },
            lag_bytes: statistics.lag_bytes,
            epoch: statistics.epoch,
            version: statistics.version,
            partitions_cached: statistics.partitions_cached,
            buffered_events: statistics.buffered_events,
            core_processing_time_ms: statistics.core_processing_time_ms,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ProjectionList {
    pub projections: Vec<ProjectionBody>,
}

/// One projection: its statistics, query and settings.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionDetail {
    pub statistics: ProjectionBody,
    /// The JavaScript source.
    pub query: String,
    pub emit_enabled: bool,
    pub track_emitted_streams: bool,
    /// A standard projection, served from the index: its query cannot change.
    pub system: bool,
}

impl ProjectionDetail {
    pub fn new(statistics: ProjectionStatistics, record: ProjectionRecord) -> Self {
        Self {
            system: record.is_native(),
            statistics: statistics.into(),
            query: record.query,
            emit_enabled: record.emit_enabled,
            track_emitted_streams: record.track_emitted_streams,
        }
    }
}

/// A new projection.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    /// Ignored for `OneTime`, which is given a fresh id as its name.
    pub name: String,
    #[serde(default)]
    pub mode: ModeBody,
    /// The JavaScript source.
    pub query: String,
    /// Whether it may emit and link events (`Continuous` only).
    #[serde(default)]
    pub emit_enabled: bool,
    /// Whether the streams it emits to are tracked, to delete them with it.
    #[serde(default)]
    pub track_emitted_streams: bool,
    /// Whether it starts at once (default) or is created stopped.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A new query for a projection.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryBody {
    pub query: String,
    /// Whether it may emit; unchanged when left out.
    #[serde(default)]
    pub emit_enabled: Option<bool>,
}

/// A partition's state and result, as JSON (null before it has one).
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct PartitionBody {
    /// `""` is the root partition.
    pub partition: String,
    #[schema(value_type = Value)]
    pub state: Option<Value>,
    /// The state through `transformBy`/`filterBy`.
    #[schema(value_type = Value)]
    pub result: Option<Value>,
}

impl PartitionBody {
    pub fn new(partition: String, state: Option<String>, result: Option<String>) -> Self {
        Self { partition, state: state.map(json), result: result.map(json) }
    }
}

/// A state as the JSON it is; text that is not JSON comes as a string.
fn json(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct PartitionList {
    pub partitions: Vec<PartitionBody>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct EmittedStreams {
    /// The streams it emitted or linked to, by name, when it tracks them.
    pub streams: Vec<String>,
}
