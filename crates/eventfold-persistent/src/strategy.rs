//! Which consumer gets an event, by the group's consumer strategy.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::consumers::ConsumerSlot;
use crate::message::Delivery;
use crate::settings::ConsumerStrategy;
use eventfold_store::link_target as target_of;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    Consumer(usize),
    /// This event's consumer is full; later events may go to others.
    NotNow,
    /// No consumer can take anything.
    NoRoom,
}

/// Chooses among `slots`; `round_robin` is where the next round-robin turn
/// starts and moves past the chosen consumer.
pub(crate) fn choose(
    strategy: ConsumerStrategy,
    slots: &[ConsumerSlot],
    round_robin: &mut usize,
    delivery: &Delivery,
) -> Choice {
    match strategy {
        ConsumerStrategy::DispatchToSingle => {
            slots.iter().position(|slot| slot.room() > 0).map_or(Choice::NoRoom, Choice::Consumer)
        }
        ConsumerStrategy::RoundRobin => {
            let count = slots.len();
            for step in 0..count {
                let index = (*round_robin + step) % count;
                if slots.get(index).is_some_and(|slot| slot.room() > 0) {
                    *round_robin = (index + 1) % count;
                    return Choice::Consumer(index);
                }
            }
            Choice::NoRoom
        }
        ConsumerStrategy::Pinned | ConsumerStrategy::PinnedByCorrelation => {
            let key = pin_key(strategy, delivery);
            // Rendezvous hashing: the consumer with the highest score for
            // the key wins, so a consumer joining or leaving moves only the
            // keys it wins or held.
            let pinned = slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.accepts_new())
                .max_by_key(|(_, slot)| score(&key, slot.id));
            match pinned {
                None => Choice::NoRoom,
                Some((index, slot)) if slot.room() > 0 => Choice::Consumer(index),
                Some(_) => Choice::NotNow,
            }
        }
    }
}

/// What pins an event: its stream (the target's, for an unresolved link),
/// or for `PinnedByCorrelation` its `$correlationId` when it has one.
fn pin_key(strategy: ConsumerStrategy, delivery: &Delivery) -> String {
    let event = &delivery.event;
    if strategy == ConsumerStrategy::PinnedByCorrelation
        && let Ok(metadata) = serde_json::from_slice::<serde_json::Value>(&event.metadata)
        && let Some(correlation) = metadata.get("$correlationId").and_then(serde_json::Value::as_str)
    {
        return correlation.to_owned();
    }
    match target_of(event) {
        Some((stream, _)) => stream.to_string(),
        None => event.stream.to_string(),
    }
}

fn score(key: &str, consumer: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    consumer.hash(&mut hasher);
    hasher.finish()
}
