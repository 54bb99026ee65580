//! What the crash writer (`eventfold-crash-writer`) and the crash test share:
//! the line protocol the writer reports its appends in, and the payload every
//! probe event carries; and, for both crash tests, running a child until a
//! SIGKILL and collecting the whole lines it printed (`run_until_killed`).
//!
//! The writer runs in its own process so that it can be killed with SIGKILL at
//! any instant. All the parent ever learns from it is what reached the stdout
//! pipe before the kill, so the protocol is one short line per fact, each
//! written with a single `write`: a line is either whole or, for the very
//! last one, cut short, and a line without its newline is discarded.
//!
//! - `TRY <stream> <id>,<id>,...` comes before an append is handed to the
//!   engine: the ids may or may not be in the store after a crash, but they
//!   must never be there only in part.
//! - `ACK <stream> <last-revision> <last-position> <id>,<id>,...` comes after
//!   the engine acknowledged the append: the ids must be in the store after
//!   a crash, at exactly the revisions and position reported.
//! - `REJ <stream> <id>,<id>,...` comes after the engine refused the append
//!   (a stale expected revision): none of the ids may ever be in the store.

use std::fmt;
use std::str::FromStr;

#[cfg(unix)]
pub mod child_server;
pub mod conformance;
#[cfg(unix)]
pub mod kafka_broker;
#[cfg(unix)]
mod killed;
#[cfg(unix)]
pub mod mosquitto_server;
#[cfg(unix)]
pub mod moto_server;
#[cfg(unix)]
pub mod nats_server;
#[cfg(unix)]
pub mod pg_server;
#[cfg(unix)]
pub mod rabbitmq_server;
#[cfg(unix)]
pub mod redis_server;
#[cfg(unix)]
pub use killed::{KilledOutput, run_until_killed};

use eventfold_store::{ContentType, DEFAULT_MAX_APPEND_BYTES, EventId, Position, ProposedEvent, StreamName};
use uuid::Uuid;

/// The event type of every event the crash writer appends, so that the
/// checker can tell its events from anything else in the store.
pub const PROBE_EVENT_TYPE: &str = "CrashProbe";

/// Most events of an append the writer makes; few enough that even an
/// append of only the largest events stays under the engine's default
/// maximum append size.
pub const PROBE_APPEND_MAX_EVENTS: usize = 5;

/// Largest payload of most probe events: small events make batches of many
/// appends, which is where a kill can catch one append of a batch acknowledged
/// and the next not.
pub const PROBE_SMALL_PAYLOAD_MAX_BYTES: usize = 4 * 1024;

/// Largest payload of the one probe event in [`PROBE_LARGE_PAYLOAD_ONE_IN`]
/// that is large: a batch holding one takes long enough to copy into the file
/// that a kill can land in the middle of its `write`, which is what leaves a
/// torn tail for recovery to cut.
pub const PROBE_PAYLOAD_MAX_BYTES: usize = 128 * 1024;

/// How rare large payloads are: rare enough that most batches stay small and
/// the test fast, common enough that many kills find one being written.
pub const PROBE_LARGE_PAYLOAD_ONE_IN: u8 = 16;

/// Events the scavenge crasher appends to each of its streams per round.
pub const SCAVENGE_ROUND_EVENTS: usize = 20;

// An append over the maximum size would be refused and stop the writer.
const _: () =
    assert!(PROBE_APPEND_MAX_EVENTS * (PROBE_PAYLOAD_MAX_BYTES + PROBE_EVENT_TYPE.len()) <= DEFAULT_MAX_APPEND_BYTES);

/// The payload of the probe event with this id: a length and bytes derived
/// from the id alone, so the checker can verify every recovered event's data
/// without the writer having to report it.
pub fn probe_payload(id: EventId) -> Vec<u8> {
    // The first six bytes of a v4 UUID are all random.
    let id_bytes = id.0.as_bytes();
    let random = u32::from_le_bytes([id_bytes[0], id_bytes[1], id_bytes[2], id_bytes[3]]) as usize;
    let length = if id_bytes[4].is_multiple_of(PROBE_LARGE_PAYLOAD_ONE_IN) {
        random % (PROBE_PAYLOAD_MAX_BYTES + 1)
    } else {
        random % (PROBE_SMALL_PAYLOAD_MAX_BYTES + 1)
    };
    let mut payload = id_bytes.repeat(length.div_ceil(id_bytes.len()));
    payload.truncate(length);
    payload
}

/// A probe event with a fresh random id and its derived payload.
pub fn probe_event() -> ProposedEvent {
    let id = EventId::random();
    ProposedEvent {
        id,
        event_type: PROBE_EVENT_TYPE.to_owned(),
        content_type: ContentType::Binary,
        data: probe_payload(id).into(),
        metadata: Default::default(),
    }
}

/// An append the writer is about to hand to the engine (a `TRY` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptedAppend {
    pub stream: StreamName,
    pub event_ids: Vec<EventId>,
}

/// An append the engine acknowledged (an `ACK` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcknowledgedAppend {
    pub stream: StreamName,
    /// The revision of the append's last event.
    pub last_revision: u64,
    /// The `$all` position of the append's last event.
    pub last_position: Position,
    /// Never empty: the writer appends at least one event each time.
    pub event_ids: Vec<EventId>,
}

