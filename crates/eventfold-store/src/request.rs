use crate::{CurrentRevision, EventFilter, ExpectedRevision, Position, ProposedEvent, StreamName};

/// Append `events` to `stream` atomically if the stream's revision matches
/// `expected`.
#[derive(Clone, Debug)]
pub struct AppendRequest {
    pub stream: StreamName,
    pub expected: ExpectedRevision,
    pub events: Vec<ProposedEvent>,
}

impl AppendRequest {
    pub fn new(stream: StreamName, expected: ExpectedRevision, events: Vec<ProposedEvent>) -> Self {
        Self { stream, expected, events }
    }

    pub fn size_bytes(&self) -> usize {
        self.events.iter().map(ProposedEvent::size_bytes).sum()
    }
}

/// The result of a successful (or idempotently repeated) append.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AppendOutcome {
    /// The stream's revision after the append: the revision of its last event.
    pub current_revision: CurrentRevision,
    /// The `$all` position of the last event written by this append; `None`
    /// when the append carried no events.
    pub position: Option<Position>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Direction {
    #[default]
    Forwards,
    Backwards,
}

/// Where a stream read starts; the named revision is included.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RevisionFrom {
    Start,
    End,
    Revision(u64),
}

/// Where a `$all` read starts. Forwards, the event at the named position is
/// included; backwards, the read starts with the event before it (as
/// EventStoreDB reads do).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AllFrom {
    Start,
    End,
    Position(Position),
}

#[derive(Clone, Debug)]
pub struct ReadStreamRequest {
    pub stream: StreamName,
    pub from: RevisionFrom,
    pub direction: Direction,
    pub max_count: u64,
}

impl ReadStreamRequest {
    pub fn forwards(stream: StreamName) -> Self {
        Self { stream, from: RevisionFrom::Start, direction: Direction::Forwards, max_count: u64::MAX }
    }

    pub fn backwards(stream: StreamName) -> Self {
        Self { stream, from: RevisionFrom::End, direction: Direction::Backwards, max_count: u64::MAX }
    }
}

#[derive(Clone, Debug)]
pub struct ReadAllRequest {
    pub from: AllFrom,
    pub direction: Direction,
    pub max_count: u64,
    pub filter: Option<EventFilter>,
}

impl ReadAllRequest {
    pub fn forwards() -> Self {
        Self { from: AllFrom::Start, direction: Direction::Forwards, max_count: u64::MAX, filter: None }
    }

    pub fn backwards() -> Self {
        Self { from: AllFrom::End, direction: Direction::Backwards, max_count: u64::MAX, filter: None }
    }
}

/// Where a catch-up subscription starts. `After(x)` excludes `x` itself, as
/// EventStoreDB's catch-up subscriptions do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SubscribeFrom<T> {
    Start,
    End,
    After(T),
}

#[derive(Clone, Debug)]
pub struct SubscribeToStreamRequest {
    pub stream: StreamName,
    pub from: SubscribeFrom<u64>,
}

#[derive(Clone, Debug)]
pub struct SubscribeToAllRequest {
    pub from: SubscribeFrom<Position>,
    pub filter: Option<EventFilter>,
    /// With a filter: emit a checkpoint after every this many scanned events
    /// (matching or not), so a client can persist progress through long runs
    /// of events it does not want.
    pub checkpoint_interval: Option<u32>,
}

/// How a stream is deleted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeleteMode {
    /// The stream reads as not found but may be appended to again; its
    /// revisions continue where they were. Done by setting the stream's
    /// truncate-before (`$tb`) metadata to its next revision.
    Soft,
    /// The stream is deleted for good: reading or appending to it fails.
    Tombstone,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeleteOutcome {
    /// Position of the record that deleted the stream.
    pub position: Option<Position>,
}
