use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use uuid::Uuid;

use crate::{Position, StreamName};

/// The client-chosen identity of an event; re-sending the same ids is how an
/// append is made idempotent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

/// How the event's data is encoded; clients see it as the `content-type`
/// metadata entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ContentType {
    #[default]
    Json,
    Binary,
}

impl ContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Json => "application/json",
            ContentType::Binary => "application/octet-stream",
        }
    }
}

/// When an event was committed, in 100 ns ticks since the Unix epoch (the unit
/// EventStoreDB clients expect in the `created` metadata entry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let ticks = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since_epoch| since_epoch.as_nanos() / 100);
        Self(i64::try_from(ticks).unwrap_or(i64::MAX))
    }

    pub fn ticks(self) -> i64 {
        self.0
    }

    pub fn unix_millis(self) -> i64 {
        self.0 / 10_000
    }
}

/// An event a client asks to append.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProposedEvent {
    pub id: EventId,
    pub event_type: String,
    pub content_type: ContentType,
    pub data: Bytes,
    pub metadata: Bytes,
}

impl ProposedEvent {
    /// A JSON event with a fresh random id and no metadata.
    pub fn json(event_type: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self {
            id: EventId::random(),
            event_type: event_type.into(),
            content_type: ContentType::Json,
            data: data.into(),
            metadata: Bytes::new(),
        }
    }

    /// What this event counts against the maximum append size.
    pub fn size_bytes(&self) -> usize {
        self.event_type.len() + self.data.len() + self.metadata.len()
    }
}

/// An event as stored: the proposed event plus where and when it landed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RecordedEvent {
    pub stream: StreamName,
    pub revision: u64,
    pub position: Position,
    pub id: EventId,
    pub event_type: String,
    pub content_type: ContentType,
    pub created: Timestamp,
    pub data: Bytes,
    pub metadata: Bytes,
}
