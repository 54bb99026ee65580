//! What the never-skipping order costs, measured in one run on a throwaway
//! cluster: appends through `PostgresStore` (commit unnumbered, then wait
//! for a sequencing step) beside the plain table every hand-written store
//! starts from (`bigserial` position, one INSERT per append, no ordering
//! guarantee), with the same writers, event size and durability. Prints
//! appends per second, their ratio, and the sequencing lag (how long an
//! append waited for its position after its commit) at p50 and p99.
//!
//!   cargo run --release -p eventfold-postgres --example ordering_cost [WRITERS] [SECONDS] [EVENTS_PER_APPEND]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventfold_postgres::{PostgresConfig, PostgresStore};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use eventfold_testkit::pg_server::{PgServer, find_binaries};

/// About 200 bytes, as the benchmark's events.
const PAYLOAD: &str = r#"{"order":"4f2a9c1e-0000-4000-8000-000000000000","customer":"c-1234","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"total":1234,"currency":"EUR","note":"ordering cost"}"#;

fn argument(index: usize, default: u64) -> u64 {
    std::env::args().nth(index).and_then(|text| text.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let writers = argument(1, 8);
    let seconds = argument(2, 5);
    let per_append = argument(3, 1) as usize;
    let bin = find_binaries().ok_or_else(|| anyhow::anyhow!("PostgreSQL is not installed"))?;
    let server = PgServer::start(bin)?;
    server.create_database("cost")?;
    let url = server.url("cost");
    let duration = Duration::from_secs(seconds);

    let plain = plain_table(&url, writers, duration, per_append).await?;
    let store = Arc::new(PostgresStore::open(PostgresConfig::new(&url)).await?);
    let ordered = through_store(&store, writers, duration, per_append).await;
    let mut lag = store.take_sequencing_lag().samples_micros;
    lag.sort_unstable();
    let percentile = |p: f64| lag.get(((lag.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0) as f64 / 1000.0;
    println!("writers {writers}, {per_append} event(s) per append, {seconds} s each");
    println!("plain table (bigserial, may skip): {plain:.0} appends/s");
    println!("eventfold on PostgreSQL (never skips): {ordered:.0} appends/s");
    println!("ratio eventfold / plain: {:.2}", ordered / plain);
    println!("sequencing lag: p50 {:.2} ms, p99 {:.2} ms ({} appends)", percentile(0.5), percentile(0.99), lag.len());
    Ok(())
}

async fn through_store(store: &Arc<PostgresStore>, writers: u64, duration: Duration, per_append: usize) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, done) = (Arc::clone(store), Arc::clone(&done));
            tokio::spawn(async move {
                let stream = StreamName::new(format!("cost-{writer}")).expect("name");
                while started.elapsed() < duration {
                    let events = (0..per_append).map(|_| ProposedEvent::json("Placed", PAYLOAD)).collect();
                    store
                        .append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, events))
                        .await
                        .expect("append");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn plain_table(url: &str, writers: u64, duration: Duration, per_append: usize) -> anyhow::Result<f64> {
    let (setup, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    setup
        .batch_execute(
            "CREATE TABLE plain_events (position bigserial PRIMARY KEY, stream_id text NOT NULL, \
             version bigint NOT NULL, type text NOT NULL, data jsonb NOT NULL, \
             created timestamptz NOT NULL DEFAULT now(), UNIQUE (stream_id, version))",
        )
        .await?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let stream = format!("cost-{writer}");
            let mut version = 0_i64;
            while started.elapsed() < duration {
                let versions: Vec<i64> = (version..version + per_append as i64).collect();
                let streams = vec![stream.clone(); per_append];
                let types = vec!["Placed".to_owned(); per_append];
                let data = vec![PAYLOAD.to_owned(); per_append];
                client
                    .execute(
                        "INSERT INTO plain_events (stream_id, version, type, data) \
                         SELECT s, v, t, d::jsonb FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS u(s, v, t, d)",
                        &[&streams, &versions, &types, &data],
                    )
                    .await
                    .expect("insert");
                version += per_append as i64;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
