//! Reads of one stream (stored or virtual) and of `$all`, page by page:
//! each page is one indexed range query, so memory stays bounded whatever
//! the count, and only sequenced events (`position` set) are ever read.

use deadpool_postgres::Pool;
use eventfold_store::{
    AllFrom, CATEGORY_STREAM_PREFIX, Direction, EVENT_TYPE_STREAM_PREFIX, EventFilter, EventStream, ReadAllRequest,
    ReadError, ReadStreamRequest, RecordedEvent, RevisionFrom, STREAMS_STREAM, StorageError, StreamName, StreamState,
    Timestamp, link_event, oldest_visible,
};
use futures::StreamExt;
use tokio_postgres::types::ToSql;

use crate::errors::{pool as pool_error, storage};
use crate::filter_sql::pushed_down;
use crate::rows::{
    EVENT_COLUMNS, EVENTS_FROM, EXTRA_COLUMN, decode, dense_at_or_after, dense_at_or_before, to_i64, to_u64,
};

/// Events per page (per query).
pub const PAGE_EVENTS: i64 = 512;

/// Where a stream's events come from.
#[derive(Clone, Debug)]
pub enum Source {
    Stored {
        stream_id: i64,
    },
    /// `$ce-<category>`: links to the category's events.
    Category(String),
    /// `$et-<type>`: links to the type's events.
    EventType(String),
    /// `$streams`: links to every stream's first event.
    Streams,
}

impl Source {
    pub fn of(stream: &StreamName, stream_id: Option<i64>) -> Option<Self> {
        let name = stream.as_str();
        if let Some(category) = name.strip_prefix(CATEGORY_STREAM_PREFIX) {
            return Some(Source::Category(category.to_owned()));
        }
        if let Some(event_type) = name.strip_prefix(EVENT_TYPE_STREAM_PREFIX) {
            return Some(Source::EventType(event_type.to_owned()));
        }
        if name == STREAMS_STREAM {
            return Some(Source::Streams);
        }
        stream_id.map(|stream_id| Source::Stored { stream_id })
    }

    fn is_virtual(&self) -> bool {
        !matches!(self, Source::Stored { .. })
    }

    /// The revision column, and the condition that picks the stream's rows
    /// (with its one parameter, where it has one).
    fn columns(&self) -> (&'static str, &'static str) {
        match self {
            Source::Stored { .. } => ("e.revision", "e.stream_id = $1 AND e.position IS NOT NULL"),
            Source::Category(_) => ("e.category_revision", "e.category = $1 AND e.category_revision IS NOT NULL"),
            Source::EventType(_) => ("e.type_revision", "e.event_type = $1 AND e.type_revision IS NOT NULL"),
            Source::Streams => ("e.streams_revision", "$1::bigint IS NULL AND e.streams_revision IS NOT NULL"),
        }
    }
}

/// A stream's state and id, or `None` when it has no row. A virtual stream
/// has the state of its counter (no retention of its own).
pub async fn stream_state(pool: &Pool, stream: &StreamName) -> Result<Option<(Source, StreamState)>, StorageError> {
    let client = pool.get().await.map_err(|error| pool_error(&error))?;
    if Source::of(stream, None).is_some() {
        let row = client
            .query_opt("SELECT next_revision FROM eventfold_virtual_streams WHERE name = $1", &[&stream.as_str()])
            .await
            .map_err(|error| storage(&error))?;
        let Some(row) = row else { return Ok(None) };
        let next_revision = to_u64(row.try_get(0).map_err(|error| storage(&error))?)?;
        let state = StreamState { next_revision, ..StreamState::default() };
        return Ok(Source::of(stream, None).map(|source| (source, state)));
    }
    let row = client
        .query_opt(
            "SELECT stream_id, next_revision, truncate_before, max_count, max_age_seconds, tombstoned \
             FROM eventfold_streams WHERE name = $1",
            &[&stream.as_str()],
        )
        .await
        .map_err(|error| storage(&error))?;
    let Some(row) = row else { return Ok(None) };
    let get = |index: usize| row.try_get::<_, i64>(index).map_err(|error| storage(&error)).and_then(to_u64);
    let optional =
        |index: usize| row.try_get::<_, Option<i64>>(index).map_err(|error| storage(&error))?.map(to_u64).transpose();
    let state = StreamState {
        next_revision: get(1)?,
        truncate_before: get(2)?,
        max_count: optional(3)?,
        max_age_seconds: optional(4)?,
        tombstoned: row.try_get(5).map_err(|error| storage(&error))?,
    };
    let stream_id: i64 = row.try_get(0).map_err(|error| storage(&error))?;
    Ok(Some((Source::Stored { stream_id }, state)))
}

