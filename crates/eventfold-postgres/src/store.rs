//! [`PostgresStore`]: the pieces put together behind `EventStore`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use eventfold_store::{
    AppendError, AppendOutcome, AppendRequest, CurrentRevision, DeleteMode, DeleteOutcome, EventStore, EventStream,
    ExpectedRevision, Position, ReadAllRequest, ReadError, ReadStreamRequest, ScavengeError, ScavengeOptions,
    ScavengeStatus, StorageError, StreamName, SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest,
    SubscriptionError, SubscriptionStream, check_append,
};
use tokio::sync::watch;

use crate::append::{self, Failure, Pending, Work};
use crate::config::PostgresConfig;
use crate::errors::{pool as pool_error, storage};
use crate::head::{self, Head};
use crate::read;
use crate::scavenge::Scavenges;
use crate::schema::{MigrationError, migrate};
use crate::sequencer::{LagStats, Sequencer};
use crate::subscribe::{Subscription, Target};

/// Transactions run again after a serialization failure or deadlock.
const TRANSACTION_RETRIES_MAX: u32 = 16;

/// Why the store could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(String),
    #[error("could not reach PostgreSQL within {waited:?}: {last}")]
    Unreachable { waited: Duration, last: String },
    #[error(transparent)]
    Migration(#[from] MigrationError),
}

/// The event store on PostgreSQL. Cheap to clone; clones share the pool,
/// the sequencer and the head.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    sequencer: Sequencer,
    head: Head,
    config: PostgresConfig,
    scavenges: Scavenges,
    /// Dropped with the store: ends the head's follower.
    _stop: watch::Sender<()>,
}

