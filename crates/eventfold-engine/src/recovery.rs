//! Bringing the index up to the log on open (IDX-2): replay the log from the
//! index's checkpoint to the end. The checkpoint is at most one flush
//! interval behind, so start-up does not grow with the size of the log.

use std::collections::HashMap;

use eventfold_index::{Index, IndexUpdate, StreamEntry};
use eventfold_log::LogReader;

use crate::EngineError;
use eventfold_store::{Position, StreamName};

use crate::effects::{Effect, apply, apply_own, effect_of, virtual_streams_of};
use crate::record::decode_event;

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
    // Nothing compacts while replay runs (the engine is not open yet).
    let first_compacted = reader.first_compacted_base();
    while let Some(frame) = scan.next_frame()? {
        let corrupt = |reason: String| EngineError::Corrupt { position: frame.position, reason };
        let event =
            decode_event(&frame.payload, Position(frame.position)).map_err(|error| corrupt(error.to_string()))?;
        if let Some(event) = event {
            let stream = event.stream.as_str();
            let mut entry = entry_of(index, &streams, stream, &mut next_stream_id)?;
            // A scavenge removes events but keeps each stream's last one, so
            // revisions may skip forwards past compacted segments, never back.
            let gap_allowed =
                event.revision > entry.next_revision && first_compacted.is_some_and(|base| base < frame.position);
            if event.revision != entry.next_revision && !gap_allowed {
                return Err(corrupt(format!(
                    "stream `{stream}` revision {} where {} was expected",
                    event.revision, entry.next_revision
                )));
            }
            entry.next_revision = event.revision + 1;
            let effect = effect_of(stream, &event.event_type, &event.data);
            apply_own(&mut entry, &effect);
            streams.insert(stream.to_owned(), entry);
            if let Effect::Metadata { stream: target, retention } = effect {
                let mut target_entry = entry_of(index, &streams, target, &mut next_stream_id)?;
                apply(&mut target_entry, retention);
                streams.insert(target.to_owned(), target_entry);
            }
            update.events.push((entry.id, event.revision, frame.position));
            let category = event.stream.category();
            for link in virtual_streams_of(stream, category, &event.event_type, event.revision) {
                if StreamName::new(&link).is_err() {
                    continue;
                }
                let mut link_entry = entry_of(index, &streams, &link, &mut next_stream_id)?;
                update.events.push((link_entry.id, link_entry.next_revision, frame.position));
                link_entry.next_revision += 1;
                streams.insert(link, link_entry);
            }
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

/// A stream's entry as replay has built it so far, from the index, or new.
fn entry_of(
    index: &Index,
    streams: &HashMap<String, StreamEntry>,
    stream: &str,
    next_stream_id: &mut u64,
) -> Result<StreamEntry, EngineError> {
    if let Some(entry) = streams.get(stream) {
        return Ok(*entry);
    }
    if let Some(entry) = index.snapshot()?.stream(stream)? {
        return Ok(entry);
    }
    *next_stream_id += 1;
    Ok(StreamEntry::new(*next_stream_id - 1))
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
