//! The last step of a scavenge: deleting the index entries of the events it
//! removed, so that the index shrinks with the log.
//!
//! It scans every event entry (stream and virtual-stream links alike) and
//! sends those whose position the log no longer holds to the writer, which
//! alone writes the index and checks each one again (`writer/forget.rs`).
//! Scanning the whole index rather than noting what this run removed also
//! finds the entries a crash, a stop or a failure left behind after an
//! earlier compaction (IDX-3). It reads one page per index snapshot, so it
//! never holds a snapshot long enough to keep the pages it frees from being
//! reused.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::Abort;
use crate::shared::Shared;
use crate::writer::Command;

/// Entries read per index snapshot.
const SCAN_PAGE_ENTRIES: usize = 16 * 1024;
/// Entries per writer command: small enough that appends queued behind one
/// wait a few milliseconds at most (measured: about 6 ms in a debug build).
const FORGET_BATCH_ENTRIES: usize = 1024;

/// Deletes, through the writer, every index entry whose event compaction
/// removed; returns how many went.
pub(super) fn forget_removed_entries(
    shared: &Shared,
    commands: &mpsc::Sender<Command>,
    stop: &AtomicBool,
) -> Result<u64, Abort> {
    // Only compaction removes frames: without a compacted segment there is
    // nothing to find.
    if shared.reader.first_compacted_base().is_none() {
        return Ok(0);
    }
    let mut after = None;
    let mut removed = Vec::new();
    let mut forgotten = 0;
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(Abort::Stopped);
        }
        let page = shared
            .snapshot()
            .event_entries_after(after, SCAN_PAGE_ENTRIES)
            .map_err(|error| Abort::Failed(format!("index: {error}")))?;
        let finished = page.len() < SCAN_PAGE_ENTRIES;
        after = page.last().map(|(stream_id, revision, _)| (*stream_id, *revision)).or(after);
        removed.extend(page.into_iter().filter(|(_, _, position)| shared.reader.was_removed(*position)));
        while removed.len() >= FORGET_BATCH_ENTRIES || (finished && !removed.is_empty()) {
            let rest = removed.split_off(removed.len().min(FORGET_BATCH_ENTRIES));
            forgotten += forget(commands, std::mem::replace(&mut removed, rest))?;
        }
        if finished {
            return Ok(forgotten);
        }
    }
}

fn forget(commands: &mpsc::Sender<Command>, entries: Vec<(u64, u64, u64)>) -> Result<u64, Abort> {
    let stopped = || Abort::Failed("the writer has stopped".into());
    let (reply, answer) = oneshot::channel();
    commands.blocking_send(Command::ForgetIndexEntries { entries, reply }).map_err(|_| stopped())?;
    answer
        .blocking_recv()
        .map_err(|_| stopped())?
        .map_err(|error| Abort::Failed(format!("forgetting the index entries of removed events: {error}")))
}
