//! The single writer: group commit of every append (LOG-1).
//!
//! One OS thread owns the log's append handle. It drains the queue of
//! waiting appends into one batch, checks each against the stream state
//! (including appends earlier in the same batch), encodes the accepted ones
//! into one buffer, writes it with one `write` and one `fdatasync`, indexes
//! it, publishes the new end, and only then answers every caller and feeds
//! the live subscribers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use eventfold_index::{IndexSnapshot, IndexUpdate, StreamEntry};
use eventfold_log::{FrameBatch, LogWriter};
use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, ExpectedRevision, Position,
    StorageError, StorageErrorKind, StreamName, Timestamp,
};
use tokio::sync::{mpsc, oneshot};

use crate::caches::{RecentEventIds, StreamCache, WrittenEvent};
use crate::effects::{
    Effect, SOFT_DELETED_TRUNCATE_BEFORE, STREAMS_STREAM, TOMBSTONE_EVENT_TYPE, apply, apply_own, awaits_recreation,
    category_and_type_links, effect_of, is_metadata_stream, links_first_event, metadata_event, metadata_stream_of,
    metadata_target, recreation_metadata, system_event, with_truncate_before,
};
use crate::metrics::{BatchWritten, WriterMetrics};
use crate::record::{decode_event, decode_header, encode_event, encoded_size};
use crate::shared::Shared;
use crate::{EngineConfig, storage_error};

mod forget;
mod health;
mod idle;
mod live;
#[cfg(test)]
mod tests;

pub(crate) use health::WriterHealth;

pub(crate) type AppendReply = oneshot::Sender<Result<Vec<AppendOutcome>, AppendError>>;
pub(crate) type DeleteReply = oneshot::Sender<Result<DeleteOutcome, AppendError>>;
pub(crate) type ForgetReply = oneshot::Sender<Result<u64, StorageError>>;

