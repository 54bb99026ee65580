//! One continuous query as a task over the store: it subscribes to `$all`
//! after its checkpoint, feeds each event to its [`MaintainedQuery`], and
//! when that produces rows appends them to `$query-{name}` together with
//! the checkpoint of the state they leave, in one transaction. A crash
//! therefore loses and repeats nothing: the next start resumes from the
//! checkpoint that went with the last rows written. Row event ids are
//! derived from the position that produced them.
//!
//! On an idle log, windows close by the clock: once the query has read
//! up to the store's head, a window whose end is more than a grace period
//! in the past can receive no more events (`created` follows the log order).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventfold_store::{
    AppendRequest, CurrentRevision, EventId, EventStore, ExpectedRevision, ProposedEvent, StreamName, SubscribeFrom,
    SubscribeToAllRequest, SubscriptionItem, Timestamp,
};
use futures::{FutureExt, StreamExt};
use serde_json::{Map, json};

use crate::checkpoint;
use crate::error::SqlError;
use crate::maintained::{MaintainedQuery, ResultRow, plan_maintained};
use crate::value::Value;

/// The type of a result row event in `$query-{name}`.
pub const RESULT_EVENT_TYPE: &str = "QueryResult";

#[derive(Clone, Copy, Debug)]
pub struct ContinuousOptions {
    /// A checkpoint is written at least this often while events are read
    /// and no window closes.
    pub checkpoint_every: Duration,
    /// How often an idle query looks at the clock to close windows.
    pub clock_tick: Duration,
    /// How far past a window's end the clock must be before an idle query
    /// closes it: covers an event stamped just before and published after.
    pub idle_close_grace: Duration,
    pub groups_max: usize,
}

impl Default for ContinuousOptions {
    fn default() -> Self {
        Self {
            checkpoint_every: Duration::from_secs(5),
            clock_tick: Duration::from_millis(250),
            idle_close_grace: Duration::from_secs(1),
            groups_max: 100_000,
        }
    }
}

/// What a running query reports.
#[derive(Clone, Debug, Default)]
pub struct ContinuousStatus {
    /// The position of the last event read.
    pub position: Option<u64>,
    pub events_read: u64,
    pub rows_written: u64,
    pub open_windows: usize,
    /// Events left out as too late (a window on a data field past its
    /// lateness).
    pub late_events: u64,
    pub live: bool,
    /// Why the query stopped, if it failed.
    pub failure: Option<String>,
}

