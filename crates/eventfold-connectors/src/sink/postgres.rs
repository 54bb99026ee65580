//! The PostgreSQL sink, exactly once: each batch runs its statements (one
//! per event, chosen by event type, with parameters taken from the event)
//! and records the connector's checkpoint in the table
//! `eventfold_connector_checkpoints(connector, position)` in one
//! transaction. A connector resumes from that row, so a batch is either in
//! the target with its checkpoint or not at all, whatever crashes.
//!
//! Settings: `connectionString` (libpq key/value or URL form),
//! `statements:<EventType>` (SQL with `$1`, `$2`, ...) and
//! `parameters:<EventType>` (what each `$n` takes, see `params.rs`). Events
//! of a type with no statement are skipped.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use eventfold_store::RecordedEvent;
use tokio_postgres::{Client, Statement};

use super::pg_value::PgValue;
use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::params::ParamSource;
use crate::settings::Reader;

pub const CHECKPOINT_TABLE: &str = "eventfold_connector_checkpoints";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct PostgresSinkSettings {
    config: tokio_postgres::Config,
    /// TLS as the connection string's `sslmode` and `sslrootcert` ask.
    tls: eventfold_pg_tls::PgTls,
    /// Event type → SQL and what each parameter takes.
    statements: BTreeMap<String, (String, Vec<ParamSource>)>,
}

impl PostgresSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let text = reader.required("connectionString")?;
        let (mut config, tls) =
            eventfold_pg_tls::connection(text).map_err(|reason| InvalidSettings::new("connectionString", &reason))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        let mut statements = BTreeMap::new();
        for (event_type, sql) in reader.section("statements") {
            let key = format!("parameters:{event_type}");
            let sources = ParamSource::parse_list(reader.text(&key).unwrap_or(""))
                .map_err(|reason| InvalidSettings::new(&key, &reason))?;
            statements.insert(event_type.to_owned(), (sql.to_owned(), sources));
        }
        if statements.is_empty() {
            return Err(InvalidSettings::new("statements", "name at least one `statements:<EventType>`"));
        }
        for (key, _) in reader.section("parameters") {
            if !statements.contains_key(key) {
                return Err(InvalidSettings::new(&format!("parameters:{key}"), "has no `statements:` of its type"));
            }
        }
        Ok(Self { config, tls, statements })
    }
}

struct Prepared {
    statement: Statement,
    sources: Vec<ParamSource>,
}

struct Connection {
    client: Client,
    prepared: BTreeMap<String, Prepared>,
}

pub(crate) struct PostgresSink {
    connector: String,
    settings: PostgresSinkSettings,
    connection: Option<Connection>,
    table_ready: bool,
}

impl PostgresSink {
    pub fn new(connector: &str, settings: PostgresSinkSettings) -> Self {
        Self { connector: connector.to_owned(), settings, connection: None, table_ready: false }
    }

    async fn connected(&mut self) -> Result<&mut Connection, SinkError> {
        if self.connection.as_ref().is_some_and(|connection| connection.client.is_closed()) {
            self.connection = None;
        }
        if self.connection.is_none() {
            let (client, driver) = self.settings.config.connect(self.settings.tls.clone()).await.map_err(classify)?;
            tokio::spawn(async move {
                let _ = driver.await;
            });
            let mut prepared = BTreeMap::new();
            for (event_type, (sql, sources)) in &self.settings.statements {
                let statement = client.prepare(sql).await.map_err(|error| {
                    let reason = format!("statement for `{event_type}`: {}", describe(&error));
                    if error.as_db_error().is_some() {
                        SinkError::Rejected(reason)
                    } else {
                        SinkError::Unavailable(reason)
                    }
                })?;
                if statement.params().len() != sources.len() {
                    return Err(SinkError::Rejected(format!(
                        "statement for `{event_type}` takes {} parameters; `parameters:{event_type}` names {}",
                        statement.params().len(),
                        sources.len()
                    )));
                }
                prepared.insert(event_type.clone(), Prepared { statement, sources: sources.clone() });
            }
            self.connection = Some(Connection { client, prepared });
        }
        self.connection.as_mut().ok_or_else(|| SinkError::Unavailable("not connected".into()))
    }

    async fn ensure_table(&mut self) -> Result<(), SinkError> {
        if self.table_ready {
            return Ok(());
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (connector text PRIMARY KEY, position bigint NOT NULL)"
        );
        let connection = self.connected().await?;
        connection.client.batch_execute(&sql).await.map_err(|error| self.forget_on(error))?;
        self.table_ready = true;
        Ok(())
    }

    /// Classifies `error`, dropping the connection when it is the cause.
    fn forget_on(&mut self, error: tokio_postgres::Error) -> SinkError {
        let classified = classify(error);
        if matches!(classified, SinkError::Unavailable(_)) {
            self.connection = None;
        }
        classified
    }

