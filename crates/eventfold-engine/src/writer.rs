//! The single writer: group commit of every append (LOG-1).
//!
//! One OS thread owns the log's append handle. It drains the queue of
//! waiting appends into one batch, checks each against the stream state
//! (including appends earlier in the same batch), encodes the accepted ones
//! into one buffer, writes it with one `write` and one `fdatasync`, indexes
//! it, publishes the new end, and only then answers every caller and feeds
//! the live subscribers.
//!
//! This file holds the queue and the batch loop; a transaction is checked
//! and encoded in `plan.rs` (repeats in `idempotency.rs`, deletes and
//! recreations in `deletes.rs`) and made durable and answered in
//! `durable.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use eventfold_index::StreamEntry;
use eventfold_log::{FrameBatch, LogWriter};
use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, ExpectedRevision,
    StorageError, StorageErrorKind, StreamName, Timestamp,
};
use tokio::sync::{mpsc, oneshot};

use crate::EngineConfig;
use crate::caches::{RecentEventIds, StreamCache};
use crate::metrics::WriterMetrics;
use crate::record::encoded_size;
use crate::shared::Shared;

mod deletes;
mod durable;
mod forget;
mod health;
mod idempotency;
mod idle;
mod live;
mod plan;
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
    /// The `created` stamp of the newest event in the log: no batch is
    /// stamped earlier, so `created` never falls along `$all` even when the
    /// system clock steps back (windows on `created` close by the log).
    pub last_created: Timestamp,
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

    /// The system clock; in tests, the one a test set (`hooks.rs`).
    fn clock(&self) -> Timestamp {
        #[cfg(test)]
        return self.shared.hooks.now();
        #[cfg(not(test))]
        Timestamp::now()
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
        let created = self.clock().max(self.last_created);
        self.last_created = created;
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
