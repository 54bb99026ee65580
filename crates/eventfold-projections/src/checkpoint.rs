//! A continuous projection's checkpoint: the position it has processed up
//! to, the state of every partition at that position, and which streams it
//! has emitted to. All of it is written in the same transaction as the
//! batch's emitted events, so what is read back here always agrees with
//! what was emitted.

use std::collections::{BTreeMap, BTreeSet};

use eventfold_store::{EventStore, Position, RecordedEvent};
use serde::{Deserialize, Serialize};

use crate::error::ProjectionError;
use crate::names::ProjectionStreams;
use crate::store_io::{all_events, last_event};

/// The metadata of checkpoints, partitions and emitted events: where in
/// the log they were made (KurrentDB's `$v`, `$c`, `$p`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "$v")]
    pub version: String,
    #[serde(rename = "$c")]
    pub commit: i64,
    #[serde(rename = "$p")]
    pub prepare: i64,
    /// The shared state of a `biState` projection.
    #[serde(rename = "$shared", default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
}

impl Tag {
    pub fn new(epoch: i64, version: i64, position: Option<Position>) -> Self {
        let at = position.map_or(-1, |position| i64::try_from(position.0).unwrap_or(i64::MAX));
        Self { version: format!("{epoch}:{version}:1"), commit: at, prepare: at, shared: None }
    }

    pub fn epoch(&self) -> Option<i64> {
        self.version.split(':').next()?.parse().ok()
    }

    pub fn position(&self) -> Option<Position> {
        u64::try_from(self.commit).ok().map(Position)
    }

    fn of(event: &RecordedEvent) -> Option<Tag> {
        serde_json::from_slice(&event.metadata).ok()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Processed up to and including this position; `None`: from the start.
    pub position: Option<Position>,
    /// Of the checkpoint stream: the next checkpoint expects it.
    pub revision: Option<u64>,
    pub states: BTreeMap<String, String>,
    pub shared: Option<String>,
    pub emitted_streams: BTreeSet<String>,
}

/// Reads the checkpoint of `epoch`; one of another epoch (before a reset)
/// counts as none, and so do its partitions.
pub async fn load(
    store: &dyn EventStore,
    streams: &ProjectionStreams,
    epoch: i64,
) -> Result<Checkpoint, ProjectionError> {
    let mut checkpoint = Checkpoint::default();
    let Some(last) = last_event(store, &streams.checkpoint()).await? else {
        return Ok(checkpoint);
    };
    checkpoint.revision = Some(last.revision);
    let Some(tag) = Tag::of(&last).filter(|tag| tag.epoch() == Some(epoch)) else {
        return Ok(checkpoint);
    };
    checkpoint.position = tag.position();
    checkpoint.shared = tag.shared;
    if let Some(state) = json_text(&last.data) {
        checkpoint.states.insert(String::new(), state);
    }
    for registered in all_events(store, &streams.partitions()).await? {
        if Tag::of(&registered).and_then(|tag| tag.epoch()) != Some(epoch) {
            continue;
        }
        let Ok(partition) = String::from_utf8(registered.data.to_vec()) else { continue };
        let Some(saved) = last_event(store, &streams.partition_checkpoint(&partition)).await? else { continue };
        if Tag::of(&saved).and_then(|tag| tag.epoch()) != Some(epoch) {
            continue;
        }
        if let Some(state) = json_text(&saved.data) {
            checkpoint.states.insert(partition, state);
        }
    }
    for tracked in all_events(store, &streams.emitted_streams()).await? {
        if let Ok(stream) = String::from_utf8(tracked.data.to_vec()) {
            checkpoint.emitted_streams.insert(stream);
        }
    }
    Ok(checkpoint)
}

fn json_text(data: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    (!text.is_empty()).then(|| text.to_owned())
}
