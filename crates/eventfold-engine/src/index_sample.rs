//! A cheap check at start that the index agrees with the log, so that a
//! damaged index is rebuilt instead of serving "index points stream … at
//! position … which holds no such event" to readers.
//!
//! It reads a few dozen frames, whatever the size of the database: the
//! newest events before the checkpoint (each must be indexed where it is),
//! and the first entries of streams spread over all stream ids (each must
//! point at a frame of the event it names). It runs before replay, on the
//! index as the last start left it. A full check is `eventfold admin
//! verify`.

use eventfold_index::{Index, IndexError, IndexSnapshot};
use eventfold_log::{LogError, LogReader};
use eventfold_store::Position;

use crate::record::decode_event;
use crate::verify::{event_owns_entry, indexed_at};

/// Newest events before the checkpoint looked up in the index.
const NEWEST_EVENTS: usize = 32;
/// Stream ids, spread over all of them, whose entries are followed.
const SAMPLED_STREAMS: u64 = 16;
/// Entries followed per sampled stream, spread over its revisions.
const ENTRIES_PER_STREAM: u64 = 16;

/// What the sample found.
pub(crate) enum Sample {
    Consistent,
    /// The index disagrees with the log (or cannot be read): rebuild it.
    Inconsistent(String),
}

/// Checks the sample of `index` against the log up to `checkpoint`. A
/// failure to read the log is returned as an error, not as an inconsistent
/// index: rebuilding the index would read the same damaged log.
pub(crate) fn check_sample(index: &Index, reader: &LogReader, checkpoint: u64) -> Result<Sample, LogError> {
    match sample(index, reader, checkpoint) {
        Ok(None) => Ok(Sample::Consistent),
        Ok(Some(reason)) => Ok(Sample::Inconsistent(reason)),
        Err(Failure::Index(error)) => Ok(Sample::Inconsistent(format!("the index cannot be read: {error}"))),
        Err(Failure::Log(error)) => Err(error),
    }
}

enum Failure {
    Index(IndexError),
    Log(LogError),
}

impl From<IndexError> for Failure {
    fn from(error: IndexError) -> Self {
        Failure::Index(error)
    }
}

impl From<LogError> for Failure {
    fn from(error: LogError) -> Self {
        Failure::Log(error)
    }
}

fn sample(index: &Index, reader: &LogReader, checkpoint: u64) -> Result<Option<String>, Failure> {
    let snapshot = index.snapshot()?;
    let mut newest = reader.scan_backward(checkpoint);
    let mut looked_up = 0;
    while looked_up < NEWEST_EVENTS {
        let Some(frame) = newest.next_frame()? else { break };
        // A record that does not decode is the log's damage, for replay and
        // reads to report; it says nothing about the index.
        let Ok(Some(event)) = decode_event(&frame.payload, Position(frame.position)) else { continue };
        looked_up += 1;
        if let Some(problem) = indexed_at(&snapshot, &event)? {
            return Ok(Some(format!(
                "stream `{}` revision {} at position {}: {problem}",
                event.stream, event.revision, frame.position
            )));
        }
    }
    let stream_ids = snapshot.next_stream_id()?;
    let step = (stream_ids / SAMPLED_STREAMS).max(1);
    let mut stream_id = 0;
    while stream_id < stream_ids {
        for (revision, position) in spread_entries(&snapshot, stream_id)? {
            if let Some(problem) = entry_problem(&snapshot, reader, checkpoint, stream_id, revision, position)? {
                return Ok(Some(format!(
                    "entry of stream id {stream_id} revision {revision} at position {position}: {problem}"
                )));
            }
        }
        stream_id += step;
    }
    Ok(None)
}

/// Up to [`ENTRIES_PER_STREAM`] entries of a stream as (revision, position),
/// spread from its first revision to its last.
fn spread_entries(snapshot: &IndexSnapshot, stream_id: u64) -> Result<Vec<(u64, u64)>, IndexError> {
    let Some(&(last, _)) = snapshot.positions(stream_id, u64::MAX, false, 1)?.first() else {
        return Ok(Vec::new());
    };
    let mut entries: Vec<(u64, u64)> = Vec::new();
    for step in 0..ENTRIES_PER_STREAM {
        let from =
            last / (ENTRIES_PER_STREAM - 1) * step + last % (ENTRIES_PER_STREAM - 1) * step / (ENTRIES_PER_STREAM - 1);
        if let Some(&entry) = snapshot.positions(stream_id, from, true, 1)?.first()
            && entries.last().is_none_or(|previous| previous.0 < entry.0)
        {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Why the entry cannot be right, if it cannot; a damaged frame where it
/// points is the log's problem, returned as a failure of the log.
fn entry_problem(
    snapshot: &IndexSnapshot,
    reader: &LogReader,
    checkpoint: u64,
    stream_id: u64,
    revision: u64,
    position: u64,
) -> Result<Option<String>, Failure> {
    if position >= checkpoint {
        return Ok(Some(format!("points past the index checkpoint {checkpoint}")));
    }
    if reader.was_removed(position) {
        // Removed by a scavenge; the entry goes at the next one (IDX-3).
        return Ok(None);
    }
    match reader.read_frame_exact(position, checkpoint) {
        Ok(None) => Ok(Some("the log holds no frame at this position".to_owned())),
        Ok(Some(frame)) => match decode_event(&frame.payload, Position(position)) {
            Ok(Some(event)) => Ok(event_owns_entry(snapshot, &event, stream_id, revision)?),
            _ => Ok(Some("the log holds no event record there".to_owned())),
        },
        Err(error) => {
            // Either the entry points inside a frame (the index is wrong)
            // or the frame there is damaged (the log is): walking the
            // frames tells which.
            let start = reader.frame_start_at_or_after(position, checkpoint)?;
            if start == position {
                return Err(Failure::Log(error));
            }
            Ok(Some("points inside a frame, not at one".to_owned()))
        }
    }
}
