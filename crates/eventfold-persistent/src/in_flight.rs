//! Events delivered and not yet acked or nacked, by ack id, with the
//! deadline after which each is retried.

use std::collections::{BTreeMap, HashMap};

use eventfold_store::EventId;
use tokio::time::Instant;

use crate::message::Message;

pub(crate) type ConsumerId = u64;

#[derive(Default)]
pub(crate) struct InFlight {
    entries: HashMap<EventId, Entry>,
    /// Deadline order; the ticket makes equal deadlines distinct keys.
    deadlines: BTreeMap<(Instant, u64), EventId>,
    next_ticket: u64,
}

struct Entry {
    message: Message,
    consumer: ConsumerId,
    deadline: Option<(Instant, u64)>,
    /// When it was handed to its consumer.
    sent: Instant,
}

impl InFlight {
    /// The caller keeps ack ids unique: a second event with an id already
    /// in flight waits until the first is done.
    pub fn insert(&mut self, message: Message, consumer: ConsumerId, deadline: Option<Instant>) {
        let id = message.ack_id();
        debug_assert!(!self.entries.contains_key(&id), "ack ids in flight are unique");
        let deadline = deadline.map(|deadline| {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            self.deadlines.insert((deadline, ticket), id);
            (deadline, ticket)
        });
        self.entries.insert(id, Entry { message, consumer, deadline, sent: Instant::now() });
    }

    /// When the event in flight under `id` was handed to its consumer.
    pub fn sent_at(&self, id: &EventId) -> Option<Instant> {
        self.entries.get(id).map(|entry| entry.sent)
    }

    pub fn contains(&self, id: &EventId) -> bool {
        self.entries.contains_key(id)
    }

    pub fn remove(&mut self, id: &EventId) -> Option<(Message, ConsumerId)> {
        let entry = self.entries.remove(id)?;
        if let Some(key) = entry.deadline {
            self.deadlines.remove(&key);
        }
        Some((entry.message, entry.consumer))
    }

    /// Removes and returns every event whose deadline is at or before `now`,
    /// oldest deadline first.
    pub fn expired(&mut self, now: Instant) -> Vec<(Message, ConsumerId)> {
        let mut expired = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            if let Some(entry) = self.entries.remove(&id) {
                expired.push((entry.message, entry.consumer));
            }
        }
        expired
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first_key_value().map(|((deadline, _), _)| *deadline)
    }

    /// Removes and returns every event held by `consumer`, in the order the
    /// source produced them (replayed parked events last).
    pub fn take_consumer(&mut self, consumer: ConsumerId) -> Vec<Message> {
        let ids: Vec<EventId> =
            self.entries.iter().filter(|(_, entry)| entry.consumer == consumer).map(|(id, _)| *id).collect();
        let mut messages: Vec<Message> =
            ids.iter().filter_map(|id| self.remove(id)).map(|(message, _)| message).collect();
        messages.sort_by_key(|message| match message.origin {
            crate::message::Origin::Source(sequence) => (0, sequence),
            crate::message::Origin::Parked(revision) => (1, revision),
        });
        messages
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every message, for a reset.
    pub fn drain(&mut self) -> Vec<Message> {
        self.deadlines.clear();
        self.entries.drain().map(|(_, entry)| entry.message).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use eventfold_store::{ContentType, Position, RecordedEvent, StreamName, Timestamp};

    use super::*;
    use crate::message::{Delivery, Origin};

    fn message(sequence: u64) -> Message {
        let event = RecordedEvent {
            stream: StreamName::new("s").expect("valid name"),
            revision: sequence,
            position: Position(32 + sequence),
            id: EventId::random(),
            event_type: "e".into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::new(),
            metadata: Bytes::new(),
        };
        Message { delivery: Delivery { event, link: None, retry_count: 0 }, origin: Origin::Source(sequence) }
    }

    #[test]
    fn deadlines_expire_in_order_and_acked_events_never_expire() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        let first = message(0);
        let acked = message(1);
        let later = message(2);
        let acked_id = acked.ack_id();
        in_flight.insert(later, 7, Some(now + Duration::from_secs(5)));
        in_flight.insert(acked, 7, Some(now + Duration::from_secs(1)));
        in_flight.insert(first.clone(), 8, Some(now + Duration::from_secs(1)));
        in_flight.insert(message(3), 8, None);
        assert!(in_flight.remove(&acked_id).is_some());
        assert_eq!(in_flight.next_deadline(), Some(now + Duration::from_secs(1)));
        let expired = in_flight.expired(now + Duration::from_secs(2));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0.ack_id(), first.ack_id());
        assert_eq!(in_flight.len(), 2);
        assert_eq!(in_flight.expired(now + Duration::from_secs(3600)).len(), 1, "no deadline: never expires");
    }

    #[test]
    fn a_consumers_events_come_back_in_source_order() {
        let mut in_flight = InFlight::default();
        for sequence in [5, 1, 3] {
            in_flight.insert(message(sequence), 1, None);
        }
        in_flight.insert(message(2), 2, None);
        let taken: Vec<Origin> = in_flight.take_consumer(1).into_iter().map(|message| message.origin).collect();
        assert_eq!(taken, vec![Origin::Source(1), Origin::Source(3), Origin::Source(5)]);
        assert_eq!(in_flight.len(), 1);
    }
}
