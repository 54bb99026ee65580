//! Goal: `eventfold connector` manages a real `eventfold serve`'s
//! connectors over HTTP, and a PostgreSQL connector is exactly once across
//! `kill -9`: the server is killed mid-run several times while events are
//! appended, and after the last restart the target holds every event of
//! the log once. A Redis connector is too, against a Redis with AOF. A
//! Kafka connector is at least once across `kill -9`: every event in the
//! topic, each stream in order, redeliveries counted. A NATS connector
//! and a Redis connector deliver over TLS to servers whose certificate
//! `eventfold certs` made, and are refused at create without that CA.

mod cli_support;
mod support;

use std::time::Duration;

use cli_support::eventfold_within;
use eventfold_client::{Client, Direction, Expected, ProposedEvent, ReadFrom};
use eventfold_testkit::kafka_broker::KafkaBroker;
use eventfold_testkit::nats_server::NatsServer;
use eventfold_testkit::pg_server::PgServer;
use eventfold_testkit::redis_server::RedisServer;
use futures::StreamExt;
use support::{kill_under_appends, start};

const STREAMS: usize = 5;

fn eventfold<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> std::process::Output {
    eventfold_within(args, Duration::from_secs(60))
}

fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> serde_json::Value {
    let output = eventfold(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{args:?}: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap_or(serde_json::Value::String(stdout))
}

async fn target(pg: &PgServer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg.url("shop"), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The pace the `kill -9` tests' connectors deliver at: small batches,
/// retries soon after a restart.
const KILL_TEST_PACE: [&str; 2] = ["batching:batchSize=100", "resilience:maxDelayMs=200"];

/// `eventfold connector create orders --server {server}`, each of
/// `settings` after a `--set`.
fn create_orders(server: &str, settings: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["connector", "create", "orders", "--server", server].map(str::to_owned).into();
    for setting in settings {
        args.extend(["--set".to_owned(), (*setting).to_owned()]);
    }
    args
}

/// The PostgreSQL connector `orders`, writing each `Placed` event with
/// `statement` and `parameters`.
fn create_postgres(server: &str, pg_url: &str, statement: &str, parameters: &str) -> Vec<String> {
    let connection = format!("connectionString={pg_url}");
    let statement = format!("statements:Placed={statement}");
    let parameters = format!("parameters:Placed={parameters}");
    let settings = ["instanceTypeName=postgres-sink", &connection, &statement, &parameters];
    let mut args = create_orders(server, &[&settings[..], &KILL_TEST_PACE].concat());
    args.extend(["--name".to_owned(), "Orders to PostgreSQL".to_owned()]);
    args
}

const ORDERS_INSERT: &str = "INSERT INTO orders (stream, revision, n) VALUES ($1, $2, $3)";
const ORDERS_PARAMETERS: &str = "stream, revision, /n";

fn runtime() -> tokio::runtime::Runtime {
    // As the binary does: the test's own NATS and Redis clients take
    // rustls's process default, which it cannot pick with both providers
    // linked.
    eventfold_server::tls::install_process_default();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn connector_commands_manage_a_running_server() {
    let Some(pg) = PgServer::for_test() else { return };
    pg.create_database("shop").expect("create the database");
    let runtime = runtime();
    let client = runtime.block_on(async {
        let client = target(&pg).await;
        client.batch_execute("CREATE TABLE orders (stream text, revision bigint, n bigint)").await.expect("table");
        client
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let url = format!("http://{}", server.address);

    let output = eventfold(&create_postgres(&url, &pg.url("shop"), "INSERT INTO nowhere (n) VALUES ($1)", "/n"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere"), "{}", String::from_utf8_lossy(&output.stderr));

    let created = ok(&create_postgres(&url, &pg.url("shop"), ORDERS_INSERT, ORDERS_PARAMETERS));
    assert_eq!(created["state"], "running", "{created}");
    assert_eq!(created["name"], "Orders to PostgreSQL");

    runtime.block_on(append_rounds(&url, 2));
    wait_for_rows(&runtime, &client, (2 * STREAMS * 20) as i64);
    let status = ok(&["connector", "status", "orders", "--server", &url]);
    assert_eq!(status["delivered"], 2 * STREAMS * 20, "{status}");
    let list = eventfold(&["connector", "list", "--server", &url]);
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(table.lines().any(|line| line.starts_with("orders ") && line.contains("running")), "{table}");

    assert_eq!(ok(&["connector", "stop", "orders", "--server", &url])["state"], "stopped");
    assert_eq!(ok(&["connector", "start", "orders", "--server", &url])["state"], "running");
    ok(&["connector", "reset", "orders", "--server", &url]);
    wait_for_rows(&runtime, &client, (4 * STREAMS * 20) as i64);
    ok(&["connector", "delete", "orders", "--server", &url]);
    let output = eventfold(&["connector", "status", "orders", "--server", &url]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));
}

#[test]
fn a_postgresql_connector_is_exactly_once_across_kill_9() {
    let Some(pg) = PgServer::for_test() else { return };
    pg.create_database("shop").expect("create the database");
    let runtime = runtime();
    let client = runtime.block_on(async {
        let client = target(&pg).await;
        client.batch_execute("CREATE TABLE orders (stream text, revision bigint, n bigint)").await.expect("table");
        client
    });
    let dir = tempfile::tempdir().expect("tempdir");
    // Appends go on until the kill cuts them off.
    let create = |round: u64, url: &str| {
        if round == 0 {
            ok(&create_postgres(url, &pg.url("shop"), ORDERS_INSERT, ORDERS_PARAMETERS));
        }
    };
    kill_under_appends(&runtime, dir.path(), create, |url| append_rounds_owned(url, 1000));
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let in_log = runtime.block_on(events_in_log(&url));
    assert!(in_log > 0);
    wait_for_rows(&runtime, &client, in_log as i64);
    std::thread::sleep(Duration::from_millis(500));
    runtime.block_on(async {
        let row = client
            .query_one("SELECT count(*), count(DISTINCT (stream, revision)) FROM orders", &[])
            .await
            .expect("count");
        assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (in_log as i64, in_log as i64), "each event once");
        let wrong = client
            .query_one(
                "SELECT count(*) FROM (SELECT stream FROM orders GROUP BY stream \
                 HAVING min(revision) <> 0 OR max(revision) <> count(*) - 1 OR bool_or(n <> revision)) AS bad",
                &[],
            )
            .await
            .expect("check");
        assert_eq!(wrong.get::<_, i64>(0), 0, "each stream's rows are its events");
    });
}

#[test]
fn a_redis_connector_is_exactly_once_across_kill_9() {
    let Some(redis) = RedisServer::for_test() else { return };
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let create = |round: u64, url: &str| {
        if round == 0 {
            let redis_url = format!("url={}", redis.url());
            let settings =
                ["instanceTypeName=redis-sink", &redis_url, "command=XADD", "key=orders:{stream}", "value={/n}"];
            ok(&create_orders(url, &[&settings[..], &KILL_TEST_PACE].concat()));
        }
    };
    kill_under_appends(&runtime, dir.path(), create, |url| append_rounds_owned(url, 1000));
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let in_log = runtime.block_on(async {
        let client = Client::connect(&url).await.expect("connect the client");
        let mut per_stream = Vec::new();
        for stream in 0..STREAMS {
            per_stream
                .push(last_revision(&client, &format!("order-{stream}")).await.map_or(0, |revision| revision + 1));
        }
        per_stream
    });
    assert!(in_log.iter().sum::<u64>() > 0);
    runtime.block_on(async {
        // Patient: the client's default waits half a second for an answer.
        let patient = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
        let mut connection = redis::Client::open(redis.url())
            .expect("a Redis URL")
            .get_multiplexed_async_connection_with_config(&patient)
            .await
            .expect("connect to Redis");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for (stream, count) in in_log.iter().enumerate() {
            let key = format!("orders:order-{stream}");
            type Entry = (String, Vec<(String, String)>);
            let entries: Vec<Entry> = loop {
                let entries: Vec<Entry> = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut connection)
                    .await
                    .expect("XRANGE");
                if entries.len() as u64 >= *count || std::time::Instant::now() > deadline {
                    break entries;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let values: Vec<String> = entries
                .iter()
                .map(|(_, fields)| {
                    fields.iter().find(|(name, _)| name == "value").map(|(_, value)| value.clone()).unwrap_or_default()
                })
                .collect();
            let expected: Vec<String> = (0..*count).map(|n| n.to_string()).collect();
            assert_eq!(values, expected, "{key}: each event once, in order");
        }
    });
}

#[test]
fn a_kafka_connector_is_at_least_once_across_kill_9() {
    let Some(broker) = KafkaBroker::for_test() else { return };
    let runtime = runtime();
    let client = runtime.block_on(async {
        let client =
            rskafka::client::ClientBuilder::new(vec![broker.address()]).build().await.expect("connect to the broker");
        let controller = client.controller_client().expect("a controller client");
        controller.create_topic("orders", KAFKA_PARTITIONS, 1, 5_000).await.expect("create the topic");
        client
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let create = |round: u64, url: &str| {
        if round == 0 {
            let servers = format!("bootstrapServers={}", broker.address());
            let settings =
                ["instanceTypeName=kafka-sink", &servers, "topic=orders", "value={/n}", "requestTimeoutMs=5000"];
            ok(&create_orders(url, &[&settings[..], &KILL_TEST_PACE].concat()));
        }
    };
    kill_under_appends(&runtime, dir.path(), create, |url| append_rounds_owned(url, 1000));
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let in_log: Vec<u64> = runtime.block_on(async {
        let client = Client::connect(&url).await.expect("connect the client");
        let mut per_stream = Vec::new();
        for stream in 0..STREAMS {
            per_stream
                .push(last_revision(&client, &format!("order-{stream}")).await.map_or(0, |revision| revision + 1));
        }
        per_stream
    });
    assert!(in_log.iter().sum::<u64>() > 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let by_stream = loop {
        let by_stream = runtime.block_on(kafka_values(&client));
        let complete = (0..STREAMS).all(|stream| {
            let count = in_log[stream];
            count == 0
                || by_stream
                    .get(&format!("order-{stream}"))
                    .is_some_and(|values| values.iter().any(|value| *value == count - 1))
        });
        if complete || std::time::Instant::now() > deadline {
            break by_stream;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut duplicates = 0;
    for (stream, count) in in_log.iter().enumerate() {
        let key = format!("order-{stream}");
        let values = by_stream.get(&key).cloned().unwrap_or_default();
        // In order: each record is at most one past the furthest before it
        // (a redelivery repeats a run of records, never skips ahead).
        let mut furthest: Option<u64> = None;
        for value in &values {
            let next = furthest.map_or(0, |furthest| furthest + 1);
            assert!(*value <= next, "{key}: {value} came before {next}: {values:?}");
            furthest = Some(furthest.map_or(*value, |furthest| furthest.max(*value)));
        }
        let distinct: std::collections::BTreeSet<u64> = values.iter().copied().collect();
        assert_eq!(distinct, (0..*count).collect(), "{key}: every event of the log, nothing else");
        duplicates += values.len() - distinct.len();
    }
    eprintln!("kafka across kill -9: {} events, {duplicates} delivered again", in_log.iter().sum::<u64>());
}

#[test]
fn a_nats_connector_delivers_over_tls_with_a_certificate_from_eventfold_certs() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (ca, node) = certificates(certs.path());
    let ca_certificate = ca.join("ca.crt").to_str().expect("a UTF-8 path").to_owned();
    let Some(nats) = NatsServer::for_test_with_tls(node.join("node.crt"), node.join("node.key")) else { return };
    let runtime = runtime();
    let stream = runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .require_tls(true)
            .add_root_certificates(ca.join("ca.crt"))
            .connect(nats.url())
            .await
            .expect("connect to NATS over TLS");
        let config = async_nats::jetstream::stream::Config {
            name: "ORDERS".into(),
            subjects: vec!["orders.>".into()],
            ..Default::default()
        };
        async_nats::jetstream::new(client).create_stream(config).await.expect("create the JetStream stream")
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let nats_url = format!("url={}", nats.url());
    let create = |extra: &[&str]| {
        let settings = ["instanceTypeName=nats-sink", &nats_url, "subject=orders.{stream}", "requestTimeoutMs=3000"];
        eventfold(&create_orders(&url, &[&settings[..], extra].concat()))
    };
    created_once_its_ca_is_trusted(create, &ca_certificate);

    runtime.block_on(append_rounds(&url, 2));
    let expected = (2 * STREAMS * 20) as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut stream = stream;
    loop {
        let messages = runtime.block_on(stream.info()).expect("stream info").state.messages;
        if messages >= expected {
            assert_eq!(messages, expected, "each event once");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{messages} of {expected} messages in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `create` (with extra settings) is refused while the sink's
/// certificate is issued by a CA the system does not trust, storing
/// nothing, and succeeds once the connector names that CA.
fn created_once_its_ca_is_trusted(create: impl Fn(&[&str]) -> std::process::Output, ca_certificate: &str) {
    let refused = create(&[]);
    let reason = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(!refused.status.success(), "a certificate no trusted CA issued is refused");
    assert!(reason.contains("certificate") || reason.contains("tls"), "refused for its certificate: {reason}");
    let trusted = format!("tls:trustedRootCertificatesPath={ca_certificate}");
    let created = create(&[&trusted]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
}

#[test]
fn a_redis_connector_delivers_over_tls_with_a_certificate_from_eventfold_certs() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (ca, node) = certificates(certs.path());
    let ca_certificate = ca.join("ca.crt").to_str().expect("a UTF-8 path").to_owned();
    let Some(redis) = RedisServer::for_test_with_tls(node.join("node.crt"), node.join("node.key")) else { return };
    let redis_url = format!("url={}", redis.tls_url().expect("a TLS port"));
    let runtime = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let create = |extra: &[&str]| {
        let settings = [
            "instanceTypeName=redis-sink",
            &redis_url,
            "command=XADD",
            "key=orders:{stream}",
            "value={/n}",
            "requestTimeoutMs=3000",
        ];
        eventfold(&create_orders(&url, &[&settings[..], extra].concat()))
    };
    created_once_its_ca_is_trusted(create, &ca_certificate);

    runtime.block_on(append_rounds(&url, 2));
    // Read back on the server's plain port: the connector wrote over TLS.
    runtime.block_on(async {
        let mut connection = redis::Client::open(redis.url())
            .expect("a Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for stream in 0..STREAMS {
            let key = format!("orders:order-{stream}");
            loop {
                let length: u64 = redis::cmd("XLEN").arg(&key).query_async(&mut connection).await.expect("XLEN");
                if length >= 40 {
                    assert_eq!(length, 40, "{key}: each event once");
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{key}: {length} of 40 entries in time");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
}

/// A CA (`ca/ca.crt`, `ca/ca.key`) and a certificate for 127.0.0.1 and
/// `localhost` that it issued (`node/node.crt`, `node/node.key`), made by
/// `eventfold certs` under `dir`.
fn certificates(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (ca, node) = (dir.join("ca"), dir.join("node"));
    let text = |path: &std::path::Path| path.to_str().expect("a UTF-8 path").to_owned();
    ok(&["certs", "create-ca", "--out", &text(&ca)]);
    let (ca_certificate, ca_key) = (text(&ca.join("ca.crt")), text(&ca.join("ca.key")));
    ok(&["certs", "create-node", "--ca-certificate", &ca_certificate, "--ca-key", &ca_key, "--out", &text(&node)]);
    (ca, node)
}

const KAFKA_PARTITIONS: i32 = 2;

/// The values (each event's `n`, its revision) of every record of
/// `orders`, per stream, in partition order.
async fn kafka_values(client: &rskafka::client::Client) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut by_stream: std::collections::BTreeMap<String, Vec<u64>> = std::collections::BTreeMap::new();
    for partition in 0..KAFKA_PARTITIONS {
        let reader = client
            .partition_client("orders", partition, rskafka::client::partition::UnknownTopicHandling::Retry)
            .await
            .expect("a partition");
        let mut offset = 0;
        loop {
            let (batch, high_watermark) = reader.fetch_records(offset, 1..4_000_000, 50).await.expect("fetch");
            for record in &batch {
                let stream = String::from_utf8_lossy(record.record.key.as_deref().unwrap_or_default()).into_owned();
                let value = String::from_utf8_lossy(record.record.value.as_deref().unwrap_or_default());
                by_stream.entry(stream).or_default().push(value.parse().expect("a number"));
                offset = offset.max(record.offset + 1);
            }
            if batch.is_empty() || offset >= high_watermark {
                break;
            }
        }
    }
    by_stream
}

async fn append_rounds(url: &str, rounds: usize) {
    let client = Client::connect(url).await.expect("connect the client");
    for _ in 0..rounds {
        if append_round(&client).await.is_err() {
            return;
        }
    }
}

async fn append_rounds_owned(url: String, rounds: usize) {
    let Ok(client) = Client::connect(&url).await else { return };
    for _ in 0..rounds {
        if append_round(&client).await.is_err() {
            return;
        }
    }
}

/// 20 events to each stream; `n` is the revision each gets, so the
/// target's rows can be checked against the log.
async fn append_round(client: &Client) -> Result<(), eventfold_client::ClientError> {
    for stream in 0..STREAMS {
        let name = format!("order-{stream}");
        let next = last_revision(client, &name).await.map_or(0, |revision| revision + 1);
        let events =
            (next..next + 20).map(|n| ProposedEvent::json("Placed", format!("{{\"n\":{n}}}").into_bytes())).collect();
        let expected = if next == 0 { Expected::NoStream } else { Expected::Revision(next - 1) };
        client.append(&name, expected, events).await?;
    }
    Ok(())
}

async fn last_revision(client: &Client, stream: &str) -> Option<u64> {
    let mut events = client.read(stream, ReadFrom::End, Direction::Backwards, 1, None).await.ok()?;
    events.next().await.and_then(Result::ok).map(|event| event.revision)
}

async fn events_in_log(url: &str) -> u64 {
    let client = Client::connect(url).await.expect("connect the client");
    let mut total = 0;
    for stream in 0..STREAMS {
        total += last_revision(&client, &format!("order-{stream}")).await.map_or(0, |revision| revision + 1);
    }
    total
}

fn wait_for_rows(runtime: &tokio::runtime::Runtime, client: &tokio_postgres::Client, expected: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows: i64 = runtime
            .block_on(async { client.query_one("SELECT count(*) FROM orders", &[]).await.expect("count").get(0) });
        if rows >= expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{rows} of {expected} rows in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}
