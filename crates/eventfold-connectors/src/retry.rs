//! Retries: exponential backoff from `first_delay`, doubling up to
//! `max_delay`, and a limit on attempts after which a batch is split and a
//! single failing event is dead-lettered.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed attempts retried before the events are given up on.
    pub max_retries: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let delay = self.first_delay.saturating_mul(1u32 << doublings);
        delay.min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy =
            RetryPolicy { max_retries: 5, first_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        let delays: Vec<u128> = (1..=6).map(|retry| policy.delay(retry).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(1), "no overflow however many retries");
        assert_eq!(policy.delay(0), Duration::from_millis(100));
    }
}