impl AcknowledgedAppend {
    /// The revision of the append's first event. Parsing guarantees there are
    /// no more ids than revisions up to `last_revision`, so this cannot wrap.
    pub fn first_revision(&self) -> u64 {
        self.last_revision + 1 - self.event_ids.len() as u64
    }
}

/// One line of the crash writer's stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterLine {
    Attempted(AttemptedAppend),
    Acknowledged(AcknowledgedAppend),
    /// The same stream and ids as the attempt it answers.
    Rejected(AttemptedAppend),
}

/// A complete line that is not in the protocol: a bug in the writer or in
/// the pipe, never a consequence of the kill (a cut-short last line has no
/// newline and is never parsed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed crash writer line `{line}`: {reason}")]
pub struct LineError {
    pub line: String,
    pub reason: String,
}

impl fmt::Display for WriterLine {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterLine::Attempted(attempt) => {
                write!(formatter, "TRY {} ", attempt.stream)?;
                write_ids(formatter, &attempt.event_ids)
            }
            WriterLine::Rejected(attempt) => {
                write!(formatter, "REJ {} ", attempt.stream)?;
                write_ids(formatter, &attempt.event_ids)
            }
            WriterLine::Acknowledged(ack) => {
                write!(formatter, "ACK {} {} {} ", ack.stream, ack.last_revision, ack.last_position)?;
                write_ids(formatter, &ack.event_ids)
            }
        }
    }
}

fn write_ids(formatter: &mut fmt::Formatter<'_>, ids: &[EventId]) -> fmt::Result {
    for (index, id) in ids.iter().enumerate() {
        if index > 0 {
            formatter.write_str(",")?;
        }
        write!(formatter, "{id}")?;
    }
    Ok(())
}

impl FromStr for WriterLine {
    type Err = LineError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| LineError { line: line.to_owned(), reason: reason.to_owned() };
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            [keyword @ ("TRY" | "REJ"), stream, ids] => {
                let attempt = AttemptedAppend {
                    stream: parse_stream(stream).map_err(|reason| error(&reason))?,
                    event_ids: parse_ids(ids).map_err(|reason| error(&reason))?,
                };
                Ok(if *keyword == "TRY" { WriterLine::Attempted(attempt) } else { WriterLine::Rejected(attempt) })
            }
            ["ACK", stream, last_revision, last_position, ids] => {
                let ack = AcknowledgedAppend {
                    stream: parse_stream(stream).map_err(|reason| error(&reason))?,
                    last_revision: last_revision.parse().map_err(|_| error("last revision is not a number"))?,
                    last_position: Position(last_position.parse().map_err(|_| error("last position is not a number"))?),
                    event_ids: parse_ids(ids).map_err(|reason| error(&reason))?,
                };
                if ack.event_ids.len() as u64 > ack.last_revision.saturating_add(1) {
                    return Err(error("more event ids than revisions up to the last one"));
                }
                Ok(WriterLine::Acknowledged(ack))
            }
            _ => Err(error(
                "expected `TRY <stream> <ids>`, `ACK <stream> <revision> <position> <ids>` \
                 or `REJ <stream> <ids>`",
            )),
        }
    }
}

fn parse_stream(text: &str) -> Result<StreamName, String> {
    StreamName::new(text).map_err(|error| error.to_string())
}

fn parse_ids(text: &str) -> Result<Vec<EventId>, String> {
    text.split(',')
        .map(|id| Uuid::parse_str(id).map(EventId).map_err(|error| format!("event id `{id}`: {error}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str) -> StreamName {
        StreamName::new(name).expect("valid stream name")
    }

    #[test]
    fn lines_read_back_as_written() {
        let ids = vec![EventId::random(), EventId::random(), EventId::random()];
        let lines = [
            WriterLine::Attempted(AttemptedAppend { stream: stream("crash-1"), event_ids: ids.clone() }),
            WriterLine::Acknowledged(AcknowledgedAppend {
                stream: stream("crash-2"),
                last_revision: 7,
                last_position: Position(4242),
                event_ids: ids.clone(),
            }),
            WriterLine::Rejected(AttemptedAppend { stream: stream("crash-0"), event_ids: ids }),
        ];
        for line in lines {
            assert_eq!(line.to_string().parse::<WriterLine>(), Ok(line));
        }
    }

    #[test]
    fn acknowledged_revisions_end_at_the_last_one() {
        let line = format!("ACK crash-0 4 100 {},{}", EventId::random(), EventId::random());
        let Ok(WriterLine::Acknowledged(ack)) = line.parse() else {
            panic!("`{line}` should parse");
        };
        assert_eq!(ack.first_revision(), 3);
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        let id = EventId::random();
        for line in [
            String::new(),
            "TRY crash-0".to_owned(),
            format!("TRY crash-0 {id},"),
            format!("ACK crash-0 x 100 {id}"),
            format!("ACK crash-0 1 100 {id} extra"),
            format!("REJ crash-0 1 {id}"),
            // Three events cannot end at revision 1.
            format!("ACK crash-0 1 100 {id},{id},{id}"),
            format!("NOPE crash-0 {id}"),
        ] {
            assert!(line.parse::<WriterLine>().is_err(), "`{line}` parsed");
        }
    }

    #[test]
    fn payloads_are_a_function_of_the_id_and_bounded() {
        for _ in 0..1000 {
            let event = probe_event();
            assert_eq!(event.data.as_ref(), probe_payload(event.id).as_slice());
            assert!(event.data.len() <= PROBE_PAYLOAD_MAX_BYTES);
        }
    }
}
