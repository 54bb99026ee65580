//! One append (or delete) as one database transaction (PG-2): lock the
//! rows of every stream it touches, check each request against them with
//! the store's rules, insert the events without positions, write the new
//! stream state, commit. Positions come afterwards from the sequencer.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, Effect, ExpectedRevision,
    METADATA_STREAM_PREFIX, ProposedEvent, SOFT_DELETED_TRUNCATE_BEFORE, StreamName, StreamState, TOMBSTONE_EVENT_TYPE,
    Timestamp, effect_of, expectation_met, metadata_event, metadata_stream_of, metadata_target, recreation_metadata,
    system_event, with_truncate_before,
};
use tokio_postgres::error::SqlState;

use crate::errors::storage;
use crate::rows::{to_i64, to_u64};

/// What a transaction does.
pub enum Work {
    Append(Vec<AppendRequest>),
    Delete { stream: StreamName, expected: ExpectedRevision, mode: DeleteMode },
}

/// An outcome whose position is known only once the sequencer has numbered
/// the event `last_key`.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub current_revision: CurrentRevision,
    pub last_key: Option<i64>,
}

/// Why a transaction did not commit: refused, or worth running again.
pub enum Failure {
    Refused(AppendError),
    Retry(tokio_postgres::Error),
}

impl From<AppendError> for Failure {
    fn from(error: AppendError) -> Self {
        Failure::Refused(error)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        // A unique violation can only come from a race the row locks rule
        // out on PostgreSQL; on engines that lock differently, retrying
        // re-reads the state that won.
        let retry = crate::errors::is_retryable(&error) || error.code() == Some(&SqlState::UNIQUE_VIOLATION);
        if retry { Failure::Retry(error) } else { Failure::Refused(AppendError::Storage(storage(&error))) }
    }
}

/// A stream row as locked by the transaction.
#[derive(Clone, Copy, Debug)]
struct Locked {
    stream_id: i64,
    state: StreamState,
}

type LockedStreams = HashMap<String, Locked>;

/// Runs `work` in `transaction` and commits it; returns one pending outcome
/// per request of the caller's (a delete has one).
pub async fn run(transaction: Transaction<'_>, work: &Work) -> Result<Vec<Pending>, Failure> {
    let mut locked = LockedStreams::new();
    let (requests, own) = match work {
        Work::Append(requests) => {
            lock(&transaction, &mut locked, requests.iter().flat_map(lock_set)).await?;
            let requests = with_recreations(&transaction, &mut locked, requests).await?;
            (requests, requests_len(work))
        }
        Work::Delete { stream, expected, mode } => {
            (vec![delete_request(&transaction, &mut locked, stream, *expected, *mode).await?], 1)
        }
    };
    let created = Timestamp::now();
    let mut rows = Rows::default();
    let mut planned = Vec::with_capacity(requests.len());
    for request in &requests {
        planned.push(plan(&transaction, &mut locked, request, &mut rows, created).await?);
    }
    let keys = insert(&transaction, &rows).await?;
    write_streams(&transaction, &locked).await?;
    transaction.commit().await?;
    let mut outcomes: Vec<Pending> = planned
        .into_iter()
        .map(|plan| match plan {
            Plan::Done(pending) => pending,
            Plan::Write { stream_id, last_revision } => Pending {
                current_revision: CurrentRevision::Current(last_revision),
                last_key: keys.get(&(stream_id, to_i64(last_revision))).copied(),
            },
        })
        .collect();
    if let Work::Delete { .. } = work {
        // The delete's outcome is the position of what it wrote.
        let last = outcomes.iter().rev().find(|pending| pending.last_key.is_some()).copied();
        return Ok(vec![last.unwrap_or(Pending { current_revision: CurrentRevision::NoStream, last_key: None })]);
    }
    outcomes.truncate(own);
    Ok(outcomes)
}

fn requests_len(work: &Work) -> usize {
    match work {
        Work::Append(requests) => requests.len(),
        Work::Delete { .. } => 1,
    }
}

/// The streams a request's checks and effects read or change: its own, and
/// the target of a metadata stream (its retention changes; its tombstone
/// refuses the write).
fn lock_set(request: &AppendRequest) -> Vec<String> {
    let stream = request.stream.as_str();
    let mut names = vec![stream.to_owned()];
    names.extend(metadata_target(stream).map(str::to_owned));
    names
}

