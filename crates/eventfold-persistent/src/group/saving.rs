//! What a group writes to the store: parked events, its checkpoint and the
//! truncation of replayed parked events. Writes happen in the group's task,
//! in order, so a later checkpoint never lands before an earlier one.

use std::time::Duration;

use tokio::time::Instant;

use super::state::GroupState;
use crate::checkpoint;

/// The shortest time between two timed saves, whatever `checkpoint_after`
/// says: a zero interval must not make the task spin.
const SAVE_INTERVAL_MIN: Duration = Duration::from_millis(50);
/// How often replayed parked events are hidden when timed checkpoints are
/// off.
const UNTIMED_SAVE_INTERVAL: Duration = Duration::from_secs(1);

impl GroupState {
    /// Parks what is waiting to be parked; the parked events are done. What
    /// cannot be written goes back to the retry queue, to be parked again.
    pub async fn flush_parks(&mut self) {
        if self.to_park.is_empty() {
            return;
        }
        let parks = std::mem::take(&mut self.to_park);
        let written = match self.parked.park(self.store.as_ref(), &parks).await {
            Ok(()) => parks.len(),
            Err((written, error)) => {
                tracing::warn!(group = %self.definition.key(), %error, "cannot park events; they will be retried");
                written
            }
        };
        for (index, parked) in parks.into_iter().enumerate() {
            if index < written {
                self.finish(&parked.message);
            } else {
                self.retry.push_back(parked.message);
            }
        }
    }

    /// Writes a checkpoint if the rules say so (or `force`, on stop), and
    /// hides replayed parked events that are done.
    pub async fn save_progress(&mut self, now: Instant, force: bool) {
        let settings = &self.definition.spec.settings;
        // EventStoreDB's rule: zero means no timed checkpoints at all.
        let timed = !settings.checkpoint_after.is_zero();
        let due = now >= self.last_checkpoint_at + self.save_interval();
        if let Some(candidate) = self.progress.checkpointable() {
            // At once past the maximum count, otherwise once the time is up
            // and the minimum count is reached.
            let write = force
                || candidate.since_last >= u64::from(settings.max_checkpoint_count)
                || (timed && due && candidate.since_last >= u64::from(settings.min_checkpoint_count));
            if write {
                let key = self.definition.key();
                match checkpoint::write(self.store.as_ref(), key, self.definition.incarnation, candidate.cursor).await {
                    Ok(()) => self.progress.checkpoint_written(candidate),
                    Err(error) => tracing::warn!(group = %key, %error, "cannot write the checkpoint"),
                }
                self.last_checkpoint_at = now;
            }
        }
        let replay_complete = self.replay.as_ref().is_some_and(|replay| replay.is_complete());
        if replay_complete {
            self.end_replay().await;
        } else if due || force {
            self.truncate_replayed().await;
        }
        if due {
            self.last_checkpoint_at = now;
        }
    }

    /// When the next timed save is due, if anything waits for one.
    pub fn next_save(&self) -> Option<Instant> {
        let settings = &self.definition.spec.settings;
        let timed = !settings.checkpoint_after.is_zero();
        let pending = timed
            && self
                .progress
                .checkpointable()
                .is_some_and(|candidate| candidate.since_last >= u64::from(settings.min_checkpoint_count));
        let replaying = self.replay.is_some();
        (pending || replaying).then(|| self.last_checkpoint_at + self.save_interval())
    }

    /// How often timed saves happen: `checkpoint_after`, but never so often
    /// that the task spins, and once a second for replay truncation when
    /// timed checkpoints are off.
    fn save_interval(&self) -> Duration {
        match self.definition.spec.settings.checkpoint_after {
            interval if interval.is_zero() => UNTIMED_SAVE_INTERVAL,
            interval => interval.max(SAVE_INTERVAL_MIN),
        }
    }

    /// Stops the replay, hiding what of it is done.
    pub async fn end_replay(&mut self) {
        self.truncate_replayed().await;
        self.replay = None;
    }

    async fn truncate_replayed(&mut self) {
        let Some(replay) = &self.replay else {
            return;
        };
        let before = replay.done_before();
        if let Err(error) = self.parked.truncate(self.store.as_ref(), before).await {
            tracing::warn!(group = %self.definition.key(), %error, "cannot truncate the parked stream");
        }
    }
}
