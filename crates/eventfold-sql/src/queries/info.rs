use serde::Serialize;

/// Whether a query's task runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state", content = "reason")]
pub enum QueryState {
    Running,
    /// The task ended without a failure (the node is stopping).
    Stopped,
    /// The task failed, or could not start; the reason says why.
    Faulted(String),
}

/// What `GET /api/v1/queries/{name}` answers.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryInfo {
    pub name: String,
    pub sql: String,
    /// The position the query was (re)started after, if not the start.
    pub from: Option<u64>,
    pub columns: Vec<String>,
    #[serde(flatten)]
    pub state: QueryState,
    /// The position of the last event read.
    pub position: Option<u64>,
    /// The log's head position, for the lag.
    pub head_position: Option<u64>,
    /// How far the query is behind the head, in positions.
    pub lag: u64,
    /// Whether it has read all history and follows the log live.
    pub live: bool,
    pub events_read: u64,
    /// Events read per second since the previous look (0 on the first).
    pub events_per_second: f64,
    /// Rows written to `$query-{name}` by this run of the task.
    pub rows_written: u64,
    pub open_windows: usize,
    /// Events left out as too late for their window (see `lateness`).
    pub late_events: u64,
    pub result_stream: String,
}

/// The rows of the windows closed so far, oldest first; of the rows that
/// share a `$key` (a window on a data field updated by late events), only
/// the latest.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<serde_json::Value>,
    /// Older rows were left out to keep the answer within its limit.
    pub truncated: bool,
}