/// One page of a stream from revision `from`, going up or down; events are
/// links for a virtual stream. Events older than `oldest` are left out.
pub async fn stream_page(
    pool: &Pool,
    stream: &StreamName,
    source: &Source,
    from: u64,
    forwards: bool,
    limit: i64,
    oldest: Timestamp,
) -> Result<Vec<RecordedEvent>, StorageError> {
    let (revision, condition) = source.columns();
    let (compare, order) = if forwards { (">=", "ASC") } else { ("<=", "DESC") };
    let sql = format!(
        "SELECT {EVENT_COLUMNS}, {revision} FROM {EVENTS_FROM} WHERE {condition} AND {revision} {compare} $2 \
         AND e.created >= $3 ORDER BY {revision} {order} LIMIT $4"
    );
    let key: Box<dyn ToSql + Sync + Send> = match source {
        Source::Stored { stream_id } => Box::new(*stream_id),
        Source::Category(name) | Source::EventType(name) => Box::new(name.clone()),
        Source::Streams => Box::new(None::<i64>),
    };
    let from = to_i64(from);
    let oldest = oldest.ticks();
    let client = pool.get().await.map_err(|error| pool_error(&error))?;
    let rows = client.query(&sql, &[key.as_ref(), &from, &oldest, &limit]).await.map_err(|error| storage(&error))?;
    rows.iter()
        .map(|row| {
            let event = decode(row)?;
            if !source.is_virtual() {
                return Ok(event);
            }
            let link_revision: i64 = row.try_get(EXTRA_COLUMN).map_err(|error| storage(&error))?;
            Ok(link_event(stream, to_u64(link_revision)?, &event))
        })
        .collect()
}

