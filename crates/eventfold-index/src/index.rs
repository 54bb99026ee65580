use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use crate::IndexError;
use crate::writeback::{WRITEBACK_INTERVAL, Writeback};

/// `meta`: the checkpoint (log position the index reflects), the next stream
/// id to hand out and the index format version.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `streams`: stream name → (stream id, next revision, truncate before,
/// tombstoned, max count, max age in seconds).
type StreamValue = (u64, u64, u64, bool, Option<u64>, Option<u64>);
const STREAMS: TableDefinition<&str, StreamValue> = TableDefinition::new("streams");
/// `stream_events`: (stream id, revision) → log position.
const STREAM_EVENTS: TableDefinition<(u64, u64), u64> = TableDefinition::new("stream_events");

type RangeEntry<'a> = Result<(redb::AccessGuard<'a, (u64, u64)>, redb::AccessGuard<'a, u64>), redb::StorageError>;

fn revision_and_position(entry: RangeEntry<'_>) -> Result<(u64, u64), redb::StorageError> {
    entry.map(|(key, value)| (key.value().1, value.value()))
}

const CHECKPOINT: &str = "checkpoint";
const NEXT_STREAM_ID: &str = "next_stream_id";
const FORMAT_VERSION_KEY: &str = "format_version";
/// Set when entries were deleted since the file was last compacted: the
/// next open gives the freed pages back to the file system (IDX-3).
const COMPACT_PENDING: &str = "compact_pending";
const FORMAT_VERSION: u64 = 1;

/// A truncate-before that hides every event the stream has, but not the ones
/// appended after it: what a soft delete sets, EventStoreDB's `$tb` of a
/// deleted stream (`i64::MAX`). Until an append recreates the stream (and
/// rewrites `$tb` to the revision it starts again at), the stream's first
/// visible revision is its next one.
pub const TRUNCATE_ALL: u64 = i64::MAX as u64;

/// A stream as the index knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: u64,
    /// Revision the next event of the stream gets.
    pub next_revision: u64,
    /// Events below this revision are invisible (`$tb` of the stream's
    /// metadata; a soft delete sets it to [`TRUNCATE_ALL`]).
    pub truncate_before: u64,
    /// The stream was tombstoned: deleted for good.
    pub tombstoned: bool,
    /// `$maxCount` of the stream's metadata: only the newest this many are visible.
    pub max_count: Option<u64>,
    /// `$maxAge` of the stream's metadata: older events are invisible.
    pub max_age_seconds: Option<u64>,
}

impl StreamEntry {
    pub fn new(id: u64) -> Self {
        Self { id, next_revision: 0, truncate_before: 0, tombstoned: false, max_count: None, max_age_seconds: None }
    }

    /// The lowest visible revision: truncate-before, raised by max count.
    pub fn first_visible_revision(&self) -> u64 {
        let by_count = self.max_count.map_or(0, |max_count| self.next_revision.saturating_sub(max_count));
        let truncate_before =
            if self.truncate_before >= TRUNCATE_ALL { self.next_revision } else { self.truncate_before };
        truncate_before.max(by_count)
    }

    /// Soft-deleted: it has events, but all of them are truncated away.
    pub fn is_soft_deleted(&self) -> bool {
        !self.tombstoned && self.next_revision > 0 && self.truncate_before >= self.next_revision
    }
}

/// Changes to apply in one index transaction, built by the log's single
/// writer from one committed batch.
#[derive(Default, Debug)]
pub struct IndexUpdate {
    pub streams: Vec<(String, StreamEntry)>,
    /// (stream id, revision, log position)
    pub events: Vec<(u64, u64, u64)>,
    pub next_stream_id: u64,
}

impl IndexUpdate {
    pub fn clear(&mut self) {
        self.streams.clear();
        self.events.clear();
    }
}

pub struct Index {
    database: Database,
    path: PathBuf,
    /// Checkpoint of the last commit, durable or not.
    committed_checkpoint: AtomicU64,
    /// Checkpoint of the last commit made durable through this handle (or
    /// found on open): what a crash now would roll the index back to.
    durable_checkpoint: AtomicU64,
    /// A non-durable commit left pages for the write-back thread.
    writeback_pending: Arc<AtomicBool>,
    _writeback: Option<Writeback>,
}

