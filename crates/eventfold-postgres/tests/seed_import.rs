//! Goal: `eventfold pg import` moves an existing events table into
//! eventfold as it was: every stream's versions as revisions, `$all` in the
//! table's `global_position` order, the data and metadata unchanged; a
//! second run writes nothing; a version gap or a table of another shape is
//! refused with what is wrong.

use std::sync::Arc;

use eventfold_postgres::{ImportError, PostgresConfig, PostgresStore, SeedTable, import_seed_table};
use eventfold_store::{AppendError, EventStore, ReadAllRequest, ReadStreamRequest, RecordedEvent, StreamName};
use eventfold_testkit::pg_server::PgServer;
use futures::TryStreamExt;

const STREAMS: [&str; 3] = ["order-1", "order-2", "invoice-1"];

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// The common shape: versions from 1, JSONB data, metadata sometimes null.
async fn seed_table(client: &tokio_postgres::Client, table: &str, rows: &[(&str, i32)]) {
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (
                global_position bigserial PRIMARY KEY,
                stream_id text NOT NULL,
                version integer NOT NULL,
                event_type text NOT NULL,
                event_data jsonb NOT NULL,
                metadata jsonb,
                created_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (stream_id, version)
            )"
        ))
        .await
        .expect("create the table");
    for (stream, version) in rows {
        let metadata = (version % 2 == 0).then(|| serde_json::json!({ "by": "seed" }).to_string());
        let data = serde_json::json!({ "stream": stream, "n": version }).to_string();
        client
            .execute(
                &format!("INSERT INTO {table} (stream_id, version, event_type, event_data, metadata) VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb)"),
                &[stream, version, &format!("Happened{}", version % 3), &data, &metadata],
            )
            .await
            .expect("insert a row");
    }
}

/// Streams interleaved, as a table written by many writers looks.
fn interleaved() -> Vec<(&'static str, i32)> {
    let mut rows = Vec::new();
    let mut next = [1, 1, 1];
    for step in 0..90_usize {
        let index = (step * 7 + step / 5) % 3;
        rows.push((STREAMS[index], next[index]));
        next[index] += 1;
    }
    rows
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

async fn user_events_in_all(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let all: Vec<RecordedEvent> =
        store.read_all(ReadAllRequest::forwards()).await.expect("read $all").try_collect().await.expect("$all");
    all.into_iter().filter(|event| !event.stream.as_str().starts_with('$')).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_is_imported_as_it_was_once_however_often_it_runs() {
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("legacy").expect("createdb");
    server.create_database("imported").expect("createdb");
    let legacy = connect(&server.url("legacy")).await;
    let rows = interleaved();
    seed_table(&legacy, "events", &rows).await;
    let store: Arc<dyn EventStore> =
        Arc::new(PostgresStore::open(PostgresConfig::new(server.url("imported"))).await.expect("open"));
    let source = SeedTable { url: server.url("legacy"), table: "events".into(), first_version: None };

    let mut seen = Vec::new();
    let report = import_seed_table(&source, store.as_ref(), |progress| seen.push(progress)).await.expect("import");
    assert_eq!(report.events, rows.len() as u64);
    assert_eq!(seen.last().map(|progress| (progress.rows_done, progress.rows_total)), Some((90, 90)));

    // Each stream: versions 1.. as revisions 0.., data and metadata as stored.
    for stream in STREAMS {
        let events: Vec<RecordedEvent> = store
            .read_stream(ReadStreamRequest::forwards(StreamName::new(stream).expect("name")))
            .await
            .expect("read")
            .try_collect()
            .await
            .expect("events");
        assert_eq!(events.len(), rows.iter().filter(|(name, _)| *name == stream).count());
        for (revision, event) in events.iter().enumerate() {
            let version = revision as i64 + 1;
            assert_eq!(event.revision, revision as u64);
            assert_eq!(event.event_type, format!("Happened{}", version % 3));
            assert_eq!(json(&event.data), serde_json::json!({ "stream": stream, "n": version }));
            if version % 2 == 0 {
                assert_eq!(json(&event.metadata), serde_json::json!({ "by": "seed" }));
            } else {
                assert!(event.metadata.is_empty());
            }
        }
    }
    // $all in the table's order.
    let order: Vec<(String, u64)> = user_events_in_all(store.as_ref())
        .await
        .iter()
        .map(|event| (event.stream.to_string(), event.revision))
        .collect();
    let expected: Vec<(String, u64)> =
        rows.iter().map(|(stream, version)| ((*stream).to_owned(), (*version - 1) as u64)).collect();
    assert_eq!(order, expected);

    // Again: nothing new is written.
    let head = store.head_position();
    let again = import_seed_table(&source, store.as_ref(), |_| {}).await.expect("import again");
    assert_eq!(again.events, rows.len() as u64);
    assert_eq!(store.head_position(), head);
    assert_eq!(user_events_in_all(store.as_ref()).await.len(), rows.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_and_other_shapes_are_refused_with_what_is_wrong() {
    let Some(server) = PgServer::for_test() else { return };
    server.create_database("legacy").expect("createdb");
    server.create_database("imported").expect("createdb");
    let legacy = connect(&server.url("legacy")).await;
    // A gap between rows of one run of a stream, and one across other rows.
    seed_table(&legacy, "gappy", &[("a", 1), ("a", 2), ("a", 4)]).await;
    seed_table(&legacy, "gappy_apart", &[("b", 1), ("b", 2), ("c", 1), ("b", 4)]).await;
    legacy.batch_execute("CREATE TABLE other (id bigint, body text)").await.expect("create");
    let store = PostgresStore::open(PostgresConfig::new(server.url("imported"))).await.expect("open");
    let source = |table: &str| SeedTable { url: server.url("legacy"), table: table.into(), first_version: None };

    let gap = import_seed_table(&source("gappy"), &store, |_| {}).await.expect_err("a gap");
    assert!(matches!(gap, ImportError::Row { global_position: 3, .. }), "{gap}");
    assert!(gap.to_string().contains("revision 3 follows revision 1"), "{gap}");
    let gap = import_seed_table(&source("gappy_apart"), &store, |_| {}).await.expect_err("a gap");
    match gap {
        ImportError::Append { global_position: 4, error: AppendError::WrongExpectedVersion { .. } } => {}
        other => panic!("expected the gap at the fourth row, got {other}"),
    }
    let shape = import_seed_table(&source("other"), &store, |_| {}).await.expect_err("another shape");
    assert!(matches!(shape, ImportError::Shape { .. }), "{shape}");
    assert!(shape.to_string().contains("version"), "{shape}");
    let missing = import_seed_table(&source("nothing_here"), &store, |_| {}).await.expect_err("no table");
    assert!(missing.to_string().contains("nothing_here"), "{missing}");
    let hostile = import_seed_table(&source("events; DROP TABLE gappy"), &store, |_| {}).await.expect_err("a bad name");
    assert!(matches!(hostile, ImportError::TableName(_)));
}
