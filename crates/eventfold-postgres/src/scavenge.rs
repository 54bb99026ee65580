//! Scavenging on PostgreSQL: the events reads already hide (truncated,
//! past `$maxCount` or `$maxAge`, of soft-deleted or tombstoned streams)
//! are deleted in bounded batches, each its own short transaction, so a
//! scavenge never holds locks long nor bloats one transaction. The
//! database reuses the space (autovacuum).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use deadpool_postgres::Pool;
use eventfold_store::{
    ScavengeError, ScavengeOptions, ScavengeState, ScavengeStatus, StorageError, StreamState, Timestamp, oldest_visible,
};

use crate::errors::{pool as pool_error, storage};
use crate::rows::{to_i64, to_u64};

/// Events deleted per statement.
const DELETE_BATCH: i64 = 1000;

/// The running (or last) scavenge, and the flag that asks it to stop.
type Current = Option<(ScavengeStatus, Arc<AtomicBool>)>;

#[derive(Default, Clone)]
pub struct Scavenges {
    current: Arc<Mutex<Current>>,
}

impl Scavenges {
    pub fn start(&self, pool: Pool, _options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((status, _)) = current.as_ref().filter(|(status, _)| !status.state.is_finished()) {
            return Err(ScavengeError::InProgress(Box::new(status.clone())));
        }
        let status = ScavengeStatus {
            id: uuid::Uuid::new_v4().to_string(),
            state: ScavengeState::Running,
            started: Timestamp::now(),
            finished: None,
            segments_total: 0,
            segments_done: 0,
            bytes_read: 0,
            bytes_reclaimed: 0,
            events_kept: 0,
            events_removed: 0,
            error: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        *current = Some((status.clone(), Arc::clone(&stop)));
        let scavenges = self.clone();
        tokio::spawn(async move {
            let result = scavenges.run(&pool, &stop).await;
            scavenges.update(|status| {
                status.finished = Some(Timestamp::now());
                status.state = match &result {
                    Ok(()) if stop.load(Ordering::Relaxed) => ScavengeState::Stopped,
                    Ok(()) => ScavengeState::Completed,
                    Err(error) => {
                        status.error = Some(error.to_string());
                        ScavengeState::Failed
                    }
                };
            });
        });
        Ok(status)
    }

    pub fn stop(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match current.as_ref() {
            Some((status, stop)) if status.id == id && !status.state.is_finished() => {
                stop.store(true, Ordering::Relaxed);
                Ok(status.clone())
            }
            _ => Err(ScavengeError::NotFound { id: id.to_owned() }),
        }
    }

    pub fn status(&self) -> Option<ScavengeStatus> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(status, _)| status.clone())
    }

    fn update(&self, change: impl FnOnce(&mut ScavengeStatus)) {
        if let Some((status, _)) = self.current.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            change(status);
        }
    }

    async fn run(&self, pool: &Pool, stop: &AtomicBool) -> Result<(), StorageError> {
        let client = pool.get().await.map_err(|error| pool_error(&error))?;
        let rows = client
            .query(
                "SELECT stream_id, next_revision, truncate_before, max_count, max_age_seconds, tombstoned \
                 FROM eventfold_streams WHERE truncate_before > 0 OR max_count IS NOT NULL \
                 OR max_age_seconds IS NOT NULL OR tombstoned",
                &[],
            )
            .await
            .map_err(|error| storage(&error))?;
        drop(client);
        self.update(|status| status.segments_total = rows.len() as u64);
        for row in rows {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let get = |index: usize| row.try_get::<_, i64>(index).map_err(|error| storage(&error));
            let optional = |index: usize| {
                row.try_get::<_, Option<i64>>(index).map_err(|error| storage(&error))?.map(to_u64).transpose()
            };
            let stream_id = get(0)?;
            let state = StreamState {
                next_revision: to_u64(get(1)?)?,
                truncate_before: to_u64(get(2)?)?,
                max_count: optional(3)?,
                max_age_seconds: optional(4)?,
                tombstoned: row.try_get(5).map_err(|error| storage(&error))?,
            };
            // A tombstoned stream keeps its tombstone: the record of why it
            // is gone.
            let floor =
                if state.tombstoned { state.next_revision.saturating_sub(1) } else { state.first_visible_revision() };
            let oldest = oldest_visible(state.max_age_seconds, Timestamp::now());
            let kept_from = if state.tombstoned { floor } else { state.next_revision };
            loop {
                let client = pool.get().await.map_err(|error| pool_error(&error))?;
                let removed = client
                    .execute(
                        "DELETE FROM eventfold_events WHERE event_key IN (SELECT event_key FROM eventfold_events \
                         WHERE stream_id = $1 AND position IS NOT NULL AND (revision < $2 OR created < $3) \
                         AND revision < $4 LIMIT $5)",
                        &[&stream_id, &to_i64(floor), &oldest.ticks(), &to_i64(kept_from), &DELETE_BATCH],
                    )
                    .await
                    .map_err(|error| storage(&error))?;
                self.update(|status| status.events_removed += removed);
                if removed < DELETE_BATCH as u64 || stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            self.update(|status| status.segments_done += 1);
        }
        Ok(())
    }
}