pub(crate) enum Command {
    /// `queued`: when the caller began to wait for the writer, for the
    /// queueing-time metric.
    Append {
        transaction: Vec<AppendRequest>,
        reply: AppendReply,
        queued: Instant,
    },
    Delete {
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
        reply: DeleteReply,
        queued: Instant,
    },
    /// Deletes index entries (stream id, revision, position) of events a
    /// scavenge removed (`forget.rs`); answers how many went.
    ForgetIndexEntries {
        entries: Vec<(u64, u64, u64)>,
        reply: ForgetReply,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// One unit of work of a batch: all of it is written, or none.
enum Work {
    Append(Vec<AppendRequest>),
    Delete { stream: StreamName, expected: ExpectedRevision, mode: DeleteMode },
}

enum Reply {
    Append(AppendReply),
    /// An append whose transaction the writer extended: the caller gets the
    /// outcomes of its own first requests only.
    Extended(AppendReply, usize),
    Delete(DeleteReply),
}

impl Reply {
    fn fail(self, error: AppendError) {
        match self {
            Reply::Append(reply) | Reply::Extended(reply, _) => drop(reply.send(Err(error))),
            Reply::Delete(reply) => drop(reply.send(Err(error))),
        }
    }

    fn succeed(self, outcomes: Vec<AppendOutcome>) {
        match self {
            Reply::Append(reply) => drop(reply.send(Ok(outcomes))),
            Reply::Extended(reply, own) => {
                let mut outcomes = outcomes;
                outcomes.truncate(own);
                drop(reply.send(Ok(outcomes)));
            }
            Reply::Delete(reply) => {
                let position = outcomes.iter().rev().find_map(|outcome| outcome.position);
                drop(reply.send(Ok(DeleteOutcome { position })));
            }
        }
    }

    /// This reply, answering only the first `own` requests of a transaction
    /// that may have grown past them.
    fn answering_first(self, own: usize) -> Self {
        match self {
            Reply::Append(reply) => Reply::Extended(reply, own),
            other => other,
        }
    }
}

type Staged = HashMap<StreamName, StreamEntry>;

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub log: LogWriter,
    pub config: EngineConfig,
    pub streams: StreamCache,
    pub recent_ids: RecentEventIds,
    pub next_stream_id: u64,
    pub last_index_flush: Instant,
    /// Set while the index holds a commit made since `last_index_flush` that
    /// is not durable: the writer then wakes to flush it (`idle.rs`).
    pub index_dirty: bool,
    /// Set when a batch was indexed but its `fdatasync` failed.
    pub index_ahead_of_log: bool,
    pub health: WriterHealth,
    pub metrics: WriterMetrics,
}

/// An accepted transaction waiting for the batch to be written.
struct Accepted {
    reply: Reply,
    transaction: Vec<AppendRequest>,
    outcomes: Vec<Planned>,
}

enum Planned {
    /// Nothing to write: an empty append or an idempotent repeat.
    Done(AppendOutcome),
    /// Events `first_revision..` of `stream`, frames at these batch offsets,
    /// and the (virtual stream id, revision, batch offset) links to them.
    Write { stream_id: u64, first_revision: u64, offsets: Vec<usize>, links: Vec<(u64, u64, usize)> },
}

impl Writer {
    pub fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let waiter = idle::Waiter::new();
        let mut appends = Vec::new();
        loop {
            let command = match waiter.next(&mut commands, self.wake_at()) {
                idle::Next::Command(command) => command,
                idle::Next::Closed => break,
                idle::Next::Idle => {
                    self.on_idle();
                    continue;
                }
            };
            let mut shutdown = None;
            let mut forget = None;
            let mut estimated_bytes = 0;
            let mut oldest_queued = None;
            let mut next = Some(command);
            while let Some(command) = next.take() {
                match command {
                    Command::Append { transaction, reply, queued } => {
                        oldest_queued = Some(oldest_queued.map_or(queued, |oldest: Instant| oldest.min(queued)));
                        estimated_bytes += transaction_bytes(&transaction);
                        appends.push((Work::Append(transaction), Reply::Append(reply)));
                    }
                    Command::Delete { stream, expected, mode, reply, queued } => {
                        oldest_queued = Some(oldest_queued.map_or(queued, |oldest: Instant| oldest.min(queued)));
                        appends.push((Work::Delete { stream, expected, mode }, Reply::Delete(reply)));
                    }
                    // Between batches: the batch gathered so far is
                    // committed and published first.
                    Command::ForgetIndexEntries { entries, reply } => {
                        forget = Some((entries, reply));
                        break;
                    }
                    Command::Shutdown { reply } => {
                        shutdown = Some(reply);
                        break;
                    }
                }
                if estimated_bytes < self.config.batch_bytes_max {
                    next = commands.try_recv().ok();
                }
            }
            if let Some(queued) = oldest_queued {
                // The batch's longest wait is the one a recent maximum keeps.
                self.shared.gauges.queueing.record(crate::metrics::duration_nanos(queued.elapsed()));
            }
            if !appends.is_empty() {
                self.commit(std::mem::take(&mut appends));
            }
            if let Some((entries, reply)) = forget {
                let _ = reply.send(self.forget_index_entries(&entries));
            }
            if let Some(reply) = shutdown {
                self.stop();
                let _ = reply.send(());
                return;
            }
        }
        self.stop();
    }

    /// Makes the index durable and ends every live subscription.
    fn stop(&mut self) {
        self.flush_index();
        self.shared.close_live();
    }

    fn flush_index(&mut self) {
        // Not retried before the next interval, even when it fails: the next
        // durable commit or flush covers this one.
        self.index_dirty = false;
        self.last_index_flush = Instant::now();
        if self.index_ahead_of_log {
            tracing::warn!("the index holds a batch the log could not make durable; it is left to be rebuilt on start");
            return;
        }
        match self.shared.index.flush() {
            Ok(()) => self.shared.gauges.index_checkpoint.store(self.log.end(), Ordering::Relaxed),
            Err(error) => {
                tracing::error!(%error, "could not make the index durable; it will be rebuilt from the log on start");
            }
        }
    }

