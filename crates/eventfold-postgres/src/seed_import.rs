//! Importing an existing events table (`eventfold pg import`): the shape
//! most hand-made event stores on PostgreSQL start from, one row per event
//! with `stream_id`, `version`, `event_type`, `event_data` (JSON),
//! `metadata` (JSON, may be null) and `global_position`, unique
//! `(stream_id, version)`. An `event_id` (uuid) column is used when there
//! is one.
//!
//! Rows are read in `global_position` order and appended to any
//! [`EventStore`] in that order, so `$all` keeps the table's order (with the
//! store's own positions). A stream's versions become its revisions, counted
//! from the table's first version (EventStoreDB revisions start at 0, most
//! tables at 1). Each event's id is the table's, or derived from its stream
//! and version, and every append states the revision it expects: a second
//! run of the same import, or one resumed after an interruption, writes
//! nothing twice (idempotent re-append), and a version gap is refused with
//! the row that shows it.

use eventfold_store::{
    AppendError, AppendRequest, ContentType, EventId, EventStore, ExpectedRevision, ProposedEvent, StreamName,
};
use tokio_postgres::{Client, Row};
use uuid::Uuid;

/// Rows read per query.
const PAGE_ROWS: i64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the source database: {0}")]
    Source(String),
    #[error(
        "table `{table}` does not have the expected columns (stream_id, version, event_type, event_data, metadata, global_position): {reason}"
    )]
    Shape { table: String, reason: String },
    #[error("`{0}` is not a table name (letters, digits and `_`, optionally `schema.table`)")]
    TableName(String),
    #[error("row at global_position {global_position}: {reason}")]
    Row { global_position: i64, reason: String },
    #[error("appending the events from global_position {global_position}: {error}")]
    Append { global_position: i64, error: AppendError },
}

/// Where to import from.
#[derive(Clone, Debug)]
pub struct SeedTable {
    /// `postgres://...` of the database holding the table.
    pub url: String,
    /// `table` or `schema.table`.
    pub table: String,
    /// The version a stream's first event has in the table; found from the
    /// table (its smallest version) when not given.
    pub first_version: Option<i64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub rows_done: u64,
    pub rows_total: u64,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows read and appended, or found appended before (a re-run).
    pub events: u64,
}

/// Copies `source` into `target`, calling `progress` after every page.
pub async fn import_seed_table(
    source: &SeedTable,
    target: &dyn EventStore,
    mut progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    let table = quoted_table(&source.table)?;
    let (config, tls) = eventfold_pg_tls::connection(&source.url).map_err(ImportError::Source)?;
    let (client, connection) = config.connect(tls).await.map_err(|error| ImportError::Source(error.to_string()))?;
    let connection = tokio::spawn(connection);
    let outcome = import_with(&client, &source.table, &table, source.first_version, target, &mut progress).await;
    drop(client);
    let _ = connection.await;
    outcome
}

async fn import_with(
    client: &Client,
    table_name: &str,
    table: &str,
    first_version: Option<i64>,
    target: &dyn EventStore,
    progress: &mut impl FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    let shape =
        |error: tokio_postgres::Error| ImportError::Shape { table: table_name.to_owned(), reason: error_text(&error) };
    let summary =
        client.query_one(&format!("SELECT count(*), min(version)::bigint FROM {table}"), &[]).await.map_err(shape)?;
    let rows_total = u64::try_from(summary.get::<_, i64>(0)).unwrap_or(0);
    let first_version = first_version.or(summary.get::<_, Option<i64>>(1)).unwrap_or(0);
    let with_ids = has_event_ids(client, table).await;
    let select = format!(
        "SELECT global_position::bigint, stream_id::text, version::bigint, event_type::text, \
         event_data::text, metadata::text, {} FROM {table} \
         WHERE global_position > $1 ORDER BY global_position LIMIT {PAGE_ROWS}",
        if with_ids { "event_id::uuid" } else { "NULL::uuid" }
    );
    let statement = client.prepare(&select).await.map_err(shape)?;
    let mut report = ImportReport::default();
    let mut after = i64::MIN;
    loop {
        let rows = client.query(&statement, &[&after]).await.map_err(shape)?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        let events = rows.iter().map(|row| SeedEvent::from_row(row, first_version)).collect::<Result<Vec<_>, _>>()?;
        for transaction in transactions(events)? {
            append(target, transaction).await?;
        }
        report.events += rows.len() as u64;
        progress(ImportProgress { rows_done: report.events, rows_total });
    }
    Ok(report)
}

/// One row, checked.
struct SeedEvent {
    global_position: i64,
    stream: StreamName,
    revision: u64,
    event: ProposedEvent,
}

impl SeedEvent {
    fn from_row(row: &Row, first_version: i64) -> Result<Self, ImportError> {
        let global_position: i64 = row.get(0);
        let refuse = |reason: String| ImportError::Row { global_position, reason };
        let stream_id: Option<String> = row.get(1);
        let stream_id = stream_id.ok_or_else(|| refuse("stream_id is null".into()))?;
        let stream =
            StreamName::new(&stream_id).map_err(|error| refuse(format!("stream_id `{stream_id}`: {error}")))?;
        let version: Option<i64> = row.get(2);
        let version = version.ok_or_else(|| refuse("version is null".into()))?;
        let revision = u64::try_from(version - first_version)
            .map_err(|_| refuse(format!("version {version} is below the first version {first_version}")))?;
        let event_type: Option<String> = row.get(3);
        let event_type = event_type.ok_or_else(|| refuse("event_type is null".into()))?;
        let data: Option<String> = row.get(4);
        let metadata: Option<String> = row.get(5);
        let id: Option<Uuid> = row.get(6);
        let event = ProposedEvent {
            id: EventId(id.unwrap_or_else(|| derived_id(&stream_id, version))),
            event_type,
            content_type: ContentType::Json,
            data: data.unwrap_or_default().into_bytes().into(),
            metadata: metadata.unwrap_or_default().into_bytes().into(),
        };
        Ok(Self { global_position, stream, revision, event })
    }
}

