//! What the engine records for operators, through the `metrics` facade
//! (whoever runs the engine installs a recorder; without one every call is a
//! no-op). Names and labels are KurrentDB's where KurrentDB has the metric,
//! so that its published Grafana dashboards read eventfold unchanged;
//! eventfold's own metrics start with `eventfold_`.
//!
//! Counters and histograms are recorded where things happen, once per batch
//! or page, through handles registered once. Gauges that describe the
//! engine's state (checkpoints, statuses, recent maxima, cache sizes) are
//! set when they are scraped ([`EngineGauges::record`]): a recent maximum
//! must age even when nothing is written, and the exporter forgets gauges
//! that nobody sets for a while.

mod recent_max;
mod statuses;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Histogram, counter, gauge, histogram};

pub(crate) use recent_max::RecentMax;
pub(crate) use statuses::{IndexStatus, ScavengePhase, StatusBoard};

pub mod names {
    //! The metric names the engine records, for exporters that set buckets
    //! per metric and for tests.
    pub const IO_EVENTS: &str = "kurrentdb_io_events_total";
    pub const IO_BYTES: &str = "kurrentdb_io_bytes_total";
    pub const CHECKPOINTS: &str = "kurrentdb_checkpoints";
    pub const STATUSES: &str = "kurrentdb_statuses";
    pub const CACHE_HITS_MISSES: &str = "kurrentdb_cache_hits_misses_total";
    pub const CACHE_ENTRIES: &str = "kurrentdb_cache_resources_entries";
    pub const WRITER_FLUSH_SIZE_MAX: &str = "kurrentdb_writer_flush_size_max";
    pub const WRITER_FLUSH_DURATION_MAX: &str = "kurrentdb_writer_flush_duration_max_seconds";
    pub const QUEUEING_DURATION_MAX: &str = "kurrentdb_queue_queueing_duration_max_seconds";
    pub const FSYNC_DURATION: &str = "eventfold_writer_fsync_duration_seconds";
    pub const FLUSH_DURATION: &str = "eventfold_writer_flush_duration_seconds";
    pub const BATCH_APPENDS: &str = "eventfold_writer_batch_appends";
    pub const BATCH_EVENTS: &str = "eventfold_writer_batch_events";
    pub const SUBSCRIPTION_FALLBACKS: &str = "eventfold_subscription_fallbacks_total";
    pub const SCAVENGE_SEGMENTS: &str = "eventfold_scavenge_segments";
    pub const SCAVENGE_BYTES_RECLAIMED: &str = "eventfold_scavenge_reclaimed_bytes";
    pub const SCAVENGE_EVENTS_REMOVED: &str = "eventfold_scavenge_removed_events";
}

/// KurrentDB's cache names: the stream revisions the writer remembers play
/// the part of its stream-info cache; the event ids are eventfold's own.
const STREAM_CACHE: &str = "stream-info";
const EVENT_ID_CACHE: &str = "event-ids";

/// KurrentDB labels a recent maximum with the window it covers; this is
/// the one it uses for a 15 s scrape interval, which dashboards query.
pub(crate) const RECENT_RANGE: &str = "16-20 seconds";

/// The writer's queue, as KurrentDB names a group of queues.
const WRITER_QUEUE: &str = "Writer";

/// State-describing values set at scrape time, shared by the writer, the
/// scavenge and the engine's handle.
#[derive(Default)]
pub(crate) struct EngineGauges {
    pub flush_size: RecentMax,
    pub flush_duration: RecentMax,
    pub queueing: RecentMax,
    /// Log position the durable index reflects: what a restart replays from.
    pub index_checkpoint: AtomicU64,
    pub stream_cache_entries: AtomicU64,
    pub event_id_entries: AtomicU64,
    pub statuses: StatusBoard,
}

