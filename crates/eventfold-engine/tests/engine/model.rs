//! Goal: the engine answers exactly as a simple in-memory model of an event
//! store does, whatever sequence of appends, transactions, reads and reopens
//! it is given, and concurrent optimistic appends to one stream serialize
//! into one gapless, duplicate-free history.
//!
//! The model keeps every stream as a list of events plus one global list for
//! `$all` order. It implements the expected-revision checks and the
//! engine's idempotency rule (`writer.rs::idempotent_outcome`): a repeat with
//! `NoStream`/`Exact` is checked against the log, a repeat with
//! `Any`/`StreamExists` is found through the window of ids written since the
//! engine was (re)opened, which a reopen clears. Positions cannot be
//! predicted, so the model learns them from the engine right after each write
//! (and checks that they are strictly increasing); every later answer must
//! agree with what it learned. `PROPTEST_CASES` raises the number of cases.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AllFrom, AppendError, AppendOutcome, AppendRequest, ContentType, CurrentRevision, Direction, EventId, EventStore,
    ExpectedRevision, Position, ProposedEvent, ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent,
    RevisionFrom, StreamName, Timestamp,
};
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError};
use uuid::Uuid;

/// The streams operations pick from: few, so that they collide often.
const STREAMS: [&str; 4] = ["order-1", "order-2", "cart-7", "$meta-order-1"];
const EVENT_TYPES: [&str; 3] = ["Created", "Updated", "$metadata"];
/// Small segments, so that a case crosses several segment rolls.
const SEGMENT_BYTES_MAX: u64 = 4096;
/// A case that takes longer than this has hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

fn cases_from_environment(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default)
}

fn proptest_config(default_cases: u32) -> Config {
    Config {
        cases: cases_from_environment(default_cases),
        // Failing cases are printed (shrunk); writing regression files next
        // to the sources is left to whoever investigates.
        failure_persistence: None,
        ..Config::default()
    }
}

fn stream_name(text: &str) -> StreamName {
    StreamName::new(text).expect("the test's stream names are valid")
}

fn failure(context: &str, error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("{context}: {error}"))
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct ModelEvent {
    stream: StreamName,
    revision: u64,
    id: EventId,
    event_type: String,
    data: Bytes,
    metadata: Bytes,
    /// Learned from the engine right after the write that created the event.
    position: Option<Position>,
    /// Learned with the position; later reads must agree.
    created: Option<Timestamp>,
}

/// What the model expects an append to answer: the revision, and the index in
/// `Model::all` of the event whose position the outcome must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExpectedOutcome {
    current_revision: CurrentRevision,
    last_event: Option<usize>,
}

#[derive(Default)]
struct Model {
    /// Every event in `$all` order.
    all: Vec<ModelEvent>,
    /// Each stream's events, as indexes into `all`, by revision.
    streams: HashMap<StreamName, Vec<usize>>,
    /// The engine's idempotency window: each event id written since the
    /// engine was opened, mapped to its latest write (index into `all`).
    recent_ids: HashMap<EventId, usize>,
}

impl Model {
    fn stream_length(&self, stream: &StreamName) -> u64 {
        self.streams.get(stream).map_or(0, |events| events.len() as u64)
    }

    fn current_revision(&self, stream: &StreamName) -> CurrentRevision {
        match self.stream_length(stream) {
            0 => CurrentRevision::NoStream,
            length => CurrentRevision::Current(length - 1),
        }
    }

    fn stream_event_index(&self, stream: &StreamName, revision: u64) -> Option<usize> {
        let events = self.streams.get(stream)?;
        events.get(usize::try_from(revision).ok()?).copied()
    }

    fn reopened(&mut self) {
        self.recent_ids.clear();
    }

