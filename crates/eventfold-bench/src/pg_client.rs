//! The PostgreSQL baseline as a typical hand-written event store does it:
//! one `events` table, one INSERT statement (so one transaction, with
//! `synchronous_commit` on) per append, versions computed from the expected
//! revision, and the unique (stream_id, version) key turning a concurrent
//! append into a unique violation, which is the conflict.

use anyhow::{Context, bail};
use eventfold_store::{CurrentRevision, ExpectedRevision};
use futures::{StreamExt, pin_mut};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::target::AppendResult;

/// Our own table name, so a `--pg-url` database keeps its own `events`.
const TABLE: &str = "eventfold_bench_events";

/// One connection per concurrent writer: a transaction owns its connection.
pub struct PgClients {
    connections: Vec<Connection>,
}

struct Connection {
    client: Client,
    insert: Statement,
    current: Statement,
}

impl PgClients {
    /// Connects `count` clients and recreates the table empty.
    pub async fn connect(config: &Config, count: usize) -> anyhow::Result<Self> {
        let mut connections = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let (client, connection) = config.connect(NoTls).await.context("connecting to PostgreSQL")?;
            tokio::spawn(async move {
                // Ends when the client is dropped; an error then is expected.
                let _ = connection.await;
            });
            if index == 0 {
                client
                    .batch_execute(&format!(
                        "DROP TABLE IF EXISTS {TABLE};
                         CREATE TABLE {TABLE} (
                             position bigserial PRIMARY KEY,
                             stream_id text NOT NULL,
                             version bigint NOT NULL,
                             type text NOT NULL,
                             data jsonb NOT NULL,
                             metadata jsonb,
                             created timestamptz NOT NULL DEFAULT now(),
                             UNIQUE (stream_id, version)
                         );"
                    ))
                    .await
                    .context("creating the events table")?;
            }
            client.batch_execute("SET synchronous_commit = on").await.context("setting synchronous_commit")?;
            let insert = client
                .prepare(&format!(
                    "INSERT INTO {TABLE} (stream_id, version, type, data, metadata)
                     SELECT $1, $2::int8 + ordinal - 1, 'OrderPlaced', body::jsonb, '{{}}'::jsonb
                     FROM unnest($3::text[]) WITH ORDINALITY AS proposed(body, ordinal)"
                ))
                .await
                .context("preparing the insert")?;
            let current = client
                .prepare(&format!("SELECT max(version) FROM {TABLE} WHERE stream_id = $1"))
                .await
                .context("preparing the version query")?;
            connections.push(Connection { client, insert, current });
        }
        Ok(Self { connections })
    }

    fn connection(&self, writer: usize) -> anyhow::Result<&Connection> {
        self.connections.get(writer % self.connections.len()).context("no PostgreSQL connection")
    }

    pub async fn append(
        &self,
        writer: usize,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        let connection = self.connection(writer)?;
        let first_version: i64 = match expected {
            ExpectedRevision::NoStream => 0,
            ExpectedRevision::Exact(revision) => i64::try_from(revision + 1).context("revision out of range")?,
            other => bail!("the PostgreSQL baseline appends with exact revisions only, not {other}"),
        };
        let bodies: Vec<String> = bodies.into_iter().map(|body| String::from_utf8_lossy(&body).into_owned()).collect();
        match connection.client.execute(&connection.insert, &[&stream, &first_version, &bodies]).await {
            Ok(_) => Ok(AppendResult::Written),
            Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                let row = connection
                    .client
                    .query_one(&connection.current, &[&stream])
                    .await
                    .context("reading the version")?;
                let actual: Option<i64> = row.try_get(0).context("the current version")?;
                Ok(AppendResult::Conflict {
                    actual: match actual.and_then(|version| u64::try_from(version).ok()) {
                        Some(version) => CurrentRevision::Current(version),
                        None => CurrentRevision::NoStream,
                    },
                })
            }
            Err(error) => Err(anyhow::Error::new(error).context("inserting events")),
        }
    }

    /// Streams one stream (or every event, by position) to the client;
    /// returns the number of rows.
    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        let client = &self.connection(0)?.client;
        let columns = "position, stream_id, version, type, data::text, metadata::text, created";
        let rows = match stream {
            Some(stream) => {
                let query = format!("SELECT {columns} FROM {TABLE} WHERE stream_id = $1 ORDER BY version");
                client.query_raw(&query, [stream]).await
            }
            None => {
                let query = format!("SELECT {columns} FROM {TABLE} ORDER BY position");
                client.query_raw(&query, std::iter::empty::<&str>()).await
            }
        }
        .context("reading events")?;
        pin_mut!(rows);
        let mut count = 0;
        while let Some(row) = rows.next().await {
            row.context("reading a row")?;
            count += 1;
        }
        Ok(count)
    }

    /// Table and index bytes of the events.
    pub async fn relation_bytes(&self) -> anyhow::Result<u64> {
        let client = &self.connection(0)?.client;
        let row = client
            .query_one(&format!("SELECT pg_total_relation_size('{TABLE}')::int8"), &[])
            .await
            .context("measuring the table")?;
        let bytes: i64 = row.try_get(0).context("the table size")?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}
