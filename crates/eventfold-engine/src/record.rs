//! The payload of a log frame that holds one event. Layout in
//! `docs/format.md` ("Event record"); little endian throughout.

use bytes::{BufMut, Bytes};
use eventfold_store::{ContentType, EventId, Position, ProposedEvent, RecordedEvent, StreamName, Timestamp};
use uuid::Uuid;

pub const RECORD_KIND_EVENT: u8 = 1;

/// Fixed part of an event record:
pub const EVENT_RECORD_FIXED_BYTES: usize = 1 // kind
    + 1 // content type: 0 JSON, 1 binary
    + 2 // stream name length
    + 2 // event type length
    + 2 // reserved, zero
    + 8 // stream revision
    + 8 // created, 100 ns ticks since the Unix epoch
    + 16 // event id (UUID bytes, big endian as RFC 4122 writes them)
    + 4 // data length
    + 4; // metadata length
const _: () = assert!(EVENT_RECORD_FIXED_BYTES == 48);

/// Bytes an event takes in its record (not counting the frame).
pub fn encoded_size(stream: &StreamName, event: &ProposedEvent) -> usize {
    EVENT_RECORD_FIXED_BYTES + stream.as_str().len() + event.event_type.len() + event.data.len() + event.metadata.len()
}

/// Writes one event record. Callers have checked that the name and type fit
/// in u16 and data and metadata in u32.
pub fn encode_event(
    buffer: &mut Vec<u8>,
    stream: &StreamName,
    revision: u64,
    created: Timestamp,
    event: &ProposedEvent,
) {
    buffer.reserve(encoded_size(stream, event));
    buffer.put_u8(RECORD_KIND_EVENT);
    buffer.put_u8(match event.content_type {
        ContentType::Json => 0,
        ContentType::Binary => 1,
    });
    buffer.put_u16_le(stream.as_str().len() as u16);
    buffer.put_u16_le(event.event_type.len() as u16);
    buffer.put_u16_le(0);
    buffer.put_u64_le(revision);
    buffer.put_i64_le(created.ticks());
    buffer.put_slice(event.id.0.as_bytes());
    buffer.put_u32_le(event.data.len() as u32);
    buffer.put_u32_le(event.metadata.len() as u32);
    buffer.put_slice(stream.as_str().as_bytes());
    buffer.put_slice(event.event_type.as_bytes());
    buffer.put_slice(&event.data);
    buffer.put_slice(&event.metadata);
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable record: {0}")]
pub struct RecordError(pub &'static str);

/// The identity of an event record, read without decoding the rest: what
/// an idempotency check compares.
pub struct EventHeader {
    pub revision: u64,
    pub id: EventId,
}

pub fn decode_header(payload: &[u8]) -> Result<Option<EventHeader>, RecordError> {
    let fixed = payload.get(..EVENT_RECORD_FIXED_BYTES).ok_or(RecordError("short record"))?;
    if fixed.first() != Some(&RECORD_KIND_EVENT) {
        return Ok(None);
    }
    Ok(Some(EventHeader { revision: u64_at(fixed, 8), id: EventId(uuid_at(fixed, 24)) }))
}

/// Decodes an event record into a recorded event sharing `payload`'s memory.
/// Records of other kinds decode to `None`.
pub fn decode_event(payload: &Bytes, position: Position) -> Result<Option<RecordedEvent>, RecordError> {
    let fixed = payload.get(..EVENT_RECORD_FIXED_BYTES).ok_or(RecordError("short record"))?;
    if fixed.first() != Some(&RECORD_KIND_EVENT) {
        return Ok(None);
    }
    let content_type = match fixed.get(1) {
        Some(0) => ContentType::Json,
        Some(1) => ContentType::Binary,
        _ => return Err(RecordError("unknown content type")),
    };
    let stream_bytes = u16_at(fixed, 2) as usize;
    let type_bytes = u16_at(fixed, 4) as usize;
    let data_bytes = u32_at(fixed, 40) as usize;
    let metadata_bytes = u32_at(fixed, 44) as usize;
    let stream_start = EVENT_RECORD_FIXED_BYTES;
    let type_start = stream_start + stream_bytes;
    let data_start = type_start + type_bytes;
    let metadata_start = data_start + data_bytes;
    let end = metadata_start + metadata_bytes;
    if end != payload.len() {
        return Err(RecordError("lengths do not add up to the record size"));
    }
    let text = |range: std::ops::Range<usize>| {
        payload.get(range).and_then(|bytes| std::str::from_utf8(bytes).ok()).ok_or(RecordError("text is not UTF-8"))
    };
    let stream = StreamName::new(text(stream_start..type_start)?).map_err(|_| RecordError("invalid stream name"))?;
    Ok(Some(RecordedEvent {
        stream,
        revision: u64_at(fixed, 8),
        position,
        id: EventId(uuid_at(fixed, 24)),
        event_type: text(type_start..data_start)?.to_owned(),
        content_type,
        created: Timestamp(u64_at(fixed, 16) as i64),
        data: payload.slice(data_start..metadata_start),
        metadata: payload.slice(metadata_start..end),
    }))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut word = [0u8; 2];
    word.copy_from_slice(bytes.get(at..at + 2).unwrap_or(&[0, 0]));
    u16::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes.get(at..at + 4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes.get(at..at + 8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(word)
}

fn uuid_at(bytes: &[u8], at: usize) -> Uuid {
    let mut id = [0u8; 16];
    id.copy_from_slice(bytes.get(at..at + 16).unwrap_or(&[0; 16]));
    Uuid::from_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_record_round_trips() {
        let stream = StreamName::new("order-7").expect("name");
        let mut event = ProposedEvent::json("OrderPlaced", &b"{\"total\":3}"[..]);
        event.metadata = Bytes::from_static(b"{\"user\":\"ann\"}");
        let mut buffer = Vec::new();
        encode_event(&mut buffer, &stream, 41, Timestamp(123), &event);
        assert_eq!(buffer.len(), encoded_size(&stream, &event));
        let payload = Bytes::from(buffer);
        let decoded = decode_event(&payload, Position(99)).expect("decodes").expect("an event");
        assert_eq!(decoded.stream, stream);
        assert_eq!((decoded.revision, decoded.position, decoded.created), (41, Position(99), Timestamp(123)));
        assert_eq!((decoded.id, decoded.event_type.as_str()), (event.id, "OrderPlaced"));
        assert_eq!((decoded.data, decoded.metadata), (event.data, event.metadata));
        let header = decode_header(&payload).expect("header").expect("event");
        assert_eq!((header.revision, header.id), (41, event.id));
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let stream = StreamName::new("s").expect("name");
        let mut buffer = Vec::new();
        encode_event(&mut buffer, &stream, 0, Timestamp(0), &ProposedEvent::json("t", &b"{}"[..]));
        for cut in 0..buffer.len() {
            let payload = Bytes::copy_from_slice(buffer.get(..cut).expect("prefix"));
            assert!(decode_event(&payload, Position(1)).is_err(), "cut at {cut}");
        }
    }
}
