//! Bringing the index up to the log on open (IDX-2): replay the log from the
//! index's checkpoint to the end. The checkpoint is at most one flush
//! interval behind, so start-up does not grow with the size of the log.

use std::collections::HashMap;

use eventfold_index::{Index, IndexUpdate, StreamEntry};
use eventfold_log::LogReader;

use crate::EngineError;
use crate::record::decode_header;

/// Events indexed per index transaction while replaying.
const REPLAY_CHUNK_EVENTS: usize = 65_536;

/// What replay found.
pub(crate) struct Replayed {
    pub events: u64,
    pub next_stream_id: u64,
}

/// Indexes every event in `from..end`. Commits only at transaction ends, so
/// the checkpoint is always a transaction boundary.
pub(crate) fn replay(index: &Index, reader: &LogReader, from: u64, end: u64) -> Result<Replayed, EngineError> {
    let snapshot = index.snapshot()?;
    let mut next_stream_id = snapshot.next_stream_id()?;
    drop(snapshot);
    let mut streams: HashMap<String, StreamEntry> = HashMap::new();
    let mut update = IndexUpdate::default();
    let mut replayed = 0;
    let mut scan = reader.scan_forward(from, end);
    while let Some(frame) = scan.next_frame()? {
        if let Some(header) = decode_header(&frame.payload)
            .map_err(|error| EngineError::Corrupt { position: frame.position, reason: error.to_string() })?
        {
            let entry = match streams.get(header.stream) {
                Some(entry) => *entry,
                None => match index.snapshot()?.stream(header.stream)? {
                    Some(entry) => entry,
                    None => {
                        next_stream_id += 1;
                        StreamEntry { id: next_stream_id - 1, next_revision: 0 }
                    }
                },
            };
            if header.revision != entry.next_revision {
                return Err(EngineError::Corrupt {
                    position: frame.position,
                    reason: format!(
                        "stream `{}` revision {} follows revision {}",
                        header.stream,
                        header.revision,
                        entry.next_revision as i128 - 1
                    ),
                });
            }
            streams.insert(header.stream.to_owned(), StreamEntry { id: entry.id, next_revision: header.revision + 1 });
            update.events.push((entry.id, header.revision, frame.position));
            replayed += 1;
        }
        if frame.ends_transaction && update.events.len() >= REPLAY_CHUNK_EVENTS {
            commit(index, &mut update, &mut streams, next_stream_id, frame.next_position)?;
        }
    }
    commit(index, &mut update, &mut streams, next_stream_id, end)?;
    index.flush()?;
    Ok(Replayed { events: replayed, next_stream_id })
}

fn commit(
    index: &Index,
    update: &mut IndexUpdate,
    streams: &mut HashMap<String, StreamEntry>,
    next_stream_id: u64,
    checkpoint: u64,
) -> Result<(), EngineError> {
    update.streams = streams.drain().collect();
    update.next_stream_id = next_stream_id;
    index.apply(update, checkpoint, false)?;
    update.clear();
    Ok(())
}
