//! The writer's memory of recent state: stream revisions (so most appends
//! need no index lookup) and recent event ids (for idempotent appends with an
//! `Any` expectation). Both are bounded and both can be lost: the index and
//! the log hold the truth.

use std::collections::{HashMap, VecDeque};

use eventfold_index::StreamEntry;
use eventfold_store::{EventId, StreamName};

pub(crate) struct StreamCache {
    streams: HashMap<StreamName, StreamEntry>,
    capacity: usize,
}

impl StreamCache {
    pub fn new(capacity: usize) -> Self {
        Self { streams: HashMap::new(), capacity: capacity.max(1) }
    }

    pub fn get(&self, stream: &StreamName) -> Option<StreamEntry> {
        self.streams.get(stream).copied()
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn insert(&mut self, stream: StreamName, state: StreamEntry) {
        if self.streams.len() >= self.capacity && !self.streams.contains_key(&stream) {
            // Forgetting everything is crude but bounded, and a miss only
            // costs one index lookup.
            self.streams.clear();
        }
        self.streams.insert(stream, state);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WrittenEvent {
    pub stream: StreamName,
    pub revision: u64,
    pub position: u64,
}

pub(crate) struct RecentEventIds {
    events: HashMap<EventId, WrittenEvent>,
    order: VecDeque<EventId>,
    capacity: usize,
}

impl RecentEventIds {
    pub fn new(capacity: usize) -> Self {
        Self { events: HashMap::new(), order: VecDeque::new(), capacity }
    }

    pub fn get(&self, id: &EventId) -> Option<&WrittenEvent> {
        self.events.get(id)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn insert(&mut self, id: EventId, event: WrittenEvent) {
        if self.capacity == 0 {
            return;
        }
        while self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.events.remove(&oldest);
            }
        }
        if self.events.insert(id, event).is_none() {
            self.order.push_back(id);
        }
    }
}