    /// Appends all of `requests` or none, as the engine's transaction does.
    fn append_transaction(&mut self, requests: &[AppendRequest]) -> Result<Vec<ExpectedOutcome>, AppendError> {
        let mut pending: Vec<ModelEvent> = Vec::new();
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let committed_length = self.stream_length(&request.stream);
            let staged = pending.iter().filter(|event| event.stream == request.stream).count() as u64;
            let length = committed_length + staged;
            let current = match length {
                0 => CurrentRevision::NoStream,
                length => CurrentRevision::Current(length - 1),
            };
            if let Some(outcome) = self.idempotent_outcome(request, current, committed_length)? {
                outcomes.push(outcome);
                continue;
            }
            if !current.satisfies(request.expected) {
                return Err(AppendError::WrongExpectedVersion {
                    stream: request.stream.clone(),
                    expected: request.expected,
                    actual: current,
                });
            }
            if request.events.is_empty() {
                outcomes.push(ExpectedOutcome { current_revision: current, last_event: None });
                continue;
            }
            for (offset, event) in request.events.iter().enumerate() {
                pending.push(ModelEvent {
                    stream: request.stream.clone(),
                    revision: length + offset as u64,
                    id: event.id,
                    event_type: event.event_type.clone(),
                    data: event.data.clone(),
                    metadata: event.metadata.clone(),
                    position: None,
                    created: None,
                });
            }
            outcomes.push(ExpectedOutcome {
                current_revision: CurrentRevision::Current(length + request.events.len() as u64 - 1),
                last_event: Some(self.all.len() + pending.len() - 1),
            });
        }
        for event in pending {
            let index = self.all.len();
            self.streams.entry(event.stream.clone()).or_default().push(index);
            self.recent_ids.insert(event.id, index);
            self.all.push(event);
        }
        Ok(outcomes)
    }

    /// EventStoreDB's idempotency as the engine implements it. `current`
    /// counts the events staged earlier in the same transaction; only the
    /// `committed_length` events written before the transaction can match
    /// (the engine checks the log as of before the batch).
    fn idempotent_outcome(
        &self,
        request: &AppendRequest,
        current: CurrentRevision,
        committed_length: u64,
    ) -> Result<Option<ExpectedOutcome>, AppendError> {
        let Some(first) = request.events.first() else {
            return Ok(None);
        };
        let first_revision = match request.expected {
            ExpectedRevision::Any | ExpectedRevision::StreamExists => match self.recent_ids.get(&first.id) {
                Some(&index) if self.all[index].stream == request.stream => self.all[index].revision,
                _ => return Ok(None),
            },
            expected if current.satisfies(expected) => return Ok(None),
            ExpectedRevision::NoStream => 0,
            ExpectedRevision::Exact(revision) => revision + 1,
        };
        let count = request.events.len() as u64;
        if current.next() < first_revision + count {
            return Ok(None);
        }
        let repeated = first_revision + count <= committed_length
            && request.events.iter().enumerate().all(|(offset, event)| {
                self.stream_event_index(&request.stream, first_revision + offset as u64)
                    .is_some_and(|index| self.all[index].id == event.id)
            });
        if repeated {
            return Ok(Some(ExpectedOutcome {
                current_revision: CurrentRevision::Current(first_revision + count - 1),
                last_event: self.stream_event_index(&request.stream, first_revision + count - 1),
            }));
        }
        match request.expected {
            // The first id matched a recent write but the rest did not: a
            // partial repeat, refused.
            ExpectedRevision::Any | ExpectedRevision::StreamExists => Err(AppendError::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            }),
            _ => Ok(None),
        }
    }

    fn read_stream(&self, request: &ReadStreamRequest) -> Result<Vec<usize>, ReadError> {
        let events = match self.streams.get(&request.stream) {
            Some(events) if !events.is_empty() => events,
            _ => {
                return Err(ReadError::StreamNotFound { stream: request.stream.clone() });
            }
        };
        let limit = usize::try_from(request.max_count).unwrap_or(usize::MAX);
        let length = events.len() as u64;
        let selected = match request.direction {
            Direction::Forwards => {
                let start = match request.from {
                    RevisionFrom::Start => 0,
                    RevisionFrom::End => length,
                    RevisionFrom::Revision(revision) => revision.min(length),
                };
                events[start as usize..].iter().take(limit).copied().collect()
            }
            Direction::Backwards => {
                let start = match request.from {
                    RevisionFrom::Start => 0,
                    RevisionFrom::End => length - 1,
                    RevisionFrom::Revision(revision) => revision.min(length - 1),
                };
                events[..=start as usize].iter().rev().take(limit).copied().collect()
            }
        };
        Ok(selected)
    }

    /// `from` is an index into `all` for `AllFrom::Position`.
    fn read_all(&self, from: AllStart, direction: Direction, max_count: u64) -> Vec<usize> {
        let limit = usize::try_from(max_count).unwrap_or(usize::MAX);
        let length = self.all.len();
        match direction {
            Direction::Forwards => {
                let start = match from {
                    AllStart::Start => 0,
                    AllStart::End => length,
                    AllStart::Event(index) => index,
                };
                (start..length).take(limit).collect()
            }
            Direction::Backwards => {
                let end = match from {
                    AllStart::Start => 0,
                    AllStart::End => length,
                    // Backwards from an event's position starts before it.
                    AllStart::Event(index) => index,
                };
                (0..end).rev().take(limit).collect()
            }
        }
    }
}

/// The fields of an event that the engine must reproduce, in one comparable
/// value.
#[derive(Debug, PartialEq, Eq)]
struct EventView {
    stream: StreamName,
    revision: u64,
    id: EventId,
    event_type: String,
    content_type: ContentType,
    data: Bytes,
    metadata: Bytes,
    position: Option<Position>,
    created: Option<Timestamp>,
}

