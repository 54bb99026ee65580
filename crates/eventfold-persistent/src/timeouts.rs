//! When unacked events count as timed out.
//!
//! KurrentDB does not retry an event at its deadline: it looks at deadlines
//! on a timer that ticks once a second, so an event times out at the first
//! tick at or after its deadline. Clients rely on that slack without knowing
//! it: kurrentdbclient sends acks in batches up to 0.2 s apart, and its own
//! suite (message timeout 0.1 s) expects an event acked at once not to come
//! back. So a group checks deadlines on the same kind of tick.

use std::time::Duration;

use tokio::time::Instant;

/// KurrentDB's timer period for persistent subscriptions.
pub const DEFAULT_TIMEOUT_TICK: Duration = Duration::from_secs(1);

/// How the subsystem runs, beyond each group's own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubsystemOptions {
    /// How often message timeouts are looked at (zero: at each deadline).
    pub timeout_tick: Duration,
}

impl Default for SubsystemOptions {
    fn default() -> Self {
        Self { timeout_tick: DEFAULT_TIMEOUT_TICK }
    }
}

/// The ticks of one group, counted from when it started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeoutClock {
    origin: Instant,
    tick: Duration,
}

impl TimeoutClock {
    pub fn new(tick: Duration) -> Self {
        Self { origin: Instant::now(), tick }
    }

    /// The last tick at or before `now`: deadlines up to it have passed.
    pub fn last_tick(&self, now: Instant) -> Instant {
        self.on_grid(now, false)
    }

    /// The first tick at or after `deadline`: when the group must look.
    pub fn first_tick_after(&self, deadline: Instant) -> Instant {
        self.on_grid(deadline, true)
    }

    fn on_grid(&self, at: Instant, up: bool) -> Instant {
        let tick = self.tick.as_nanos();
        if tick == 0 {
            return at;
        }
        let since = at.saturating_duration_since(self.origin).as_nanos();
        let ticks = if up { since.div_ceil(tick) } else { since / tick };
        let offset = ticks.saturating_mul(tick);
        // Offsets beyond u64 nanoseconds (centuries) saturate.
        self.origin + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_fall_due_at_the_first_tick_at_or_after_them() {
        let clock = TimeoutClock::new(Duration::from_secs(1));
        let at = |millis| clock.origin + Duration::from_millis(millis);
        assert_eq!(clock.first_tick_after(at(100)), at(1000));
        assert_eq!(clock.first_tick_after(at(1000)), at(1000));
        assert_eq!(clock.last_tick(at(999)), at(0));
        assert_eq!(clock.last_tick(at(1500)), at(1000));
        let exact = TimeoutClock::new(Duration::ZERO);
        assert_eq!(exact.last_tick(at(1500)), at(1500));
        assert_eq!(exact.first_tick_after(at(100)), at(100));
    }
}
