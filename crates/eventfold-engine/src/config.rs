use std::path::PathBuf;
use std::time::Duration;

use eventfold_store::DEFAULT_MAX_APPEND_BYTES;

/// How the embedded engine is laid out and tuned. `EngineConfig::new(dir)`
/// gives the defaults a server runs with.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The data directory: `log/` holds the segments, `index.redb` the index.
    pub dir: PathBuf,
    /// Largest total of event type, data and metadata bytes in one append
    /// (or one multi-stream transaction).
    pub max_append_bytes: usize,
    /// A log segment is sealed once the next batch would take it past this.
    pub segment_bytes_max: u64,
    /// The writer stops draining its queue into a batch past this many bytes;
    /// also the largest encoded transaction accepted.
    pub batch_bytes_max: usize,
    /// Appends waiting for the writer before callers wait to enqueue.
    pub queue_depth: usize,
    /// How often the index is made durable. Restart replays at most this much
    /// of the log; appends are durable through the log regardless.
    pub index_flush_interval: Duration,
    /// Committed batches kept for live subscribers. A subscriber further
    /// behind reads from storage instead.
    pub live_buffer_batches: usize,
    /// Recent event ids remembered for idempotent appends with `Any`.
    pub idempotency_window: usize,
    /// Streams whose revision the writer keeps in memory.
    pub stream_cache_capacity: usize,
    /// Zeros written and synced ahead of the data in the active segment, so
    /// that an append's `fdatasync` carries no file size change (0: none).
    pub preallocate_bytes: u64,
    /// Migrate a data directory of an older format version in place on
    /// open (`format_version.rs`); otherwise it is opened as it is.
    pub upgrade_format: bool,
}

impl EngineConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_append_bytes: DEFAULT_MAX_APPEND_BYTES,
            segment_bytes_max: 256 * 1024 * 1024,
            batch_bytes_max: 16 * 1024 * 1024,
            queue_depth: 4096,
            index_flush_interval: Duration::from_secs(1),
            live_buffer_batches: 1024,
            idempotency_window: 100_000,
            stream_cache_capacity: 100_000,
            preallocate_bytes: 4 * 1024 * 1024,
            upgrade_format: false,
        }
    }

    pub(crate) fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.dir.join("index.redb")
    }

    pub(crate) fn log_config(&self) -> eventfold_log::LogConfig {
        eventfold_log::LogConfig {
            dir: self.log_dir(),
            segment_bytes_max: self.segment_bytes_max,
            // A batch stops growing past `batch_bytes_max` and its last
            // transaction is at most that big: no torn write is longer. The
            // preallocated zeros after it may be garbled by a crash too.
            torn_tail_bytes_max: 2 * self.batch_bytes_max as u64 + self.preallocate_bytes,
            preallocate_bytes: self.preallocate_bytes,
        }
    }
}
