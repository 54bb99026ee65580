//! The fold itself, without I/O: log events in, partition states and
//! effects out. The runner feeds it batches read from the store; `eventfold
//! projection test` and the model tests feed it events they made.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use eventfold_store::{ContentType, LINK_EVENT_TYPE, Position, RecordedEvent, TOMBSTONE_EVENT_TYPE};

use crate::runtime::{Changes, QueryRuntime, RuntimeError, SourceEvent};
use crate::time::iso8601;

pub struct Processor {
    runtime: Box<dyn QueryRuntime>,
    known: HashSet<String>,
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events given to the handlers.
    pub handled: usize,
    /// The last event of the batch, selected or not: processing resumes
    /// after it.
    pub last_position: Option<Position>,
    pub changes: Changes,
    /// Partitions seen for the first time, in that order.
    pub new_partitions: Vec<String>,
}

impl Processor {
    pub fn new(runtime: Box<dyn QueryRuntime>) -> Self {
        Self { runtime, known: HashSet::new() }
    }

    /// Puts back the states of a checkpoint.
    pub fn restore(&mut self, states: &BTreeMap<String, String>, shared: Option<&str>) -> Result<(), RuntimeError> {
        for (partition, state) in states {
            self.runtime.load_state(partition, state)?;
            self.known.insert(partition.clone());
        }
        if let Some(shared) = shared {
            self.runtime.load_shared(shared)?;
        }
        Ok(())
    }

    pub fn runtime(&mut self) -> &mut dyn QueryRuntime {
        self.runtime.as_mut()
    }

    pub fn partitions(&self) -> usize {
        self.known.len()
    }

    /// Handles `events` in order, the selected ones in runs handed to the
    /// engine at once; any fault stops the batch, and nothing of it is
    /// returned.
    pub fn process(&mut self, events: &[RecordedEvent]) -> Result<Batch, Fault> {
        let mut batch = Batch::default();
        let mut run = Vec::with_capacity(events.len());
        let mut created = CreatedText::default();
        let ids = IdTexts::of(events);
        for (index, event) in events.iter().enumerate() {
            batch.last_position = Some(event.position);
            let definition = self.runtime.definition();
            if event.event_type == TOMBSTONE_EVENT_TYPE {
                if definition.handlers.deleted && definition.selects(event.stream.as_str(), TOMBSTONE_EVENT_TYPE) {
                    // `$deleted` runs in log order: after the events before it.
                    self.handle_run(&mut run, &mut batch)?;
                    let partition = event.stream.as_str().to_owned();
                    self.runtime.handle_deleted(&partition, false).map_err(|error| Fault::at(event, error))?;
                    batch.handled += 1;
                }
                continue;
            }
            if event.event_type == LINK_EVENT_TYPE && !definition.include_links() {
                continue;
            }
            if !definition.selects(event.stream.as_str(), &event.event_type) {
                continue;
            }
            run.push(source_event_with(event, Cow::Borrowed(ids.get(index)), &mut created));
        }
        self.handle_run(&mut run, &mut batch)?;
        batch.changes = self.runtime.take_changes()?;
        Ok(batch)
    }

    fn handle_run(&mut self, run: &mut Vec<SourceEvent<'_>>, batch: &mut Batch) -> Result<(), Fault> {
        if run.is_empty() {
            return Ok(());
        }
        let handled = self.runtime.handle_batch(run).map_err(|fault| Fault {
            event: run.get(fault.index).map(|event| format!("{}@{}", event.revision, event.stream)),
            error: fault.error,
        })?;
        batch.handled += handled.handled;
        for partition in handled.partitions {
            if self.known.insert(partition.clone()) && !partition.is_empty() {
                batch.new_partitions.push(partition);
            }
        }
        run.clear();
        Ok(())
    }
}

/// Why a batch stopped: the engine's error and, when one event's handlers
/// raised it, that event (`revision@stream`). Displays as the error alone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Fault {
    pub error: RuntimeError,
    pub event: Option<String>,
}

impl Fault {
    fn at(event: &RecordedEvent, error: RuntimeError) -> Self {
        Self { error, event: Some(format!("{}@{}", event.revision, event.stream.as_str())) }
    }
}

impl From<RuntimeError> for Fault {
    fn from(error: RuntimeError) -> Self {
        Self { error, event: None }
    }
}

/// A log event as the query's handlers see it.
pub fn source_event(event: &RecordedEvent) -> SourceEvent<'_> {
    let id = event.id.0.hyphenated().to_string();
    source_event_with(event, Cow::Owned(id), &mut CreatedText::default())
}

fn source_event_with<'a>(event: &'a RecordedEvent, id: Cow<'a, str>, created: &mut CreatedText) -> SourceEvent<'a> {
    SourceEvent {
        stream: Cow::Borrowed(event.stream.as_str()),
        revision: event.revision,
        event_type: Cow::Borrowed(&event.event_type),
        event_id: id,
        data: text_of(&event.data),
        metadata: text_of(&event.metadata),
        link_metadata: None,
        is_json: event.content_type == ContentType::Json,
        created: created.of(event.created.ticks()),
    }
}

/// A batch's event ids as text, made into one string rather than one
/// allocation an event.
struct IdTexts {
    text: String,
}

impl IdTexts {
    const LENGTH: usize = uuid::fmt::Hyphenated::LENGTH;

    fn of(events: &[RecordedEvent]) -> Self {
        let mut text = String::with_capacity(events.len() * Self::LENGTH);
        let mut buffer = [0_u8; Self::LENGTH];
        for event in events {
            text.push_str(event.id.0.hyphenated().encode_lower(&mut buffer));
        }
        Self { text }
    }

    /// The id of the event at `index` of the batch.
    fn get(&self, index: usize) -> &str {
        let start = index * Self::LENGTH;
        self.text.get(start..start + Self::LENGTH).unwrap_or_default()
    }
}

/// `bytes` as text, invalid UTF-8 replaced; checking first is much cheaper
/// than the replacing pass for the usual, valid, body.
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The ISO 8601 text of the last creation time formatted: the events of
/// one append share it.
#[derive(Default)]
struct CreatedText {
    last: Option<(i64, Arc<str>)>,
}

impl CreatedText {
    fn of(&mut self, ticks: i64) -> Arc<str> {
        match &self.last {
            Some((last, text)) if *last == ticks => Arc::clone(text),
            _ => {
                let text: Arc<str> = iso8601(ticks).into();
                self.last = Some((ticks, Arc::clone(&text)));
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{EventId, StreamName, Timestamp};

    use super::*;
    use crate::runtime::{RuntimeLimits, compile};

    fn recorded(revision: u64, id: u128) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new("order-1").expect("a stream name"),
            revision,
            position: Position(revision),
            id: EventId(uuid::Uuid::from_u128(id)),
            event_type: "Placed".into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::from_static(b"{}"),
            metadata: Bytes::new(),
        }
    }

    #[test]
    fn each_event_of_a_batch_carries_its_own_id() {
        let query = "fromAll().when({ $init: function () { return { ids: [] }; }, \
            $any: function (s, e) { s.ids.push(e.eventId); } })";
        let mut processor = Processor::new(compile(query, RuntimeLimits::default()).expect("compiles"));
        let events = [recorded(0, 1), recorded(1, 0xabc), recorded(2, u128::MAX)];
        let batch = processor.process(&events).expect("processed");
        let state = batch.changes.partitions[0].state.clone().expect("a state");
        let expected: Vec<String> = events.iter().map(|event| event.id.0.hyphenated().to_string()).collect();
        assert_eq!(state, serde_json::json!({ "ids": expected }).to_string());
    }
}
