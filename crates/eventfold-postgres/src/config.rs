use std::time::Duration;

/// How to reach the database and how eventfold uses it.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// A libpq-style URL or key/value string, `postgres://user@host/db`.
    pub url: String,
    /// Connections in the pool that serves appends and reads.
    pub pool_size: usize,
    /// The floor of live delivery: how often a node looks for events that
    /// other nodes sequenced when no notification woke it.
    pub poll_interval: Duration,
    /// Largest total size of one append (see `DEFAULT_MAX_APPEND_BYTES`).
    pub max_append_bytes: usize,
    /// How long opening keeps retrying an unreachable database.
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            poll_interval: Duration::from_millis(100),
            max_append_bytes: eventfold_store::DEFAULT_MAX_APPEND_BYTES,
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// Whether `text` names a PostgreSQL database rather than a directory.
    pub fn is_postgres_url(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }
}
