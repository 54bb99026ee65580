//! How far a group may checkpoint: the highest cursor such that every event
//! read up to it is done (acked, skipped or parked). Events finish in any
//! order; the tracker remembers only the unfinished ones, each with the
//! cursor of the event read just before it, so its memory is bounded by
//! what is buffered and in flight, not by how far finishing runs ahead.

use std::collections::BTreeMap;

use crate::definition::Cursor;

#[derive(Debug)]
pub(crate) struct Progress {
    /// Sequence number → cursor of the event read before it (`None`: none
    /// since the group's origin).
    unfinished: BTreeMap<u64, Option<Cursor>>,
    /// Sequence number of the next event read; also how many were read.
    next_sequence: u64,
    last_read: Option<Cursor>,
    /// Done count and cursor of the last checkpoint written.
    checkpointed_count: u64,
    checkpointed: Option<Cursor>,
}

/// A checkpoint that may be written: `count` events are done up to `cursor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpointable {
    pub count: u64,
    pub cursor: Cursor,
    /// Events done since the last checkpoint written.
    pub since_last: u64,
}

impl Progress {
    /// Starts after `checkpoint` (the stored one), or after `origin` (where a
    /// group without one starts; `None` for "before the first event").
    pub fn new(checkpoint: Option<Cursor>, origin: Option<Cursor>) -> Self {
        Self {
            unfinished: BTreeMap::new(),
            next_sequence: 0,
            last_read: checkpoint.or(origin),
            checkpointed_count: 0,
            checkpointed: checkpoint,
        }
    }

    /// An event at `cursor` was read; returns its sequence number.
    pub fn read(&mut self, cursor: Cursor) -> u64 {
        debug_assert!(self.last_read.is_none_or(|last| cursor > last), "events are read in cursor order");
        let sequence = self.next_sequence;
        self.unfinished.insert(sequence, self.last_read);
        self.next_sequence += 1;
        self.last_read = Some(cursor);
        sequence
    }

    /// The source has nothing for the group up to `cursor` (a filtered
    /// `$all` scanned that far): it counts as one done event.
    pub fn passed(&mut self, cursor: Cursor) {
        if self.last_read.is_some_and(|last| cursor <= last) {
            return;
        }
        self.next_sequence += 1;
        self.last_read = Some(cursor);
    }

    pub fn finish(&mut self, sequence: u64) {
        self.unfinished.remove(&sequence);
    }

    /// The checkpoint that could be written now, if it would move.
    pub fn checkpointable(&self) -> Option<Checkpointable> {
        let (count, cursor) = match self.unfinished.first_key_value() {
            Some((&sequence, &before)) => (sequence, before?),
            None => (self.next_sequence, self.last_read?),
        };
        if self.checkpointed == Some(cursor) {
            return None;
        }
        Some(Checkpointable { count, cursor, since_last: count.saturating_sub(self.checkpointed_count) })
    }

    pub fn checkpoint_written(&mut self, written: Checkpointable) {
        self.checkpointed_count = written.count;
        self.checkpointed = Some(written.cursor);
    }

    pub fn last_checkpoint(&self) -> Option<Cursor> {
        self.checkpointed
    }

    pub fn last_read(&self) -> Option<Cursor> {
        self.last_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_stops_before_the_first_unfinished_event() {
        let mut progress = Progress::new(None, None);
        let sequences: Vec<u64> = [10, 20, 30, 40].into_iter().map(|cursor| progress.read(cursor)).collect();
        assert_eq!(progress.checkpointable(), None, "nothing is done yet");
        progress.finish(sequences[1]);
        progress.finish(sequences[3]);
        assert_eq!(progress.checkpointable(), None, "the first event is still in flight");
        progress.finish(sequences[0]);
        assert_eq!(progress.checkpointable(), Some(Checkpointable { count: 2, cursor: 20, since_last: 2 }));
        progress.checkpoint_written(Checkpointable { count: 2, cursor: 20, since_last: 2 });
        assert_eq!(progress.checkpointable(), None, "nothing new since");
        progress.finish(sequences[2]);
        assert_eq!(progress.checkpointable(), Some(Checkpointable { count: 4, cursor: 40, since_last: 2 }));
    }

    #[test]
    fn a_group_resuming_from_a_checkpoint_continues_after_it() {
        let mut progress = Progress::new(Some(7), None);
        assert_eq!(progress.checkpointable(), None);
        let first = progress.read(8);
        let second = progress.read(9);
        progress.finish(second);
        assert_eq!(progress.checkpointable(), None, "8 is not done, 7 is already written");
        progress.finish(first);
        assert_eq!(progress.checkpointable().map(|checkpoint| checkpoint.cursor), Some(9));
    }

    #[test]
    fn filtered_stretches_move_the_checkpoint_once_earlier_events_are_done() {
        let mut progress = Progress::new(None, Some(100));
        let event = progress.read(150);
        progress.passed(140); // behind what was read: ignored
        progress.passed(900);
        assert_eq!(progress.checkpointable().map(|checkpoint| checkpoint.cursor), Some(100));
        progress.finish(event);
        assert_eq!(progress.checkpointable(), Some(Checkpointable { count: 2, cursor: 900, since_last: 2 }));
        assert_eq!(progress.last_read(), Some(900));
    }

    #[test]
    fn memory_holds_only_unfinished_events() {
        let mut progress = Progress::new(None, None);
        let stuck = progress.read(1);
        for cursor in 2..10_000 {
            let sequence = progress.read(cursor);
            progress.finish(sequence);
        }
        assert_eq!(progress.unfinished.len(), 1);
        progress.finish(stuck);
        assert_eq!(progress.checkpointable().map(|checkpoint| checkpoint.cursor), Some(9_999));
    }
}
