//! One batch's writes, all in one multi-stream transaction: the emitted
//! events and links, the changed partitions' states and results, the newly
//! seen partitions and emitted streams, and the checkpoint itself. A crash
//! keeps all of it or none of it, so a restart from the checkpoint neither
//! loses nor repeats an emitted event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use eventfold_store::{
    AppendError, AppendRequest, ContentType, CurrentRevision, EventId, EventStore, ExpectedRevision, LINK_EVENT_TYPE,
    Position, ProposedEvent,
};

use crate::checkpoint::Tag;
use crate::definition::QueryDefinition;
use crate::names::{self, ProjectionStreams};
use crate::runtime::{Effect, PartitionChange};
use crate::store_io::stream_name;

/// What was processed since the last checkpoint.
#[derive(Debug, Default)]
pub struct Pending {
    pub position: Option<Position>,
    pub events: usize,
    pub effects: Vec<Effect>,
    /// The latest change of each partition.
    pub changed: BTreeMap<String, PartitionChange>,
    /// The root partition's state and the shared state as they are now:
    /// every checkpoint carries them, changed or not.
    pub root_state: Option<String>,
    pub shared: Option<String>,
    pub new_partitions: Vec<String>,
    /// About what the transaction will weigh.
    pub bytes: usize,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.events == 0 && self.changed.is_empty() && self.effects.is_empty() && self.position.is_none()
    }

    pub fn has_writes(&self) -> bool {
        self.effects.iter().any(|effect| !matches!(effect, Effect::Log(_)))
    }

    /// What is pending, with the states as they stand, to be committed;
    /// `self` is left empty for what comes next.
    pub fn seal(&mut self, standing: &StandingStates) -> Pending {
        let mut sealed = std::mem::take(self);
        sealed.root_state = standing.root.clone();
        sealed.shared = standing.shared.clone();
        sealed
    }
}

/// The root partition's state and the shared state as they are now, which
/// every checkpoint carries.
#[derive(Debug, Default, Clone)]
pub struct StandingStates {
    pub root: Option<String>,
    pub shared: Option<String>,
}

/// What a projection's commits need to remember between batches.
#[derive(Debug, Default)]
pub struct Committed {
    pub checkpoint_revision: Option<u64>,
    pub position: Option<Position>,
    pub tracked_streams: BTreeSet<String>,
    /// The last revision of each partition result stream, once known.
    pub result_revisions: HashMap<String, CurrentRevision>,
}

pub struct Settings<'a> {
    pub streams: &'a ProjectionStreams,
    pub definition: &'a QueryDefinition,
    pub epoch: i64,
    pub version: i64,
    pub track_emitted_streams: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the checkpoint could not be written: {0}")]
    Append(#[from] AppendError),
    #[error("{0}")]
    Invalid(String),
}

/// Streams and their events in the order they were first written to, so
/// that each stream's events keep the order they were asked for.
#[derive(Default)]
struct Writes {
    order: Vec<AppendRequest>,
    index: HashMap<String, usize>,
}

impl Writes {
    fn push(&mut self, stream: &str, expected: ExpectedRevision, event: ProposedEvent) -> Result<(), CommitError> {
        if let Some(&at) = self.index.get(stream) {
            self.order[at].events.push(event);
            return Ok(());
        }
        let name = stream_name(stream).map_err(|error| CommitError::Invalid(error.to_string()))?;
        self.index.insert(stream.to_owned(), self.order.len());
        self.order.push(AppendRequest::new(name, expected, vec![event]));
        Ok(())
    }
}

fn event(
    event_type: &str,
    content_type: ContentType,
    data: impl Into<Bytes>,
    metadata: impl Into<Bytes>,
) -> ProposedEvent {
    ProposedEvent {
        id: EventId::random(),
        event_type: event_type.to_owned(),
        content_type,
        data: data.into(),
        metadata: metadata.into(),
    }
}

