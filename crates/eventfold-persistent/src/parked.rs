//! The parked stream, `$persistentsubscription-<stream>::<group>-parked`:
//! one link event per parked event, pointing at it. Replayed entries are
//! hidden by moving the stream's `$tb` past them once they are done, so the
//! parked count is `next revision - $tb` and survives restarts.

use std::sync::Arc;

use eventfold_store::{CurrentRevision, DeleteMode, EventStore, ExpectedRevision, StorageError, StreamName};

use crate::key::GroupKey;
use crate::message::Message;
use crate::records::ParkedRecord;
use crate::replay::Replay;
use crate::store_errors;
use crate::store_io::{append_any, metadata, set_metadata};
use eventfold_store::link_to;

/// Links written per append: keeps an append far below the size limit.
const PARK_BATCH: usize = 500;

pub(crate) struct Parked {
    stream: StreamName,
    /// The revision the next parked link gets.
    next_revision: u64,
    /// Revisions below this were replayed and are hidden.
    truncate_before: u64,
}

/// An event to park and why.
pub(crate) struct ToPark {
    pub message: Message,
    pub reason: String,
}

impl Parked {
    pub async fn load(store: &dyn EventStore, key: &GroupKey) -> Result<Parked, StorageError> {
        let stream = key.parked_stream();
        let next_revision = match store.stream_revision(&stream).await {
            Ok(CurrentRevision::Current(revision)) => revision + 1,
            Ok(CurrentRevision::NoStream) => 0,
            Err(error) => return Err(store_errors::from_read(error)),
        };
        // A `$tb` past the end hides everything there is and nothing to come:
        // a soft delete (of an earlier group of this name) writes "all",
        // `i64::MAX`, and the store rewrites it to the end once the stream is
        // appended to again.
        let truncate_before = metadata(store, &stream)
            .await
            .map_err(store_errors::from_read)?
            .and_then(|document| document.get("$tb")?.as_u64())
            .unwrap_or(0)
            .min(next_revision);
        Ok(Parked { stream, next_revision, truncate_before })
    }

    /// Parked events not replayed yet.
    pub fn count(&self) -> u64 {
        self.next_revision.saturating_sub(self.truncate_before)
    }

    /// The revision of the oldest link still parked, if any is.
    pub fn first_visible(&self) -> Option<u64> {
        (self.count() > 0).then_some(self.truncate_before)
    }

    pub fn stream(&self) -> &StreamName {
        &self.stream
    }

    /// Writes a link to each event; all or nothing per batch of
    /// [`PARK_BATCH`]. On error, the events of the failed batch and after
    /// are not parked (the caller keeps them).
    pub async fn park(&mut self, store: &dyn EventStore, events: &[ToPark]) -> Result<(), (usize, StorageError)> {
        for (batch_index, batch) in events.chunks(PARK_BATCH).enumerate() {
            let links = batch
                .iter()
                .map(|parked| {
                    let record = ParkedRecord {
                        reason: parked.reason.clone(),
                        retry_count: parked.message.delivery.retry_count,
                    };
                    let metadata = serde_json::to_vec(&record).unwrap_or_default();
                    // The event itself, not a link it came through: a replay
                    // delivers what the link pointed at.
                    link_to(&parked.message.delivery.event, metadata.into())
                })
                .collect();
            match append_any(store, &self.stream, links).await {
                Ok(outcome) => self.next_revision = outcome.current_revision.next(),
                Err(error) => return Err((batch_index * PARK_BATCH, store_errors::from_append(error))),
            }
        }
        Ok(())
    }

    /// Hides the parked entries below `revision` (they were replayed).
    pub async fn truncate(&mut self, store: &dyn EventStore, revision: u64) -> Result<(), StorageError> {
        if revision <= self.truncate_before {
            return Ok(());
        }
        set_metadata(store, &self.stream, serde_json::json!({ "$tb": revision }))
            .await
            .map_err(store_errors::from_append)?;
        self.truncate_before = revision;
        Ok(())
    }

    /// Hides the parked events below the parked stream's revision `stop_at`
    /// (all when `None`) without replaying them: KurrentDB's TruncateParked.
    pub async fn discard(&mut self, store: &dyn EventStore, stop_at: Option<u64>) -> Result<(), StorageError> {
        let end = stop_at.map_or(self.next_revision, |stop_at| self.next_revision.min(stop_at));
        self.truncate(store, end).await
    }

    /// A replay of the parked events not replayed yet, oldest first, up to
    /// (not including) the parked stream's revision `stop_at`, or all when
    /// `None`: EventStoreDB's stop-at is a revision of the parked stream, not
    /// a count. `None` when there is nothing to replay.
    pub fn replay(&self, store: Arc<dyn EventStore>, stop_at: Option<u64>) -> Option<Replay> {
        let end = stop_at.map_or(self.next_revision, |stop_at| self.next_revision.min(stop_at));
        (end > self.truncate_before).then(|| Replay::new(store, self.stream.clone(), self.truncate_before, end))
    }
}

/// Run when a group is deleted. A stream that never existed is fine.
pub(crate) async fn delete(store: &dyn EventStore, key: &GroupKey) {
    match store.delete_stream(key.parked_stream(), ExpectedRevision::Any, DeleteMode::Soft).await {
        Ok(_) => {}
        Err(error) => tracing::debug!(%key, %error, "deleting the parked stream"),
    }
}
