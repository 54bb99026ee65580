//! Goal: with stream metadata (`$tb`, `$maxCount`), soft deletes, tombstones
//! and scavenges in the mix, the engine answers as a simple model does, after
//! any sequence of them, across reopens and index rebuilds.
//!
//! The model keeps, per stream, the revisions appended and the first visible
//! revision. Metadata operations only ever hide more (a scavenged event is
//! gone for good, so a model that could un-hide events would need to know
//! which segment each event landed in). Stream reads must match the model
//! exactly; `$all` must hold every visible event, in order, and nothing that
//! was never appended (which invisible events a scavenge has removed depends
//! on where the segments end). `PROPTEST_CASES` raises the number of cases.

use std::collections::BTreeMap;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ProposedEvent,
    ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent, ScavengeOptions, ScavengeState, StreamName,
};
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

const STREAMS: [&str; 4] = ["order-1", "order-2", "cart-7", "cart-8"];
/// Small segments, so that scavenges have sealed segments to rewrite.
const SEGMENT_BYTES_MAX: u64 = 4096;
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
enum Operation {
    Append {
        stream: usize,
        count: usize,
    },
    /// Raise the first visible revision by `advance` and optionally cap the count.
    Metadata {
        stream: usize,
        advance: u64,
        max_count: Option<u64>,
    },
    SoftDelete {
        stream: usize,
    },
    Tombstone {
        stream: usize,
    },
    Scavenge,
    Reopen,
    RebuildIndex,
}

fn operation_strategy() -> impl Strategy<Value = Operation> {
    let stream = 0..STREAMS.len();
    prop_oneof![
        8 => (stream.clone(), 1usize..6).prop_map(|(stream, count)| Operation::Append { stream, count }),
        2 => (stream.clone(), 0u64..3, prop::option::of(1u64..4))
            .prop_map(|(stream, advance, max_count)| Operation::Metadata { stream, advance, max_count }),
        2 => stream.clone().prop_map(|stream| Operation::SoftDelete { stream }),
        1 => stream.prop_map(|stream| Operation::Tombstone { stream }),
        3 => Just(Operation::Scavenge),
        1 => Just(Operation::Reopen),
        1 => Just(Operation::RebuildIndex),
    ]
}

#[derive(Clone, Debug, Default)]
struct ModelStream {
    next_revision: u64,
    truncate_before: u64,
    max_count: Option<u64>,
    tombstoned: bool,
}

impl ModelStream {
    fn first_visible(&self) -> u64 {
        let by_count = self.max_count.map_or(0, |count| self.next_revision.saturating_sub(count));
        self.truncate_before.max(by_count)
    }

    fn soft_deleted(&self) -> bool {
        !self.tombstoned && self.next_revision > 0 && self.truncate_before >= self.next_revision
    }

    fn visible(&self) -> Vec<u64> {
        (self.first_visible()..self.next_revision).collect()
    }
}

struct Harness {
    dir: tempfile::TempDir,
    engine: Option<Engine>,
    streams: BTreeMap<&'static str, ModelStream>,
    /// (stream, revision) of every event appended to the user streams, in commit order.
    appended: Vec<(String, u64)>,
}

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn failure(context: &str, error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("{context}: {error}"))
}

impl Harness {
    fn config(&self) -> EngineConfig {
        let mut config = EngineConfig::new(self.dir.path());
        config.segment_bytes_max = SEGMENT_BYTES_MAX;
        config
    }

    fn open() -> Result<Self, TestCaseError> {
        let dir = tempfile::tempdir().map_err(|error| failure("tempdir", error))?;
        let mut harness = Self { dir, engine: None, streams: BTreeMap::new(), appended: Vec::new() };
        harness.engine = Some(Engine::open(harness.config()).map_err(|error| failure("open", error))?);
        Ok(harness)
    }

    fn engine(&self) -> Result<&Engine, TestCaseError> {
        self.engine.as_ref().ok_or_else(|| TestCaseError::fail("engine closed"))
    }