fn view_of_recorded(event: &RecordedEvent, with_placement: bool) -> EventView {
    EventView {
        stream: event.stream.clone(),
        revision: event.revision,
        id: event.id,
        event_type: event.event_type.clone(),
        content_type: event.content_type,
        data: event.data.clone(),
        metadata: event.metadata.clone(),
        position: with_placement.then_some(event.position),
        created: with_placement.then_some(event.created),
    }
}

fn view_of_model(event: &ModelEvent, with_placement: bool) -> EventView {
    EventView {
        stream: event.stream.clone(),
        revision: event.revision,
        id: event.id,
        event_type: event.event_type.clone(),
        content_type: ContentType::Json,
        data: event.data.clone(),
        metadata: event.metadata.clone(),
        position: if with_placement { event.position } else { None },
        created: if with_placement { event.created } else { None },
    }
}

fn check_events(
    context: &str,
    actual: &[RecordedEvent],
    model: &Model,
    expected: &[usize],
) -> Result<(), TestCaseError> {
    let actual: Vec<EventView> = actual.iter().map(|event| view_of_recorded(event, true)).collect();
    let expected: Vec<EventView> = expected.iter().map(|&index| view_of_model(&model.all[index], true)).collect();
    prop_assert_eq!(actual, expected, "{}", context);
    Ok(())
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum ExpectedChoice {
    Any,
    NoStream,
    StreamExists,
    /// The stream's current revision (or 0 when it has none).
    ExactCurrent,
    /// That many revisions before the current one: usually stale.
    ExactBehind(u64),
    Exact(u64),
}

/// How an append re-uses the events (ids included) of an earlier request.
#[derive(Clone, Copy, Debug)]
enum RepeatVariant {
    /// The same request again: a client's retry.
    Retry,
    /// The same stream and events with `Any`.
    WithAny,
    /// The same stream and events with `StreamExists`.
    WithStreamExists,
    /// The same stream and events with the operation's own expectation.
    WithExpected,
    /// A prefix of the events, with `Any`.
    PrefixWithAny(Index),
    /// The events but the first, with `Any`.
    SuffixWithAny,
    /// The events plus a fresh one, with `Any`.
    PlusOneWithAny,
    /// The events in reverse order, with `Any`: a partial repeat when there
    /// are several.
    ReversedWithAny,
    /// The same events to the operation's stream, with its expectation.
    OtherStream,
}

#[derive(Clone, Debug)]
struct AppendSpec {
    stream: usize,
    expected: ExpectedChoice,
    event_count: usize,
    event_type: usize,
    data_bytes: usize,
    with_metadata: bool,
    repeat: Option<(Index, RepeatVariant)>,
}

#[derive(Clone, Copy, Debug)]
enum StreamStart {
    Start,
    End,
    Revision(u64),
}

#[derive(Clone, Copy, Debug)]
enum AllStartChoice {
    Start,
    End,
    EventAt(Index),
}

/// A resolved `$all` start: `Event` is an index into `Model::all`.
#[derive(Clone, Copy, Debug)]
enum AllStart {
    Start,
    End,
    Event(usize),
}

#[derive(Clone, Debug)]
enum Operation {
    Append(AppendSpec),
    AppendTransaction(Vec<AppendSpec>),
    ReadStream { stream: usize, direction: Direction, from: StreamStart, max_count: u64 },
    ReadAll { direction: Direction, from: AllStartChoice, max_count: u64 },
    Reopen,
}

fn expected_choice_strategy() -> impl Strategy<Value = ExpectedChoice> {
    prop_oneof![
        3 => Just(ExpectedChoice::Any),
        1 => Just(ExpectedChoice::NoStream),
        1 => Just(ExpectedChoice::StreamExists),
        4 => Just(ExpectedChoice::ExactCurrent),
        1 => (1u64..4).prop_map(ExpectedChoice::ExactBehind),
        1 => (0u64..12).prop_map(ExpectedChoice::Exact),
    ]
}

fn repeat_variant_strategy() -> impl Strategy<Value = RepeatVariant> {
    prop_oneof![
        3 => Just(RepeatVariant::Retry),
        2 => Just(RepeatVariant::WithAny),
        1 => Just(RepeatVariant::WithStreamExists),
        1 => Just(RepeatVariant::WithExpected),
        1 => any::<Index>().prop_map(RepeatVariant::PrefixWithAny),
        1 => Just(RepeatVariant::SuffixWithAny),
        1 => Just(RepeatVariant::PlusOneWithAny),
        1 => Just(RepeatVariant::ReversedWithAny),
        1 => Just(RepeatVariant::OtherStream),
    ]
}

fn append_spec_strategy() -> impl Strategy<Value = AppendSpec> {
    (
        0..STREAMS.len(),
        expected_choice_strategy(),
        0usize..4,
        0..EVENT_TYPES.len(),
        prop_oneof![0usize..40, 300usize..1500],
        any::<bool>(),
        prop::option::weighted(0.35, (any::<Index>(), repeat_variant_strategy())),
    )
        .prop_map(|(stream, expected, event_count, event_type, data_bytes, with_metadata, repeat)| AppendSpec {
            stream,
            expected,
            event_count,
            event_type,
            data_bytes,
            with_metadata,
            repeat,
        })
}

fn direction_strategy() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Forwards), Just(Direction::Backwards)]
}