pub struct ContinuousQuery {
    status: Arc<Mutex<ContinuousStatus>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ContinuousQuery {
    pub fn status(&self) -> ContinuousStatus {
        self.status.lock().map(|status| status.clone()).unwrap_or_default()
    }

    /// The task has ended: stopped, or failed (see [`ContinuousStatus::failure`]).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the task; what it last committed stays.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

pub fn result_stream(name: &str) -> String {
    format!("$query-{name}")
}

pub fn checkpoint_stream(name: &str) -> String {
    format!("$query-{name}-checkpoint")
}

fn stream_name(name: &str) -> Result<StreamName, SqlError> {
    StreamName::new(name).map_err(|error| SqlError::plan(format!("`{name}` cannot name a stream: {error}")))
}

/// Starts query `name` over `store` (the store itself: a query writes its
/// own streams). Refuses, writing nothing, a query that cannot be
/// maintained continuously, and a checkpoint left by another definition.
pub async fn start_continuous(
    store: Arc<dyn EventStore>,
    name: &str,
    sql: &str,
    options: ContinuousOptions,
) -> Result<ContinuousQuery, SqlError> {
    start_continuous_after(store, name, sql, options, None).await
}

/// [`start_continuous`], for a query with no checkpoint yet reading only
/// the events after position `after` (as a catch-up subscription from it
/// does). A checkpoint, once written, wins: the query resumes from it.
pub async fn start_continuous_after(
    store: Arc<dyn EventStore>,
    name: &str,
    sql: &str,
    options: ContinuousOptions,
    after: Option<eventfold_store::Position>,
) -> Result<ContinuousQuery, SqlError> {
    if name.is_empty() || name.contains(['/', '$']) {
        return Err(SqlError::plan("a query name is not empty and holds no `/` or `$`"));
    }
    let mut state = plan_maintained(sql, options.groups_max)?;
    let results = stream_name(&result_stream(name))?;
    let checkpoints = stream_name(&checkpoint_stream(name))?;
    let loaded = checkpoint::load(store.as_ref(), &checkpoints)
        .await
        .map_err(|error| SqlError::plan(format!("the checkpoint of `{name}`: {error}")))?;
    let mut carried = Vec::new();
    if let Some(data) = loaded {
        let (data, unwritten) = checkpoint::split_unwritten(data, RESULT_EVENT_TYPE)?;
        carried = unwritten;
        state
            .restore(&data)
            .ok_or_else(|| SqlError::plan(format!("the checkpoint of `{name}` belongs to another definition")))?;
    }
    let next_revision = match store.stream_revision(&results).await? {
        CurrentRevision::NoStream => ExpectedRevision::NoStream,
        CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision),
    };
    let from = match (state.position(), after) {
        (Some(position), _) => SubscribeFrom::After(eventfold_store::Position(position)),
        (None, Some(after)) => SubscribeFrom::After(after),
        (None, None) => SubscribeFrom::Start,
    };
    // Unfiltered, although the plan has a filter the store could apply:
    // every event moves `created` forward and so closes windows, and the
    // query must see the log's head to close windows by the clock.
    let subscription = store
        .subscribe_to_all(SubscribeToAllRequest { from, filter: None, checkpoint_interval: None })
        .await
        .map_err(|error| SqlError::evaluation(format!("subscribing to $all: {error}")))?;
    let status = Arc::new(Mutex::new(ContinuousStatus { position: state.position(), ..Default::default() }));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runner = Runner {
        store,
        name: name.to_owned(),
        results,
        checkpoints,
        next_revision,
        state,
        options,
        status: Arc::clone(&status),
        columns: Vec::new(),
        pending: Vec::new(),
        carried,
        unsaved_events: 0,
        retention_written: false,
    };
    let task = tokio::spawn(runner.run(subscription, stopped));
    Ok(ContinuousQuery { status, stop, task })
}

struct Runner {
    store: Arc<dyn EventStore>,
    name: String,
    results: StreamName,
    checkpoints: StreamName,
    next_revision: ExpectedRevision,
    state: Box<dyn MaintainedQuery>,
    options: ContinuousOptions,
    status: Arc<Mutex<ContinuousStatus>>,
    columns: Vec<String>,
    /// Rows produced since the last commit, in order.
    pending: Vec<(ResultRow, RowOrigin)>,
    /// Rows a checkpoint carried unwritten: written before any other.
    carried: Vec<ProposedEvent>,
    /// Events applied since the last commit.
    unsaved_events: u64,
    /// Whether this start has set the checkpoint stream's retention.
    retention_written: bool,
}

/// A commit covers at most this many rows, or this many events: bounds
/// what is held between durable writes while catching up.
const COMMIT_ROWS_MAX: usize = 1_000;
const COMMIT_EVENTS_MAX: u64 = 10_000;

impl Runner {
    async fn run(
        mut self,
        mut subscription: eventfold_store::SubscriptionStream,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        self.columns = self.state_columns();
        let mut live = false;
        let mut last_checkpoint = Instant::now();
        let mut tick = tokio::time::interval(self.options.clock_tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome: Result<(), SqlError> = async {
            if !self.carried.is_empty() {
                self.commit().await?;
            }
            loop {
                tokio::select! {
                    _ = stopped.changed() => return Ok(()),
                    item = subscription.next() => {
                        live |= self.take(item)?;
                        // What is already waiting joins this commit: catching
                        // up, one durable write covers many events' rows;
                        // live, an event's rows are written as it arrives.
                        while self.pending.len() < COMMIT_ROWS_MAX && self.unsaved_events < COMMIT_EVENTS_MAX {
                            match subscription.next().now_or_never() {
                                Some(item) => live |= self.take(item)?,
                                None => break,
                            }
                        }
                        let due = self.unsaved_events > 0 && last_checkpoint.elapsed() >= self.options.checkpoint_every;
                        if !self.pending.is_empty() || due {
                            self.commit().await?;
                            last_checkpoint = Instant::now();
                        }
                    },
                    _ = tick.tick() => {
                        let caught_up = self.store.head_position().is_none_or(|head| Some(head.0) <= self.state.position());
                        if live && caught_up {
                            let grace = i64::try_from(self.options.idle_close_grace.as_nanos() / 100).unwrap_or(i64::MAX);
                            let closed = self.state.close_through(Timestamp::now().ticks().saturating_sub(grace));
                            // Closed by the clock, not by an event: no position
                            // produced these rows, so their ids are random.
                            self.pending.extend(closed.into_iter().map(|row| (row, RowOrigin::Clock)));
                            if !self.pending.is_empty() || self.unsaved_events > 0 {
                                self.commit().await?;
                                last_checkpoint = Instant::now();
                            }
                        }
                    }
                }
                let open = self.state.held();
                let position = self.state.position();
                let late_events = self.state.late_events();
                self.update_status(|status| {
                    status.open_windows = open;
                    status.late_events = late_events;
                    status.position = position;
                    status.live = live;
                });
            }
        }
        .await;
        if let Err(error) = outcome {
            tracing_failure(&self.name, &error);
            self.update_status(|status| status.failure = Some(error.to_string()));
        }
    }

    /// Applies one subscription item, keeping the rows an event produces
    /// for the next commit; whether the subscription has caught up.
    fn take(
        &mut self,
        item: Option<Result<SubscriptionItem, eventfold_store::SubscriptionError>>,
    ) -> Result<bool, SqlError> {
        match item {
            None => Err(SqlError::evaluation("the subscription to $all ended")),
            Some(Err(error)) => Err(SqlError::evaluation(format!("the subscription failed: {error}"))),
            Some(Ok(SubscriptionItem::CaughtUp)) => Ok(true),
            Some(Ok(SubscriptionItem::Checkpoint(_))) => Ok(false),
            Some(Ok(SubscriptionItem::Event(event))) => {
                let rows = self.state.apply(&event)?;
                // The query's own rows and checkpoints are in `$all` too:
                // they move `created` on (and may close windows), but alone
                // they call for no checkpoint, or an idle query would write
                // one per clock tick, each read back as a reason for the next.
                if event.stream != self.results && event.stream != self.checkpoints {
                    self.unsaved_events += 1;
                }
                self.update_status(|status| status.events_read += 1);
                let position = event.position.0;
                self.pending.extend(
                    rows.into_iter().enumerate().map(|(index, row)| (row, RowOrigin::Event { position, index })),
                );
                Ok(false)
            }
        }
    }

    fn state_columns(&self) -> Vec<String> {
        self.state.columns().to_vec()
    }

    fn update_status(&self, change: impl FnOnce(&mut ContinuousStatus)) {
        if let Ok(mut status) = self.status.lock() {
            change(&mut status);
        }
    }

    /// Appends the pending rows and the checkpoint of the state after
    /// them, all or nothing; rows more than one append may hold go in
    /// several, each with a checkpoint that carries the rows still to
    /// write (written first on the next start if a crash comes between).
    async fn commit(&mut self) -> Result<(), SqlError> {
        let rows = std::mem::take(&mut self.pending);
        let mut events = std::mem::take(&mut self.carried);
        events.extend(rows.into_iter().map(|(row, origin)| self.row_event(row, origin)));
        let state = self.state.to_json();
        loop {
            let rest = events.split_off(rows_fitting(&events));
            let chunk = std::mem::replace(&mut events, rest);
            let checkpoint_data =
                if events.is_empty() { state.clone() } else { checkpoint::with_unwritten_rows(state.clone(), &events) };
            self.commit_chunk(chunk, checkpoint_data).await?;
            if events.is_empty() {
                return Ok(());
            }
        }
    }

    async fn commit_chunk(&mut self, rows: Vec<ProposedEvent>, state: serde_json::Value) -> Result<(), SqlError> {
        let written = rows.len() as u64;
        let mut requests = Vec::new();
        if !rows.is_empty() {
            requests.push(AppendRequest::new(self.results.clone(), self.next_revision, rows));
        }
        let checkpoint = checkpoint::prepare(self.store.as_ref(), &self.checkpoints, state.to_string())
            .await
            .map_err(|error| SqlError::evaluation(format!("the checkpoint of `{}`: {error}", self.name)))?;
        requests.push(AppendRequest::new(self.checkpoints.clone(), ExpectedRevision::Any, vec![checkpoint]));
        if !self.retention_written {
            requests.push(checkpoint::retention(self.store.as_ref(), &self.checkpoints).await?);
        }
        let outcomes = self
            .store
            .append_transaction(requests)
            .await
            .map_err(|error| SqlError::evaluation(format!("writing the results of `{}`: {error}", self.name)))?;
        if written > 0
            && let Some(CurrentRevision::Current(revision)) = outcomes.first().map(|outcome| outcome.current_revision)
        {
            self.next_revision = ExpectedRevision::Exact(revision);
        }
        self.unsaved_events = 0;
        self.retention_written = true;
        self.update_status(|status| status.rows_written += written);
        Ok(())
    }

    /// One row as an event: its columns as a JSON object. A row an event
    /// produced has its id from the query, that event's position and the
    /// row's place among those it produced, so a replay would write the
    /// same ids.
    fn row_event(&self, row: ResultRow, origin: RowOrigin) -> ProposedEvent {
        let object: Map<String, serde_json::Value> =
            self.columns.iter().cloned().zip(row.values.iter().map(Value::to_json)).collect();
        let (id, producing_position) = match origin {
            RowOrigin::Event { position, index } => {
                let mut id = [0_u8; 16];
                id[..8].copy_from_slice(&position.to_be_bytes());
                id[8..12].copy_from_slice(&u32::try_from(index).unwrap_or(u32::MAX).to_be_bytes());
                id[12..].copy_from_slice(&name_hash(&self.name).to_be_bytes());
                (uuid::Uuid::from_bytes(id), position)
            }
            RowOrigin::Clock => (uuid::Uuid::new_v4(), self.state.position().unwrap_or(0)),
        };
        let mut metadata = row.metadata;
        metadata.insert("$position".to_owned(), json!(producing_position));
        ProposedEvent {
            id: EventId(id),
            event_type: RESULT_EVENT_TYPE.to_owned(),
            content_type: eventfold_store::ContentType::Json,
            data: Bytes::from(serde_json::Value::Object(object).to_string()),
            metadata: Bytes::from(serde_json::Value::Object(metadata).to_string()),
        }
    }
}

/// The rows of one append: at most this many bytes of them, leaving the
/// checkpoint (in parts when large) room within the maximum append size.
const ROW_BYTES_PER_APPEND: usize = 512 * 1024;

/// How many of `events`, from the first, one append takes: at least one.
fn rows_fitting(events: &[ProposedEvent]) -> usize {
    let mut bytes = 0_usize;
    let fitting = events
        .iter()
        .take_while(|event| {
            bytes = bytes.saturating_add(event.size_bytes());
            bytes <= ROW_BYTES_PER_APPEND
        })
        .count();
    fitting.max(1).min(events.len())
}

/// What produced a row.
#[derive(Clone, Copy, Debug)]
enum RowOrigin {
    /// The event at `position`, as its `index`th row.
    Event { position: u64, index: usize },
    /// The clock, closing what an idle log left open.
    Clock,
}

/// FNV-1a of the query's name: the part of a row id that tells queries apart.
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

fn tracing_failure(name: &str, error: &SqlError) {
    tracing::warn!(query = name, %error, "continuous query stopped");
}