/// A page's rows as transactions in the table's order: a stream's
/// consecutive rows are one request, and a transaction never names a stream
/// twice (a stream that comes back starts the next one), so the store gives
/// positions in the rows' order.
fn transactions(events: Vec<SeedEvent>) -> Result<Vec<Vec<(i64, AppendRequest)>>, ImportError> {
    let mut transactions: Vec<Vec<(i64, AppendRequest)>> = Vec::new();
    let mut current: Vec<(i64, AppendRequest)> = Vec::new();
    for seed in events {
        if let Some((_, request)) = current.last_mut()
            && request.stream == seed.stream
        {
            // The store numbers a request's events itself: a gap inside one
            // must be caught here (between requests, the expected revision
            // catches it).
            let next = match request.expected {
                ExpectedRevision::Exact(revision) => revision + 1,
                _ => 0,
            } + request.events.len() as u64;
            if seed.revision != next {
                return Err(ImportError::Row {
                    global_position: seed.global_position,
                    reason: format!(
                        "stream `{}`: revision {} follows revision {} (versions must have no gaps)",
                        seed.stream,
                        seed.revision,
                        next.saturating_sub(1)
                    ),
                });
            }
            request.events.push(seed.event);
            continue;
        }
        if current.iter().any(|(_, request)| request.stream == seed.stream) {
            transactions.push(std::mem::take(&mut current));
        }
        let expected = match seed.revision {
            0 => ExpectedRevision::NoStream,
            revision => ExpectedRevision::Exact(revision - 1),
        };
        current.push((seed.global_position, AppendRequest::new(seed.stream, expected, vec![seed.event])));
    }
    if !current.is_empty() {
        transactions.push(current);
    }
    Ok(transactions)
}

async fn append(target: &dyn EventStore, transaction: Vec<(i64, AppendRequest)>) -> Result<(), ImportError> {
    let Some(global_position) = transaction.first().map(|(position, _)| *position) else { return Ok(()) };
    let requests: Vec<AppendRequest> = transaction.into_iter().map(|(_, request)| request).collect();
    target.append_transaction(requests).await.map_err(|error| ImportError::Append { global_position, error })?;
    Ok(())
}

async fn has_event_ids(client: &Client, table: &str) -> bool {
    client.query(&format!("SELECT event_id::uuid FROM {table} LIMIT 0"), &[]).await.is_ok()
}

/// `table` or `schema.table`, each part quoted: the name comes from the
/// command line and goes into SQL.
fn quoted_table(name: &str) -> Result<String, ImportError> {
    let valid_part = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|part| valid_part(part)) {
        return Err(ImportError::TableName(name.to_owned()));
    }
    Ok(parts.iter().map(|part| format!("\"{part}\"")).collect::<Vec<_>>().join("."))
}

/// The same id for the same stream and version in every run: a 128-bit
/// FNV-1a hash of both, marked as a version 8 (custom) UUID.
fn derived_id(stream_id: &str, version: i64) -> Uuid {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for byte in stream_id.as_bytes().iter().chain(&[0]).chain(&version.to_le_bytes()) {
        hash ^= u128::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    let mut bytes = hash.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

fn error_text(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_quoted_or_refused() {
        assert_eq!(quoted_table("events").expect("plain"), "\"events\"");
        assert_eq!(quoted_table("legacy.events_v2").expect("qualified"), "\"legacy\".\"events_v2\"");
        for bad in ["", "events; DROP TABLE x", "a.b.c", "1events", "ev\"ents", "a."] {
            assert!(quoted_table(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let id = derived_id("order-1", 1);
        assert_eq!(id, derived_id("order-1", 1));
        assert_ne!(id, derived_id("order-1", 2));
        assert_ne!(id, derived_id("order-11", 1));
        assert_eq!(id.get_version_num(), 8);
    }

    fn seed(position: i64, stream: &str, revision: u64) -> SeedEvent {
        SeedEvent {
            global_position: position,
            stream: StreamName::new(stream).expect("name"),
            revision,
            event: ProposedEvent::json("E", "{}"),
        }
    }

    #[test]
    fn a_stream_that_comes_back_starts_the_next_transaction() {
        let rows = vec![seed(1, "a", 0), seed(2, "a", 1), seed(3, "b", 0), seed(4, "a", 2), seed(5, "c", 0)];
        let transactions = transactions(rows).expect("no gap");
        let shape: Vec<Vec<(&str, usize, ExpectedRevision)>> = transactions
            .iter()
            .map(|transaction| {
                transaction
                    .iter()
                    .map(|(_, request)| (request.stream.as_str(), request.events.len(), request.expected))
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![("a", 2, ExpectedRevision::NoStream), ("b", 1, ExpectedRevision::NoStream)],
                vec![("a", 1, ExpectedRevision::Exact(1)), ("c", 1, ExpectedRevision::NoStream)],
            ]
        );
        assert_eq!(transactions[1][0].0, 4, "a transaction is named by its first row");
        let gap = transactions_of(vec![seed(1, "a", 0), seed(2, "a", 2)]);
        assert!(matches!(gap, Err(ImportError::Row { global_position: 2, .. })));
    }

    fn transactions_of(rows: Vec<SeedEvent>) -> Result<Vec<Vec<(i64, AppendRequest)>>, ImportError> {
        transactions(rows)
    }
}
