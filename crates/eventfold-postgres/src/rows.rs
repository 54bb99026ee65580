//! Rows of `eventfold_events` (joined with their stream's name) as
//! recorded events.

use bytes::Bytes;
use eventfold_store::{ContentType, EventId, Position, RecordedEvent, StorageError, StreamName, Timestamp};
use tokio_postgres::Row;

use crate::errors::{corrupt, storage};

/// What every event read selects, in the order [`decode`] reads it.
pub const EVENT_COLUMNS: &str = "e.position, e.revision, s.name, e.event_id, e.event_type, e.is_json, e.created, \
     e.data, e.metadata";

/// The join every event read goes through.
pub const EVENTS_FROM: &str = "eventfold_events e JOIN eventfold_streams s ON s.stream_id = e.stream_id";

/// Columns after [`EVENT_COLUMNS`] start here.
pub const EXTRA_COLUMN: usize = 9;

pub fn decode(row: &Row) -> Result<RecordedEvent, StorageError> {
    let position: Option<i64> = row.try_get(0).map_err(|error| storage(&error))?;
    let revision: i64 = row.try_get(1).map_err(|error| storage(&error))?;
    let name: &str = row.try_get(2).map_err(|error| storage(&error))?;
    let id: uuid::Uuid = row.try_get(3).map_err(|error| storage(&error))?;
    let event_type: String = row.try_get(4).map_err(|error| storage(&error))?;
    let is_json: bool = row.try_get(5).map_err(|error| storage(&error))?;
    let created: i64 = row.try_get(6).map_err(|error| storage(&error))?;
    let data: Vec<u8> = row.try_get(7).map_err(|error| storage(&error))?;
    let metadata: Vec<u8> = row.try_get(8).map_err(|error| storage(&error))?;
    let position = position.ok_or_else(|| corrupt("an unsequenced event was read as sequenced"))?;
    Ok(RecordedEvent {
        stream: StreamName::new(name).map_err(|error| corrupt(format!("stream name `{name}`: {error}")))?,
        revision: to_u64(revision)?,
        position: external(to_u64(position)?),
        id: EventId(id),
        event_type,
        content_type: if is_json { ContentType::Json } else { ContentType::Binary },
        created: Timestamp(created),
        data: Bytes::from(data),
        metadata: Bytes::from(metadata),
    })
}

/// The `$all` positions clients see are the dense sequence numbers the
/// sequencer hands out, times this (PG-4). Clients compute "the position
/// after the one I saw" as that position plus one, expecting it to lie
/// inside an event, as it does with byte positions; with a stride of 2 it
/// does here too, and every rule about positions between events holds.
pub const POSITION_STRIDE: u64 = 2;

/// The position clients see for sequence number `dense`.
pub fn external(dense: u64) -> Position {
    Position(dense.saturating_mul(POSITION_STRIDE))
}

/// The first sequence number at or after client position `position`.
pub fn dense_at_or_after(position: Position) -> u64 {
    position.0.div_ceil(POSITION_STRIDE)
}

/// The last sequence number at or before client position `position`.
pub fn dense_at_or_before(position: Position) -> u64 {
    position.0 / POSITION_STRIDE
}

pub fn to_u64(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| corrupt(format!("negative value {value} where a count belongs")))
}

/// Revisions and positions go to the database as `bigint`; the store never
/// makes one past `i64::MAX` (a soft delete's `$tb` is exactly that).
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_plus_one_lies_inside_an_event() {
        let third = external(3);
        assert_eq!(third, Position(6));
        assert_eq!(dense_at_or_after(third), 3, "forwards from an event's position includes it");
        assert_eq!(dense_at_or_after(Position(third.0 + 1)), 4, "one past it reads from the next");
        assert_eq!(dense_at_or_before(Position(third.0 + 1)), 3, "a subscription after it skips it");
        assert_eq!(dense_at_or_after(Position(0)), 0);
    }
}
