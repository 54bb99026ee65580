//! What `GET /connectors[/{id}]` shows of a connector.

use serde::Serialize;

use crate::settings::RawSettings;
use crate::status::ConnectorState;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorInfo {
    pub connector_id: String,
    pub name: String,
    pub settings: RawSettings,
    #[serde(flatten)]
    pub state: ConnectorState,
    /// The checkpoint: the log position (or, on one stream, the revision)
    /// of the last event delivered or dead-lettered.
    pub position: Option<u64>,
    /// How far the last event looked at is behind the head of the log, in
    /// log positions.
    pub lag: Option<u64>,
    pub events_per_second: f64,
    pub delivered: u64,
    pub dead_lettered: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}
