//! Deletes and recreations as the appends they amount to: a tombstone event, the
//! `$tb` metadata of a soft delete, and the metadata that recreates a soft-deleted
//! stream on its next append.

use eventfold_index::IndexSnapshot;
use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, DeleteMode, ExpectedRevision, Position, StreamName,
};

use super::{Staged, Writer, current_revision, expectation_met, index_error, system_stream_name};
use crate::effects::{
    SOFT_DELETED_TRUNCATE_BEFORE, TOMBSTONE_EVENT_TYPE, awaits_recreation, is_metadata_stream, metadata_event,
    metadata_stream_of, recreation_metadata, system_event, with_truncate_before,
};
use crate::record::decode_event;
use crate::storage_error;

impl Writer {
    /// A delete as the append it amounts to. A tombstone appends a
    /// `$streamDeleted` event to the stream; a soft delete checks the
    /// stream's expected revision, then appends metadata with EventStoreDB's
    /// `$tb` of a deleted stream to `$$<stream>`; the next append to the
    /// stream rewrites it to the revision the stream starts again at.
    pub(super) fn delete_transaction(
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
    pub(super) fn with_recreations(
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
    pub(super) fn last_event_data(
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
}