/// A read of one stream, as the engine answers it: not found when it has
/// no visible event, deleted when tombstoned, retention applied.
pub async fn read_stream(pool: Pool, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
    let (source, state) = match stream_state(&pool, &request.stream).await? {
        Some((_, state)) if state.tombstoned => return Err(ReadError::StreamDeleted { stream: request.stream }),
        Some((source, state)) if state.has_visible_events() => (source, state),
        _ => return Err(ReadError::StreamNotFound { stream: request.stream }),
    };
    let forwards = request.direction == Direction::Forwards;
    let floor = state.first_visible_revision();
    let next = match (request.from, forwards) {
        (RevisionFrom::Start, _) => Some(floor),
        (RevisionFrom::End, true) => None,
        (RevisionFrom::End, false) => Some(i64::MAX as u64),
        (RevisionFrom::Revision(revision), true) => Some(revision.max(floor)),
        (RevisionFrom::Revision(revision), false) => (revision >= floor).then_some(revision),
    };
    let oldest = oldest_visible(state.max_age_seconds, Timestamp::now());
    let cursor =
        StreamCursor { pool, stream: request.stream, source, next, floor, forwards, remaining: request.max_count };
    Ok(futures::stream::unfold(cursor, move |mut cursor| async move {
        let page = cursor.next_page(oldest).await;
        page.map(|page| (page, cursor))
    })
    .flat_map(|page: Result<Vec<RecordedEvent>, ReadError>| match page {
        Ok(events) => futures::stream::iter(events.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(error) => futures::stream::iter(vec![Err(error)]),
    })
    .boxed())
}

struct StreamCursor {
    pool: Pool,
    stream: StreamName,
    source: Source,
    next: Option<u64>,
    floor: u64,
    forwards: bool,
    remaining: u64,
}

impl StreamCursor {
    /// The next page; `None` once the read is over.
    async fn next_page(&mut self, oldest: Timestamp) -> Option<Result<Vec<RecordedEvent>, ReadError>> {
        let from = self.next?;
        if self.remaining == 0 {
            return None;
        }
        let limit = PAGE_EVENTS.min(i64::try_from(self.remaining).unwrap_or(i64::MAX));
        let page = stream_page(&self.pool, &self.stream, &self.source, from, self.forwards, limit, oldest).await;
        let mut events = match page {
            Ok(events) => events,
            Err(error) => {
                self.next = None;
                return Some(Err(error.into()));
            }
        };
        let full = events.len() as i64 == limit;
        self.next = match (events.last(), self.forwards) {
            (Some(last), true) if full => last.revision.checked_add(1),
            (Some(last), false) if full => last.revision.checked_sub(1).filter(|revision| *revision >= self.floor),
            _ => None,
        };
        if !self.source.is_virtual() {
            events.retain(|event| event.revision >= self.floor);
        }
        self.remaining -= events.len() as u64;
        Some(Ok(events))
    }
}

/// One page of `$all` after (forwards) or before (backwards) `bound`,
/// matching `filter` where it was pushed down. Returns the page and the
/// last position scanned.
pub async fn all_page(
    pool: &Pool,
    bound: u64,
    upper: Option<u64>,
    forwards: bool,
    limit: i64,
    filter: Option<&EventFilter>,
) -> Result<Vec<RecordedEvent>, StorageError> {
    let (compare, order) = if forwards { (">", "ASC") } else { ("<", "DESC") };
    let mut parameters: Vec<Box<dyn ToSql + Sync + Send>> =
        vec![Box::new(to_i64(bound)), Box::new(upper.map_or(i64::MAX, to_i64)), Box::new(limit)];
    let mut condition = String::new();
    if let Some((sql, values)) = pushed_down(filter, 4) {
        condition = format!(" AND {sql}");
        parameters.push(Box::new(values));
    }
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENTS_FROM} WHERE e.position {compare} $1 AND e.position <= $2{condition} \
         ORDER BY e.position {order} LIMIT $3"
    );
    let client = pool.get().await.map_err(|error| pool_error(&error))?;
    let references: Vec<&(dyn ToSql + Sync)> =
        parameters.iter().map(|parameter| parameter.as_ref() as &(dyn ToSql + Sync)).collect();
    let rows = client.query(&sql, &references).await.map_err(|error| storage(&error))?;
    let events: Result<Vec<_>, _> = rows.iter().map(decode).collect();
    Ok(events?.into_iter().filter(|event| filter.is_none_or(|filter| filter.matches(event))).collect())
}

