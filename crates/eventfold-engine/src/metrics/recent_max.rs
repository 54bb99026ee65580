//! KurrentDB's "recent maximum": the largest value recorded over the last
//! 16 to 20 seconds, so that a spike between two scrapes 15 s apart shows in
//! at least one of them. Kept as five slots of four seconds: the current
//! slot and the four before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const SLOT_SECONDS: u64 = 4;
const SLOTS: u64 = 5;

/// Lock-free; meant for one recording thread (the writer) and any number of
/// readers. A reader racing a slot's reset may miss that slot's first value
/// for one scrape, which a recent maximum can afford.
pub(crate) struct RecentMax {
    origin: Instant,
    slots: [Slot; SLOTS as usize],
}

#[derive(Default)]
struct Slot {
    /// Which four-second period since `origin` the slot holds.
    period: AtomicU64,
    max: AtomicU64,
}

impl Default for RecentMax {
    fn default() -> Self {
        Self { origin: Instant::now(), slots: Default::default() }
    }
}

impl RecentMax {
    pub fn record(&self, value: u64) {
        self.record_in(self.period_now(), value);
    }

    /// The largest value of the window ending now; 0 when nothing was recorded.
    pub fn current(&self) -> u64 {
        self.current_in(self.period_now())
    }

    fn period_now(&self) -> u64 {
        self.origin.elapsed().as_secs() / SLOT_SECONDS
    }

    fn record_in(&self, period: u64, value: u64) {
        let Some(slot) = self.slots.get((period % SLOTS) as usize) else {
            return;
        };
        if slot.period.load(Ordering::Acquire) != period {
            slot.max.store(0, Ordering::Relaxed);
            slot.period.store(period, Ordering::Release);
        }
        slot.max.fetch_max(value, Ordering::Relaxed);
    }

    fn current_in(&self, period: u64) -> u64 {
        self.slots
            .iter()
            .filter(|slot| period.saturating_sub(slot.period.load(Ordering::Acquire)) < SLOTS)
            .map(|slot| slot.max.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::RecentMax;

    #[test]
    fn a_spike_stays_for_the_window_then_ages_out() {
        let recent = RecentMax::default();
        recent.record_in(10, 7);
        recent.record_in(10, 3);
        recent.record_in(11, 5);
        assert_eq!(recent.current_in(11), 7);
        // Four periods later the spike's slot is still inside the window...
        assert_eq!(recent.current_in(14), 7);
        // ...and one more period pushes it out, leaving the later value.
        assert_eq!(recent.current_in(15), 5);
        assert_eq!(recent.current_in(16), 0);
        // A slot reused for a new period starts from nothing.
        recent.record_in(15, 1);
        assert_eq!(recent.current_in(15), 5);
        assert_eq!(recent.current_in(16), 1);
    }
}
