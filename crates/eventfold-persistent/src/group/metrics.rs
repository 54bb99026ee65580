//! The group's metrics, in KurrentDB's names and labels
//! (`kurrentdb_persistent_sub_*{event_stream_id, group_name}`), through the
//! `metrics` facade.
//!
//! The items-processed counter is recorded as events go out. The gauges are set by the task
//! itself, at most once a second and at least every [`REFRESH`]: the age of
//! the oldest parked event grows while nothing happens, and the exporter
//! forgets a gauge nobody sets for a while, which is how a deleted group's
//! gauges leave the scrape.

use std::sync::Arc;
use std::time::Duration;

use eventfold_store::{EventStore, ReadStreamRequest, Timestamp};
use futures::StreamExt;
use metrics::{Counter, Label, counter, gauge};
use tokio::time::Instant;

use super::state::GroupState;
use crate::key::Source;

/// How often an idle group sets its gauges again.
pub(crate) const REFRESH: Duration = Duration::from_secs(5);
/// A busy group sets them at most this often.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

pub mod names {
    //! The metric names of the persistent subscriptions.
    pub const CONNECTIONS: &str = "kurrentdb_persistent_sub_connections";
    pub const PARKED_MESSAGES: &str = "kurrentdb_persistent_sub_parked_messages";
    pub const IN_FLIGHT_MESSAGES: &str = "kurrentdb_persistent_sub_in_flight_messages";
    pub const OLDEST_PARKED_SECONDS: &str = "kurrentdb_persistent_sub_oldest_parked_message_seconds";
    pub const ITEMS_PROCESSED: &str = "kurrentdb_persistent_sub_items_processed_total";
    pub const LAST_KNOWN_EVENT_NUMBER: &str = "kurrentdb_persistent_sub_last_known_event_number";
    pub const LAST_KNOWN_COMMIT_POSITION: &str = "kurrentdb_persistent_sub_last_known_event_commit_position";
    pub const CHECKPOINTED_EVENT_NUMBER: &str = "kurrentdb_persistent_sub_checkpointed_event_number";
    pub const CHECKPOINTED_COMMIT_POSITION: &str = "kurrentdb_persistent_sub_checkpointed_event_commit_position";
    pub const PARK_MESSAGE_REQUESTS: &str = "kurrentdb_persistent_sub_park_message_requests";
    pub const PARKED_MESSAGE_REPLAYS: &str = "kurrentdb_persistent_sub_parked_message_replays";
}

pub(crate) struct GroupMetrics {
    labels: Vec<Label>,
    /// Whether the group reads `$all`: KurrentDB reports its cursors as
    /// commit positions, a stream's as event numbers.
    all: bool,
    items_processed: Counter,
    /// KurrentDB reports these counts of the group's as gauges (no
    /// `_total`), which its dashboards query by that name; so does eventfold.
    parked_by_client: u64,
    parked_after_retries: u64,
    replays: u64,
    recorded_at: Option<Instant>,
    /// The first parked link's revision and when it was written, read from
    /// the parked stream when the first one changes.
    oldest_parked: Option<(u64, Timestamp)>,
}

impl GroupMetrics {
    pub fn new(source: &Source, group: &str) -> Self {
        let labels =
            vec![Label::new("event_stream_id", source.label().to_owned()), Label::new("group_name", group.to_owned())];
        Self {
            all: matches!(source, Source::All),
            items_processed: counter!(names::ITEMS_PROCESSED, labels.clone()),
            parked_by_client: 0,
            parked_after_retries: 0,
            replays: 0,
            labels,
            recorded_at: None,
            oldest_parked: None,
        }
    }

    pub fn delivered(&self, count: u64) {
        self.items_processed.increment(count);
    }

    pub fn parked_by_client(&mut self) {
        self.parked_by_client += 1;
    }

    pub fn parked_after_retries(&mut self) {
        self.parked_after_retries += 1;
    }

    pub fn replay_requested(&mut self) {
        self.replays += 1;
    }
}

impl GroupState {
    /// Sets the group's gauges, unless it did less than a second ago.
    pub async fn record_metrics(&mut self, now: Instant) {
        if self.metrics.recorded_at.is_some_and(|at| now.duration_since(at) < MIN_INTERVAL) {
            return;
        }
        self.metrics.recorded_at = Some(now);
        let oldest_parked_seconds = self.oldest_parked_seconds().await;
        let metrics = &self.metrics;
        let set = |name: &'static str, value: f64| gauge!(name, metrics.labels.clone()).set(value);
        set(names::CONNECTIONS, self.consumers.len() as f64);
        set(names::PARKED_MESSAGES, self.parked.count() as f64);
        set(names::IN_FLIGHT_MESSAGES, self.in_flight.len() as f64);
        set(names::OLDEST_PARKED_SECONDS, oldest_parked_seconds);
        let (last_known, checkpointed) = if metrics.all {
            (names::LAST_KNOWN_COMMIT_POSITION, names::CHECKPOINTED_COMMIT_POSITION)
        } else {
            (names::LAST_KNOWN_EVENT_NUMBER, names::CHECKPOINTED_EVENT_NUMBER)
        };
        // Before the first event, KurrentDB reports -1: nothing known yet.
        let cursor = |cursor: Option<u64>| cursor.map_or(-1.0, |cursor| cursor as f64);
        set(last_known, cursor(self.progress.last_read()));
        set(checkpointed, cursor(self.progress.last_checkpoint()));
        set(names::PARKED_MESSAGE_REPLAYS, metrics.replays as f64);
        for (reason, count) in [("client-nak", metrics.parked_by_client), ("max-retries", metrics.parked_after_retries)]
        {
            let mut labels = metrics.labels.clone();
            labels.push(Label::new("reason", reason));
            gauge!(names::PARK_MESSAGE_REQUESTS, labels).set(count as f64);
        }
    }

    /// Seconds since the oldest event still parked was parked; 0 when none is.
    async fn oldest_parked_seconds(&mut self) -> f64 {
        let Some(first) = self.parked.first_visible() else {
            self.metrics.oldest_parked = None;
            return 0.0;
        };
        let known = self.metrics.oldest_parked.filter(|(revision, _)| *revision == first);
        let parked_at = match known {
            Some((_, parked_at)) => Some(parked_at),
            None => first_parked_at(Arc::clone(&self.store), self.parked.stream().clone()).await,
        };
        self.metrics.oldest_parked = parked_at.map(|parked_at| (first, parked_at));
        parked_at.map_or(0.0, |parked_at| {
            let millis = Timestamp::now().unix_millis().saturating_sub(parked_at.unix_millis());
            millis.max(0) as f64 / 1000.0
        })
    }
}

/// When the first visible link of the parked stream was written. A failed
/// read reports nothing rather than an invented age.
async fn first_parked_at(store: Arc<dyn EventStore>, stream: eventfold_store::StreamName) -> Option<Timestamp> {
    let request = ReadStreamRequest { max_count: 1, ..ReadStreamRequest::forwards(stream) };
    let mut events = store.read_stream(request).await.ok()?;
    match events.next().await? {
        Ok(event) => Some(event.created),
        Err(_) => None,
    }
}