    fn commit(&mut self, appends: Vec<(Work, Reply)>) {
        if let Some(refusal) = self.health.refusal(Instant::now()) {
            for (_, reply) in appends {
                reply.fail(AppendError::Storage(refusal.clone()));
            }
            return;
        }
        let created = Timestamp::now();
        let mut batch = FrameBatch::new();
        let mut staged = Staged::new();
        let mut accepted = Vec::new();
        let mut snapshot = None;
        let mut next_stream_id = self.next_stream_id;
        for (work, reply) in appends {
            let (transaction, reply) = match work {
                Work::Append(transaction) => match self.with_recreations(transaction, &staged, &mut snapshot) {
                    Ok((transaction, own)) => (Ok(transaction), reply.answering_first(own)),
                    Err(error) => (Err(error), reply),
                },
                Work::Delete { stream, expected, mode } => {
                    (self.delete_transaction(stream, expected, mode, &staged, &mut snapshot), reply)
                }
            };
            let planned = transaction.and_then(|transaction| {
                let mark = batch.mark();
                self.plan(&transaction, &mut staged, &mut snapshot, &mut next_stream_id, &mut batch, created)
                    .inspect_err(|_| batch.rollback(mark))
                    .map(|outcomes| (transaction, outcomes))
            });
            match planned {
                Ok((transaction, outcomes)) => accepted.push(Accepted { reply, transaction, outcomes }),
                Err(error) => reply.fail(error),
            }
        }
        drop(snapshot);
        if batch.is_empty() {
            // Only empty or idempotent appends: nothing to make durable.
            for accepted in accepted {
                let outcomes = accepted.outcomes.iter().map(|planned| match planned {
                    Planned::Done(outcome) => *outcome,
                    Planned::Write { .. } => unreachable_outcome(),
                });
                accepted.reply.succeed(outcomes.collect());
            }
            return;
        }
        match self.write_and_index(&batch, &staged, &accepted, next_stream_id) {
            Ok((start, snapshot)) => {
                self.record_batch(&batch, accepted.len());
                self.acknowledge(start, snapshot, staged, accepted, next_stream_id, created);
            }
            Err(error) => {
                for accepted in accepted {
                    accepted.reply.fail(AppendError::Storage(error.clone()));
                }
            }
        }
    }

    /// One metrics update per batch, whatever its size: the hot path pays a
    /// few atomic operations per `fdatasync`, not per event.
    fn record_batch(&self, batch: &FrameBatch, appends: usize) {
        let write = self.log.last_write_duration();
        let fsync = self.log.last_sync_duration();
        let written = BatchWritten {
            appends,
            events: batch.frame_count(),
            bytes: batch.len_bytes() as u64,
            flush: write + fsync,
            fsync,
        };
        self.metrics.batch_written(&self.shared.gauges, &written);
        let gauges = &self.shared.gauges;
        gauges.stream_cache_entries.store(self.streams.len() as u64, Ordering::Relaxed);
        gauges.event_id_entries.store(self.recent_ids.len() as u64, Ordering::Relaxed);
    }