fn max_count_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..4, Just(7u64), Just(u64::MAX), Just(u64::MAX)]
}

fn operation_strategy() -> impl Strategy<Value = Operation> {
    let read_stream = (
        0..STREAMS.len(),
        direction_strategy(),
        prop_oneof![Just(StreamStart::Start), Just(StreamStart::End), (0u64..14).prop_map(StreamStart::Revision),],
        max_count_strategy(),
    )
        .prop_map(|(stream, direction, from, max_count)| Operation::ReadStream {
            stream,
            direction,
            from,
            max_count,
        });
    let read_all = (
        direction_strategy(),
        prop_oneof![
            1 => Just(AllStartChoice::Start),
            1 => Just(AllStartChoice::End),
            2 => any::<Index>().prop_map(AllStartChoice::EventAt),
        ],
        max_count_strategy(),
    )
        .prop_map(|(direction, from, max_count)| Operation::ReadAll { direction, from, max_count });
    prop_oneof![
        8 => append_spec_strategy().prop_map(Operation::Append),
        3 => prop::collection::vec(append_spec_strategy(), 2..=3)
            .prop_map(Operation::AppendTransaction),
        3 => read_stream,
        3 => read_all,
        1 => Just(Operation::Reopen),
    ]
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

struct Harness {
    _dir: tempfile::TempDir,
    config: EngineConfig,
    engine: Option<Engine>,
    model: Model,
    /// Every non-empty request submitted, for repeats to draw on.
    history: Vec<AppendRequest>,
    next_event: u128,
}

impl Harness {
    fn open() -> Result<Self, TestCaseError> {
        let dir = tempfile::tempdir().map_err(|error| failure("tempdir", error))?;
        let mut config = EngineConfig::new(dir.path());
        config.segment_bytes_max = SEGMENT_BYTES_MAX;
        let engine = Engine::open(config.clone()).map_err(|error| failure("open", error))?;
        Ok(Self {
            _dir: dir,
            config,
            engine: Some(engine),
            model: Model::default(),
            history: Vec::new(),
            next_event: 0,
        })
    }

    fn engine(&self) -> Result<&Engine, TestCaseError> {
        self.engine.as_ref().ok_or_else(|| TestCaseError::fail("the engine is not open"))
    }

    async fn reopen(&mut self) -> Result<(), TestCaseError> {
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await;
            drop(engine);
        }
        let engine = Engine::open(self.config.clone()).map_err(|error| failure("reopen", error))?;
        self.engine = Some(engine);
        self.model.reopened();
        Ok(())
    }

    async fn close(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await;
        }
    }

    fn fresh_event(&mut self, spec: &AppendSpec) -> ProposedEvent {
        self.next_event += 1;
        let number = self.next_event;
        let data = format!("{{\"event\":{number},\"pad\":\"{}\"}}", "x".repeat(spec.data_bytes));
        ProposedEvent {
            id: EventId(Uuid::from_u128(number)),
            event_type: EVENT_TYPES[spec.event_type].to_owned(),
            content_type: ContentType::Json,
            data: Bytes::from(data),
            metadata: if spec.with_metadata { Bytes::from(format!("{{\"meta\":{number}}}")) } else { Bytes::new() },
        }
    }

    fn resolve_expected(&self, stream: &StreamName, choice: ExpectedChoice) -> ExpectedRevision {
        let current = self.model.current_revision(stream);
        match choice {
            ExpectedChoice::Any => ExpectedRevision::Any,
            ExpectedChoice::NoStream => ExpectedRevision::NoStream,
            ExpectedChoice::StreamExists => ExpectedRevision::StreamExists,
            ExpectedChoice::ExactCurrent => match current {
                CurrentRevision::NoStream => ExpectedRevision::Exact(0),
                CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision),
            },
            ExpectedChoice::ExactBehind(behind) => match current {
                CurrentRevision::NoStream => ExpectedRevision::Exact(behind),
                CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision.saturating_sub(behind)),
            },
            ExpectedChoice::Exact(revision) => ExpectedRevision::Exact(revision),
        }
    }

    /// Turns a generated spec into a request, against the model's state.
    fn request(&mut self, spec: &AppendSpec) -> AppendRequest {
        let own_stream = stream_name(STREAMS[spec.stream]);
        let repeated = spec.repeat.and_then(|(which, variant)| {
            if self.history.is_empty() {
                None
            } else {
                Some((self.history[which.index(self.history.len())].clone(), variant))
            }
        });
        let request = match repeated {
            None => {
                let events = (0..spec.event_count).map(|_| self.fresh_event(spec)).collect();
                let expected = self.resolve_expected(&own_stream, spec.expected);
                AppendRequest::new(own_stream, expected, events)
            }
            Some((earlier, variant)) => {
                let stream = earlier.stream.clone();
                match variant {
                    RepeatVariant::Retry => earlier,
                    RepeatVariant::WithAny => AppendRequest::new(stream, ExpectedRevision::Any, earlier.events),
                    RepeatVariant::WithStreamExists => {
                        AppendRequest::new(stream, ExpectedRevision::StreamExists, earlier.events)
                    }
                    RepeatVariant::WithExpected => {
                        let expected = self.resolve_expected(&stream, spec.expected);
                        AppendRequest::new(stream, expected, earlier.events)
                    }
                    RepeatVariant::PrefixWithAny(length) => {
                        let length = length.index(earlier.events.len()) + 1;
                        let events = earlier.events[..length].to_vec();
                        AppendRequest::new(stream, ExpectedRevision::Any, events)
                    }
                    RepeatVariant::SuffixWithAny => {
                        let events = earlier.events[1..].to_vec();
                        AppendRequest::new(stream, ExpectedRevision::Any, events)
                    }
                    RepeatVariant::PlusOneWithAny => {
                        let mut events = earlier.events;
                        events.push(self.fresh_event(spec));
                        AppendRequest::new(stream, ExpectedRevision::Any, events)
                    }
                    RepeatVariant::ReversedWithAny => {
                        let mut events = earlier.events;
                        events.reverse();
                        AppendRequest::new(stream, ExpectedRevision::Any, events)
                    }
                    RepeatVariant::OtherStream => {
                        let expected = self.resolve_expected(&own_stream, spec.expected);
                        AppendRequest::new(own_stream, expected, earlier.events)
                    }
                }
            }
        };
        if !request.events.is_empty() {
            self.history.push(request.clone());
        }
        request
    }

    async fn append_transaction(&mut self, requests: Vec<AppendRequest>) -> Result<(), TestCaseError> {
        let context = format!("append transaction {}", describe_requests(&requests));
        let first_new = self.model.all.len();
        let expected = self.model.append_transaction(&requests);
        let actual = self.engine()?.append_transaction(requests).await;
        match (actual, expected) {
            (Err(actual), Err(expected)) => {
                prop_assert_eq!(actual, expected, "{}", context);
                prop_assert_eq!(self.model.all.len(), first_new);
            }
            (Ok(actual), Ok(expected)) => {
                self.learn_new_events(first_new).await?;
                self.check_outcomes(&context, &actual, &expected)?;
            }
            (actual, expected) => {
                return Err(TestCaseError::fail(format!("{context}: engine answered {actual:?}, model {expected:?}")));
            }
        }
        let head = self.engine()?.head_position();
        let model_head = self.model.all.last().and_then(|event| event.position);
        prop_assert_eq!(head, model_head, "{}: head position", context);
        Ok(())
    }

    fn check_outcomes(
        &self,
        context: &str,
        actual: &[AppendOutcome],
        expected: &[ExpectedOutcome],
    ) -> Result<(), TestCaseError> {
        let expected: Vec<AppendOutcome> = expected
            .iter()
            .map(|outcome| AppendOutcome {
                current_revision: outcome.current_revision,
                position: outcome.last_event.and_then(|index| self.model.all[index].position),
            })
            .collect();
        prop_assert_eq!(actual, &expected[..], "{}: outcomes", context);
        Ok(())
    }

    /// Reads the events the model just added from the tail of `$all`: they
    /// must be there, in order, and their positions must be strictly
    /// increasing after every earlier event's. The model keeps their
    /// positions and timestamps for the checks that follow.
    async fn learn_new_events(&mut self, first_new: usize) -> Result<(), TestCaseError> {
        let count = self.model.all.len() - first_new;
        if count == 0 {
            return Ok(());
        }
        let mut tail = read_all(
            self.engine()?,
            ReadAllRequest {
                from: AllFrom::End,
                direction: Direction::Backwards,
                max_count: count as u64,
                filter: None,
            },
        )
        .await?;
        tail.reverse();
        let actual: Vec<EventView> = tail.iter().map(|event| view_of_recorded(event, false)).collect();
        let expected: Vec<EventView> =
            self.model.all[first_new..].iter().map(|event| view_of_model(event, false)).collect();
        prop_assert_eq!(actual, expected, "the newly written events at the end of $all");
        let mut previous = first_new.checked_sub(1).and_then(|index| self.model.all[index].position);
        for (event, recorded) in self.model.all[first_new..].iter_mut().zip(&tail) {
            prop_assert!(
                previous.is_none_or(|previous| previous < recorded.position),
                "position {:?} does not follow {:?}",
                recorded.position,
                previous
            );
            prop_assert!(recorded.position.0 > 0, "no event is at position 0");
            previous = Some(recorded.position);
            event.position = Some(recorded.position);
            event.created = Some(recorded.created);
        }
        let committed_end = self.engine()?.committed_end();
        prop_assert!(
            previous.is_some_and(|last| last < committed_end),
            "the last event {:?} lies before the committed end {:?}",
            previous,
            committed_end
        );
        Ok(())
    }

    async fn read_stream_operation(
        &self,
        stream: usize,
        direction: Direction,
        from: StreamStart,
        max_count: u64,
    ) -> Result<(), TestCaseError> {
        let request = ReadStreamRequest {
            stream: stream_name(STREAMS[stream]),
            from: match from {
                StreamStart::Start => RevisionFrom::Start,
                StreamStart::End => RevisionFrom::End,
                StreamStart::Revision(revision) => RevisionFrom::Revision(revision),
            },
            direction,
            max_count,
        };
        let context = format!("{request:?}");
        let expected = self.model.read_stream(&request);
        let actual = read_stream(self.engine()?, request).await;
        match (actual, expected) {
            (Ok(actual), Ok(expected)) => check_events(&context, &actual, &self.model, &expected),
            (Err(actual), Err(expected)) => {
                prop_assert_eq!(actual, expected, "{}", context);
                Ok(())
            }
            (actual, expected) => {
                Err(TestCaseError::fail(format!("{context}: engine answered {actual:?}, model {expected:?}")))
            }
        }
    }

    async fn read_all_operation(
        &self,
        direction: Direction,
        from: AllStartChoice,
        max_count: u64,
    ) -> Result<(), TestCaseError> {
        let start = match from {
            AllStartChoice::Start => AllStart::Start,
            AllStartChoice::End => AllStart::End,
            AllStartChoice::EventAt(_) if self.model.all.is_empty() => AllStart::Start,
            AllStartChoice::EventAt(which) => AllStart::Event(which.index(self.model.all.len())),
        };
        let from = match start {
            AllStart::Start => AllFrom::Start,
            AllStart::End => AllFrom::End,
            AllStart::Event(index) => AllFrom::Position(
                self.model.all[index]
                    .position
                    .ok_or_else(|| TestCaseError::fail("a written event's position is known"))?,
            ),
        };
        let request = ReadAllRequest { from, direction, max_count, filter: None };
        let context = format!("{request:?}");
        let expected = self.model.read_all(start, direction, max_count);
        let actual = read_all(self.engine()?, request).await?;
        check_events(&context, &actual, &self.model, &expected)
    }

    /// Everything the engine holds, every way it can be read, against the
    /// model.
    async fn check_everything(&self, context: &str) -> Result<(), TestCaseError> {
        let engine = self.engine()?;
        let everything: Vec<usize> = (0..self.model.all.len()).collect();
        let forwards = read_all(engine, ReadAllRequest::forwards()).await?;
        check_events(&format!("{context}: $all forwards"), &forwards, &self.model, &everything)?;
        prop_assert!(
            forwards.windows(2).all(|pair| pair[0].position < pair[1].position),
            "{}: $all positions strictly increase",
            context
        );
        let mut backwards = read_all(engine, ReadAllRequest::backwards()).await?;
        backwards.reverse();
        prop_assert_eq!(&backwards, &forwards, "{}: $all backwards", context);
        for name in STREAMS {
            let stream = stream_name(name);
            let revision = engine.stream_revision(&stream).await.map_err(|error| failure("stream revision", error))?;
            prop_assert_eq!(revision, self.model.current_revision(&stream), "{}: revision of {}", context, name);
            let request = ReadStreamRequest::forwards(stream.clone());
            let expected = self.model.read_stream(&request);
            let actual = read_stream(engine, request).await;
            match (actual, expected) {
                (Ok(actual), Ok(expected)) => {
                    check_events(&format!("{context}: stream {name}"), &actual, &self.model, &expected)?;
                }
                (Err(actual), Err(expected)) => prop_assert_eq!(actual, expected),
                (actual, expected) => {
                    return Err(TestCaseError::fail(format!(
                        "{context}: stream {name}: engine answered {actual:?}, model {expected:?}"
                    )));
                }
            }
        }
        prop_assert_eq!(
            engine.head_position(),
            self.model.all.last().and_then(|event| event.position),
            "{}: head position",
            context
        );
        Ok(())
    }
}

