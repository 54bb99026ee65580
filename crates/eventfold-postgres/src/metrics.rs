//! What the PostgreSQL backend records through the `metrics` facade: the
//! ordering design's cost as appends see it (the wait for a position after
//! the commit), the sequencing steps, and the connection pool, sampled at
//! each scrape.

use deadpool_postgres::Pool;

pub mod names {
    /// How long an append waited for its position after its commit.
    pub const SEQUENCING_LAG: &str = "eventfold_postgres_sequencing_lag_seconds";
    /// Events numbered by one sequencing step (a histogram of counts).
    pub const STEP_EVENTS: &str = "eventfold_postgres_sequencer_batch_events";
    /// How long one sequencing step took, commit included.
    pub const STEP_DURATION: &str = "eventfold_postgres_sequencer_step_duration_seconds";
    /// Connections of the pool by state (`busy`, `idle`), and its bound.
    pub const POOL_CONNECTIONS: &str = "eventfold_postgres_pool_connections";
    pub const POOL_MAX: &str = "eventfold_postgres_pool_max_connections";
    /// Tasks waiting for a connection of the pool.
    pub const POOL_WAITING: &str = "eventfold_postgres_pool_waiting";
}

pub(crate) fn sequencing_lag(seconds: f64) {
    metrics::histogram!(names::SEQUENCING_LAG).record(seconds);
}

pub(crate) fn step(events: usize, seconds: f64) {
    metrics::histogram!(names::STEP_EVENTS).record(events as f64);
    metrics::histogram!(names::STEP_DURATION).record(seconds);
}

pub(crate) fn sample_pool(pool: &Pool) {
    let status = pool.status();
    let busy = status.size.saturating_sub(status.available);
    metrics::gauge!(names::POOL_CONNECTIONS, "state" => "busy").set(busy as f64);
    metrics::gauge!(names::POOL_CONNECTIONS, "state" => "idle").set(status.available as f64);
    metrics::gauge!(names::POOL_MAX).set(status.max_size as f64);
    metrics::gauge!(names::POOL_WAITING).set(status.waiting as f64);
}
