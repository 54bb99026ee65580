//! The PostgreSQL connector in-process: `--events` events delivered by a
//! connector (one row each, with its checkpoint, one transaction per
//! batch) beside a plain client loop doing the same inserts and checkpoint
//! upserts in the same batches, both into one throwaway PostgreSQL; then
//! the end-to-end lag of single appends (append → row visible). Then the
//! same for a Redis connector (`connector_redis.rs`), under `redis`, and a
//! Kafka connector (`connector_kafka.rs`), under `kafka`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use eventfold_connectors::{Connectors, ConnectorsOptions};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, RecordedEvent, StreamName,
};
use eventfold_testkit::pg_server::{self, PgServer};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::append::fill;
use crate::stats::{Latencies, event_body, quotient, rate};
use crate::target::Target;

pub(crate) const BATCH: usize = 500;
const LAG_SAMPLES: u64 = 200;
/// Longest wait for the connector to deliver what was filled.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(600);
const INSERT: &str = "INSERT INTO rows_connector (stream, revision, order_id, amount) VALUES ($1, $2, $3, $4)";
const PLAIN_INSERT: &str = "INSERT INTO rows_plain (stream, revision, order_id, amount) VALUES ($1, $2, $3, $4)";
const TABLES: &str = "CREATE TABLE rows_connector (stream text, revision bigint, order_id text, amount double precision); \
    CREATE TABLE rows_plain (stream text, revision bigint, order_id text, amount double precision); \
    CREATE TABLE plain_checkpoint (id text PRIMARY KEY, position bigint)";

pub async fn run(target: Arc<Target>, events: u64) -> anyhow::Result<Value> {
    let Some(engine) = target.engine() else { bail!("the connector is measured in-process only") };
    let Some(bin) = pg_server::find_binaries() else {
        return Ok(json!({ "target": "engine", "skipped": "PostgreSQL is not installed" }));
    };
    let pg = tokio::task::block_in_place(|| PgServer::start(bin)).context("starting PostgreSQL")?;
    tokio::task::block_in_place(|| pg.create_database("bench")).context("creating the database")?;
    let client = connect(&pg).await?;
    client.batch_execute(TABLES).await.context("creating the tables")?;
    let stream = target.stream("connector");
    fill(&target, events, &stream, events / 10).await?;
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());

    let plain = plain_loop(&store, &mut connect(&pg).await?).await?;

    let settings = json!({
        "instanceTypeName": "postgres-sink",
        "connectionString": pg.url("bench"),
        "statements:OrderPlaced": INSERT,
        "parameters:OrderPlaced": "stream, revision, /orderId, /amount",
        "batching:batchSize": BATCH,
        "batching:batchTimeoutMs": 10,
    });
    let connector = BenchConnector::create(&store, "bench", &settings).await?;
    wait_for_rows(&client, events, connector.started).await?;
    let connector_elapsed = connector.started.elapsed();

    let lag = lag(&store, &client, events).await?;
    connector.remove().await?;
    // The same events again, into Redis; the probes above add to them.
    let redis = crate::connector_redis::run(&store, events + LAG_SAMPLES).await?;
    let kafka = crate::connector_kafka::run(&store).await?;

    let mut figures = figures(events, plain, connector_elapsed, lag);
    figures["redis"] = redis;
    figures["kafka"] = kafka;
    Ok(figures)
}

/// A sink's connector as the bench runs it: the subsystem started on the
/// store, the connector created, and when its creation began (what its
/// delivery is timed from).
pub(crate) struct BenchConnector {
    connectors: Connectors,
    name: &'static str,
    pub started: Instant,
}

impl BenchConnector {
    pub async fn create(store: &Arc<dyn EventStore>, name: &'static str, settings: &Value) -> anyhow::Result<Self> {
        let connectors = Connectors::start(Arc::clone(store), ConnectorsOptions::default()).await;
        let started = Instant::now();
        connectors
            .create(name, None, settings.as_object().context("settings")?)
            .await
            .context("creating the connector")?;
        Ok(Self { connectors, name, started })
    }

    /// Deletes the connector and stops the subsystem: gone before the next
    /// measurement starts it again.
    pub async fn remove(self) -> anyhow::Result<()> {
        self.connectors.delete(self.name).await.context("deleting the connector")?;
        self.connectors.shutdown().await;
        Ok(())
    }
}

