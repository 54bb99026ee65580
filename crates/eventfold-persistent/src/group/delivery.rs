//! Handing events to consumers and taking them back: dispatch by strategy,
//! acks, nacks, timeouts, retries and consumers leaving.

use std::collections::VecDeque;

use eventfold_store::EventId;
use tokio::time::Instant;

use super::state::GroupState;
use crate::consumer::NackAction;
use crate::consumers::{Consumers, SendFailure};
use crate::in_flight::{ConsumerId, InFlight};
use crate::message::{Message, Origin};
use crate::parked::ToPark;
use crate::settings::ConsumerStrategy;
use crate::strategy::{Choice, choose};

/// Events looked at past ones that must wait (their pinned consumer is
/// full, or an event with the same id is in flight) in one dispatch.
const LOOKAHEAD: usize = 256;

impl GroupState {
    pub fn ack(&mut self, id: EventId) {
        let sent = self.in_flight.sent_at(&id);
        if let Some((message, holder)) = self.in_flight.remove(&id) {
            if let Some(sent) = sent {
                self.consumers.record_ack(holder, sent.elapsed());
            }
            self.consumers.release(holder);
            self.finish(&message);
        } else if let Some(index) = self.retry.iter().position(|message| message.ack_id() == id) {
            // Acked late, after it timed out: it is done all the same.
            if let Some(message) = self.retry.remove(index) {
                self.finish(&message);
            }
        }
    }

    pub fn nack(&mut self, id: EventId, action: NackAction, reason: &str) {
        if action == NackAction::Stop {
            // As in KurrentDB, whose handler for it is empty: the event stays
            // in flight, its consumer goes on receiving, and the message
            // timeout retries it like any event left unacked.
            return;
        }
        let Some((message, holder)) = self.in_flight.remove(&id) else {
            return;
        };
        self.consumers.release(holder);
        match action {
            NackAction::Park => {
                self.metrics.parked_by_client();
                self.to_park.push(ToPark { message, reason: format!("Client explicitly NAK'ed message.\n{reason}") })
            }
            NackAction::Retry | NackAction::Unknown => self.retry_or_park(message),
            NackAction::Skip => self.finish(&message),
            // Returned above, before the event left the in-flight table.
            NackAction::Stop => {}
        }
    }

    /// A consumer left: what it held goes to the others.
    pub fn disconnect(&mut self, consumer: ConsumerId) {
        if !self.consumers.remove(consumer) {
            return;
        }
        for message in self.in_flight.take_consumer(consumer) {
            self.retry_or_park(message);
        }
    }

    /// Events not acked in time are retried.
    pub fn expire(&mut self, now: Instant) {
        for (message, holder) in self.in_flight.expired(now) {
            self.consumers.release(holder);
            self.retry_or_park(message);
        }
    }

    /// Retried, or parked once it was retried `max_retry_count` times.
    pub fn retry_or_park(&mut self, mut message: Message) {
        let max_retry_count = self.definition.spec.settings.max_retry_count;
        if message.delivery.retry_count >= max_retry_count {
            self.metrics.parked_after_retries();
            self.to_park.push(ToPark { message, reason: format!("Reached retry count of {max_retry_count}") });
        } else {
            message.delivery.retry_count += 1;
            self.retry.push_back(message);
        }
    }

    /// The event is done (acked, skipped or parked).
    pub fn finish(&mut self, message: &Message) {
        match message.origin {
            Origin::Source(sequence) => self.progress.finish(sequence),
            Origin::Parked(revision) => {
                if let Some(replay) = self.replay.as_mut() {
                    replay.finish(revision);
                }
            }
        }
    }

    /// Hands out retries first, then the buffer, as long as consumers have
    /// room.
    pub fn dispatch(&mut self) {
        if self.consumers.len() == 0 {
            return;
        }
        let settings = &self.definition.spec.settings;
        let timeout = (!settings.message_timeout.is_zero()).then_some(settings.message_timeout);
        let mut target = Target {
            strategy: settings.consumer_strategy,
            deadline: timeout.map(|timeout| Instant::now() + timeout),
            consumers: &mut self.consumers,
            in_flight: &mut self.in_flight,
            gone: Vec::new(),
            delivered: 0,
        };
        let mut retry = std::mem::take(&mut self.retry);
        let stopped = target.dispatch_from(&mut retry, &mut 0);
        self.retry = retry;
        if !stopped {
            let mut buffer = std::mem::take(&mut self.buffer);
            target.dispatch_from(&mut buffer, &mut self.buffer_bytes);
            self.buffer = buffer;
        }
        let (gone, delivered) = (std::mem::take(&mut target.gone), target.delivered);
        self.meter.record(delivered);
        self.metrics.delivered(delivered);
        for consumer in gone {
            self.disconnect(consumer);
        }
    }
}

/// The parts of the state a dispatch changes besides the queue it takes
/// from.
struct Target<'a> {
    strategy: ConsumerStrategy,
    deadline: Option<Instant>,
    consumers: &'a mut Consumers,
    in_flight: &'a mut InFlight,
    /// Consumers found gone while sending.
    gone: Vec<ConsumerId>,
    delivered: u64,
}

impl Target<'_> {
    /// Delivers from `queue` until no consumer has room; returns whether it
    /// stopped for that reason. `queue_bytes` follows the queue's size.
    fn dispatch_from(&mut self, queue: &mut VecDeque<Message>, queue_bytes: &mut usize) -> bool {
        let mut index = 0;
        let mut waiting = 0;
        while index < queue.len() && waiting < LOOKAHEAD {
            let Some(message) = queue.get(index) else {
                break;
            };
            if self.in_flight.contains(&message.ack_id()) {
                // The same id is in flight: acks could not tell them apart.
                index += 1;
                waiting += 1;
                continue;
            }
            let slot = match choose(
                self.strategy,
                &self.consumers.slots,
                &mut self.consumers.round_robin,
                &message.delivery,
            ) {
                Choice::NoRoom => return true,
                Choice::NotNow => {
                    index += 1;
                    waiting += 1;
                    continue;
                }
                Choice::Consumer(slot) => slot,
            };
            let Some(consumer) = self.consumers.slots.get_mut(slot) else {
                break;
            };
            match consumer.send(&message.delivery) {
                Ok(()) => {
                    let Some(message) = queue.remove(index) else {
                        break;
                    };
                    *queue_bytes = queue_bytes.saturating_sub(message.size_bytes());
                    self.in_flight.insert(message, consumer.id, self.deadline);
                    self.delivered += 1;
                }
                // Room said otherwise; wait for the next wake.
                Err(SendFailure::Full) => return true,
                Err(SendFailure::Gone) => {
                    self.gone.push(consumer.id);
                    consumer.mark_gone();
                }
            }
        }
        false
    }
}
