use std::fmt;

use bytes::Bytes;
use uuid::Uuid;

/// The revision a write expects its stream to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    NoStream,
    StreamExists,
    Revision(u64),
}

impl fmt::Display for Expected {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => formatter.write_str("any"),
            Self::NoStream => formatter.write_str("no stream"),
            Self::StreamExists => formatter.write_str("stream exists"),
            Self::Revision(revision) => write!(formatter, "{revision}"),
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedEvent {
    pub id: Uuid,
    pub event_type: String,
    /// `application/json` when true, `application/octet-stream` otherwise.
    pub is_json: bool,
    pub data: Bytes,
    /// The user's metadata (`custom_metadata` in the protocol).
    pub metadata: Bytes,
}

impl ProposedEvent {
    /// A JSON event with a fresh id and no metadata.
    pub fn json(event_type: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self {
            id: Uuid::new_v4(),
            event_type: event_type.into(),
            is_json: true,
            data: data.into(),
            metadata: Bytes::new(),
        }
    }
}

/// An event as the server recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub stream: String,
    pub revision: u64,
    /// Its `$all` position (commit position); `None` where the server
    /// gives none.
    pub position: Option<u64>,
    pub id: Uuid,
    pub event_type: String,
    pub is_json: bool,
    /// .NET ticks (100 ns units) since the Unix epoch, as the protocol
    /// carries it; `None` when the server sent no `created`.
    pub created_ticks: Option<i64>,
    pub data: Bytes,
    pub metadata: Bytes,
}

/// A write that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendSuccess {
    /// The stream's revision after the write.
    pub next_expected: Option<u64>,
    /// The `$all` position of the write, when the server reports one.
    pub position: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// Where a read starts: in a stream, a revision; in `$all`, a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    Start,
    End,
    /// A stream revision, or an `$all` commit position.
    At(u64),
}

/// A position in `$all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AllPosition(pub u64);
