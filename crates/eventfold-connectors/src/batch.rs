//! Batching: events gather until the batch holds `max_events`, or
//! `max_bytes` of data and metadata, or its first event has waited
//! `max_wait`; then the batch is delivered in one sink call.

use std::time::Duration;

use eventfold_store::RecordedEvent;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_events: usize,
    pub max_bytes: usize,
    pub max_wait: Duration,
}

pub(crate) struct Batch {
    limits: BatchLimits,
    events: Vec<RecordedEvent>,
    bytes: usize,
    deadline: Option<Instant>,
}

impl Batch {
    pub fn new(limits: BatchLimits) -> Self {
        Self { limits, events: Vec::new(), bytes: 0, deadline: None }
    }

    pub fn push(&mut self, event: RecordedEvent) {
        if self.events.is_empty() {
            self.deadline = Some(Instant::now() + self.limits.max_wait);
        }
        self.bytes += size_of(&event);
        self.events.push(event);
    }

    /// Whether the batch must go now, without waiting for more.
    pub fn is_full(&self) -> bool {
        self.events.len() >= self.limits.max_events || self.bytes >= self.limits.max_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// When the batch must go at the latest; `None` while it is empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn take(&mut self) -> Vec<RecordedEvent> {
        self.bytes = 0;
        self.deadline = None;
        std::mem::take(&mut self.events)
    }
}

fn size_of(event: &RecordedEvent) -> usize {
    event.data.len() + event.metadata.len() + event.event_type.len() + event.stream.as_str().len()
}

#[cfg(test)]
mod tests {

    use super::*;

    fn event(data_bytes: usize) -> RecordedEvent {
        crate::testing::recorded("s", "T", 0, 1, vec![b'x'; data_bytes])
    }

    fn limits(max_events: usize, max_bytes: usize) -> BatchLimits {
        BatchLimits { max_events, max_bytes, max_wait: Duration::from_millis(50) }
    }

    #[test]
    fn full_at_the_event_count() {
        let mut batch = Batch::new(limits(3, 1 << 20));
        batch.push(event(1));
        batch.push(event(1));
        assert!(!batch.is_full());
        batch.push(event(1));
        assert!(batch.is_full());
        assert_eq!(batch.take().len(), 3);
        assert!(batch.is_empty() && !batch.is_full() && batch.deadline().is_none());
    }

    #[test]
    fn full_at_the_byte_count() {
        let mut batch = Batch::new(limits(1000, 100));
        batch.push(event(60));
        assert!(!batch.is_full());
        batch.push(event(60));
        assert!(batch.is_full());
    }

    #[test]
    fn the_deadline_is_set_by_the_first_event() {
        let mut batch = Batch::new(limits(10, 1 << 20));
        assert!(batch.deadline().is_none());
        let before = Instant::now();
        batch.push(event(1));
        let after = Instant::now();
        let deadline = batch.deadline().expect("a deadline");
        assert!(deadline >= before + Duration::from_millis(50) && deadline <= after + Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(5));
        batch.push(event(1));
        assert_eq!(batch.deadline(), Some(deadline), "a later event does not push the deadline back");
    }
}
