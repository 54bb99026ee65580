//! The sequencer: gives committed events their `$all` positions (PG-3).
//!
//! Appends insert their events with `position` NULL. A sequencing step is
//! one transaction that locks the counter row (`eventfold_sequencer`), reads
//! the unpositioned events its snapshot sees, numbers them from the
//! counter on, numbers their links in `$ce-`/`$et-`/`$streams` the same way,
//! and commits. The counter row's lock is released only once that commit is
//! visible, so the next step (on any node) numbers only after it: positions
//! become visible as one growing prefix, and an append that commits late
//! simply gets a later position. Readers need no gap detection and no
//! timeout.
//!
//! Each node runs one sequencer task. Appenders hand it the keys of the
//! events they committed and wait for their positions; every append
//! waiting meanwhile is served by the same step (group sequencing). The
//! task also looks for unpositioned events on a timer, so events committed
//! by a node that died before sequencing them still get positions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use eventfold_store::{CATEGORY_STREAM_PREFIX, EVENT_TYPE_STREAM_PREFIX, STREAMS_STREAM, StorageError, StreamName};
use tokio::sync::{mpsc, oneshot};

use crate::errors::{corrupt, is_retryable, storage};
use crate::head::Head;

/// Most events one step numbers: bounds the step's transaction. A larger
/// backlog takes several steps; each is a consistent prefix.
const STEP_EVENTS_MAX: i64 = 8192;

/// Steps retried after a serialization failure or deadlock before the
/// waiting appends get an error.
const STEP_RETRIES_MAX: u32 = 8;

type Positions = HashMap<i64, i64>;
type Reply = oneshot::Sender<Result<Positions, StorageError>>;

/// Keys of committed events, and where their positions go.
struct Request {
    keys: Vec<i64>,
    reply: Reply,
}

#[derive(Clone)]
pub struct Sequencer {
    requests: mpsc::Sender<Request>,
    lag: Arc<std::sync::Mutex<LagStats>>,
}

/// How long appends waited for their positions after their commit: the
/// cost of the ordering design, as an append sees it.
#[derive(Default, Clone, Debug)]
pub struct LagStats {
    pub samples_micros: Vec<u64>,
}

const LAG_SAMPLES_MAX: usize = 100_000;

impl Sequencer {
    pub fn start(pool: Pool, head: Head, recheck_interval: Duration) -> Self {
        let (requests, receiver) = mpsc::channel(1024);
        tokio::spawn(run(pool, head, receiver, recheck_interval));
        Self { requests, lag: Arc::default() }
    }

    /// The positions of the committed events `keys`, once they have them.
    pub async fn positions(&self, keys: Vec<i64>) -> Result<Positions, StorageError> {
        if keys.is_empty() {
            return Ok(Positions::new());
        }
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { keys, reply }).await.map_err(|_| closed())?;
        let positions = answer.await.map_err(|_| closed())?;
        crate::metrics::sequencing_lag(started.elapsed().as_secs_f64());
        let mut lag = self.lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lag.samples_micros.len() < LAG_SAMPLES_MAX {
            lag.samples_micros.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        positions
    }

