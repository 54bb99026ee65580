//! [`ContinuousQueries`]: loads the definitions, runs one task per query,
//! and serves create, list, info, result, reset and delete.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use eventfold_store::{
    DeleteMode, Direction, EventStore, ExpectedRevision, Position, ReadError, ReadStreamRequest, RevisionFrom,
    StreamName,
};
use futures::StreamExt;
use tokio::sync::Mutex;

use super::definitions::{self, Change, Definition};
use super::error::QueriesError;
use super::info::{QueryInfo, QueryResult, QueryState};
use crate::continuous_runner::{ContinuousOptions, ContinuousQuery, checkpoint_stream, result_stream};
use crate::maintained::plan_maintained;
use crate::start_continuous_after;

/// Whether the node runs continuous queries, and how.
#[derive(Clone, Copy, Debug)]
pub struct QueriesOptions {
    pub run: bool,
    pub continuous: ContinuousOptions,
    /// The most rows a result answer holds (the latest ones).
    pub result_rows_max: u64,
}

impl Default for QueriesOptions {
    fn default() -> Self {
        Self { run: true, continuous: ContinuousOptions::default(), result_rows_max: 10_000 }
    }
}

#[derive(Clone)]
pub struct ContinuousQueries {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    options: QueriesOptions,
    /// The queries, while this node runs them; `None` on a follower of a
    /// shared store, where the leader runs them.
    registry: Mutex<Option<BTreeMap<String, Entry>>>,
}

struct Entry {
    definition: Definition,
    columns: Vec<String>,
    run: Run,
    /// The events read at the previous look and the rate then, for events
    /// per second.
    rate_sample: std::sync::Mutex<Option<RateSample>>,
}

#[derive(Clone, Copy)]
struct RateSample {
    at: Instant,
    events_read: u64,
    per_second: f64,
}

enum Run {
    Running(ContinuousQuery),
    /// The task could not start (a checkpoint of another definition, a
    /// store that failed): the reason.
    NotStarted(String),
}

/// A query name is also part of two stream names.
fn check_name(name: &str) -> Result<(), QueriesError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'));
    if valid { Ok(()) } else { Err(QueriesError::InvalidName { name: name.to_owned() }) }
}

impl ContinuousQueries {
    /// Loads the definitions over `store` (the store itself: the
    /// subsystem's streams are its own) and starts every query. A store
    /// that cannot be read leaves the subsystem empty, logged.
    pub async fn start(store: Arc<dyn EventStore>, options: QueriesOptions) -> Self {
        let queries = Self::follower(store, options);
        queries.lead().await;
        queries
    }

    /// The subsystem on a node that does not lead a shared store: it runs
    /// nothing and refuses requests until [`Self::lead`].
    pub fn follower(store: Arc<dyn EventStore>, options: QueriesOptions) -> Self {
        if !options.run {
            return Self { inner: None };
        }
        Self { inner: Some(Arc::new(Inner { store, options, registry: Mutex::new(None) })) }
    }