/// Locks (creating where missing) the rows of `names` in name order, so two
/// transactions over the same streams never wait for each other in a cycle.
async fn lock(
    transaction: &Transaction<'_>,
    locked: &mut LockedStreams,
    names: impl IntoIterator<Item = String>,
) -> Result<(), Failure> {
    let mut names: Vec<String> = names.into_iter().filter(|name| !locked.contains_key(name)).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(());
    }
    let rows = transaction
        .query(
            &transaction
                .prepare_cached(
                    "INSERT INTO eventfold_streams (name) SELECT name FROM unnest($1::text[]) AS u(name) ORDER BY name \
             ON CONFLICT (name) DO UPDATE SET name = excluded.name \
             RETURNING stream_id, name, next_revision, truncate_before, max_count, max_age_seconds, tombstoned",
                )
                .await?,
            &[&names],
        )
        .await?;
    for row in rows {
        let name: String = row.try_get(1)?;
        let state = StreamState {
            next_revision: to_u64(row.try_get(2)?)?,
            truncate_before: to_u64(row.try_get(3)?)?,
            max_count: row.try_get::<_, Option<i64>>(4)?.map(to_u64).transpose()?,
            max_age_seconds: row.try_get::<_, Option<i64>>(5)?.map(to_u64).transpose()?,
            tombstoned: row.try_get(6)?,
        };
        locked.insert(name, Locked { stream_id: row.try_get(0)?, state });
    }
    Ok(())
}

impl From<eventfold_store::StorageError> for Failure {
    fn from(error: eventfold_store::StorageError) -> Self {
        Failure::Refused(AppendError::Storage(error))
    }
}

fn locked_state<'a>(locked: &'a LockedStreams, stream: &str) -> Result<&'a Locked, Failure> {
    locked.get(stream).ok_or_else(|| {
        Failure::Refused(AppendError::Storage(crate::errors::corrupt(format!("stream `{stream}` was not locked"))))
    })
}

/// The requests followed by the metadata appends that recreate the
/// soft-deleted streams they append to, as the engine does
/// ([`eventfold_store::recreation_metadata`]).
async fn with_recreations(
    transaction: &Transaction<'_>,
    locked: &mut LockedStreams,
    requests: &[AppendRequest],
) -> Result<Vec<AppendRequest>, Failure> {
    let mut all = requests.to_vec();
    for request in requests {
        let stream = request.stream.as_str();
        if request.events.is_empty() || stream.starts_with(METADATA_STREAM_PREFIX) {
            continue;
        }
        let state = locked_state(locked, stream)?.state;
        if !state.awaits_recreation() {
            continue;
        }
        let metadata_stream = derived_name(&metadata_stream_of(stream))?;
        // Metadata the caller writes in the same transaction wins.
        if all.iter().any(|other| other.stream == metadata_stream) {
            continue;
        }
        // Out of name order: a deadlock with a concurrent metadata write is
        // possible, detected by the database and retried.
        lock(transaction, locked, [metadata_stream.as_str().to_owned()]).await?;
        let previous = last_data(transaction, locked_state(locked, metadata_stream.as_str())?.stream_id).await?;
        all.push(recreation_metadata(metadata_stream, previous.as_deref(), state.next_revision));
    }
    Ok(all)
}

/// A delete as the append it amounts to, after the engine's checks: a
/// tombstone appends `$streamDeleted`; a soft delete appends metadata whose
/// `$tb` hides every event.
async fn delete_request(
    transaction: &Transaction<'_>,
    locked: &mut LockedStreams,
    stream: &StreamName,
    expected: ExpectedRevision,
    mode: DeleteMode,
) -> Result<AppendRequest, Failure> {
    if mode == DeleteMode::Tombstone {
        lock(transaction, locked, [stream.as_str().to_owned()]).await?;
        let tombstone = system_event(TOMBSTONE_EVENT_TYPE, b"{}".to_vec());
        return Ok(AppendRequest::new(stream.clone(), expected, vec![tombstone]));
    }
    let metadata_stream = derived_name(&metadata_stream_of(stream.as_str()))?;
    lock(transaction, locked, [stream.as_str().to_owned(), metadata_stream.as_str().to_owned()]).await?;
    let state = locked_state(locked, stream.as_str())?.state;
    if state.tombstoned || (expected == ExpectedRevision::StreamExists && state.is_soft_deleted()) {
        return Err(AppendError::StreamDeleted { stream: stream.clone() }.into());
    }
    let current = state.current_revision();
    // Nothing to delete is a wrong expectation whatever was expected:
    // clients read "Actual version: -1" as "stream not found".
    if current == CurrentRevision::NoStream || !expectation_met(Some(&state), expected) {
        return Err(AppendError::WrongExpectedVersion { stream: stream.clone(), expected, actual: current }.into());
    }
    let previous = last_data(transaction, locked_state(locked, metadata_stream.as_str())?.stream_id).await?;
    let document = with_truncate_before(previous.as_deref(), SOFT_DELETED_TRUNCATE_BEFORE);
    Ok(AppendRequest::new(metadata_stream, ExpectedRevision::Any, vec![metadata_event(document)]))
}

