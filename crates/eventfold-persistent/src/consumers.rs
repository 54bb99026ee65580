//! The consumers connected to a group and how much each can take.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::consumer::{ConsumerEvent, ConsumerOptions, DropReason};
use crate::in_flight::ConsumerId;
use crate::info::{ConnectionInfo, Meter};
use crate::latency::AckLatencies;
use crate::message::Delivery;

/// The most events one consumer may hold unacked, whatever it asks for:
/// bounds a group's memory per consumer.
pub(crate) const MAX_IN_FLIGHT_PER_CONSUMER: usize = 10_000;

pub(crate) struct ConsumerSlot {
    pub id: ConsumerId,
    options: ConsumerOptions,
    max_in_flight: usize,
    /// Events delivered to it and not acked or nacked.
    pub in_flight: usize,
    sender: mpsc::Sender<ConsumerEvent>,
    /// It asked for nothing new (Stop): it may still ack what it holds.
    stopped: bool,
    meter: Meter,
    /// How long its acks take, when the group keeps extra statistics.
    ack_latencies: Option<AckLatencies>,
}

/// Why a delivery did not reach a consumer.
pub(crate) enum SendFailure {
    /// Its queue is full (it reads slower than events time out).
    Full,
    /// It is gone.
    Gone,
}

impl ConsumerSlot {
    /// Events it can take now: its in-flight allowance, capped by the room
    /// in its queue (which still holds events that timed out unread).
    pub fn room(&self) -> usize {
        if self.stopped {
            return 0;
        }
        // One place in its queue stays free for the drop notice.
        self.max_in_flight.saturating_sub(self.in_flight).min(self.sender.capacity().saturating_sub(1))
    }

    pub fn accepts_new(&self) -> bool {
        !self.stopped && !self.sender.is_closed()
    }

    pub fn send(&mut self, delivery: &Delivery) -> Result<(), SendFailure> {
        match self.sender.try_send(ConsumerEvent::Event(delivery.clone())) {
            Ok(()) => {
                self.in_flight += 1;
                self.meter.record(1);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(SendFailure::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendFailure::Gone),
        }
    }

    /// Found gone while sending: chosen no more until it is removed.
    pub fn mark_gone(&mut self) {
        self.stopped = true;
    }

    pub fn info(&mut self) -> ConnectionInfo {
        let (rate, count) = self.meter.measure();
        ConnectionInfo {
            from: self.options.from.clone(),
            name: self.options.name.clone(),
            average_items_per_second: rate,
            total_items: self.meter.total(),
            count_since_last_measurement: count,
            available_slots: self.room(),
            in_flight: self.in_flight,
            observed_measurements: self.ack_latencies.as_ref().map(AckLatencies::measurements).unwrap_or_default(),
        }
    }
}

/// Consumer ids are unique in the process, so that a late disconnect of a
/// consumer of an earlier incarnation of a group never names a new one.
static NEXT_CONSUMER_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
pub(crate) struct Consumers {
    pub slots: Vec<ConsumerSlot>,
    pub round_robin: usize,
}

impl Consumers {
    /// Adds a consumer; returns its id and the receiving end of its queue.
    /// With `extra_statistics`, the time each of its acks took is kept.
    pub fn add(
        &mut self,
        options: ConsumerOptions,
        extra_statistics: bool,
    ) -> (ConsumerId, mpsc::Receiver<ConsumerEvent>) {
        let max_in_flight = options.max_in_flight.clamp(1, MAX_IN_FLIGHT_PER_CONSUMER);
        // One more than its allowance: room for the drop notice.
        let (sender, receiver) = mpsc::channel(max_in_flight + 1);
        let id = NEXT_CONSUMER_ID.fetch_add(1, Ordering::Relaxed);
        self.slots.push(ConsumerSlot {
            id,
            options,
            max_in_flight,
            in_flight: 0,
            sender,
            stopped: false,
            meter: Meter::new(),
            ack_latencies: extra_statistics.then(AckLatencies::default),
        });
        (id, receiver)
    }

    pub fn remove(&mut self, id: ConsumerId) -> bool {
        let before = self.slots.len();
        self.slots.retain(|slot| slot.id != id);
        if self.round_robin >= self.slots.len() {
            self.round_robin = 0;
        }
        self.slots.len() != before
    }

    pub fn get_mut(&mut self, id: ConsumerId) -> Option<&mut ConsumerSlot> {
        self.slots.iter_mut().find(|slot| slot.id == id)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether anyone would take new events.
    pub fn any_accepting(&self) -> bool {
        self.slots.iter().any(ConsumerSlot::accepts_new)
    }

    pub fn stop(&mut self, id: ConsumerId) {
        if let Some(slot) = self.get_mut(id) {
            slot.stopped = true;
        }
    }

    /// One less event held by `id` (acked, nacked or timed out).
    pub fn release(&mut self, id: ConsumerId) {
        if let Some(slot) = self.get_mut(id) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
        }
    }

    /// `id` acked an event `latency` after it was sent.
    pub fn record_ack(&mut self, id: ConsumerId, latency: std::time::Duration) {
        if let Some(latencies) = self.get_mut(id).and_then(|slot| slot.ack_latencies.as_mut()) {
            latencies.record(latency);
        }
    }

    /// Tells every consumer why it is dropped and forgets them all.
    pub fn drop_all(&mut self, reason: &DropReason) {
        for slot in self.slots.drain(..) {
            // A full queue cannot take the notice; the consumer then sees
            // its queue end, which clients treat the same way.
            let _ = slot.sender.try_send(ConsumerEvent::Dropped(reason.clone()));
        }
        self.round_robin = 0;
    }
}