/// A request as stream, expectation and event numbers: the data is noise.
fn describe_requests(requests: &[AppendRequest]) -> String {
    let described: Vec<String> = requests
        .iter()
        .map(|request| {
            let events: Vec<u128> = request.events.iter().map(|event| event.id.0.as_u128()).collect();
            format!("{} expecting {:?} events {:?}", request.stream, request.expected, events)
        })
        .collect();
    described.join(", ")
}

async fn read_stream(engine: &Engine, request: ReadStreamRequest) -> Result<Vec<RecordedEvent>, ReadError> {
    engine.read_stream(request).await?.try_collect().await
}

async fn read_all(engine: &Engine, request: ReadAllRequest) -> Result<Vec<RecordedEvent>, TestCaseError> {
    let context = format!("{request:?}");
    engine
        .read_all(request)
        .await
        .map_err(|error| failure(&context, error))?
        .try_collect()
        .await
        .map_err(|error| failure(&context, error))
}

async fn run_operations(operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let mut harness = Harness::open()?;
    for (step, operation) in operations.into_iter().enumerate() {
        match operation {
            Operation::Append(spec) => {
                let request = harness.request(&spec);
                harness.append_transaction(vec![request]).await?;
            }
            Operation::AppendTransaction(specs) => {
                let requests = specs.iter().map(|spec| harness.request(spec)).collect();
                harness.append_transaction(requests).await?;
            }
            Operation::ReadStream { stream, direction, from, max_count } => {
                harness.read_stream_operation(stream, direction, from, max_count).await?;
            }
            Operation::ReadAll { direction, from, max_count } => {
                harness.read_all_operation(direction, from, max_count).await?;
            }
            Operation::Reopen => {
                harness.reopen().await?;
                harness.check_everything(&format!("after the reopen at step {step}")).await?;
            }
        }
    }
    harness.check_everything("at the end").await?;
    harness.reopen().await?;
    harness.check_everything("after the final reopen").await?;
    harness.close().await;
    Ok(())
}