impl PostgresStore {
    /// Connects (retrying with backoff while the database is unreachable,
    /// up to `connect_timeout`), migrates the schema and starts this node's
    /// sequencer and head follower.
    pub async fn open(config: PostgresConfig) -> Result<Self, OpenError> {
        let (pg_config, tls) = eventfold_pg_tls::connection(&config.url).map_err(OpenError::Url)?;
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let (mut client, connection) = loop {
            match pg_config.connect(tls.clone()).await {
                Ok(connected) => break connected,
                Err(error) if started.elapsed() < config.connect_timeout => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "PostgreSQL unreachable");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    return Err(OpenError::Unreachable { waited: started.elapsed(), last: error.to_string() });
                }
            }
        };
        let connection = tokio::spawn(connection);
        let found = migrate(&mut client).await?;
        drop(client);
        let _ = connection.await;
        let manager = Manager::from_config(
            pg_config.clone(),
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(2))
            .build()
            .map_err(|error| OpenError::Url(error.to_string()))?;
        let head = Head::new(0);
        // Its timer also numbers events committed but never sequenced (a
        // node died between an append's commit and its sequencing).
        let sequencer = Sequencer::start(pool.clone(), head.clone(), config.poll_interval * 5);
        let (stop, stopped) = watch::channel(());
        head::follow(pool.clone(), pg_config, tls, head.clone(), config.poll_interval, stopped);
        let store = Self {
            inner: Arc::new(Inner { pool, sequencer, head, config, scavenges: Scavenges::default(), _stop: stop }),
        };
        store
            .refresh_head()
            .await
            .map_err(|error| OpenError::Unreachable { waited: started.elapsed(), last: error.to_string() })?;
        tracing::info!(schema_version_found = found, head = store.inner.head.get(), "PostgreSQL store opened");
        Ok(store)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    async fn refresh_head(&self) -> Result<(), StorageError> {
        let client = self.inner.pool.get().await.map_err(|error| pool_error(&error))?;
        let row = client
            .query_one("SELECT last_position FROM eventfold_sequencer WHERE id = 1", &[])
            .await
            .map_err(|error| storage(&error))?;
        let last: i64 = row.try_get(0).map_err(|error| storage(&error))?;
        self.inner.head.advance(crate::rows::to_u64(last)?);
        Ok(())
    }

    /// Samples the gauges that describe the store (its connection pool),
    /// before a scrape.
    pub fn record_metrics(&self) {
        crate::metrics::sample_pool(&self.inner.pool);
    }

    /// How long appends waited for their positions since the last call:
    /// the ordering design's cost as appends see it.
    pub fn take_sequencing_lag(&self) -> LagStats {
        self.inner.sequencer.take_lag()
    }

    /// Runs `work` in a transaction, again after a serialization failure or
    /// deadlock, then waits for the positions of what it wrote.
    async fn transact(&self, work: Work) -> Result<Vec<AppendOutcome>, AppendError> {
        let mut attempt = 0;
        let pending: Vec<Pending> = loop {
            let mut client = self.inner.pool.get().await.map_err(|error| AppendError::Storage(pool_error(&error)))?;
            // The pool's transaction: it prepares each statement once per
            // connection (a round trip and a plan saved on every append).
            let transaction = client.transaction().await.map_err(|error| AppendError::Storage(storage(&error)))?;
            match append::run(transaction, &work).await {
                Ok(pending) => break pending,
                Err(Failure::Retry(error)) if attempt < TRANSACTION_RETRIES_MAX => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "append transaction retried");
                }
                Err(Failure::Retry(error)) => return Err(AppendError::Storage(storage(&error))),
                Err(Failure::Refused(error)) => return Err(error),
            }
        };
        let keys: Vec<i64> = pending.iter().filter_map(|pending| pending.last_key).collect();
        let positions = self.inner.sequencer.positions(keys).await?;
        Ok(pending.into_iter().map(|pending| append::outcome(pending, &positions)).collect())
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append_transaction(&self, requests: Vec<AppendRequest>) -> Result<Vec<AppendOutcome>, AppendError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        check_append(&requests, self.inner.config.max_append_bytes)?;
        self.transact(Work::Append(requests)).await
    }

    async fn delete_stream(
        &self,
        stream: StreamName,
        expected: ExpectedRevision,
        mode: DeleteMode,
    ) -> Result<DeleteOutcome, AppendError> {
        let outcomes = self.transact(Work::Delete { stream, expected, mode }).await?;
        Ok(DeleteOutcome { position: outcomes.into_iter().rev().find_map(|outcome| outcome.position) })
    }

    async fn read_stream(&self, request: ReadStreamRequest) -> Result<EventStream, ReadError> {
        read::read_stream(self.inner.pool.clone(), request).await
    }

    async fn read_all(&self, request: ReadAllRequest) -> Result<EventStream, ReadError> {
        // Reads from the end start at the sequenced end as of now, which
        // other nodes may have moved since this node last heard.
        if request.from == eventfold_store::AllFrom::End {
            self.refresh_head().await?;
        }
        read::read_all(self.inner.pool.clone(), self.inner.head.get(), request).await
    }

    async fn subscribe_to_stream(
        &self,
        request: SubscribeToStreamRequest,
    ) -> Result<SubscriptionStream, SubscriptionError> {
        let next_revision = match request.from {
            SubscribeFrom::Start => 0,
            SubscribeFrom::After(revision) => revision.saturating_add(1),
            SubscribeFrom::End => {
                read::stream_state(&self.inner.pool, &request.stream).await?.map_or(0, |(_, state)| state.next_revision)
            }
        };
        let target = Target::Stream { stream: request.stream, next_revision };
        Ok(Subscription::new(self.inner.pool.clone(), self.inner.head.watch(), target).into_stream())
    }

    async fn subscribe_to_all(&self, request: SubscribeToAllRequest) -> Result<SubscriptionStream, SubscriptionError> {
        let after = match request.from {
            SubscribeFrom::Start => 0,
            SubscribeFrom::End => {
                self.refresh_head().await?;
                self.inner.head.get()
            }
            SubscribeFrom::After(position) => crate::rows::dense_at_or_before(position),
        };
        let target = Target::All {
            after,
            filter: request.filter,
            checkpoint_interval: request.checkpoint_interval,
            scanned_since_checkpoint: 0,
        };
        Ok(Subscription::new(self.inner.pool.clone(), self.inner.head.watch(), target).into_stream())
    }

    async fn stream_revision(&self, stream: &StreamName) -> Result<CurrentRevision, ReadError> {
        match read::stream_state(&self.inner.pool, stream).await? {
            Some((_, state)) if state.tombstoned => Err(ReadError::StreamDeleted { stream: stream.clone() }),
            Some((_, state)) => Ok(state.current_revision()),
            None => Ok(CurrentRevision::NoStream),
        }
    }

    fn head_position(&self) -> Option<Position> {
        match self.inner.head.get() {
            0 => None,
            head => Some(crate::rows::external(head)),
        }
    }

    async fn start_scavenge(&self, options: ScavengeOptions) -> Result<ScavengeStatus, ScavengeError> {
        self.inner.scavenges.start(self.inner.pool.clone(), options)
    }

    async fn stop_scavenge(&self, id: &str) -> Result<ScavengeStatus, ScavengeError> {
        self.inner.scavenges.stop(id)
    }

    async fn scavenge_status(&self) -> Option<ScavengeStatus> {
        self.inner.scavenges.status()
    }
}

impl From<StorageError> for OpenError {
    fn from(error: StorageError) -> Self {
        OpenError::Unreachable { waited: Duration::ZERO, last: error.to_string() }
    }
}