impl EngineGauges {
    /// Sets every gauge from the engine's state; `writer_checkpoint` is the
    /// committed end of the log.
    pub fn record(&self, writer_checkpoint: u64) {
        let checkpoint = |name: &'static str, value: u64| {
            gauge!(names::CHECKPOINTS, "name" => name, "read" => "non-flushed").set(value as f64);
        };
        checkpoint("writer", writer_checkpoint);
        checkpoint("index", self.index_checkpoint.load(Ordering::Relaxed));
        let entries = |cache: &'static str, value: &AtomicU64| {
            gauge!(names::CACHE_ENTRIES, "cache" => cache, "kind" => "count").set(value.load(Ordering::Relaxed) as f64);
        };
        entries(STREAM_CACHE, &self.stream_cache_entries);
        entries(EVENT_ID_CACHE, &self.event_id_entries);
        gauge!(names::WRITER_FLUSH_SIZE_MAX, "range" => RECENT_RANGE).set(self.flush_size.current() as f64);
        gauge!(names::WRITER_FLUSH_DURATION_MAX, "range" => RECENT_RANGE)
            .set(nanos_to_seconds(self.flush_duration.current()));
        gauge!(names::QUEUEING_DURATION_MAX, "name" => WRITER_QUEUE, "range" => RECENT_RANGE)
            .set(nanos_to_seconds(self.queueing.current()));
        self.statuses.record();
    }
}

/// The handles the writer records through, registered once.
pub(crate) struct WriterMetrics {
    events_written: Counter,
    batch_appends: Histogram,
    batch_events: Histogram,
    fsync_seconds: Histogram,
    flush_seconds: Histogram,
    stream_cache_hits: Counter,
    stream_cache_misses: Counter,
    event_id_hits: Counter,
    event_id_misses: Counter,
}

/// One written batch, as the writer measured it.
pub(crate) struct BatchWritten {
    pub appends: usize,
    pub events: usize,
    pub bytes: u64,
    /// From the start of the `write` to the end of the `fdatasync`.
    pub flush: Duration,
    pub fsync: Duration,
}

impl WriterMetrics {
    pub fn register() -> Self {
        let hits_misses = |cache: &'static str, kind: &'static str| counter!(names::CACHE_HITS_MISSES, "cache" => cache, "kind" => kind);
        Self {
            events_written: counter!(names::IO_EVENTS, "activity" => "written"),
            batch_appends: histogram!(names::BATCH_APPENDS),
            batch_events: histogram!(names::BATCH_EVENTS),
            fsync_seconds: histogram!(names::FSYNC_DURATION),
            flush_seconds: histogram!(names::FLUSH_DURATION),
            stream_cache_hits: hits_misses(STREAM_CACHE, "hits"),
            stream_cache_misses: hits_misses(STREAM_CACHE, "misses"),
            event_id_hits: hits_misses(EVENT_ID_CACHE, "hits"),
            event_id_misses: hits_misses(EVENT_ID_CACHE, "misses"),
        }
    }

    pub fn batch_written(&self, gauges: &EngineGauges, batch: &BatchWritten) {
        self.events_written.increment(batch.events as u64);
        self.batch_appends.record(batch.appends as f64);
        self.batch_events.record(batch.events as f64);
        self.fsync_seconds.record(batch.fsync.as_secs_f64());
        self.flush_seconds.record(batch.flush.as_secs_f64());
        gauges.flush_size.record(batch.bytes);
        gauges.flush_duration.record(duration_nanos(batch.flush));
    }

    pub fn stream_cache(&self, hit: bool) {
        if hit { &self.stream_cache_hits } else { &self.stream_cache_misses }.increment(1);
    }

    pub fn event_id_cache(&self, hit: bool) {
        if hit { &self.event_id_hits } else { &self.event_id_misses }.increment(1);
    }
}

/// Events and their bytes (data and metadata) served by a read page or a
/// subscription's history page.
pub(crate) fn events_read(events: usize, bytes: u64) {
    if events > 0 {
        counter!(names::IO_EVENTS, "activity" => "read").increment(events as u64);
        counter!(names::IO_BYTES, "activity" => "read").increment(bytes);
    }
}

/// A subscriber fell behind the live buffer and went back to storage.
pub(crate) fn subscription_fell_back() {
    counter!(names::SUBSCRIPTION_FALLBACKS).increment(1);
}

/// A scavenge's progress, as it publishes it.
pub(crate) fn scavenge_progress(status: &eventfold_store::ScavengeStatus) {
    gauge!(names::SCAVENGE_SEGMENTS, "kind" => "done").set(status.segments_done as f64);
    gauge!(names::SCAVENGE_SEGMENTS, "kind" => "total").set(status.segments_total as f64);
    gauge!(names::SCAVENGE_BYTES_RECLAIMED).set(status.bytes_reclaimed as f64);
    gauge!(names::SCAVENGE_EVENTS_REMOVED).set(status.events_removed as f64);
}

pub(crate) fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn nanos_to_seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}
