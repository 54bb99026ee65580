//! The group's statistics, for GetInfo and List.

use super::state::GroupState;
use crate::info::{GroupInfo, GroupStatus};

impl GroupState {
    /// Measures as it reports: rates are since the previous report.
    pub fn info(&mut self) -> GroupInfo {
        let live = self.reader.as_ref().is_some_and(|reader| reader.caught_up());
        let (average_per_second, count_since_last_measurement) = self.meter.measure();
        let connections = self.consumers.slots.iter_mut().map(|slot| slot.info()).collect();
        let buffered = self.buffer.len();
        GroupInfo {
            spec: self.definition.spec.clone(),
            status: GroupStatus { live, replaying_parked: self.replay.is_some(), failure: self.failure.clone() },
            connections,
            average_per_second,
            total_items: self.meter.total(),
            count_since_last_measurement,
            last_checkpointed: self.progress.last_checkpoint(),
            last_known: self.progress.last_read(),
            read_buffer_count: if live { 0 } else { buffered },
            live_buffer_count: if live { buffered } else { 0 },
            retry_buffer_count: self.retry.len(),
            in_flight: self.in_flight.len(),
            parked_count: self.parked.count(),
        }
    }
}
