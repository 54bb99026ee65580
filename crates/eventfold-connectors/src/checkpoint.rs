//! Where a connector resumes: "after this point of its source" (a log
//! position on `$all`, a revision on one stream). An at-least-once
//! connector keeps it in `$connectors/<id>/checkpoints`, written after the
//! sink acknowledged, at most every N events or T; an exactly-once sink
//! keeps it with the data.

use eventfold_store::{EventStore, StorageError, StorageErrorKind};
use serde::{Deserialize, Serialize};

use crate::streams::{append_any, checkpoint_stream, json_event, last_event};

pub const CHECKPOINT_EVENT_TYPE: &str = "$ConnectorCheckpoint";

#[derive(Serialize, Deserialize)]
struct CheckpointRecord {
    /// `None` after a reset to the start.
    position: Option<u64>,
}

pub async fn load(store: &dyn EventStore, id: &str) -> Result<Option<u64>, StorageError> {
    let last = last_event(store, &checkpoint_stream(id)).await.map_err(|error| storage(&error))?;
    let Some(event) = last else { return Ok(None) };
    match serde_json::from_slice::<CheckpointRecord>(&event.data) {
        Ok(record) => Ok(record.position),
        Err(error) => {
            // Unreadable: start over from the initial position rather than
            // never start (delivery is at least once anyway).
            tracing::error!(connector = id, %error, "unreadable connector checkpoint; starting from the initial position");
            Ok(None)
        }
    }
}

pub async fn save(store: &dyn EventStore, id: &str, position: Option<u64>) -> Result<(), StorageError> {
    let event = json_event(CHECKPOINT_EVENT_TYPE, &CheckpointRecord { position }).map_err(|error| storage(&error))?;
    append_any(store, &checkpoint_stream(id), vec![event]).await.map(|_| ()).map_err(|error| storage(&error))
}

pub fn storage(error: &dyn std::fmt::Display) -> StorageError {
    StorageError::new(StorageErrorKind::Io, error.to_string())
}
