//! A stream's state as appends and reads see it, and the rules every
//! backend applies to it: which revisions are visible, when a stream counts
//! as soft-deleted, and which expectations an append meets.

use crate::stream_metadata::{Effect, Retention, SOFT_DELETED_TRUNCATE_BEFORE};
use crate::{CurrentRevision, ExpectedRevision, Timestamp};

/// One stream's derived state: its next revision and what its metadata and
/// tombstone make of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamState {
    pub next_revision: u64,
    /// Revisions below this are hidden (`$tb`; a soft delete sets it to
    /// [`SOFT_DELETED_TRUNCATE_BEFORE`]).
    pub truncate_before: u64,
    pub tombstoned: bool,
    pub max_count: Option<u64>,
    pub max_age_seconds: Option<u64>,
}

impl StreamState {
    /// The lowest visible revision: truncate-before, raised by max count.
    pub fn first_visible_revision(&self) -> u64 {
        let by_count = self.max_count.map_or(0, |max_count| self.next_revision.saturating_sub(max_count));
        let truncate_before = if self.truncate_before >= SOFT_DELETED_TRUNCATE_BEFORE {
            self.next_revision
        } else {
            self.truncate_before
        };
        truncate_before.max(by_count)
    }

    /// Soft-deleted: it has events, but all of them are truncated away.
    pub fn is_soft_deleted(&self) -> bool {
        !self.tombstoned && self.next_revision > 0 && self.truncate_before >= self.next_revision
    }

    /// Whether the next append to the stream recreates it after a soft delete.
    pub fn awaits_recreation(&self) -> bool {
        !self.tombstoned && self.truncate_before >= SOFT_DELETED_TRUNCATE_BEFORE
    }

    /// The stream's revision as expectations see it.
    pub fn current_revision(&self) -> CurrentRevision {
        match self.next_revision {
            0 => CurrentRevision::NoStream,
            next => CurrentRevision::Current(next - 1),
        }
    }

    /// Whether a read finds any event.
    pub fn has_visible_events(&self) -> bool {
        !self.tombstoned && self.next_revision > self.first_visible_revision()
    }

    pub fn apply_retention(&mut self, retention: Retention) {
        self.truncate_before = retention.truncate_before;
        self.max_count = retention.max_count;
        self.max_age_seconds = retention.max_age_seconds;
    }

    /// What one of the stream's own events does to it.
    pub fn apply_own(&mut self, effect: &Effect<'_>) {
        if let Effect::Tombstone = effect {
            self.tombstoned = true;
        }
    }
}

/// The creation time below which `$maxAge` hides events, as of `now`.
pub fn oldest_visible(max_age_seconds: Option<u64>, now: Timestamp) -> Timestamp {
    match max_age_seconds {
        Some(seconds) => {
            let age_ticks = i64::try_from(seconds).unwrap_or(i64::MAX / 10_000_000).saturating_mul(10_000_000);
            Timestamp(now.ticks().saturating_sub(age_ticks))
        }
        None => Timestamp(i64::MIN),
    }
}

/// Whether an append expecting `expected` may go on. A soft-deleted stream
/// also accepts `NoStream`: appending to it recreates it, its revisions
/// going on from where they were.
pub fn expectation_met(state: Option<&StreamState>, expected: ExpectedRevision) -> bool {
    let current = state.map_or(CurrentRevision::NoStream, StreamState::current_revision);
    current.satisfies(expected)
        || (expected == ExpectedRevision::NoStream && state.is_some_and(StreamState::is_soft_deleted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_metadata::{retention_of, with_truncate_before};

    #[test]
    fn a_soft_deleted_stream_shows_nothing_until_recreated_at_its_next_revision() {
        let mut state = StreamState { next_revision: 3, ..StreamState::default() };
        state.apply_retention(retention_of(&with_truncate_before(None, SOFT_DELETED_TRUNCATE_BEFORE)));
        assert!(state.is_soft_deleted() && state.awaits_recreation() && !state.has_visible_events());
        assert_eq!(state.first_visible_revision(), 3);
        assert!(expectation_met(Some(&state), ExpectedRevision::NoStream), "a soft-deleted stream may be recreated");
        state.apply_retention(retention_of(br#"{"$tb":3}"#));
        state.next_revision = 5;
        assert!(!state.is_soft_deleted() && !state.awaits_recreation());
        assert_eq!(state.first_visible_revision(), 3);
        assert!(!expectation_met(Some(&state), ExpectedRevision::NoStream));
    }

    #[test]
    fn max_count_hides_all_but_the_last_events() {
        let state = StreamState { next_revision: 10, max_count: Some(3), truncate_before: 2, ..StreamState::default() };
        assert_eq!(state.first_visible_revision(), 7);
        assert_eq!(state.current_revision(), CurrentRevision::Current(9));
    }
}
