//! An in-memory store for the unit tests of the rules built on the trait:
//! streams of events, truncation, tombstones and failing reads, nothing more.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::{
    AppendError, AppendOutcome, AppendRequest, ContentType, CurrentRevision, DeleteMode, DeleteOutcome, Direction,
    EventId, EventStore, EventStream, ExpectedRevision, Position, ReadAllRequest, ReadError, ReadStreamRequest,
    RecordedEvent, RevisionFrom, StorageError, StorageErrorKind, StreamName, SubscribeToAllRequest,
    SubscribeToStreamRequest, SubscriptionError, SubscriptionStream, Timestamp,
};

pub fn recorded(stream: &str, revision: u64, event_type: &str, data: &str) -> RecordedEvent {
    RecordedEvent {
        stream: StreamName::new(stream).expect("valid stream name"),
        revision,
        position: Position(revision * 100),
        id: EventId::random(),
        event_type: event_type.to_owned(),
        content_type: ContentType::Binary,
        created: Timestamp(0),
        data: Bytes::from(data.to_owned()),
        metadata: Bytes::new(),
    }
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    streams: HashMap<String, Vec<RecordedEvent>>,
    truncate_before: HashMap<String, u64>,
    tombstoned: HashSet<String>,
    failing: bool,
}

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn push(&self, event: RecordedEvent) {
        self.state().streams.entry(event.stream.as_str().to_owned()).or_default().push(event);
    }

    pub fn truncate_before(&self, stream: &str, revision: u64) {
        self.state().truncate_before.insert(stream.to_owned(), revision);
    }

    pub fn tombstone(&self, stream: &str) {
        self.state().tombstoned.insert(stream.to_owned());
    }

    pub fn fail_reads(&self) {
        self.state().failing = true;
    }

    fn check(&self, stream: &StreamName) -> Result<Vec<RecordedEvent>, ReadError> {
        let state = self.state();
        if state.failing {
            return Err(StorageError::new(StorageErrorKind::Io, "injected read failure").into());
        }
        if state.tombstoned.contains(stream.as_str()) {
            return Err(ReadError::StreamDeleted { stream: stream.clone() });
        }
        let events = state.streams.get(stream.as_str()).ok_or(ReadError::StreamNotFound { stream: stream.clone() })?;
        let first = state.truncate_before.get(stream.as_str()).copied().unwrap_or(0);
        Ok(events.iter().filter(|event| event.revision >= first).cloned().collect())
    }
}

fn unsupported() -> StorageError {
    StorageError::new(StorageErrorKind::Closed, "not part of the in-memory test store")
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append_transaction(&self, _: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
        Err(unsupported().into())
    }

    async fn delete_stream(
        &self,
        _: StreamName,
        _: ExpectedRevision,
        _: DeleteMode,
    ) -> Result<DeleteOutcome, AppendError> {
        Err(unsupported().into())
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
        let mut events = self.check(&request.stream)?;
        if request.direction == Direction::Backwards {
            events.reverse();
        }
        let selected: Vec<_> = events
            .into_iter()
            .filter(|event| match (request.from, request.direction) {
                (RevisionFrom::Start | RevisionFrom::End, _) => true,
                (RevisionFrom::Revision(from), Direction::Forwards) => event.revision >= from,
                (RevisionFrom::Revision(from), Direction::Backwards) => event.revision <= from,
            })
            .take(usize::try_from(request.max_count).unwrap_or(usize::MAX))
            .map(Ok)
            .collect();
        Ok(futures::stream::iter(selected).boxed())
    }

    async fn read_all(&self, _: ReadAllRequest) -> Result<EventStream, ReadError> {
        Err(unsupported().into())
    }

    async fn subscribe_to_stream(&self, _: SubscribeToStreamRequest) -> Result<SubscriptionStream, SubscriptionError> {
        Err(unsupported().into())
    }

    async fn subscribe_to_all(&self, _: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
        Err(unsupported().into())
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError> {
        let state = self.state();
        if state.tombstoned.contains(stream.as_str()) {
            return Err(ReadError::StreamDeleted { stream: stream.clone() });
        }
        let last = state.streams.get(stream.as_str()).and_then(|events| events.last());
        Ok(last.map_or(CurrentRevision::NoStream, |event| CurrentRevision::Current(event.revision)))
    }

    fn head_position(&self) -> Option<Position> {
        None
    }
}