    /// A delete as the append it amounts to. A tombstone appends a
    /// `$streamDeleted` event to the stream; a soft delete checks the
    /// stream's expected revision, then appends metadata with EventStoreDB's
    /// `$tb` of a deleted stream to `$$<stream>`; the next append to the
    /// stream rewrites it to the revision the stream starts again at.
    fn delete_transaction(
        &mut self,
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
        staged: &Staged,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<Vec<AppendRequest>, AppendError> {
        if mode == DeleteMode::Tombstone {
            let tombstone = system_event(TOMBSTONE_EVENT_TYPE, b"{}".to_vec());
            return Ok(vec![AppendRequest::new(stream, expected, vec![tombstone])]);
        }
        let entry = self.stream_state(&stream, staged, snapshot)?;
        let current = current_revision(entry.as_ref());
        let deleted = entry.is_some_and(|entry| entry.tombstoned)
            || (expected == ExpectedRevision::StreamExists && entry.is_some_and(|entry| entry.is_soft_deleted()));
        if deleted {
            return Err(AppendError::StreamDeleted { stream });
        }
        // Nothing to delete is a wrong expectation whatever was expected:
        // clients read "Actual version: -1" as "stream not found".
        if current == CurrentRevision::NoStream || !expectation_met(entry.as_ref(), current, expected) {
            return Err(AppendError::WrongExpectedVersion { stream, expected, actual: current });
        }
        let metadata_stream = StreamName::new(metadata_stream_of(stream.as_str()))
            .map_err(|error| AppendError::InvalidEvent { reason: format!("metadata stream: {error}") })?;
        let previous = self.last_event_data(&metadata_stream, snapshot)?;
        let document = with_truncate_before(previous.as_deref(), SOFT_DELETED_TRUNCATE_BEFORE);
        Ok(vec![AppendRequest::new(metadata_stream, ExpectedRevision::Any, vec![metadata_event(document)])])
    }

    /// The transaction with, after its own requests, the metadata appends
    /// that recreate the soft-deleted streams it appends to (see
    /// `effects::recreation_metadata`), and how many requests are its own.
    fn with_recreations(
        &mut self,
        mut transaction: Vec<AppendRequest>,
        staged: &Staged,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<(Vec<AppendRequest>, usize), AppendError> {
        let own = transaction.len();
        let mut added: Vec<AppendRequest> = Vec::new();
        for request in &transaction {
            if request.events.is_empty() || is_metadata_stream(request.stream.as_str()) {
                continue;
            }
            let Some(entry) = self.stream_state(&request.stream, staged, snapshot)? else { continue };
            if !awaits_recreation(&entry) {
                continue;
            }
            let metadata_stream = system_stream_name(&metadata_stream_of(request.stream.as_str()))?;
            // Metadata the caller writes in the same transaction wins.
            let written = |other: &AppendRequest| other.stream == metadata_stream;
            if transaction.iter().any(written) || added.iter().any(written) {
                continue;
            }
            let previous = self.last_event_data(&metadata_stream, snapshot)?;
            added.push(recreation_metadata(metadata_stream, previous.as_deref(), &entry));
        }
        transaction.extend(added);
        Ok((transaction, own))
    }

    /// The data of a stream's last durable event.
    fn last_event_data(
        &self,
        stream: &StreamName,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<Option<Vec<u8>>, AppendError> {
        let snapshot = self.snapshot(snapshot)?;
        let Some(entry) = snapshot.stream(stream.as_str()).map_err(index_error)? else { return Ok(None) };
        let Some((_, position)) =
            snapshot.positions(entry.id, u64::MAX, false, 1).map_err(index_error)?.into_iter().next()
        else {
            return Ok(None);
        };
        let frame = self.shared.reader.read_frame(position, u64::MAX).map_err(|error| storage_error(&error))?;
        let event = frame.and_then(|frame| decode_event(&frame.payload, Position(frame.position)).ok().flatten());
        Ok(event.map(|event| event.data.to_vec()))
    }

    /// Checks one transaction against the state so far and, when every
    /// request in it passes, encodes its events into the batch. On error the
    /// caller rolls the batch back: all or nothing.
    fn plan(
        &mut self,
        transaction: &[AppendRequest],
        staged: &mut Staged,
        snapshot: &mut Option<IndexSnapshot>,
        next_stream_id: &mut u64,
        batch: &mut FrameBatch,
        created: Timestamp,
    ) -> Result<Vec<Planned>, AppendError> {
        // Changes of this transaction, kept apart until all of it passed.
        let mut local = Staged::new();
        let streams_stream = system_stream_name(STREAMS_STREAM)?;
        let mut local_next_id = *next_stream_id;
        let mut outcomes = Vec::with_capacity(transaction.len());
        for request in transaction {
            let entry = self.transaction_state(&request.stream, &local, staged, snapshot)?;
            if entry.is_some_and(|entry| entry.tombstoned) {
                return Err(AppendError::StreamDeleted { stream: request.stream.clone() });
            }
            // The metadata stream of a tombstoned stream is deleted with it,
            // as in EventStoreDB; checked here so that a tombstone earlier in
            // the same batch counts too.
            if let Some(target) = metadata_target(request.stream.as_str()).and_then(|name| StreamName::new(name).ok()) {
                let target_entry = self.transaction_state(&target, &local, staged, snapshot)?;
                if target_entry.is_some_and(|entry| entry.tombstoned) {
                    return Err(AppendError::StreamDeleted { stream: request.stream.clone() });
                }
            }
            let current = current_revision(entry.as_ref());
            if let Some(outcome) = self.idempotent_outcome(request, current, snapshot)? {
                outcomes.push(Planned::Done(outcome));
                continue;
            }
            if !expectation_met(entry.as_ref(), current, request.expected) {
                return Err(AppendError::WrongExpectedVersion {
                    stream: request.stream.clone(),
                    expected: request.expected,
                    actual: current,
                });
            }
            if request.events.is_empty() {
                outcomes.push(Planned::Done(AppendOutcome { current_revision: current, position: None }));
                continue;
            }
            let mut entry = entry.unwrap_or_else(|| {
                local_next_id += 1;
                StreamEntry::new(local_next_id - 1)
            });
            let first_revision = entry.next_revision;
            let category = request.stream.category();
            let mut link_names: Vec<(&str, Vec<StreamName>)> = Vec::new();
            let mut offsets = Vec::with_capacity(request.events.len());
            let mut links = Vec::new();
            for (index, event) in request.events.iter().enumerate() {
                let revision = first_revision + index as u64;
                let offset = batch
                    .push(false, |buffer| encode_event(buffer, &request.stream, revision, created, event))
                    .map_err(|error| AppendError::InvalidEvent {
                        reason: format!("event record of {} bytes", error.payload_bytes),
                    })?;
                offsets.push(offset);
                entry.next_revision = revision + 1;
                let effect = effect_of(request.stream.as_str(), &event.event_type, &event.data);
                apply_own(&mut entry, &effect);
                if let Effect::Metadata { stream, retention } = effect {
                    let target = system_stream_name(stream)?;
                    let mut target_entry = self.entry_or_new(&target, &local, staged, snapshot, &mut local_next_id)?;
                    apply(&mut target_entry, retention);
                    local.insert(target, target_entry);
                }
                // `$ce-`/`$et-` names are made once per event type of the
                // request, not once per event.
                let index = match link_names.iter().position(|(event_type, _)| *event_type == event.event_type) {
                    Some(index) => index,
                    None => {
                        let names = category_and_type_links(request.stream.as_str(), category, &event.event_type)
                            .iter()
                            // A name too long to be a stream (a huge event type) gets no link.
                            .filter_map(|link| StreamName::new(link).ok())
                            .collect::<Vec<_>>();
                        link_names.push((event.event_type.as_str(), names));
                        link_names.len() - 1
                    }
                };
                let names = link_names.get(index).map(|(_, names)| names.as_slice()).unwrap_or_default();
                let streams = links_first_event(request.stream.as_str(), revision).then_some(&streams_stream);
                for link in names.iter().chain(streams) {
                    let link_entry = match local.get_mut(link) {
                        Some(link_entry) => link_entry,
                        None => {
                            let link_entry = self.entry_or_new(link, &local, staged, snapshot, &mut local_next_id)?;
                            local.entry(link.clone()).or_insert(link_entry)
                        }
                    };
                    links.push((link_entry.id, link_entry.next_revision, offset));
                    link_entry.next_revision += 1;
                }
            }
            outcomes.push(Planned::Write { stream_id: entry.id, first_revision, offsets, links });
            local.insert(request.stream.clone(), entry);
        }
        // Requests that wrote nothing (idempotent or empty) may come last:
        // the transaction ends at whatever frame was pushed last.
        batch.end_transaction();
        *next_stream_id = local_next_id;
        staged.extend(local);
        Ok(outcomes)
    }

    /// A stream's entry as this transaction sees it, or a new one.
    fn entry_or_new(
        &mut self,
        stream: &StreamName,
        local: &Staged,
        staged: &Staged,
        snapshot: &mut Option<IndexSnapshot>,
        next_stream_id: &mut u64,
    ) -> Result<StreamEntry, AppendError> {
        Ok(self.transaction_state(stream, local, staged, snapshot)?.unwrap_or_else(|| {
            *next_stream_id += 1;
            StreamEntry::new(*next_stream_id - 1)
        }))
    }

    /// A stream's state as the transaction being planned sees it: its own
    /// changes first, then the batch's, the cache and the index.
    fn transaction_state(
        &mut self,
        stream: &StreamName,
        local: &Staged,
        staged: &Staged,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<Option<StreamEntry>, AppendError> {
        match local.get(stream) {
            Some(entry) => Ok(Some(*entry)),
            None => self.stream_state(stream, staged, snapshot),
        }
    }

    fn stream_state(
        &mut self,
        stream: &StreamName,
        staged: &Staged,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<Option<StreamEntry>, AppendError> {
        if let Some(entry) = staged.get(stream) {
            return Ok(Some(*entry));
        }
        let cached = self.streams.get(stream);
        self.metrics.stream_cache(cached.is_some());
        if let Some(entry) = cached {
            return Ok(Some(entry));
        }
        let entry = self.snapshot(snapshot)?.stream(stream.as_str()).map_err(index_error)?;
        if let Some(entry) = entry {
            self.streams.insert(stream.clone(), entry);
        }
        Ok(entry)
    }

    fn snapshot<'a>(&self, snapshot: &'a mut Option<IndexSnapshot>) -> Result<&'a IndexSnapshot, AppendError> {
        if snapshot.is_none() {
            *snapshot = Some(self.shared.index.snapshot().map_err(index_error)?);
        }
        snapshot.as_ref().ok_or_else(|| index_error("no snapshot"))
    }

    /// EventStoreDB's idempotency: an append whose event ids are exactly the
    /// events already written at the revisions it expects answers with the
    /// original result and writes nothing. Only durable events count.
    fn idempotent_outcome(
        &self,
        request: &AppendRequest,
        current: CurrentRevision,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<Option<AppendOutcome>, AppendError> {
        let Some(first) = request.events.first() else {
            return Ok(None);
        };
        let first_revision = match request.expected {
            ExpectedRevision::Any | ExpectedRevision::StreamExists => match self.recent_ids.get(&first.id) {
                Some(written) if written.stream == request.stream => written.revision,
                _ => return Ok(None),
            },
            expected if current.satisfies(expected) => return Ok(None),
            ExpectedRevision::NoStream => 0,
            ExpectedRevision::Exact(revision) => revision + 1,
        };
        let count = request.events.len() as u64;
        if current.next() < first_revision + count {
            return Ok(None);
        }
        let mut last_position = None;
        let mut cached = true;
        for (offset, event) in request.events.iter().enumerate() {
            match self.recent_ids.get(&event.id) {
                Some(written)
                    if written.stream == request.stream && written.revision == first_revision + offset as u64 =>
                {
                    last_position = Some(written.position);
                }
                _ => {
                    cached = false;
                    break;
                }
            }
        }
        // The window counts as hit when it spared reading the repeat back.
        self.metrics.event_id_cache(cached);
        if !cached {
            last_position = self.ids_match_in_log(request, first_revision, snapshot)?;
        }
        match (last_position, request.expected) {
            (Some(position), _) => Ok(Some(AppendOutcome {
                current_revision: CurrentRevision::Current(first_revision + count - 1),
                position: Some(Position(position)),
            })),
            // The first id matched a recent write but the rest did not: a
            // partial repeat, refused as EventStoreDB does.
            (None, ExpectedRevision::Any | ExpectedRevision::StreamExists) => Err(AppendError::WrongExpectedVersion {
                stream: request.stream.clone(),
                expected: request.expected,
                actual: current,
            }),
            (None, _) => Ok(None),
        }
    }

    /// Reads the events at `first_revision..` from the log and returns the
    /// last one's position when their ids are the request's ids in order.
    fn ids_match_in_log(
        &self,
        request: &AppendRequest,
        first_revision: u64,
        snapshot: &mut Option<IndexSnapshot>,
    ) -> Result<Option<u64>, AppendError> {
        let snapshot = self.snapshot(snapshot)?;
        let Some(entry) = snapshot.stream(request.stream.as_str()).map_err(index_error)? else {
            return Ok(None);
        };
        let positions =
            snapshot.positions(entry.id, first_revision, true, request.events.len()).map_err(index_error)?;
        if positions.len() != request.events.len() {
            return Ok(None);
        }
        let end = self.shared.committed_end();
        let mut last = None;
        for (((revision, position), event), expected_revision) in
            positions.iter().zip(&request.events).zip(first_revision..)
        {
            // Entries of scavenged events may have been deleted: the range
            // then skips revisions, and a skipped one is no match.
            if *revision != expected_revision {
                return Ok(None);
            }
            let frame = self.shared.reader.read_frame(*position, end).map_err(|error| storage_error(&error))?;
            let header = frame.as_ref().map(|frame| decode_header(&frame.payload));
            match header {
                Some(Ok(Some(header))) if header.id == event.id && header.revision == *revision => {
                    last = Some(*position);
                }
                _ => return Ok(None),
            }
        }
        Ok(last)
    }

    /// Writes the batch durably and indexes it; returns the batch's start and
    /// the index snapshot that shows it, to publish. The index is updated
    /// while the `fdatasync` runs (non-durably, and unseen by readers until
    /// the snapshot is published) when the batch is big enough to gain from
    /// it and the periodic durable index commit is not due: that one waits
    /// for the log (IDX-2). A failure before anything was written refuses
    /// the batch for a while (LOG-9); any failure after the write began
    /// poisons the writer (`health.rs`).
    fn write_and_index(
        &mut self,
        batch: &FrameBatch,
        staged: &Staged,
        accepted: &[Accepted],
        next_stream_id: u64,
    ) -> Result<(u64, IndexSnapshot), StorageError> {
        let durable = self.last_index_flush.elapsed() >= self.config.index_flush_interval;
        let batch_bytes = batch.len_bytes() as u64;
        let index = &self.shared.index;
        let update_index = |start: u64, durable: bool| {
            let update = index_update(start, staged, accepted, next_stream_id);
            index.apply(&update, start + batch_bytes, durable).and_then(|()| index.snapshot())
        };
        // Handing the fsync to another thread costs two thread wake-ups
        // (~30 µs on a small machine): worth it only when indexing the batch
        // costs more than that.
        let overlap = !durable && batch.frame_count() >= OVERLAP_MIN_FRAMES;
        let written = if !overlap {
            self.log.write(batch).map(|start| (start, update_index(start, durable)))
        } else {
            self.log.write_with(batch, |start| update_index(start, false))
        };
        let (start, indexed) = match written {
            Ok(written) => written,
            Err(error) => {
                // An overlapped index update may hold this batch, which
                // never became durable: the index must not be flushed.
                self.index_ahead_of_log = self.log.is_poisoned() && overlap;
                return Err(self.log_failed(&error, batch_bytes));
            }
        };
        self.log_succeeded();
        match indexed {
            Ok(snapshot) => {
                if durable {
                    self.last_index_flush = Instant::now();
                    self.shared.gauges.index_checkpoint.store(start + batch_bytes, Ordering::Relaxed);
                }
                self.index_dirty = !durable;
                Ok((start, snapshot))
            }
            Err(error) => Err(self.index_failed(error)),
        }
    }

    fn acknowledge(
        &mut self,
        start: u64,
        snapshot: IndexSnapshot,
        staged: Staged,
        accepted: Vec<Accepted>,
        next_stream_id: u64,
        created: Timestamp,
    ) {
        self.next_stream_id = next_stream_id;
        for (name, entry) in staged {
            self.streams.insert(name, entry);
        }
        let mut head = self.shared.head();
        for accepted in &accepted {
            for (request, planned) in accepted.transaction.iter().zip(&accepted.outcomes) {
                let Planned::Write { first_revision, offsets, .. } = planned else {
                    continue;
                };
                for ((index, offset), event) in offsets.iter().enumerate().zip(&request.events) {
                    let position = start + *offset as u64;
                    let revision = first_revision + index as u64;
                    head = head.max(position);
                    self.recent_ids
                        .insert(event.id, WrittenEvent { stream: request.stream.clone(), revision, position });
                }
            }
        }
        #[cfg(test)]
        self.shared.hooks.before_publish();
        self.shared.publish(self.log.end(), head, snapshot);
        // Decided only now: a subscriber counted here gets the batch live,
        // one that registers later reads it from storage, since it reads
        // against the end just published. Decided before the publish, a
        // subscriber registering in between would get it neither way. (Its
        // registration and this count go through the channel's lock, so one
        // of the two sees the other.)
        let live = self.shared.has_live_subscribers().then(|| live::live_batch(start, &accepted, created));
        for accepted in accepted {
            let outcomes = accepted.outcomes.iter().map(|planned| match planned {
                Planned::Done(outcome) => *outcome,
                Planned::Write { first_revision, offsets, .. } => AppendOutcome {
                    current_revision: CurrentRevision::Current(first_revision + offsets.len() as u64 - 1),
                    position: offsets.last().map(|offset| Position(start + *offset as u64)),
                },
            });
            accepted.reply.succeed(outcomes.collect());
        }
        if let Some(batch) = live {
            self.shared.broadcast(Arc::new(batch));
        }
    }
}

/// Batches of at least this many events are indexed while their `fdatasync`
/// runs; smaller ones after it (measured: the hand-off to the sync thread
/// costs more than indexing a few events).
const OVERLAP_MIN_FRAMES: usize = 16;

/// The index entries of a batch written at `start`.
fn index_update(start: u64, staged: &Staged, accepted: &[Accepted], next_stream_id: u64) -> IndexUpdate {
    let mut update = IndexUpdate { next_stream_id, ..IndexUpdate::default() };
    update.streams = staged.iter().map(|(name, entry)| (name.as_str().to_owned(), *entry)).collect();
    for accepted in accepted {
        for planned in &accepted.outcomes {
            if let Planned::Write { stream_id, first_revision, offsets, links } = planned {
                for (index, offset) in offsets.iter().enumerate() {
                    update.events.push((*stream_id, first_revision + index as u64, start + *offset as u64));
                }
                for (link_id, link_revision, offset) in links {
                    update.events.push((*link_id, *link_revision, start + *offset as u64));
                }
            }
        }
    }
    update
}

fn transaction_bytes(transaction: &[AppendRequest]) -> usize {
    transaction
        .iter()
        .flat_map(|request| request.events.iter().map(move |event| encoded_size(&request.stream, event) + 16))
        .sum()
}

/// The stream's revision as expectations see it.
fn current_revision(entry: Option<&StreamEntry>) -> CurrentRevision {
    match entry {
        Some(entry) if entry.next_revision > 0 => CurrentRevision::Current(entry.next_revision - 1),
        _ => CurrentRevision::NoStream,
    }
}

/// The store's rule ([`eventfold_store::expectation_met`]) on an index entry.
fn expectation_met(entry: Option<&StreamEntry>, _current: CurrentRevision, expected: ExpectedRevision) -> bool {
    eventfold_store::expectation_met(entry.map(crate::effects::state_of).as_ref(), expected)
}

/// Names the writer derives (metadata targets, virtual streams) come from
/// valid names, but a derived name can still be too long.
fn system_stream_name(name: &str) -> Result<StreamName, AppendError> {
    StreamName::new(name).map_err(|error| AppendError::InvalidEvent { reason: format!("stream `{name}`: {error}") })
}

fn index_error(error: impl std::fmt::Display) -> AppendError {
    AppendError::Storage(StorageError::new(StorageErrorKind::Io, format!("index: {error}")))
}

fn unreachable_outcome() -> AppendOutcome {
    debug_assert!(false, "an empty batch has no pending writes");
    AppendOutcome { current_revision: CurrentRevision::NoStream, position: None }
}