fn block_on_with_timeout(
    worker_threads: Option<usize>,
    body: impl Future<Output = Result<(), TestCaseError>>,
) -> Result<(), TestCaseError> {
    let runtime = match worker_threads {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(threads) => tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build(),
    }
    .map_err(|error| failure("tokio runtime", error))?;
    runtime.block_on(async {
        tokio::time::timeout(CASE_TIMEOUT, body)
            .await
            .map_err(|_| TestCaseError::fail("the case timed out: the engine hangs"))?
    })
}

proptest! {
    #![proptest_config(proptest_config(32))]

    #[test]
    fn the_engine_answers_as_the_model_does(
        operations in prop::collection::vec(operation_strategy(), 5..=40)
    ) {
        block_on_with_timeout(None, run_operations(operations))?;
    }
}

// ---------------------------------------------------------------------------
// Racing optimistic appends
// ---------------------------------------------------------------------------

/// An append that succeeded, as its task saw it.
#[derive(Debug)]
struct Win {
    task: usize,
    expected: ExpectedRevision,
    ids: Vec<EventId>,
    outcome: AppendOutcome,
}

/// Appends `appends` times to `stream`, each time expecting exactly the
/// revision just read and retrying (with the same event ids) on
/// `WrongExpectedVersion`.
async fn optimistic_appender(
    engine: Engine,
    stream: StreamName,
    task: usize,
    appends: usize,
    events_per_append: usize,
) -> Result<(Vec<Win>, usize), String> {
    let mut wins = Vec::with_capacity(appends);
    let mut conflicts = 0;
    for append in 0..appends {
        let events: Vec<ProposedEvent> = (0..events_per_append)
            .map(|index| {
                let number = ((task as u128) << 64) | ((append as u128) << 32) | index as u128;
                ProposedEvent {
                    id: EventId(Uuid::from_u128(number + 1)),
                    event_type: "Raced".to_owned(),
                    content_type: ContentType::Json,
                    data: Bytes::from(format!("{{\"task\":{task},\"append\":{append},\"index\":{index}}}")),
                    metadata: Bytes::new(),
                }
            })
            .collect();
        let ids: Vec<EventId> = events.iter().map(|event| event.id).collect();
        loop {
            let current = engine.stream_revision(&stream).await.map_err(|error| format!("stream revision: {error}"))?;
            let expected = match current {
                CurrentRevision::NoStream => ExpectedRevision::NoStream,
                CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision),
            };
            let request = AppendRequest::new(stream.clone(), expected, events.clone());
            match engine.append(request).await {
                Ok(outcome) => {
                    wins.push(Win { task, expected, ids, outcome });
                    break;
                }
                Err(AppendError::WrongExpectedVersion {
                    stream: refused_stream,
                    expected: refused_expected,
                    actual,
                }) => {
                    if refused_stream != stream || refused_expected != expected {
                        return Err(format!(
                            "refusal names {refused_stream} / {refused_expected}, not {stream} / {expected}"
                        ));
                    }
                    if actual.satisfies(expected) {
                        return Err(format!("refused {expected} although the actual revision {actual} satisfies it"));
                    }
                    conflicts += 1;
                    if conflicts > 100_000 {
                        return Err("no progress after 100000 conflicts".to_owned());
                    }
                }
                Err(error) => return Err(format!("append failed: {error}")),
            }
        }
    }
    Ok((wins, conflicts))
}