/// What every sink reports: the connector's delivery of `events` beside the
/// plain loop's, and the lag of single appends.
pub(crate) fn figures(events: u64, plain: Duration, connector: Duration, lag: Value) -> Value {
    let connector_rate = rate(events, connector);
    let plain_rate = rate(events, plain);
    json!({
        "events": events,
        "batch": BATCH,
        "connector": { "seconds": connector.as_secs_f64(), "events_per_second": connector_rate },
        "plain_loop": { "seconds": plain.as_secs_f64(), "events_per_second": plain_rate },
        "connector_share_of_plain_rate": quotient(Some(connector_rate), Some(plain_rate)),
        "append_to_visible": lag,
    })
}

async fn connect(pg: &PgServer) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) =
        tokio_postgres::connect(&pg.url("bench"), tokio_postgres::NoTls).await.context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// What an application would write by hand: read `$all`, and per batch
/// insert the rows and upsert the checkpoint in one transaction.
async fn plain_loop(store: &Arc<dyn EventStore>, client: &mut tokio_postgres::Client) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let insert = client.prepare(PLAIN_INSERT).await?;
    let upsert = client
        .prepare("INSERT INTO plain_checkpoint (id, position) VALUES ('plain', $1) ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position")
        .await?;
    order_batches(store, async |batch| {
        let Some(last) = batch.last() else { return Ok(()) };
        let position = i64::try_from(last.position.0)?;
        let mut rows = Vec::with_capacity(batch.len());
        for event in batch {
            let data: Value = serde_json::from_slice(&event.data)?;
            let order_id = data["orderId"].as_str().unwrap_or("").to_owned();
            let amount = data["amount"].as_f64().unwrap_or(0.0);
            rows.push((event.stream.as_str().to_owned(), i64::try_from(event.revision)?, order_id, amount));
        }
        let transaction = client.transaction().await?;
        let parameters: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 4]> = rows
            .iter()
            .map(|(stream, revision, order_id, amount)| [stream as _, revision as _, order_id as _, amount as _])
            .collect();
        futures::future::try_join_all(parameters.iter().map(|values| transaction.execute(&insert, values))).await?;
        transaction.execute(&upsert, &[&position]).await?;
        transaction.commit().await?;
        Ok(())
    })
    .await?;
    Ok(started.elapsed())
}

/// What a hand-written loop reads: `$all` from the start, its `OrderPlaced`
/// events in batches of [`BATCH`] (the last one shorter), each handed to
/// `write` in log order.
pub(crate) async fn order_batches(
    store: &Arc<dyn EventStore>,
    mut write: impl AsyncFnMut(&[RecordedEvent]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut events = store.read_all(ReadAllRequest::forwards()).await?;
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(event) = events.next().await.transpose()? {
        if event.event_type == "OrderPlaced" {
            batch.push(event);
        }
        if batch.len() == BATCH {
            write(&batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        write(&batch).await?;
    }
    Ok(())
}

async fn wait_for_rows(client: &tokio_postgres::Client, rows: u64, started: Instant) -> anyhow::Result<()> {
    loop {
        let count: i64 = client.query_one("SELECT count(*) FROM rows_connector", &[]).await?.get(0);
        if u64::try_from(count).unwrap_or(0) >= rows {
            return Ok(());
        }
        if started.elapsed() > DELIVERY_TIMEOUT {
            bail!("the connector wrote {count} of {rows} rows in {DELIVERY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Single appends, each timed until its row is visible in PostgreSQL.
async fn lag(store: &Arc<dyn EventStore>, client: &tokio_postgres::Client, filled: u64) -> anyhow::Result<Value> {
    let stream = StreamName::new("lag-probe").context("stream name")?;
    let visible =
        client.prepare("SELECT count(*) FROM rows_connector WHERE stream = 'lag-probe' AND revision = $1").await?;
    let mut latencies = Latencies::new();
    for revision in 0..LAG_SAMPLES {
        let started = Instant::now();
        let event = ProposedEvent::json("OrderPlaced", event_body(filled + revision));
        store.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, vec![event])).await?;
        let revision = i64::try_from(revision)?;
        loop {
            let count: i64 = client.query_one(&visible, &[&revision]).await?.get(0);
            if count > 0 {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("an appended event was not visible in PostgreSQL within 30 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        latencies.record(started.elapsed());
    }
    Ok(latencies.to_json())
}
