//! A limit on failed logins per source address: after
//! [`FAILURES_MAX`] failures within [`WINDOW`], every request with
//! credentials from that address is refused without checking them for
//! [`LOCKOUT`]. Guessing passwords gets slow, and the Argon2id work an
//! attacker can make the node do stays bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FAILURES_MAX: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// Past this many addresses tracked, expired ones are dropped (and if none
/// has expired, the oldest windows go): memory stays bounded.
const SOURCES_MAX: usize = 10_000;

#[derive(Default)]
pub struct FailedLogins {
    sources: Mutex<HashMap<IpAddr, Source>>,
}

#[derive(Clone, Copy)]
struct Source {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

impl Source {
    fn expired(&self, now: Instant) -> bool {
        let locked = self.locked_until.is_some_and(|until| now < until);
        !locked && now.duration_since(self.window_start) >= WINDOW
    }
}

impl FailedLogins {
    fn sources(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Source>> {
        self.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_locked_out(&self, source: IpAddr, now: Instant) -> bool {
        self.sources().get(&source).and_then(|entry| entry.locked_until).is_some_and(|until| now < until)
    }

    pub fn record_failure(&self, source: IpAddr, now: Instant) {
        let mut sources = self.sources();
        if sources.len() >= SOURCES_MAX && !sources.contains_key(&source) {
            sources.retain(|_, entry| !entry.expired(now));
            if sources.len() >= SOURCES_MAX {
                sources.clear();
            }
        }
        let entry = sources.entry(source).or_insert(Source { window_start: now, failures: 0, locked_until: None });
        if entry.expired(now) {
            *entry = Source { window_start: now, failures: 0, locked_until: None };
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= FAILURES_MAX {
            tracing::warn!(%source, failures = entry.failures, "too many failed logins; refusing this address for a while");
            entry.locked_until = Some(now + LOCKOUT);
            entry.window_start = now;
            entry.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn an_address_is_locked_out_after_too_many_failures_then_let_back() {
        let limiter = FailedLogins::default();
        let start = Instant::now();
        for attempt in 0..FAILURES_MAX - 1 {
            limiter.record_failure(address(1), start + Duration::from_millis(u64::from(attempt)));
        }
        assert!(!limiter.is_locked_out(address(1), start + Duration::from_secs(1)), "one failure short");
        limiter.record_failure(address(1), start + Duration::from_secs(1));
        assert!(limiter.is_locked_out(address(1), start + Duration::from_secs(2)));
        assert!(!limiter.is_locked_out(address(2), start + Duration::from_secs(2)), "other addresses are not");
        assert!(!limiter.is_locked_out(address(1), start + Duration::from_secs(1) + LOCKOUT));
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_lock_out() {
        let limiter = FailedLogins::default();
        let start = Instant::now();
        for attempt in 0..FAILURES_MAX * 3 {
            let now = start + WINDOW / 5 * attempt;
            limiter.record_failure(address(1), now);
            assert!(!limiter.is_locked_out(address(1), now), "attempt {attempt}");
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = FailedLogins::default();
        let now = Instant::now();
        for source in 0..(SOURCES_MAX as u32 + 10) {
            limiter.record_failure(IpAddr::from(source.to_be_bytes()), now);
        }
        assert!(limiter.sources().len() <= SOURCES_MAX);
    }
}