/// A read of `$all`. Forwards from a position includes the event at it;
/// backwards starts before it (`AllFrom` has the rule).
pub async fn read_all(pool: Pool, head: u64, request: ReadAllRequest) -> Result<EventStream, ReadError> {
    let forwards = request.direction == Direction::Forwards;
    // Exclusive bound of the next page.
    let bound = match (request.from, forwards) {
        (AllFrom::Start, true) => 0,
        (AllFrom::Start, false) => 1,
        (AllFrom::End, true) => head,
        (AllFrom::End, false) => head.saturating_add(1),
        (AllFrom::Position(position), true) => dense_at_or_after(position).saturating_sub(1),
        (AllFrom::Position(position), false) => dense_at_or_after(position),
    };
    let cursor = AllCursor { pool, bound: Some(bound), forwards, remaining: request.max_count, filter: request.filter };
    Ok(futures::stream::unfold(cursor, |mut cursor| async move {
        let page = cursor.next_page().await;
        page.map(|page| (page, cursor))
    })
    .flat_map(|page: Result<Vec<RecordedEvent>, ReadError>| match page {
        Ok(events) => futures::stream::iter(events.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(error) => futures::stream::iter(vec![Err(error)]),
    })
    .boxed())
}

struct AllCursor {
    pool: Pool,
    bound: Option<u64>,
    forwards: bool,
    remaining: u64,
    filter: Option<EventFilter>,
}

impl AllCursor {
    async fn next_page(&mut self) -> Option<Result<Vec<RecordedEvent>, ReadError>> {
        loop {
            let bound = self.bound?;
            if self.remaining == 0 || (!self.forwards && bound <= 1) {
                return None;
            }
            let limit = PAGE_EVENTS.min(i64::try_from(self.remaining).unwrap_or(i64::MAX));
            // A filter the database cannot evaluate is applied here: scan a
            // window of positions, keep what matches.
            let local_filter = self.filter.is_some() && pushed_down(self.filter.as_ref(), 4).is_none();
            let (upper, window_end) = match (local_filter, self.forwards) {
                (true, true) => (Some(bound.saturating_add(PAGE_EVENTS as u64)), None),
                (true, false) => (None, Some(bound.saturating_sub(PAGE_EVENTS as u64))),
                _ => (None, None),
            };
            let page = if let Some(lower) = window_end {
                // Backwards window: positions in (lower, bound).
                all_page_window_backwards(&self.pool, lower, bound, self.filter.as_ref()).await
            } else {
                all_page(
                    &self.pool,
                    bound,
                    upper,
                    self.forwards,
                    if local_filter { i64::MAX } else { limit },
                    self.filter.as_ref(),
                )
                .await
            };
            let mut events = match page {
                Ok(events) => events,
                Err(error) => {
                    self.bound = None;
                    return Some(Err(error.into()));
                }
            };
            if local_filter {
                self.bound = match (upper, window_end) {
                    (Some(upper), _) => {
                        // The window ends at `upper`; past the sequenced end
                        // nothing more can be found now.
                        let exhausted = events.is_empty() && !self.more_after(upper).await;
                        (!exhausted).then_some(upper)
                    }
                    // The window held positions above `lower`: the next
                    // one ends at `lower` itself (the bound is exclusive).
                    (_, Some(lower)) => (lower > 0).then_some(lower + 1),
                    _ => None,
                };
            } else {
                let full = events.len() as i64 == limit;
                self.bound = events.last().filter(|_| full).map(|last| dense_at_or_before(last.position));
            }
            events.truncate(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            self.remaining -= events.len() as u64;
            if events.is_empty() && self.bound.is_some() {
                continue;
            }
            return Some(Ok(events));
        }
    }

    /// Whether any event lies past `position` (a filtered scan goes on).
    async fn more_after(&self, position: u64) -> bool {
        let Ok(client) = self.pool.get().await else { return false };
        client
            .query_one("SELECT EXISTS (SELECT 1 FROM eventfold_events WHERE position > $1)", &[&to_i64(position)])
            .await
            .and_then(|row| row.try_get::<_, bool>(0))
            .unwrap_or(false)
    }
}

async fn all_page_window_backwards(
    pool: &Pool,
    lower: u64,
    bound: u64,
    filter: Option<&EventFilter>,
) -> Result<Vec<RecordedEvent>, StorageError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENTS_FROM} WHERE e.position < $1 AND e.position > $2 ORDER BY e.position DESC"
    );
    let client = pool.get().await.map_err(|error| pool_error(&error))?;
    let rows = client.query(&sql, &[&to_i64(bound), &to_i64(lower)]).await.map_err(|error| storage(&error))?;
    let events: Result<Vec<_>, _> = rows.iter().map(decode).collect();
    Ok(events?.into_iter().filter(|event| filter.is_none_or(|filter| filter.matches(event))).collect())
}
