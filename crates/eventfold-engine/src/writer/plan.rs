//! Planning a transaction: each request checked against the stream state as the
//! batch so far leaves it (expected revision, tombstones, idempotency) and, when
//! all of it passes, its events encoded into the batch with their links.

use eventfold_index::{IndexSnapshot, StreamEntry};
use eventfold_log::FrameBatch;
use eventfold_store::{AppendError, AppendOutcome, AppendRequest, StreamName, Timestamp};

use super::{Planned, Staged, Writer, current_revision, expectation_met, index_error, system_stream_name};
use crate::effects::{
    Effect, STREAMS_STREAM, apply, apply_own, category_and_type_links, effect_of, links_first_event, metadata_target,
};
use crate::record::encode_event;

impl Writer {
    /// Checks one transaction against the state so far and, when every
    /// request in it passes, encodes its events into the batch. On error the
    /// caller rolls the batch back: all or nothing.
    pub(super) fn plan(
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
    pub(super) fn entry_or_new(
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
    pub(super) fn transaction_state(
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

    pub(super) fn stream_state(
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

    pub(super) fn snapshot<'a>(
        &self,
        snapshot: &'a mut Option<IndexSnapshot>,
    ) -> Result<&'a IndexSnapshot, AppendError> {
        if snapshot.is_none() {
            *snapshot = Some(self.shared.index.snapshot().map_err(index_error)?);
        }
        snapshot.as_ref().ok_or_else(|| index_error("no snapshot"))
    }
}