async fn run_race(task_count: usize, appends_per_task: usize, events_per_append: usize) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|error| failure("tempdir", error))?;
    let mut config = EngineConfig::new(dir.path());
    config.segment_bytes_max = SEGMENT_BYTES_MAX;
    let engine = Engine::open(config).map_err(|error| failure("open", error))?;
    let stream = stream_name("raced-1");
    let tasks: Vec<_> = (0..task_count)
        .map(|task| {
            tokio::spawn(optimistic_appender(engine.clone(), stream.clone(), task, appends_per_task, events_per_append))
        })
        .collect();
    let mut wins = Vec::new();
    for task in tasks {
        let (task_wins, _conflicts) =
            task.await.map_err(|error| failure("appender task", error))?.map_err(TestCaseError::fail)?;
        // One task's appends land in the order it made them.
        prop_assert!(
            task_wins.windows(2).all(|pair| pair[0].outcome.current_revision < pair[1].outcome.current_revision),
            "a task's own appends are in order"
        );
        wins.extend(task_wins);
    }
    let append_count = task_count * appends_per_task;
    let event_count = append_count * events_per_append;
    prop_assert_eq!(wins.len(), append_count);

    let events = read_stream(&engine, ReadStreamRequest::forwards(stream.clone()))
        .await
        .map_err(|error| failure("read stream", error))?;
    prop_assert_eq!(events.len(), event_count, "every acked event, no more");
    prop_assert!(
        events.iter().enumerate().all(|(index, event)| event.revision == index as u64),
        "revisions 0..n without gaps"
    );
    let distinct: HashSet<EventId> = events.iter().map(|event| event.id).collect();
    prop_assert_eq!(distinct.len(), event_count, "no event twice");

    let mut expectations = HashSet::new();
    for win in &wins {
        let CurrentRevision::Current(last) = win.outcome.current_revision else {
            return Err(TestCaseError::fail(format!("{win:?} wrote no revision")));
        };
        let first = (last + 1)
            .checked_sub(events_per_append as u64)
            .ok_or_else(|| TestCaseError::fail(format!("{win:?}: revision too low")))?;
        let landed: Vec<EventId> = events[first as usize..=last as usize].iter().map(|event| event.id).collect();
        prop_assert_eq!(&landed, &win.ids, "task {}'s ids are where it was told", win.task);
        prop_assert_eq!(
            win.outcome.position,
            Some(events[last as usize].position),
            "the outcome's position is its last event's"
        );
        let expected = match first {
            0 => ExpectedRevision::NoStream,
            first => ExpectedRevision::Exact(first - 1),
        };
        prop_assert_eq!(win.expected, expected, "the win expected what preceded it");
        prop_assert!(expectations.insert(win.expected), "exactly one append won at {:?}", win.expected);
    }

    let in_all: Vec<RecordedEvent> = read_all(&engine, ReadAllRequest::forwards())
        .await?
        .into_iter()
        .filter(|event| event.stream == stream)
        .collect();
    prop_assert_eq!(&in_all, &events, "the stream in $all order");
    prop_assert!(in_all.windows(2).all(|pair| pair[0].position < pair[1].position), "positions strictly increase");
    engine.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config(16))]

    #[test]
    fn racing_exact_appends_to_one_stream_serialize_without_gaps_or_duplicates(
        task_count in 2usize..=8,
        appends_per_task in 1usize..=6,
        events_per_append in 1usize..=3,
    ) {
        block_on_with_timeout(
            Some(2),
            run_race(task_count, appends_per_task, events_per_append),
        )?;
    }
}