    async fn reopen(&mut self, drop_index: bool) -> Result<(), TestCaseError> {
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await;
        }
        if drop_index {
            std::fs::remove_file(self.dir.path().join("index.redb")).map_err(|error| failure("remove index", error))?;
        }
        self.engine = Some(Engine::open(self.config()).map_err(|error| failure("reopen", error))?);
        Ok(())
    }

    async fn apply(&mut self, operation: &Operation) -> Result<(), TestCaseError> {
        match *operation {
            Operation::Append { stream, count } => self.append(STREAMS[stream], count).await,
            Operation::Metadata { stream, advance, max_count } => {
                let model = self.streams.entry(STREAMS[stream]).or_default().clone();
                if model.tombstoned {
                    return Ok(());
                }
                let truncate_before = model.first_visible() + advance;
                let max_count = match (model.max_count, max_count) {
                    (Some(old), Some(new)) => Some(old.min(new)),
                    (old, new) => old.or(new),
                };
                let mut document = serde_json::json!({ "$tb": truncate_before, "note": "kept as is" });
                if let Some(count) = max_count {
                    document["$maxCount"] = serde_json::json!(count);
                }
                let event = ProposedEvent::json("$metadata", document.to_string());
                let request =
                    AppendRequest::new(name(&format!("$${}", STREAMS[stream])), ExpectedRevision::Any, vec![event]);
                self.engine()?.append(request).await.map_err(|error| failure("metadata", error))?;
                let entry = self.streams.entry(STREAMS[stream]).or_default();
                entry.truncate_before = truncate_before;
                entry.max_count = max_count;
                Ok(())
            }
            Operation::SoftDelete { stream } => {
                let model = self.streams.entry(STREAMS[stream]).or_default().clone();
                if model.tombstoned || model.next_revision == 0 || model.soft_deleted() {
                    return Ok(());
                }
                self.engine()?
                    .delete_stream(name(STREAMS[stream]), ExpectedRevision::Any, DeleteMode::Soft)
                    .await
                    .map_err(|error| failure("soft delete", error))?;
                let entry = self.streams.entry(STREAMS[stream]).or_default();
                entry.truncate_before = entry.next_revision;
                Ok(())
            }
            Operation::Tombstone { stream } => {
                let model = self.streams.entry(STREAMS[stream]).or_default().clone();
                if model.tombstoned {
                    return Ok(());
                }
                self.engine()?
                    .delete_stream(name(STREAMS[stream]), ExpectedRevision::Any, DeleteMode::Tombstone)
                    .await
                    .map_err(|error| failure("tombstone", error))?;
                let entry = self.streams.entry(STREAMS[stream]).or_default();
                entry.tombstoned = true;
                Ok(())
            }
            Operation::Scavenge => self.scavenge().await,
            Operation::Reopen => self.reopen(false).await,
            Operation::RebuildIndex => self.reopen(true).await,
        }
    }

    async fn append(&mut self, stream: &'static str, count: usize) -> Result<(), TestCaseError> {
        let events = (0..count)
            .map(|index| ProposedEvent::json("Added", format!("{{\"n\":{index},\"pad\":\"{}\"}}", "x".repeat(80))));
        let request = AppendRequest::new(name(stream), ExpectedRevision::Any, events.collect());
        let outcome = self.engine()?.append(request).await;
        let model = self.streams.entry(stream).or_default();
        if model.tombstoned {
            prop_assert_eq!(outcome, Err(AppendError::StreamDeleted { stream: name(stream) }));
            return Ok(());
        }
        let outcome = outcome.map_err(|error| failure("append", error))?;
        prop_assert_eq!(outcome.current_revision, CurrentRevision::Current(model.next_revision + count as u64 - 1));
        for revision in model.next_revision..model.next_revision + count as u64 {
            self.appended.push((stream.to_string(), revision));
        }
        model.next_revision += count as u64;
        Ok(())
    }

    async fn scavenge(&mut self) -> Result<(), TestCaseError> {
        let engine = self.engine()?;
        let started =
            engine.start_scavenge(ScavengeOptions::default()).await.map_err(|error| failure("start", error))?;
        loop {
            let status = engine.scavenge_status().await.ok_or_else(|| TestCaseError::fail("no status"))?;
            prop_assert_eq!(&status.id, &started.id);
            if status.state.is_finished() {
                prop_assert_eq!(status.state, ScavengeState::Completed, "{:?}", status);
                prop_assert_eq!(status.segments_done, status.segments_total);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn check(&self, context: &str) -> Result<(), TestCaseError> {
        let engine = self.engine()?;
        let mut visible_in_all = Vec::new();
        for stream in STREAMS {
            let model = self.streams.get(stream).cloned().unwrap_or_default();
            let read: Result<Vec<RecordedEvent>, ReadError> =
                async { engine.read_stream(ReadStreamRequest::forwards(name(stream))).await?.try_collect().await }
                    .await;
            let revision = engine.stream_revision(&name(stream)).await;
            if model.tombstoned {
                prop_assert_eq!(
                    read,
                    Err(ReadError::StreamDeleted { stream: name(stream) }),
                    "{}: {}",
                    context,
                    stream
                );
                prop_assert_eq!(revision, Err(ReadError::StreamDeleted { stream: name(stream) }));
                continue;
            }
            let expected_revision = match model.next_revision {
                0 => CurrentRevision::NoStream,
                next => CurrentRevision::Current(next - 1),
            };
            prop_assert_eq!(revision, Ok(expected_revision), "{}: revision of {}", context, stream);
            if model.next_revision == 0 || model.soft_deleted() {
                prop_assert_eq!(
                    read,
                    Err(ReadError::StreamNotFound { stream: name(stream) }),
                    "{}: {}",
                    context,
                    stream
                );
                continue;
            }
            let read = read.map_err(|error| failure(context, error))?;
            let revisions: Vec<u64> = read.iter().map(|event| event.revision).collect();
            prop_assert_eq!(&revisions, &model.visible(), "{}: visible revisions of {}", context, stream);
            visible_in_all.extend(model.visible().into_iter().map(|revision| (stream.to_string(), revision)));
        }

        let all: Vec<RecordedEvent> = engine
            .read_all(ReadAllRequest::forwards())
            .await
            .map_err(|error| failure("read $all", error))?
            .try_collect()
            .await
            .map_err(|error| failure("read $all", error))?;
        let user: Vec<(String, u64)> = all
            .iter()
            .filter(|event| !event.stream.as_str().starts_with('$'))
            .filter(|event| event.event_type != "$streamDeleted")
            .map(|event| (event.stream.as_str().to_string(), event.revision))
            .collect();
        // `$all` is a subsequence of what was appended, holding every visible event.
        let mut appended = self.appended.iter();
        for event in &user {
            prop_assert!(
                appended.any(|candidate| candidate == event),
                "{}: $all holds {:?} out of order",
                context,
                event
            );
        }
        for event in &visible_in_all {
            prop_assert!(user.contains(event), "{}: visible {:?} missing from $all", context, event);
        }
        Ok(())
    }
}

fn proptest_config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(24);
    Config { cases, failure_persistence: None, ..Config::default() }
}

async fn run(operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let mut harness = Harness::open()?;
    for (step, operation) in operations.iter().enumerate() {
        harness.apply(operation).await?;
        if matches!(operation, Operation::Scavenge | Operation::Reopen | Operation::RebuildIndex) {
            harness.check(&format!("after {operation:?} at step {step}")).await?;
        }
    }
    harness.check("at the end").await?;
    harness.scavenge().await?;
    harness.check("after the last scavenge").await?;
    harness.reopen(true).await?;
    harness.check("after rebuilding the index").await?;
    if let Some(engine) = harness.engine.take() {
        engine.shutdown().await;
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn the_engine_answers_as_the_model_does_through_deletes_and_scavenges(
        operations in prop::collection::vec(operation_strategy(), 5..=50)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|error| failure("runtime", error))?;
        runtime.block_on(async {
            tokio::time::timeout(CASE_TIMEOUT, run(operations))
                .await
                .map_err(|_| TestCaseError::fail("the case timed out: the engine hangs"))?
        })?;
    }
}