    pub fn take_lag(&self) -> LagStats {
        std::mem::take(&mut *self.lag.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

fn closed() -> StorageError {
    StorageError::new(eventfold_store::StorageErrorKind::Closed, "the sequencer has stopped")
}

async fn run(pool: Pool, head: Head, mut receiver: mpsc::Receiver<Request>, recheck_interval: Duration) {
    loop {
        let first = tokio::select! {
            request = receiver.recv() => match request {
                Some(request) => Some(request),
                None => return,
            },
            () = tokio::time::sleep(recheck_interval) => None,
        };
        let mut waiting: Vec<Request> = first.into_iter().collect();
        while let Ok(request) = receiver.try_recv() {
            waiting.push(request);
        }
        match sequence_all(&pool, &head).await {
            Ok(mut numbered) => {
                let any = !numbered.is_empty();
                for request in waiting {
                    let answer = answer(&pool, &mut numbered, &head, &request.keys).await;
                    let _ = request.reply.send(answer);
                }
                // A wake-up hint for other nodes, after the appends are
                // answered; engines without NOTIFY fall back to polling (PG-6).
                if any && let Ok(client) = pool.get().await {
                    let _ = client.batch_execute("NOTIFY eventfold_head").await;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "sequencing failed; appends waiting for positions get the error");
                for request in waiting {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Positions of `keys`: from what this node just numbered, or else from
/// the table (another node numbered them first).
async fn answer(pool: &Pool, numbered: &mut Positions, head: &Head, keys: &[i64]) -> Result<Positions, StorageError> {
    let missing: Vec<i64> = keys.iter().copied().filter(|key| !numbered.contains_key(key)).collect();
    if !missing.is_empty() {
        let mut found = lookup(pool, &missing).await?;
        if found.len() < missing.len() {
            // Committed before the step began, so the step saw them, unless a
            // step elsewhere was numbering them meanwhile: one more step
            // waits for that one's lock and commit.
            numbered.extend(sequence_all(pool, head).await?);
            found = lookup(pool, &missing).await?;
        }
        numbered.extend(found);
    }
    keys.iter()
        .map(|key| {
            numbered
                .get(key)
                .map(|position| (*key, *position))
                .ok_or_else(|| corrupt(format!("event {key} has no position")))
        })
        .collect()
}

async fn lookup(pool: &Pool, keys: &[i64]) -> Result<Positions, StorageError> {
    let client = pool.get().await.map_err(|error| crate::errors::pool(&error))?;
    let rows = client
        .query(
            "SELECT event_key, position FROM eventfold_events WHERE event_key = ANY($1) AND position IS NOT NULL",
            &[&keys],
        )
        .await
        .map_err(|error| storage(&error))?;
    rows.iter()
        .map(|row| {
            Ok((row.try_get(0).map_err(|error| storage(&error))?, row.try_get(1).map_err(|error| storage(&error))?))
        })
        .collect()
}

/// Steps until no unpositioned event is left that this node can see.
async fn sequence_all(pool: &Pool, head: &Head) -> Result<Positions, StorageError> {
    let mut numbered = Positions::new();
    loop {
        let (step, full) = step_with_retries(pool).await?;
        if let Some(last) = step.values().max() {
            head.advance(u64::try_from(*last).unwrap_or(0));
        }
        numbered.extend(step);
        if !full {
            return Ok(numbered);
        }
    }
}

async fn step_with_retries(pool: &Pool) -> Result<(Positions, bool), StorageError> {
    let mut attempt = 0;
    loop {
        let mut client = pool.get().await.map_err(|error| crate::errors::pool(&error))?;
        let started = Instant::now();
        match step(&mut client).await {
            Ok(done) => {
                if !done.0.is_empty() {
                    crate::metrics::step(done.0.len(), started.elapsed().as_secs_f64());
                }
                return Ok(done);
            }
            Err(error) if is_retryable(&error) && attempt < STEP_RETRIES_MAX => attempt += 1,
            Err(error) => return Err(storage(&error)),
        }
    }
}

/// One unpositioned event as the step reads it.
#[derive(Clone)]
struct Unpositioned {
    key: i64,
    stream_id: i64,
    revision: i64,
    category: Option<String>,
    event_type: String,
    created: i64,
}

/// One sequencing transaction; returns the positions it gave and whether it
/// stopped at [`STEP_EVENTS_MAX`].
async fn step(client: &mut deadpool_postgres::Object) -> Result<(Positions, bool), tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    let counter = transaction
        .query_one("SELECT last_position, last_created FROM eventfold_sequencer WHERE id = 1 FOR UPDATE", &[])
        .await?;
    let last_position: i64 = counter.try_get(0)?;
    let last_created: i64 = counter.try_get(1)?;
    let unpositioned = transaction
        .prepare_cached(
            "SELECT event_key, stream_id, revision, category, event_type, created FROM eventfold_events \
             WHERE position IS NULL ORDER BY event_key LIMIT $1",
        )
        .await?;
    let rows = transaction.query(&unpositioned, &[&STEP_EVENTS_MAX]).await?;
    if rows.is_empty() {
        transaction.commit().await?;
        return Ok((Positions::new(), false));
    }
    let full = rows.len() as i64 == STEP_EVENTS_MAX;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        events.push(Unpositioned {
            key: row.try_get(0)?,
            stream_id: row.try_get(1)?,
            revision: row.try_get(2)?,
            category: row.try_get(3)?,
            event_type: row.try_get(4)?,
            created: row.try_get(5)?,
        });
    }
    in_revision_order(&mut events);
    let links = number_links(&transaction, &events).await?;
    let keys: Vec<i64> = events.iter().map(|event| event.key).collect();
    let positions: Vec<i64> = (1..=events.len() as i64).map(|offset| last_position + offset).collect();
    let created = rising_created(last_created, &events);
    transaction
        .execute(
            "UPDATE eventfold_events e SET position = u.position, category_revision = u.category_revision, \
             type_revision = u.type_revision, streams_revision = u.streams_revision, created = u.created \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) \
             AS u(event_key, position, category_revision, type_revision, streams_revision, created) \
             WHERE e.event_key = u.event_key AND e.position IS NULL",
            &[&keys, &positions, &links.category, &links.event_type, &links.streams, &created],
        )
        .await?;
    let new_last = last_position + events.len() as i64;
    let new_last_created = created.last().copied().unwrap_or(last_created);
    transaction
        .execute(
            "UPDATE eventfold_sequencer SET last_position = $1, last_created = $2 WHERE id = 1",
            &[&new_last, &new_last_created],
        )
        .await?;
    transaction.commit().await?;
    Ok((keys.into_iter().zip(positions).collect(), full))
}

/// The `created` of each event in position order, never below the one
/// before (PG-10): nodes stamp events with their own clocks when they
/// append, and clocks differ and step back, so the step raises a stamp that
/// would fall below the newest one already numbered.
fn rising_created(last_created: i64, events: &[Unpositioned]) -> Vec<i64> {
    let mut floor = last_created;
    events
        .iter()
        .map(|event| {
            floor = floor.max(event.created);
            floor
        })
        .collect()
}

/// Within the step, each stream's events take the slots its events hold,
/// in revision order: a stream's revisions then rise with their positions
/// even on engines whose keys are not handed out in commit order.
fn in_revision_order(events: &mut [Unpositioned]) {
    let mut by_stream: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (slot, event) in events.iter().enumerate() {
        by_stream.entry(event.stream_id).or_default().push(slot);
    }
    for slots in by_stream.values().filter(|slots| slots.len() > 1) {
        let mut sorted: Vec<Unpositioned> = slots.iter().filter_map(|slot| events.get(*slot)).cloned().collect();
        sorted.sort_by_key(|event| event.revision);
        for (slot, event) in slots.iter().zip(sorted) {
            if let Some(place) = events.get_mut(*slot) {
                *place = event;
            }
        }
    }
}

/// Revisions of the links each event gets, `None` where it gets none.
struct Links {
    category: Vec<Option<i64>>,
    event_type: Vec<Option<i64>>,
    streams: Vec<Option<i64>>,
}

/// Numbers the events' links in position order, from the virtual streams'
/// counters on, and moves the counters.
async fn number_links(
    transaction: &tokio_postgres::Transaction<'_>,
    events: &[Unpositioned],
) -> Result<Links, tokio_postgres::Error> {
    // Links exist only for events of non-system streams (category set).
    let names_of = |event: &Unpositioned| -> [Option<String>; 3] {
        let Some(category) = &event.category else { return [None, None, None] };
        let valid = |name: String| StreamName::new(&name).is_ok().then_some(name);
        [
            valid(format!("{CATEGORY_STREAM_PREFIX}{category}")),
            valid(format!("{EVENT_TYPE_STREAM_PREFIX}{}", event.event_type)),
            (event.revision == 0).then(|| STREAMS_STREAM.to_owned()),
        ]
    };
    let mut wanted: Vec<String> = events.iter().flat_map(names_of).flatten().collect();
    wanted.sort();
    wanted.dedup();
    let mut next: HashMap<String, i64> = HashMap::new();
    if !wanted.is_empty() {
        let rows = transaction
            .query("SELECT name, next_revision FROM eventfold_virtual_streams WHERE name = ANY($1)", &[&wanted])
            .await?;
        for row in rows {
            next.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    let mut links = Links { category: Vec::new(), event_type: Vec::new(), streams: Vec::new() };
    for event in events {
        let [category, event_type, streams] = names_of(event);
        let mut take = |name: Option<String>| {
            name.map(|name| {
                let counter = next.entry(name).or_insert(0);
                *counter += 1;
                *counter - 1
            })
        };
        links.category.push(take(category));
        links.event_type.push(take(event_type));
        links.streams.push(take(streams));
    }
    if !next.is_empty() {
        let (names, revisions): (Vec<String>, Vec<i64>) = next.into_iter().unzip();
        transaction
            .execute(
                "INSERT INTO eventfold_virtual_streams (name, next_revision) SELECT * FROM unnest($1::text[], $2::bigint[]) \
                 ON CONFLICT (name) DO UPDATE SET next_revision = excluded.next_revision",
                &[&names, &revisions],
            )
            .await?;
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: i64, stream_id: i64, revision: i64) -> Unpositioned {
        Unpositioned { key, stream_id, revision, category: None, event_type: "T".into(), created: key }
    }

    #[test]
    fn created_never_falls_below_the_newest_numbered() {
        let events = vec![event(5, 1, 0), event(3, 2, 0), event(9, 3, 0), event(4, 4, 0)];
        assert_eq!(rising_created(4, &events), vec![5, 5, 9, 9]);
        assert_eq!(rising_created(20, &events), vec![20, 20, 20, 20]);
    }

    #[test]
    fn each_stream_keeps_its_slots_in_revision_order() {
        let mut events = vec![event(10, 1, 5), event(11, 2, 0), event(12, 1, 4), event(13, 1, 6)];
        in_revision_order(&mut events);
        let order: Vec<(i64, i64)> = events.iter().map(|event| (event.stream_id, event.revision)).collect();
        assert_eq!(order, vec![(1, 4), (2, 0), (1, 5), (1, 6)]);
        assert_eq!(events.first().map(|event| event.key), Some(12), "keys move with their events");
    }
}
