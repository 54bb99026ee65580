//! The fold itself, without I/O: log events in, partition states and
//! effects out. The runner feeds it batches read from the store; `eventfold
//! projection test` and the model tests feed it events they made.

use std::collections::{BTreeMap, HashSet};

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

    /// Handles `events` in order; any fault stops the batch.
    pub fn process(&mut self, events: &[RecordedEvent]) -> Result<Batch, RuntimeError> {
        let mut batch = Batch::default();
        for event in events {
            batch.last_position = Some(event.position);
            let definition = self.runtime.definition();
            if event.event_type == TOMBSTONE_EVENT_TYPE {
                if definition.handlers.deleted && definition.selects(event.stream.as_str(), TOMBSTONE_EVENT_TYPE) {
                    let partition = event.stream.as_str().to_owned();
                    self.runtime.handle_deleted(&partition, false)?;
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
            let source = source_event(event);
            if let Some(partition) = self.runtime.handle(&source)? {
                batch.handled += 1;
                if self.known.insert(partition.clone()) && !partition.is_empty() {
                    batch.new_partitions.push(partition);
                }
            }
        }
        batch.changes = self.runtime.take_changes()?;
        Ok(batch)
    }
}

/// A log event as the query's handlers see it.
pub fn source_event(event: &RecordedEvent) -> SourceEvent {
    SourceEvent {
        stream: event.stream.as_str().to_owned(),
        revision: event.revision,
        event_type: event.event_type.clone(),
        event_id: event.id.to_string(),
        data: String::from_utf8_lossy(&event.data).into_owned(),
        metadata: String::from_utf8_lossy(&event.metadata).into_owned(),
        link_metadata: None,
        is_json: event.content_type == ContentType::Json,
        created: iso8601(event.created.ticks()),
    }
}
