//! The optional JavaScript transform (`transform`): run on each event that
//! passed the filters, before the sink, it may change what the sink sees.
//!
//! The code is a function (`function (e) { ... }`, `e => ...`) or the body
//! of one, given the event as `e`: `{stream, eventType, data, metadata,
//! eventId, revision, position, isJson}` with JSON data and metadata
//! parsed. What it returns becomes the event's data (as JSON); setting
//! `e.stream` or `e.eventType` renames what the sink sees; returning
//! `null` or `undefined` drops the event. The log position and revision
//! stay the event's, so checkpoints are unchanged.
//!
//! Each event runs under a deadline (`transformTimeoutMs`, 250) and the
//! connector's JavaScript heap is capped (`transformMemoryMb`, 64), the
//! mechanisms projections use. An event whose transform throws or runs out
//! of either goes to the dead-letter stream with the reason, and the
//! connector goes on. A syntax error is refused at create.

mod engine;
#[cfg(test)]
mod tests;

use std::time::Duration;

use bytes::Bytes;
use eventfold_store::{ContentType, RecordedEvent, StreamName};

use crate::error::InvalidSettings;
use crate::settings::Reader;
use engine::{Engine, Input};

const CODE: &str = "transform";
const TIMEOUT: &str = "transformTimeoutMs";
const MEMORY: &str = "transformMemoryMb";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TransformLimits {
    /// The longest one event's transform may run.
    pub deadline: Duration,
    /// The connector's JavaScript heap, in bytes.
    pub memory_bytes: usize,
}

/// A transform that compiled: the code and its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TransformSettings {
    code: String,
    limits: TransformLimits,
}

impl TransformSettings {
    /// The transform the settings hold, compiled once to refuse what
    /// cannot run.
    pub fn from_settings(reader: &Reader<'_>) -> Result<Option<Self>, InvalidSettings> {
        let limits = TransformLimits {
            deadline: Duration::from_millis(reader.number(TIMEOUT, 1..=60_000, 250)?),
            memory_bytes: reader.number(MEMORY, 1..=4096, 64)? as usize * 1024 * 1024,
        };
        let Some(code) = reader.text(CODE).filter(|code| !code.trim().is_empty()) else {
            return Ok(None);
        };
        let settings = Self { code: code.to_owned(), limits };
        settings.start().map_err(|reason| InvalidSettings::new(CODE, &reason))?;
        Ok(Some(settings))
    }

    /// A running transform, for one connector's task.
    pub fn start(&self) -> Result<Transformer, String> {
        Ok(Transformer { engine: Engine::compile(&self.code, self.limits)? })
    }
}

pub(crate) struct Transformer {
    engine: Engine,
}

impl Transformer {
    /// The event as the sink is to see it, `None` when the transform drops
    /// it, or why the transform failed for it.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<Option<RecordedEvent>, String> {
        let data = String::from_utf8_lossy(&event.data);
        let metadata = String::from_utf8_lossy(&event.metadata);
        let event_id = event.id.to_string();
        let input = Input {
            stream: event.stream.as_str(),
            event_type: &event.event_type,
            data: &data,
            is_json: event.content_type == ContentType::Json,
            metadata: &metadata,
            event_id: &event_id,
            revision: event.revision,
            position: event.position.0,
        };
        let Some((stream, event_type, data)) = self.engine.call(&input)? else { return Ok(None) };
        let stream = StreamName::new(&stream).map_err(|error| {
            format!("the transform set the stream to `{stream}`, which is not a stream name: {error}")
        })?;
        if event_type.is_empty() {
            return Err("the transform set an empty event type".into());
        }
        Ok(Some(RecordedEvent {
            stream,
            event_type,
            content_type: ContentType::Json,
            data: Bytes::from(data),
            ..event.clone()
        }))
    }
}