    /// This node leads: load the definitions and start every query (once).
    pub async fn lead(&self) {
        let Some(inner) = &self.inner else { return };
        let mut guard = inner.registry.lock().await;
        if guard.is_some() {
            return;
        }
        let loaded = match definitions::load(inner.store.as_ref()).await {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "cannot read the continuous query definitions; none runs");
                BTreeMap::new()
            }
        };
        let mut registry = BTreeMap::new();
        for (name, definition) in loaded {
            let columns = plan_maintained(&definition.sql, inner.options.continuous.groups_max)
                .map(|plan| plan.columns().to_vec())
                .unwrap_or_default();
            let run = launch(&inner.store, &inner.options, &definition).await;
            registry.insert(name, Entry { definition, columns, run, rate_sample: std::sync::Mutex::new(None) });
        }
        *guard = Some(registry);
    }

    /// Another node leads: stop every query here (each resumes there from
    /// what it committed).
    pub async fn follow(&self) {
        let Some(inner) = &self.inner else { return };
        let taken = inner.registry.lock().await.take();
        for entry in taken.into_iter().flat_map(BTreeMap::into_values) {
            stop_run(entry.run).await;
        }
    }

    fn inner(&self) -> Result<&Arc<Inner>, QueriesError> {
        self.inner.as_ref().ok_or(QueriesError::Disabled)
    }

    /// Creates and starts query `name`, after checking that its SQL can be
    /// maintained continuously; nothing is stored when it cannot.
    pub async fn create(&self, name: &str, sql: &str, from: Option<u64>) -> Result<QueryInfo, QueriesError> {
        let inner = self.inner()?;
        check_name(name)?;
        let plan = plan_maintained(sql, inner.options.continuous.groups_max).map_err(QueriesError::Invalid)?;
        let mut guard = inner.registry.lock().await;
        let registry = guard.as_mut().ok_or(QueriesError::Disabled)?;
        if registry.contains_key(name) {
            return Err(QueriesError::AlreadyExists { name: name.to_owned() });
        }
        // A query of this name deleted earlier must lend this one neither
        // its checkpoint nor its rows.
        clear_streams(inner.store.as_ref(), name).await?;
        let definition = Definition { name: name.to_owned(), sql: sql.to_owned(), from };
        definitions::record(inner.store.as_ref(), Change::Created(&definition)).await?;
        let run = launch(&inner.store, &inner.options, &definition).await;
        let entry =
            Entry { definition, columns: plan.columns().to_vec(), run, rate_sample: std::sync::Mutex::new(None) };
        let info = describe(inner.store.as_ref(), &entry);
        registry.insert(name.to_owned(), entry);
        Ok(info)
    }

    pub async fn list(&self) -> Result<Vec<QueryInfo>, QueriesError> {
        let inner = self.inner()?;
        let guard = inner.registry.lock().await;
        let registry = guard.as_ref().ok_or(QueriesError::Disabled)?;
        Ok(registry.values().map(|entry| describe(inner.store.as_ref(), entry)).collect())
    }

    pub async fn info(&self, name: &str) -> Result<QueryInfo, QueriesError> {
        let inner = self.inner()?;
        let guard = inner.registry.lock().await;
        let registry = guard.as_ref().ok_or(QueriesError::Disabled)?;
        let entry = registry.get(name).ok_or_else(|| not_found(name))?;
        Ok(describe(inner.store.as_ref(), entry))
    }

    /// The rows of the windows closed so far, read from `$query-{name}`:
    /// the latest `limit` (capped by the options), oldest first. A row
    /// whose `$key` a later row repeats is superseded by it and left out.
    pub async fn result(&self, name: &str, limit: Option<u64>) -> Result<QueryResult, QueriesError> {
        let inner = self.inner()?;
        let columns = {
            let guard = inner.registry.lock().await;
            let registry = guard.as_ref().ok_or(QueriesError::Disabled)?;
            registry.get(name).ok_or_else(|| not_found(name))?.columns.clone()
        };
        let limit = limit.unwrap_or(inner.options.result_rows_max).min(inner.options.result_rows_max);
        let stream = StreamName::new(result_stream(name)).map_err(QueriesError::storage)?;
        let request =
            ReadStreamRequest { stream, from: RevisionFrom::End, direction: Direction::Backwards, max_count: u64::MAX };
        let mut rows = Vec::new();
        let mut superseded = std::collections::HashSet::new();
        match inner.store.read_stream(request).await {
            Ok(mut events) => {
                // Newest first: the first row of a key is its latest.
                while rows.len() as u64 <= limit
                    && let Some(event) = events.next().await
                {
                    let event = event.map_err(QueriesError::storage)?;
                    if let Some(key) = row_key(&event.metadata)
                        && !superseded.insert(key)
                    {
                        continue;
                    }
                    let row = serde_json::from_slice(&event.data).map_err(QueriesError::storage)?;
                    rows.push(row);
                }
            }
            Err(ReadError::StreamNotFound { .. }) => {}
            Err(error) => return Err(QueriesError::storage(error)),
        }
        let truncated = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.reverse();
        Ok(QueryResult { columns, rows, truncated })
    }

    /// Rebuilds query `name` from the start of the log (or after `from`):
    /// its checkpoint and its rows are dropped, and the task starts again.
    pub async fn reset(&self, name: &str, from: Option<u64>) -> Result<QueryInfo, QueriesError> {
        let inner = self.inner()?;
        let mut guard = inner.registry.lock().await;
        let registry = guard.as_mut().ok_or(QueriesError::Disabled)?;
        let entry = registry.get_mut(name).ok_or_else(|| not_found(name))?;
        stop_run(std::mem::replace(&mut entry.run, Run::NotStarted("resetting".into()))).await;
        definitions::record(inner.store.as_ref(), Change::Reset { name, from }).await?;
        entry.definition.from = from;
        clear_streams(inner.store.as_ref(), name).await?;
        entry.run = launch(&inner.store, &inner.options, &entry.definition).await;
        if let Ok(mut sample) = entry.rate_sample.lock() {
            *sample = None;
        }
        Ok(describe(inner.store.as_ref(), entry))
    }

    /// Stops and forgets query `name`, with its checkpoint and its rows.
    pub async fn delete(&self, name: &str) -> Result<(), QueriesError> {
        let inner = self.inner()?;
        let mut guard = inner.registry.lock().await;
        let registry = guard.as_mut().ok_or(QueriesError::Disabled)?;
        let entry = registry.remove(name).ok_or_else(|| not_found(name))?;
        stop_run(entry.run).await;
        definitions::record(inner.store.as_ref(), Change::Deleted(name)).await?;
        clear_streams(inner.store.as_ref(), name).await
    }

    /// Stops every task; what each committed stays, to resume from.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else { return };
        let mut guard = inner.registry.lock().await;
        for entry in guard.iter_mut().flat_map(BTreeMap::values_mut) {
            stop_run(std::mem::replace(&mut entry.run, Run::NotStarted("the node stopped".into()))).await;
        }
    }
}