/// Metadata of an emitted event or link: the tag and the event it came from.
fn emitted_metadata(tag: &Tag, own: Option<&str>, caused_by: Option<&str>) -> Vec<u8> {
    let mut value = own
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(object) = value.as_object_mut() {
        object.insert("$v".into(), tag.version.clone().into());
        object.insert("$c".into(), tag.commit.into());
        object.insert("$p".into(), tag.prepare.into());
        if let Some(caused_by) = caused_by {
            object.insert("$causedBy".into(), caused_by.into());
        }
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Writes `pending` and the new checkpoint in one transaction.
pub async fn commit(
    store: &dyn EventStore,
    settings: &Settings<'_>,
    committed: &mut Committed,
    pending: Pending,
) -> Result<(), CommitError> {
    let position = pending.position.or(committed.position);
    let tag = Tag::new(settings.epoch, settings.version, position);
    let tag_bytes = serde_json::to_vec(&tag).unwrap_or_default();
    let mut writes = Writes::default();
    let mut newly_tracked = Vec::new();
    for effect in &pending.effects {
        let (stream, proposed) = match effect {
            Effect::Emit { stream, event_type, data, metadata, caused_by } => (
                stream,
                event(
                    event_type,
                    ContentType::Json,
                    data.clone().into_bytes(),
                    emitted_metadata(&tag, metadata.as_deref(), caused_by.as_deref()),
                ),
            ),
            Effect::Link { stream, target, metadata, caused_by } => (
                stream,
                event(
                    LINK_EVENT_TYPE,
                    ContentType::Binary,
                    target.clone().into_bytes(),
                    emitted_metadata(&tag, metadata.as_deref(), caused_by.as_deref()),
                ),
            ),
            Effect::LinkStream { stream, target, metadata, caused_by } => (
                stream,
                event(
                    names::STREAM_LINK,
                    ContentType::Binary,
                    target.clone().into_bytes(),
                    emitted_metadata(&tag, metadata.as_deref(), caused_by.as_deref()),
                ),
            ),
            Effect::Log(_) => continue,
        };
        writes.push(stream, ExpectedRevision::Any, proposed)?;
        if settings.track_emitted_streams
            && !committed.tracked_streams.contains(stream)
            && !newly_tracked.contains(stream)
        {
            newly_tracked.push(stream.clone());
        }
    }
    for stream in &newly_tracked {
        writes.push(
            &settings.streams.emitted_streams(),
            ExpectedRevision::Any,
            event(names::STREAM_TRACKED, ContentType::Binary, stream.clone().into_bytes(), tag_bytes.clone()),
        )?;
    }
    for partition in &pending.new_partitions {
        writes.push(
            &settings.streams.partitions(),
            ExpectedRevision::Any,
            event(names::PARTITION, ContentType::Binary, partition.clone().into_bytes(), tag_bytes.clone()),
        )?;
    }
    let mut result_revisions = Vec::new();
    for change in pending.changed.values() {
        if change.partition.is_empty() {
            continue;
        }
        let state = change.state.clone().unwrap_or_default();
        writes.push(
            &settings.streams.partition_checkpoint(&change.partition),
            ExpectedRevision::Any,
            event(names::PARTITION_CHECKPOINT, ContentType::Json, state.into_bytes(), tag_bytes.clone()),
        )?;
    }
    if settings.definition.output_state {
        let output_to = settings.definition.output_to.as_ref();
        let result_stream = match output_to {
            Some(output) => output.stream.clone(),
            None => settings.streams.result(settings.definition.options.result_stream_name.as_deref()),
        };
        for change in pending.changed.values() {
            let (event_type, data) = match &change.result {
                Some(result) => (names::RESULT, result.clone()),
                None => (names::RESULT_REMOVED, String::new()),
            };
            let result = event(event_type, ContentType::Json, data.into_bytes(), tag_bytes.clone());
            if change.partition.is_empty() {
                writes.push(&result_stream, ExpectedRevision::Any, result)?;
                continue;
            }
            // `outputTo(stream, pattern)`: `{0}` in the pattern is the partition.
            let partition_stream = match output_to.and_then(|output| output.pattern.as_deref()) {
                Some(pattern) => pattern.replace("{0}", &change.partition),
                None => settings.streams.partition_result(&change.partition),
            };
            let current = match committed.result_revisions.get(&partition_stream) {
                Some(current) => *current,
                None => store
                    .stream_revision(
                        &stream_name(&partition_stream).map_err(|error| CommitError::Invalid(error.to_string()))?,
                    )
                    .await
                    .unwrap_or(CurrentRevision::NoStream),
            };
            let expected = match current {
                CurrentRevision::NoStream => ExpectedRevision::NoStream,
                CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision),
            };
            let revision = current.next();
            writes.push(&partition_stream, expected, result)?;
            writes.push(
                &result_stream,
                ExpectedRevision::Any,
                event(
                    LINK_EVENT_TYPE,
                    ContentType::Binary,
                    format!("{revision}@{partition_stream}").into_bytes(),
                    tag_bytes.clone(),
                ),
            )?;
            result_revisions.push((partition_stream, CurrentRevision::Current(revision)));
        }
    }
    let mut checkpoint_tag = tag.clone();
    checkpoint_tag.shared = pending.shared.clone();
    let root_state = pending.root_state.clone().unwrap_or_default();
    let expected = committed.checkpoint_revision.map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
    writes.push(
        &settings.streams.checkpoint(),
        expected,
        event(
            names::CHECKPOINT,
            ContentType::Json,
            root_state.into_bytes(),
            serde_json::to_vec(&checkpoint_tag).unwrap_or_default(),
        ),
    )?;
    let checkpoint_at = writes.index.get(&settings.streams.checkpoint()).copied().unwrap_or_default();
    let outcomes = store.append_transaction(writes.order).await?;
    if let Some(outcome) = outcomes.get(checkpoint_at)
        && let CurrentRevision::Current(revision) = outcome.current_revision
    {
        committed.checkpoint_revision = Some(revision);
    }
    committed.position = position;
    committed.tracked_streams.extend(newly_tracked);
    committed.result_revisions.extend(result_revisions);
    Ok(())
}