impl Index {
    /// Opens or creates the index file. A file written by another format
    /// version is an error; the engine answers by rebuilding it from the log.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let mut database = Database::builder().set_cache_size(64 * 1024 * 1024).create(path)?;
        compact_if_pending(&mut database)?;
        let writeback_pending = Arc::new(AtomicBool::new(false));
        // Without the thread the index works the same, its durable commits
        // only take longer.
        let writeback = Writeback::start(path, WRITEBACK_INTERVAL, Arc::clone(&writeback_pending))
            .inspect_err(|error| tracing::warn!(%error, "index write-back thread not started"))
            .ok();
        let index = Self {
            database,
            path: path.to_path_buf(),
            committed_checkpoint: AtomicU64::new(0),
            durable_checkpoint: AtomicU64::new(0),
            writeback_pending,
            _writeback: writeback,
        };
        let transaction = index.database.begin_write()?;
        {
            let mut meta = transaction.open_table(META)?;
            let version = meta.get(FORMAT_VERSION_KEY)?.map(|guard| guard.value());
            match version {
                None => {
                    meta.insert(FORMAT_VERSION_KEY, FORMAT_VERSION)?;
                }
                Some(FORMAT_VERSION) => {}
                Some(other) => {
                    return Err(IndexError::Corrupt {
                        path: path.display().to_string(),
                        reason: format!("index format version {other}, expected {FORMAT_VERSION}"),
                    });
                }
            }
            transaction.open_table(STREAMS)?;
            transaction.open_table(STREAM_EVENTS)?;
        }
        transaction.commit()?;
        let checkpoint = index.snapshot()?.checkpoint()?;
        index.committed_checkpoint.store(checkpoint, Ordering::Relaxed);
        index.durable_checkpoint.store(checkpoint, Ordering::Relaxed);
        Ok(index)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies one batch's entries and moves the checkpoint to `checkpoint`,
    /// atomically. With `durable` false the commit is not fsynced: a crash
    /// rolls the index back to its last durable commit, whose checkpoint says
    /// where replay of the log must start (IDX-2).
    pub fn apply(&self, update: &IndexUpdate, checkpoint: u64, durable: bool) -> Result<(), IndexError> {
        let mut transaction = self.database.begin_write()?;
        transaction.set_durability(if durable { Durability::Immediate } else { Durability::None })?;
        {
            let mut streams = transaction.open_table(STREAMS)?;
            for (name, entry) in &update.streams {
                let value = (
                    entry.id,
                    entry.next_revision,
                    entry.truncate_before,
                    entry.tombstoned,
                    entry.max_count,
                    entry.max_age_seconds,
                );
                streams.insert(name.as_str(), value)?;
            }
            let mut events = transaction.open_table(STREAM_EVENTS)?;
            for (stream_id, revision, position) in &update.events {
                events.insert((*stream_id, *revision), *position)?;
            }
            let mut meta = transaction.open_table(META)?;
            meta.insert(CHECKPOINT, checkpoint)?;
            meta.insert(NEXT_STREAM_ID, update.next_stream_id)?;
        }
        transaction.commit()?;
        self.committed_checkpoint.store(checkpoint, Ordering::Relaxed);
        if durable {
            self.durable_checkpoint.store(checkpoint, Ordering::Relaxed);
        } else {
            self.writeback_pending.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Deletes event entries, each given as (stream id, revision, log
    /// position), and returns how many it deleted. An entry is deleted only
    /// while it still points at the given position, so a caller holding an
    /// older snapshot cannot delete anything it did not see. The checkpoint
    /// does not move and the commit is not durable: a crash may bring the
    /// entries back, which only costs the next scavenge the same work
    /// (IDX-3).
    pub fn forget_events(&self, entries: &[(u64, u64, u64)]) -> Result<u64, IndexError> {
        let mut transaction = self.database.begin_write()?;
        transaction.set_durability(Durability::None)?;
        let mut forgotten = 0;
        {
            let mut events = transaction.open_table(STREAM_EVENTS)?;
            for (stream_id, revision, position) in entries {
                // One lookup for the common case; an entry that points
                // elsewhere (never, while positions are not reused) is put
                // back in the same transaction.
                let removed = events.remove((*stream_id, *revision))?.map(|guard| guard.value());
                match removed {
                    Some(current) if current == *position => forgotten += 1,
                    Some(current) => {
                        events.insert((*stream_id, *revision), current)?;
                    }
                    None => {}
                }
            }
            transaction.open_table(META)?.insert(COMPACT_PENDING, 1)?;
        }
        transaction.commit()?;
        self.writeback_pending.store(true, Ordering::Release);
        Ok(forgotten)
    }

    /// Makes every earlier non-durable commit durable.
    pub fn flush(&self) -> Result<(), IndexError> {
        let mut transaction = self.database.begin_write()?;
        transaction.set_durability(Durability::Immediate)?;
        let checkpoint = self.committed_checkpoint.load(Ordering::Relaxed);
        transaction.commit()?;
        self.durable_checkpoint.store(checkpoint, Ordering::Relaxed);
        Ok(())
    }

    /// The checkpoint a crash now would leave the index at: that of the last
    /// durable commit, which replay on the next start begins from.
    pub fn durable_checkpoint(&self) -> u64 {
        self.durable_checkpoint.load(Ordering::Relaxed)
    }

    /// A consistent view of the index as of now.
    pub fn snapshot(&self) -> Result<IndexSnapshot, IndexError> {
        Ok(IndexSnapshot::new(self.database.begin_read()?))
    }
}

/// Compacts the file when entries were deleted since it last was. The pages
/// those deletions freed are reused by later commits while the index is
/// open, but the file keeps its size; compaction, which moves the pages
/// in use to the front and truncates the rest, needs the database to
/// itself (no read transaction alive, and a published snapshot always is
/// while the engine runs), so it is done here, before anyone reads.
fn compact_if_pending(database: &mut Database) -> Result<(), IndexError> {
    let pending = {
        let transaction = database.begin_read()?;
        match transaction.open_table(META) {
            Ok(meta) => meta.get(COMPACT_PENDING)?.is_some(),
            Err(redb::TableError::TableDoesNotExist(_)) => false,
            Err(error) => return Err(error.into()),
        }
    };
    if !pending {
        return Ok(());
    }
    database.compact()?;
    let mut transaction = database.begin_write()?;
    transaction.set_durability(Durability::Immediate)?;
    transaction.open_table(META)?.remove(COMPACT_PENDING)?;
    transaction.commit()?;
    Ok(())
}

/// A read-only, point-in-time view of the index.
pub struct IndexSnapshot {
    transaction: ReadTransaction,
}

impl IndexSnapshot {
    pub(crate) fn new(transaction: ReadTransaction) -> Self {
        Self { transaction }
    }

    /// Up to `limit` streams (virtual ones included) with their entries, in
    /// name order, from the first name after `after`: a full scan, one
    /// bounded page at a time.
    pub fn streams_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<(String, StreamEntry)>, IndexError> {
        let streams = self.transaction.open_table(STREAMS)?;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut found = Vec::with_capacity(limit.min(4096));
        for entry in streams.range::<&str>((start, Bound::Unbounded))?.take(limit) {
            let (name, value) = entry?;
            let (id, next_revision, truncate_before, tombstoned, max_count, max_age_seconds) = value.value();
            let entry = StreamEntry { id, next_revision, truncate_before, tombstoned, max_count, max_age_seconds };
            found.push((name.value().to_owned(), entry));
        }
        Ok(found)
    }

    /// The log position the index reflects: everything before it is indexed.
    pub fn checkpoint(&self) -> Result<u64, IndexError> {
        self.meta(CHECKPOINT)
    }

    pub fn next_stream_id(&self) -> Result<u64, IndexError> {
        self.meta(NEXT_STREAM_ID)
    }

    fn meta(&self, key: &str) -> Result<u64, IndexError> {
        let meta = self.transaction.open_table(META)?;
        Ok(meta.get(key)?.map_or(0, |guard| guard.value()))
    }

    pub fn stream(&self, name: &str) -> Result<Option<StreamEntry>, IndexError> {
        let streams = self.transaction.open_table(STREAMS)?;
        Ok(streams.get(name)?.map(|guard| {
            let (id, next_revision, truncate_before, tombstoned, max_count, max_age_seconds) = guard.value();
            StreamEntry { id, next_revision, truncate_before, tombstoned, max_count, max_age_seconds }
        }))
    }

    /// How many event entries (virtual streams' links included) the index
    /// holds.
    pub fn event_entry_count(&self) -> Result<u64, IndexError> {
        Ok(self.transaction.open_table(STREAM_EVENTS)?.len()?)
    }

    /// Up to `limit` event entries as (stream id, revision, position), in
    /// key order, from the first key after `after` (from the start when it
    /// is `None`): a full scan, one bounded page per snapshot.
    pub fn event_entries_after(
        &self,
        after: Option<(u64, u64)>,
        limit: usize,
    ) -> Result<Vec<(u64, u64, u64)>, IndexError> {
        let events = self.transaction.open_table(STREAM_EVENTS)?;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut found = Vec::with_capacity(limit.min(4096));
        for entry in events.range::<(u64, u64)>((start, Bound::Unbounded))?.take(limit) {
            let (key, value) = entry?;
            let (stream_id, revision) = key.value();
            found.push((stream_id, revision, value.value()));
        }
        Ok(found)
    }

    /// Up to `limit` (revision, position) pairs of a stream, starting at
    /// revision `from` and going up (`forwards`) or down.
    pub fn positions(
        &self,
        stream_id: u64,
        from: u64,
        forwards: bool,
        limit: usize,
    ) -> Result<Vec<(u64, u64)>, IndexError> {
        let events = self.transaction.open_table(STREAM_EVENTS)?;
        let mut found = Vec::with_capacity(limit.min(1024));
        if forwards {
            for entry in events.range((stream_id, from)..=(stream_id, u64::MAX))?.take(limit) {
                found.push(revision_and_position(entry)?);
            }
        } else {
            for entry in events.range((stream_id, 0)..=(stream_id, from))?.rev().take(limit) {
                found.push(revision_and_position(entry)?);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: pages of non-durable commits are written back by the index's
    /// own thread soon after, not all at once by the next durable commit.
    #[test]
    fn non_durable_commits_are_written_back_in_the_background() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index.redb")).expect("open");
        let update = IndexUpdate { events: vec![(0, 0, 32)], next_stream_id: 1, ..IndexUpdate::default() };
        index.apply(&update, 100, false).expect("apply");
        assert!(index.writeback_pending.load(Ordering::Acquire), "a non-durable commit leaves pages to write");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while index.writeback_pending.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "the write-back thread never took the pages");
            std::thread::sleep(WRITEBACK_INTERVAL / 4);
        }
        // A durable commit leaves nothing for it.
        index.apply(&update, 200, true).expect("apply durably");
        assert!(!index.writeback_pending.load(Ordering::Acquire));
    }

    #[test]
    fn entries_and_checkpoint_survive_reopen_after_a_durable_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.redb");
        {
            let index = Index::open(&path).expect("open");
            let update = IndexUpdate {
                streams: vec![(
                    "order-1".into(),
                    StreamEntry {
                        id: 0,
                        next_revision: 3,
                        truncate_before: 1,
                        tombstoned: false,
                        max_count: Some(2),
                        max_age_seconds: None,
                    },
                )],
                events: vec![(0, 0, 32), (0, 1, 100), (0, 2, 200)],
                next_stream_id: 1,
            };
            index.apply(&update, 250, false).expect("apply");
            index.flush().expect("flush");
        }
        let index = Index::open(&path).expect("reopen");
        let snapshot = index.snapshot().expect("snapshot");
        assert_eq!(snapshot.checkpoint().expect("checkpoint"), 250);
        assert_eq!(snapshot.next_stream_id().expect("next id"), 1);
        assert_eq!(
            snapshot.stream("order-1").expect("stream"),
            Some(StreamEntry {
                id: 0,
                next_revision: 3,
                truncate_before: 1,
                tombstoned: false,
                max_count: Some(2),
                max_age_seconds: None
            })
        );
        assert_eq!(snapshot.stream("order-2").expect("stream"), None);
        assert_eq!(snapshot.positions(0, 1, true, 10).expect("range"), vec![(1, 100), (2, 200)]);
        assert_eq!(snapshot.positions(0, 1, false, 10).expect("range"), vec![(1, 100), (0, 32)]);
        assert_eq!(snapshot.positions(0, 0, true, 2).expect("range"), vec![(0, 32), (1, 100)]);
        assert_eq!(snapshot.positions(1, 0, true, 2).expect("range"), vec![]);
    }

    /// Goal: forgetting deletes only the entries that still point at the
    /// given positions, and a full scan pages through what is left (IDX-3).
    #[test]
    fn forgotten_entries_go_and_only_while_they_point_where_the_caller_saw() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = Index::open(&dir.path().join("index.redb")).expect("open");
        let update = IndexUpdate {
            events: vec![(0, 0, 32), (0, 1, 100), (0, 2, 200), (1, 0, 300)],
            next_stream_id: 2,
            ..IndexUpdate::default()
        };
        index.apply(&update, 400, true).expect("apply");
        assert_eq!(index.snapshot().expect("snapshot").event_entry_count().expect("count"), 4);
        // (0, 2) is named with a position it does not hold: it stays.
        let forgotten = index.forget_events(&[(0, 0, 32), (0, 2, 999), (1, 0, 300), (5, 0, 1)]).expect("forget");
        assert_eq!(forgotten, 2);
        let snapshot = index.snapshot().expect("snapshot");
        assert_eq!(snapshot.event_entry_count().expect("count"), 2);
        assert_eq!(snapshot.checkpoint().expect("checkpoint"), 400, "the checkpoint does not move");
        assert_eq!(snapshot.event_entries_after(None, 1).expect("page"), vec![(0, 1, 100)]);
        assert_eq!(snapshot.event_entries_after(Some((0, 1)), 10).expect("page"), vec![(0, 2, 200)]);
        assert_eq!(snapshot.event_entries_after(Some((0, 2)), 10).expect("page"), vec![]);
    }
}