/// The `$key` of a result row event: the window and group a row of a
/// window on a data field stands for, shared by its updates.
fn row_key(metadata: &[u8]) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_slice(metadata).ok()?;
    metadata.get("$key")?.as_str().map(str::to_owned)
}

fn not_found(name: &str) -> QueriesError {
    QueriesError::NotFound { name: name.to_owned() }
}

async fn launch(store: &Arc<dyn EventStore>, options: &QueriesOptions, definition: &Definition) -> Run {
    let after = definition.from.map(Position);
    match start_continuous_after(Arc::clone(store), &definition.name, &definition.sql, options.continuous, after).await
    {
        Ok(query) => Run::Running(query),
        Err(error) => {
            tracing::warn!(query = definition.name, %error, "continuous query did not start");
            Run::NotStarted(error.to_string())
        }
    }
}

async fn stop_run(run: Run) {
    if let Run::Running(query) = run {
        query.stop().await;
    }
}

/// Soft-deletes the query's result and checkpoint streams: they read as
/// empty, and the next rows continue their revisions.
async fn clear_streams(store: &dyn EventStore, name: &str) -> Result<(), QueriesError> {
    for stream in [result_stream(name), checkpoint_stream(name)] {
        let stream = StreamName::new(stream).map_err(QueriesError::storage)?;
        let exists = match store.stream_revision(&stream).await {
            Ok(revision) => revision != eventfold_store::CurrentRevision::NoStream,
            Err(ReadError::StreamNotFound { .. }) => false,
            Err(error) => return Err(QueriesError::storage(error)),
        };
        if exists {
            store
                .delete_stream(stream, ExpectedRevision::Any, DeleteMode::Soft)
                .await
                .map_err(QueriesError::storage)?;
        }
    }
    Ok(())
}

fn describe(store: &dyn EventStore, entry: &Entry) -> QueryInfo {
    let head_position = store.head_position().map(|head| head.0);
    let (state, status) = match &entry.run {
        Run::Running(query) => {
            let status = query.status();
            let state = match (&status.failure, query.is_finished()) {
                (Some(reason), _) => QueryState::Faulted(reason.clone()),
                (None, true) => QueryState::Stopped,
                (None, false) => QueryState::Running,
            };
            (state, status)
        }
        Run::NotStarted(reason) => (QueryState::Faulted(reason.clone()), Default::default()),
    };
    let events_per_second = rate(entry, status.events_read);
    let lag = match (head_position, status.position) {
        (Some(head), Some(position)) => head.saturating_sub(position),
        (Some(head), None) => head.saturating_sub(entry.definition.from.unwrap_or(0)),
        (None, _) => 0,
    };
    QueryInfo {
        name: entry.definition.name.clone(),
        sql: entry.definition.sql.clone(),
        from: entry.definition.from,
        columns: entry.columns.clone(),
        state,
        position: status.position,
        head_position,
        lag,
        live: status.live,
        events_read: status.events_read,
        events_per_second,
        rows_written: status.rows_written,
        open_windows: status.open_windows,
        late_events: status.late_events,
        result_stream: result_stream(&entry.definition.name),
    }
}

/// Events per second since the previous look, which becomes the next one's
/// reference once at least a tenth of a second has passed (looks closer
/// together answer the rate measured last).
fn rate(entry: &Entry, events_read: u64) -> f64 {
    let Ok(mut sample) = entry.rate_sample.lock() else { return 0.0 };
    let now = Instant::now();
    let Some(previous) = *sample else {
        *sample = Some(RateSample { at: now, events_read, per_second: 0.0 });
        return 0.0;
    };
    let elapsed = now.duration_since(previous.at).as_secs_f64();
    if elapsed < 0.1 {
        return previous.per_second;
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate to show, not a count")]
    let per_second = events_read.saturating_sub(previous.events_read) as f64 / elapsed;
    *sample = Some(RateSample { at: now, events_read, per_second });
    per_second
}
