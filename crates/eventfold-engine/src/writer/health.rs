//! The writer's faults: which failures stop writes until a restart and which
//! only refuse them for a while (LOG-5, LOG-9), the backoff between retries,
//! and the health the store reports meanwhile.
//!
//! A failure before any byte of a batch was written (no space for the
//! preallocation, no file descriptor for a new segment) leaves the log as it
//! was. The writer then refuses appends at once with that error, without
//! touching the disk, until the retry time; the next batch after it (or, with
//! no batch coming, the writer alone, through `LogWriter::prepare`) tries
//! again. Each failed try doubles the wait, up to [`RETRY_BACKOFF_MAX`]; the
//! first success ends the refusal. A failed fsync, or an index update that
//! failed after the log took the batch, poisons the writer until restart.

use std::time::{Duration, Instant};

use eventfold_log::LogError;
use eventfold_store::{StorageError, StorageErrorKind, StoreHealth};

use super::Writer;

/// The first wait after a transient failure: short, since a full disk or a
/// descriptor shortage is often cleared quickly.
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest wait between tries: a try costs one file creation or one
/// write of zeros, so a second is enough to stay quiet and to heal promptly.
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) enum WriterHealth {
    #[default]
    Healthy,
    /// Writes are refused with `error` until `retry_at`; then a batch of
    /// `batch_bytes` (the one that failed) is tried again.
    Refusing { error: StorageError, retry_at: Instant, backoff: Duration, batch_bytes: u64 },
    /// Writes are refused until the process restarts.
    Poisoned(StorageError),
}

impl WriterHealth {
    /// The error to refuse a batch with now, without trying it.
    pub fn refusal(&self, now: Instant) -> Option<&StorageError> {
        match self {
            WriterHealth::Healthy => None,
            WriterHealth::Refusing { error, retry_at, .. } => (now < *retry_at).then_some(error),
            WriterHealth::Poisoned(error) => Some(error),
        }
    }

    /// When the writer should try again with no batch to write, and with a
    /// batch of what size.
    pub fn retry_due(&self) -> Option<(Instant, u64)> {
        match self {
            WriterHealth::Refusing { retry_at, batch_bytes, .. } => Some((*retry_at, *batch_bytes)),
            _ => None,
        }
    }

    pub fn as_store_health(&self) -> StoreHealth {
        match self {
            WriterHealth::Healthy => StoreHealth::Ok,
            WriterHealth::Refusing { error, .. } | WriterHealth::Poisoned(error) => {
                StoreHealth::Degraded(error.clone())
            }
        }
    }
}

impl Writer {
    /// Takes a failure of the log to write a batch of `batch_bytes` and
    /// returns the error to answer its appends with: transient when the log
    /// is still usable (LOG-9), poisoned when it is not (LOG-5).
    pub(super) fn log_failed(&mut self, error: &LogError, batch_bytes: u64) -> StorageError {
        if self.log.is_poisoned() {
            tracing::error!(%error, "log write failed; writes stop until restart");
            let poison = StorageError::new(StorageErrorKind::Poisoned, error.to_string());
            self.set_health(WriterHealth::Poisoned(poison.clone()));
            return poison;
        }
        let kind = if error.is_disk_full() { StorageErrorKind::DiskFull } else { StorageErrorKind::Unavailable };
        let refused = StorageError::new(kind, format!("{error}; appends are refused until this clears"));
        let backoff = match &self.health {
            WriterHealth::Refusing { backoff, .. } => (*backoff * 2).min(RETRY_BACKOFF_MAX),
            _ => {
                tracing::warn!(%error, "the log cannot take writes for now; refusing appends and retrying");
                RETRY_BACKOFF_MIN
            }
        };
        let retry_at = Instant::now() + backoff;
        self.set_health(WriterHealth::Refusing { error: refused.clone(), retry_at, backoff, batch_bytes });
        refused
    }

    /// The index could not take a batch the log holds durably: the index
    /// will be rebuilt from the log on restart; until then the writer stops.
    pub(super) fn index_failed(&mut self, error: impl std::fmt::Display) -> StorageError {
        tracing::error!(%error, "index update failed; writes stop until restart");
        let poison = StorageError::new(StorageErrorKind::Poisoned, format!("index update failed: {error}"));
        self.set_health(WriterHealth::Poisoned(poison.clone()));
        poison
    }

    /// A batch was written: any refusal is over.
    pub(super) fn log_succeeded(&mut self) {
        if matches!(self.health, WriterHealth::Refusing { .. }) {
            tracing::info!("the log takes writes again");
            self.set_health(WriterHealth::Healthy);
        }
    }

    /// With no batch waiting at the retry time, tries the step that failed
    /// alone, so that the store reports healthy again as soon as it is.
    pub(super) fn retry_alone(&mut self) {
        let Some((retry_at, batch_bytes)) = self.health.retry_due() else {
            return;
        };
        if Instant::now() < retry_at {
            return;
        }
        match self.log.prepare(batch_bytes) {
            Ok(()) => self.log_succeeded(),
            Err(error) => {
                self.log_failed(&error, batch_bytes);
            }
        }
    }

    fn set_health(&mut self, health: WriterHealth) {
        self.shared.set_health(health.as_store_health());
        self.health = health;
    }
}
