//! An event on its way through a group, and what a consumer receives.

use eventfold_store::{EventId, RecordedEvent};

/// An event as a consumer receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event; the link's target when the group resolves links.
    pub event: RecordedEvent,
    /// The link that was resolved to `event`, if any.
    pub link: Option<RecordedEvent>,
    /// How many times this event was delivered before (to any consumer).
    pub retry_count: u32,
}

impl Delivery {
    /// The id a consumer acks or nacks it by: the link's when there is one,
    /// as the clients do.
    pub fn ack_id(&self) -> EventId {
        self.link.as_ref().unwrap_or(&self.event).id
    }

    /// The event as it appears in the group's source (the link, if any).
    pub fn original(&self) -> &RecordedEvent {
        self.link.as_ref().unwrap_or(&self.event)
    }
}

/// Where a message came from, which decides what finishing it advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Read from the group's source; its sequence number in the
    /// checkpoint tracker.
    Source(u64),
    /// Replayed from the parked stream, at this revision of it.
    Parked(u64),
}

#[derive(Clone, Debug)]
pub(crate) struct Message {
    pub delivery: Delivery,
    pub origin: Origin,
}

impl Message {
    pub fn ack_id(&self) -> EventId {
        self.delivery.ack_id()
    }

    /// Bytes it holds, for the buffer's byte bound: the variable parts plus
    /// a fixed charge for the rest, so that empty events count too.
    pub fn size_bytes(&self) -> usize {
        const FIXED_BYTES: usize = 256;
        let event_bytes =
            |event: &RecordedEvent| FIXED_BYTES + event.data.len() + event.metadata.len() + event.event_type.len();
        event_bytes(&self.delivery.event) + self.delivery.link.as_ref().map_or(0, event_bytes)
    }
}
