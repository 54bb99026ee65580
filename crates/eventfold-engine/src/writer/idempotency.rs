//! EventStoreDB's idempotent re-append: a repeat of events already written is
//! answered with the original outcome and writes nothing.

use eventfold_index::IndexSnapshot;
use eventfold_store::{AppendError, AppendOutcome, AppendRequest, CurrentRevision, ExpectedRevision, Position};

use super::{Writer, index_error};
use crate::record::decode_header;
use crate::storage_error;

impl Writer {
    /// EventStoreDB's idempotency: an append whose event ids are exactly the
    /// events already written at the revisions it expects answers with the
    /// original result and writes nothing. Only durable events count.
    pub(super) fn idempotent_outcome(
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
    pub(super) fn ids_match_in_log(
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
}