    async fn write(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), SinkError> {
        let checkpoint = i64::try_from(checkpoint)
            .map_err(|_| SinkError::Rejected(format!("checkpoint {checkpoint} does not fit a bigint")))?;
        let connector = self.connector.clone();
        let connection = self.connected().await?;
        let mut calls = Vec::with_capacity(events.len());
        for event in events {
            let Some(prepared) = connection.prepared.get(&event.event_type) else { continue };
            let data: Option<serde_json::Value> = serde_json::from_slice(&event.data).ok();
            let mut values = Vec::with_capacity(prepared.sources.len());
            for (index, (source, target)) in prepared.sources.iter().zip(prepared.statement.params()).enumerate() {
                let value = PgValue::convert(&source.extract(event, data.as_ref()), target).map_err(|reason| {
                    SinkError::Rejected(format!(
                        "event {}@{} ({}): parameter ${}: {reason}",
                        event.revision,
                        event.stream,
                        event.event_type,
                        index + 1
                    ))
                })?;
                values.push(value);
            }
            calls.push((&prepared.statement, values));
        }
        let transaction = connection.client.transaction().await.map_err(classify)?;
        // Sent together: the connection pipelines them, in order.
        let executed = futures::future::try_join_all(
            calls.iter().map(|(statement, values)| transaction.execute_raw(*statement, values.iter())),
        )
        .await;
        executed.map_err(classify)?;
        let upsert = format!(
            "INSERT INTO {CHECKPOINT_TABLE} (connector, position) VALUES ($1, $2) \
             ON CONFLICT (connector) DO UPDATE SET position = EXCLUDED.position"
        );
        transaction.execute(&upsert, &[&connector, &checkpoint]).await.map_err(classify)?;
        transaction.commit().await.map_err(classify)
    }
}

#[async_trait]
impl Sink for PostgresSink {
    fn keeps_checkpoint(&self) -> bool {
        true
    }

    /// Connects and prepares every statement: an unreachable server, a
    /// table or column that does not exist, or a parameter count that does
    /// not match is an error before anything is stored.
    async fn validate(&mut self) -> Result<(), SinkError> {
        self.connected().await.map(|_| ())
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        self.ensure_table().await?;
        let sql = format!("SELECT position FROM {CHECKPOINT_TABLE} WHERE connector = $1");
        let connector = self.connector.clone();
        let connection = self.connected().await?;
        let row = connection.client.query_opt(&sql, &[&connector]).await;
        let row = row.map_err(|error| self.forget_on(error))?;
        let Some(row) = row else { return Ok(None) };
        let position: i64 = row.try_get(0).map_err(|error| SinkError::Rejected(error.to_string()))?;
        u64::try_from(position)
            .map(Some)
            .map_err(|_| SinkError::Rejected(format!("stored checkpoint {position} is negative")))
    }

    async fn deliver(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), SinkError> {
        self.ensure_table().await?;
        let written = self.write(events, checkpoint).await;
        if matches!(written, Err(SinkError::Unavailable(_))) {
            self.connection = None;
        }
        written
    }

    async fn reset(&mut self, checkpoint: Option<u64>) -> Result<(), SinkError> {
        self.ensure_table().await?;
        let connector = self.connector.clone();
        let connection = self.connected().await?;
        let done = match checkpoint {
            None => {
                let sql = format!("DELETE FROM {CHECKPOINT_TABLE} WHERE connector = $1");
                connection.client.execute(&sql, &[&connector]).await
            }
            Some(position) => {
                let position = i64::try_from(position)
                    .map_err(|_| SinkError::Rejected(format!("position {position} does not fit a bigint")))?;
                let sql = format!(
                    "INSERT INTO {CHECKPOINT_TABLE} (connector, position) VALUES ($1, $2) \
                     ON CONFLICT (connector) DO UPDATE SET position = EXCLUDED.position"
                );
                connection.client.execute(&sql, &[&connector, &position]).await
            }
        };
        done.map(|_| ()).map_err(|error| self.forget_on(error))
    }
}

/// SQLSTATE classes: connection and server-shutdown errors wait for the
/// server; bad data and constraint violations reject the event; anything
/// else (deadlocks, serialization failures, a dropped table) is retried up
/// to the limit. An error with no SQLSTATE is the connection's.
fn classify(error: tokio_postgres::Error) -> SinkError {
    let text = describe(&error);
    let Some(database) = error.as_db_error() else {
        if text.contains("serializing parameter") {
            return SinkError::Rejected(text);
        }
        return SinkError::Unavailable(text);
    };
    match &database.code().code()[..2] {
        "08" | "57" | "53" => SinkError::Unavailable(text),
        "22" | "23" => SinkError::Rejected(text),
        _ => SinkError::Transient(text),
    }
}

fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(database) => format!("{} ({})", database.message(), database.code().code()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<PostgresSinkSettings, InvalidSettings> {
        PostgresSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    #[test]
    fn statements_and_parameters_pair_by_event_type() {
        let settings = parse(&[
            ("connectionString", "postgres://postgres@127.0.0.1:5432/shop"),
            ("statements:OrderPlaced", "INSERT INTO orders (id, stream) VALUES ($1, $2)"),
            ("parameters:OrderPlaced", "/orderId, stream"),
            ("statements:OrderCancelled", "DELETE FROM orders WHERE id = 'x'"),
        ])
        .expect("valid");
        assert_eq!(settings.statements.len(), 2);
        assert_eq!(
            settings.statements["OrderPlaced"].1,
            [ParamSource::DataPointer("/orderId".into()), ParamSource::Stream]
        );
        assert!(settings.statements["OrderCancelled"].1.is_empty());
    }

    #[test]
    fn missing_or_stray_settings_are_refused() {
        assert_eq!(parse(&[]).expect_err("no connection").key, "connectionString");
        assert_eq!(parse(&[("connectionString", "host=h")]).expect_err("no statement").key, "statements");
        let error = parse(&[("connectionString", "host=h"), ("statements:A", "SELECT 1"), ("parameters:B", "stream")])
            .expect_err("stray parameters");
        assert_eq!(error.key, "parameters:B");
        assert_eq!(parse(&[("connectionString", "port=notaport")]).expect_err("bad").key, "connectionString");
    }
}
