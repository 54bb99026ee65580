//! Where a query's rows come from: which read of the store serves its
//! table, from where to where, with which `$all` filter; and opening that
//! read as a lazy stream of events.
//!
//! `category('order')`, `event_type('OrderPlaced')` and `stream('order-1')`
//! read the store's own index (`$ce-order`, `$et-OrderPlaced`, the stream),
//! each link resolved to its event; `events` reads `$all`. Access is the
//! store's: the read is made through the caller's store, so `events` needs
//! read rights on `$all` and a table function those of the stream it reads.

use std::fmt;
use std::sync::Arc;

use eventfold_store::{
    AllFrom, CATEGORY_STREAM_PREFIX, Direction, EVENT_TYPE_STREAM_PREFIX, EventFilter, EventStore, ReadAllRequest,
    ReadError, ReadStreamRequest, RecordedEvent, StreamName, resolve_link,
};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use crate::error::SqlError;

/// How many links of a category or event-type read are resolved at once.
const LINKS_RESOLVED_AT_ONCE: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Table {
    /// `events`: the whole log, `$all`.
    Events,
    Category(String),
    EventType(String),
    Stream(String),
}

impl Table {
    /// The stream the table is read from (and whose read rights it needs).
    pub fn stream_name(&self) -> String {
        match self {
            Table::Events => eventfold_store::ALL_STREAM.to_owned(),
            Table::Category(category) => format!("{CATEGORY_STREAM_PREFIX}{category}"),
            Table::EventType(event_type) => format!("{EVENT_TYPE_STREAM_PREFIX}{event_type}"),
            Table::Stream(stream) => stream.clone(),
        }
    }
}

/// One read of the store: the table, the position range it may skip to
/// and stop at, and the `$all` filter it may push down. A narrowing only:
/// the query's `WHERE` is still applied to every event read.
#[derive(Clone, Debug)]
pub struct ReadPlan {
    pub table: Table,
    /// The first position that can match.
    pub from_position: Option<u64>,
    /// The last position that can match.
    pub through_position: Option<u64>,
    /// For `events` only: a stream-name or event-type prefix filter.
    pub filter: Option<EventFilter>,
    /// No event can match (a position range that is empty).
    pub empty: bool,
}

impl ReadPlan {
    pub fn whole(table: Table) -> Self {
        Self { table, from_position: None, through_position: None, filter: None, empty: false }
    }
}

impl fmt::Display for ReadPlan {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.empty {
            return formatter.write_str("read nothing (no position can match)");
        }
        match &self.table {
            Table::Events => formatter.write_str("read $all forwards")?,
            Table::Category(_) | Table::EventType(_) => {
                write!(formatter, "read {} forwards, resolving each link", self.table.stream_name())?
            }
            Table::Stream(stream) => write!(formatter, "read stream {stream} forwards")?,
        }
        if let Some(from) = self.from_position {
            write!(formatter, " from position {from}")?;
        }
        if let Some(through) = self.through_position {
            write!(formatter, " through position {through}")?;
        }
        if let Some(filter) = &self.filter {
            write!(formatter, ", filter: {filter:?}")?;
        }
        Ok(())
    }
}

pub type EventRows = BoxStream<'static, Result<RecordedEvent, SqlError>>;

/// Opens the read. The store checks access here, before any row is
/// produced, so a refusal comes back as an error rather than mid-answer.
pub async fn open(store: Arc<dyn EventStore>, plan: &ReadPlan) -> Result<EventRows, SqlError> {
    let from = plan.from_position.unwrap_or(0);
    let through = plan.through_position.unwrap_or(u64::MAX);
    let events: EventRows = match &plan.table {
        Table::Events => {
            let request = ReadAllRequest {
                from: plan
                    .from_position
                    .map_or(AllFrom::Start, |position| AllFrom::Position(eventfold_store::Position(position))),
                direction: Direction::Forwards,
                max_count: u64::MAX,
                filter: plan.filter.clone(),
            };
            store.read_all(request).await?.map(|event| event.map_err(SqlError::from)).boxed()
        }
        Table::Stream(_) => read_stream(&store, &plan.table).await?,
        Table::Category(_) | Table::EventType(_) => {
            let links = read_stream(&store, &plan.table).await?;
            links
                // A link carries its target's position: skip before resolving.
                .filter(move |link| std::future::ready(link.as_ref().map_or(true, |link| link.position.0 >= from)))
                .map(move |link| {
                    let store = Arc::clone(&store);
                    async move {
                        let link = link?;
                        match resolve_link(store.as_ref(), &link).await {
                            Ok(Some(event)) => Ok(Some(event)),
                            // The target was deleted or truncated since the link was indexed.
                            Ok(None) | Err(ReadError::StreamNotFound { .. } | ReadError::StreamDeleted { .. }) => {
                                Ok(None)
                            }
                            Err(error) => Err(SqlError::from(error)),
                        }
                    }
                })
                .buffered(LINKS_RESOLVED_AT_ONCE)
                .filter_map(|resolved| std::future::ready(resolved.transpose()))
                .boxed()
        }
    };
    if plan.empty {
        return Ok(stream::empty().boxed());
    }
    // Every table reads in log order, so the first event past the range
    // ends the read.
    Ok(events
        .filter(move |event| std::future::ready(event.as_ref().map_or(true, |event| event.position.0 >= from)))
        .take_while(move |event| std::future::ready(event.as_ref().map_or(true, |event| event.position.0 <= through)))
        .boxed())
}

/// A stream read forwards; a stream that does not exist reads as empty.
async fn read_stream(store: &Arc<dyn EventStore>, table: &Table) -> Result<EventRows, SqlError> {
    let name = table.stream_name();
    let stream =
        StreamName::new(&name).map_err(|error| SqlError::plan(format!("`{name}` is not a stream name: {error}")))?;
    match store.read_stream(ReadStreamRequest::forwards(stream)).await {
        Ok(events) => Ok(events.map(|event| event.map_err(SqlError::from)).boxed()),
        Err(ReadError::StreamNotFound { .. }) => Ok(stream::empty().boxed()),
        Err(error) => Err(error.into()),
    }
}
