//! The live feed of a batch: its events as subscribers receive them.

use eventfold_store::{Position, RecordedEvent, Timestamp};

use super::{Accepted, Planned};
use crate::shared::CommittedBatch;

/// The events of the batch written at `start`, in log order.
pub(super) fn live_batch(start: u64, accepted: &[Accepted], created: Timestamp) -> CommittedBatch {
    let mut events = Vec::new();
    for accepted in accepted {
        for (request, planned) in accepted.transaction.iter().zip(&accepted.outcomes) {
            let Planned::Write { first_revision, offsets, .. } = planned else {
                continue;
            };
            for ((index, offset), event) in offsets.iter().enumerate().zip(&request.events) {
                events.push(RecordedEvent {
                    stream: request.stream.clone(),
                    revision: first_revision + index as u64,
                    position: Position(start + *offset as u64),
                    id: event.id,
                    event_type: event.event_type.clone(),
                    content_type: event.content_type,
                    created,
                    data: event.data.clone(),
                    metadata: event.metadata.clone(),
                });
            }
        }
    }
    CommittedBatch { events }
}