async fn last_data(transaction: &Transaction<'_>, stream_id: i64) -> Result<Option<Vec<u8>>, Failure> {
    let row = transaction
        .query_opt(
            &transaction
                .prepare_cached("SELECT data FROM eventfold_events WHERE stream_id = $1 ORDER BY revision DESC LIMIT 1")
                .await?,
            &[&stream_id],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

fn derived_name(name: &str) -> Result<StreamName, Failure> {
    StreamName::new(name)
        .map_err(|error| AppendError::InvalidEvent { reason: format!("stream `{name}`: {error}") }.into())
}

enum Plan {
    Done(Pending),
    Write { stream_id: i64, last_revision: u64 },
}

/// The events to insert, column by column (one `unnest` insert).
#[derive(Default)]
struct Rows {
    stream_id: Vec<i64>,
    revision: Vec<i64>,
    event_id: Vec<uuid::Uuid>,
    event_type: Vec<String>,
    category: Vec<Option<String>>,
    is_json: Vec<bool>,
    created: Vec<i64>,
    data: Vec<Vec<u8>>,
    metadata: Vec<Vec<u8>>,
}

impl Rows {
    fn push(&mut self, stream: &StreamName, stream_id: i64, revision: u64, event: &ProposedEvent, created: Timestamp) {
        self.stream_id.push(stream_id);
        self.revision.push(to_i64(revision));
        self.event_id.push(event.id.0);
        self.event_type.push(event.event_type.clone());
        // System streams are linked into no virtual stream.
        self.category.push((!stream.is_system()).then(|| stream.category().to_owned()));
        self.is_json.push(event.content_type == eventfold_store::ContentType::Json);
        self.created.push(created.ticks());
        self.data.push(event.data.to_vec());
        self.metadata.push(event.metadata.to_vec());
    }
}

/// Checks one request against the transaction's stream state, as the
/// engine's writer does, and stages its events.
async fn plan(
    transaction: &Transaction<'_>,
    locked: &mut LockedStreams,
    request: &AppendRequest,
    rows: &mut Rows,
    created: Timestamp,
) -> Result<Plan, Failure> {
    let stream = request.stream.as_str();
    let Locked { stream_id, mut state } = *locked_state(locked, stream)?;
    if state.tombstoned {
        return Err(AppendError::StreamDeleted { stream: request.stream.clone() }.into());
    }
    // The metadata stream of a tombstoned stream is deleted with it.
    if let Some(target) = metadata_target(stream)
        && locked_state(locked, target)?.state.tombstoned
    {
        return Err(AppendError::StreamDeleted { stream: request.stream.clone() }.into());
    }
    let current = state.current_revision();
    if let Some(pending) = idempotent(transaction, request, stream_id, current).await? {
        return Ok(Plan::Done(pending));
    }
    if !expectation_met(Some(&state), request.expected) {
        let (expected, actual) = (request.expected, current);
        return Err(AppendError::WrongExpectedVersion { stream: request.stream.clone(), expected, actual }.into());
    }
    if request.events.is_empty() {
        return Ok(Plan::Done(Pending { current_revision: current, last_key: None }));
    }
    let mut targets: Vec<(&str, eventfold_store::Retention)> = Vec::new();
    for event in &request.events {
        let revision = state.next_revision;
        rows.push(&request.stream, stream_id, revision, event, created);
        state.next_revision += 1;
        let effect = effect_of(stream, &event.event_type, &event.data);
        state.apply_own(&effect);
        if let Effect::Metadata { stream: target, retention } = effect {
            targets.push((target, retention));
        }
    }
    let last_revision = state.next_revision - 1;
    if let Some(entry) = locked.get_mut(stream) {
        entry.state = state;
    }
    for (target, retention) in targets {
        if let Some(entry) = locked.get_mut(target) {
            entry.state.apply_retention(retention);
        }
    }
    Ok(Plan::Write { stream_id, last_revision })
}

/// EventStoreDB's idempotency: an append whose event ids are exactly the
/// events already written at the revisions it expects answers with the
/// original result and writes nothing. With `Any` or `StreamExists`, the
/// first id's revision in the stream says where the repeat would start.
async fn idempotent(
    transaction: &Transaction<'_>,
    request: &AppendRequest,
    stream_id: i64,
    current: CurrentRevision,
) -> Result<Option<Pending>, Failure> {
    let Some(first) = request.events.first() else { return Ok(None) };
    let first_revision = match request.expected {
        ExpectedRevision::Any | ExpectedRevision::StreamExists => {
            let row = transaction
                .query_opt(
                    &transaction
                        .prepare_cached(
                            "SELECT revision FROM eventfold_events WHERE stream_id = $1 AND event_id = $2 \
                     ORDER BY revision LIMIT 1",
                        )
                        .await?,
                    &[&stream_id, &first.id.0],
                )
                .await?;
            match row {
                Some(row) => to_u64(row.try_get(0)?)?,
                None => return Ok(None),
            }
        }
        expected if current.satisfies(expected) => return Ok(None),
        ExpectedRevision::NoStream => 0,
        ExpectedRevision::Exact(revision) => revision + 1,
    };
    let count = request.events.len() as u64;
    if current.next() < first_revision + count {
        return repeat_refused(request, current);
    }
    let rows = transaction
        .query(
            &transaction
                .prepare_cached(
                    "SELECT revision, event_id, event_key FROM eventfold_events \
             WHERE stream_id = $1 AND revision >= $2 AND revision < $3 ORDER BY revision",
                )
                .await?,
            &[&stream_id, &to_i64(first_revision), &to_i64(first_revision + count)],
        )
        .await?;
    let mut last_key = None;
    let mut matched = rows.len() == request.events.len();
    for ((row, event), revision) in rows.iter().zip(&request.events).zip(first_revision..) {
        let stored_revision: i64 = row.try_get(0)?;
        let stored_id: uuid::Uuid = row.try_get(1)?;
        if stored_revision != to_i64(revision) || stored_id != event.id.0 {
            matched = false;
            break;
        }
        last_key = Some(row.try_get::<_, i64>(2)?);
    }
    if !matched {
        return repeat_refused(request, current);
    }
    Ok(Some(Pending { current_revision: CurrentRevision::Current(first_revision + count - 1), last_key }))
}

/// Not a repeat: with `Any`/`StreamExists` the first id matched an earlier
/// write but the rest did not, refused as EventStoreDB does; with an exact
/// expectation the expectation check decides.
fn repeat_refused(request: &AppendRequest, current: CurrentRevision) -> Result<Option<Pending>, Failure> {
    match request.expected {
        ExpectedRevision::Any | ExpectedRevision::StreamExists => Err(AppendError::WrongExpectedVersion {
            stream: request.stream.clone(),
            expected: request.expected,
            actual: current,
        }
        .into()),
        _ => Ok(None),
    }
}

/// Inserts the staged events; returns each one's key by (stream, revision).
async fn insert(transaction: &Transaction<'_>, rows: &Rows) -> Result<HashMap<(i64, i64), i64>, Failure> {
    if rows.stream_id.is_empty() {
        return Ok(HashMap::new());
    }
    let inserted = transaction
        .query(
            &transaction
                .prepare_cached(
                    "INSERT INTO eventfold_events \
             (stream_id, revision, event_id, event_type, category, is_json, created, data, metadata) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], \
             $6::boolean[], $7::bigint[], $8::bytea[], $9::bytea[]) \
             RETURNING event_key, stream_id, revision",
                )
                .await?,
            &[
                &rows.stream_id,
                &rows.revision,
                &rows.event_id,
                &rows.event_type,
                &rows.category,
                &rows.is_json,
                &rows.created,
                &rows.data,
                &rows.metadata,
            ],
        )
        .await?;
    let mut keys = HashMap::with_capacity(inserted.len());
    for row in inserted {
        keys.insert((row.try_get(1)?, row.try_get(2)?), row.try_get(0)?);
    }
    Ok(keys)
}

async fn write_streams(transaction: &Transaction<'_>, locked: &LockedStreams) -> Result<(), Failure> {
    let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for Locked { stream_id, state } in locked.values() {
        columns.0.push(*stream_id);
        columns.1.push(to_i64(state.next_revision));
        columns.2.push(to_i64(state.truncate_before));
        columns.3.push(state.max_count.map(to_i64));
        columns.4.push(state.max_age_seconds.map(to_i64));
        columns.5.push(state.tombstoned);
    }
    transaction.execute(&transaction.prepare_cached("UPDATE eventfold_streams s SET next_revision = u.next_revision, truncate_before = u.truncate_before, \
             max_count = u.max_count, max_age_seconds = u.max_age_seconds, tombstoned = u.tombstoned \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::boolean[]) \
             AS u(stream_id, next_revision, truncate_before, max_count, max_age_seconds, tombstoned) \
             WHERE s.stream_id = u.stream_id").await?,
            &[&columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5],
        )
        .await?;
    Ok(())
}

/// The outcome of a pending append once its position is known.
pub fn outcome(pending: Pending, positions: &HashMap<i64, i64>) -> AppendOutcome {
    let position = pending
        .last_key
        .and_then(|key| positions.get(&key))
        .and_then(|position| u64::try_from(*position).ok())
        .map(crate::rows::external);
    AppendOutcome { current_revision: pending.current_revision, position }
}
