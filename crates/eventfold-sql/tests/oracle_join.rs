//! Goal: a continuous time-bounded join over the real engine writes, at
//! several positions of the log, exactly the rows PostgreSQL's join of the
//! same events up to there answers: an inner join (across a stop and a
//! restart of the query) at every round, a LEFT JOIN once the clock has
//! passed every bound, and the same joins answered ad hoc. The events are
//! searches and clicks of a few sessions, appended with pauses so that
//! some clicks fall inside the bound and some outside. And: a stream
//! joined with another query's result meets, for each event, the latest
//! result row of its key before it, as a plain fold over `$all` finds it.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_sql::{ContinuousOptions, ContinuousQuery, Value, format_timestamp, result_stream, start_continuous};
use eventfold_store::{
    AllFrom, AppendRequest, Direction, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, StreamName,
};
use eventfold_testkit::pg_server::PgServer;
use futures::StreamExt;
use serde_json::{Value as Json, json};

const WAIT: Duration = Duration::from_secs(20);
const ROUNDS: u64 = 4;
const EVENTS_PER_ROUND: u64 = 40;
const BOUND_MILLISECONDS: i64 = 60;
const TICKS_PER_MILLISECOND: i64 = 10_000;

/// The join, in the continuous engine's SQL.
fn join_sql(kind: &str) -> String {
    format!(
        "SELECT s.position AS searched, c.position AS clicked, s.stream AS stream, json_str(s.data, 'q') AS query, \
         c.created AS clicked_at \
         FROM event_type('Searched') s {kind} event_type('Clicked') c \
         ON json_str(s.data, 'session') = json_str(c.data, 'session') \
         AND c.created BETWEEN s.created AND s.created + INTERVAL '{BOUND_MILLISECONDS} milliseconds'"
    )
}

/// The same join in PostgreSQL, over the events up to position `$1`
/// (`created` kept as the store's ticks, so no rounding moves a bound).
fn oracle_sql(kind: &str) -> String {
    let bound = BOUND_MILLISECONDS * TICKS_PER_MILLISECOND;
    format!(
        "WITH s AS (SELECT * FROM events WHERE event_type = 'Searched' AND position <= $1), \
              c AS (SELECT * FROM events WHERE event_type = 'Clicked' AND position <= $1) \
         SELECT s.position, c.position, s.stream, s.data ->> 'q', c.created \
         FROM s {kind} c ON s.data ->> 'session' = c.data ->> 'session' \
         AND c.created BETWEEN s.created AND s.created + {bound}"
    )
}

/// A small deterministic generator: the run is the same every time.
struct Generator(u64);

impl Generator {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

async fn append_round(store: &Arc<dyn EventStore>, generator: &mut Generator, round: u64) {
    for index in 0..EVENTS_PER_ROUND {
        let session = generator.below(3);
        let (event_type, data) = if generator.below(5) < 2 {
            ("Searched", json!({"session": format!("session-{session}"), "q": format!("q{round}-{index}")}))
        } else {
            ("Clicked", json!({"session": format!("session-{session}"), "rank": generator.below(10)}))
        };
        let stream = StreamName::new(format!("user-{session}")).expect("name");
        let event = ProposedEvent::json(event_type, data.to_string());
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
        // Pauses of 0 to 30 ms: some partners within the 60 ms bound, some past it.
        tokio::time::sleep(Duration::from_millis(generator.below(4) * 10)).await;
    }
}

/// Waits until the query has read past `head`: every row the events up to
/// there produce is then written.
async fn caught_up(query: &ContinuousQuery, head: u64) {
    let started = Instant::now();
    loop {
        let status = query.status();
        assert!(status.failure.is_none(), "{status:?}");
        if status.position.is_some_and(|position| position >= head) {
            return;
        }
        assert!(started.elapsed() < WAIT, "the query did not catch up: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sorted(mut rows: Vec<Json>) -> Vec<Json> {
    rows.sort_by_key(Json::to_string);
    rows
}

async fn result_rows(store: &Arc<dyn EventStore>, name: &str) -> Vec<Json> {
    sorted(support::result_rows(store, name).await)
}

async fn adhoc_rows(store: &Arc<dyn EventStore>, sql: &str) -> Vec<Json> {
    let answer = support::adhoc_answer(store, sql).await;
    let rows = answer
        .rows
        .iter()
        .map(|row| answer.columns.iter().cloned().zip(row.iter().map(Value::to_json)).collect())
        .map(Json::Object)
        .collect();
    sorted(rows)
}

/// The searches and clicks as they were stored, loaded into PostgreSQL.
async fn load_events(store: &Arc<dyn EventStore>, client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS events; \
             CREATE TABLE events (position bigint PRIMARY KEY, stream text, event_type text, created bigint, data jsonb)",
        )
        .await
        .expect("create the table");
    let request =
        ReadAllRequest { from: AllFrom::Start, direction: Direction::Forwards, max_count: u64::MAX, filter: None };
    let mut events = store.read_all(request).await.expect("read $all");
    while let Some(event) = events.next().await {
        let event = event.expect("an event");
        if event.event_type != "Searched" && event.event_type != "Clicked" {
            continue;
        }
        let position = i64::try_from(event.position.0).expect("position");
        let data = std::str::from_utf8(&event.data).expect("JSON text");
        client
            .execute(
                "INSERT INTO events VALUES ($1, $2, $3, $4, $5::text::jsonb)",
                &[&position, &event.stream.as_str(), &event.event_type, &event.created.ticks(), &data],
            )
            .await
            .expect("insert");
    }
}

async fn oracle_rows(client: &tokio_postgres::Client, kind: &str, through: u64) -> Vec<Json> {
    let through = i64::try_from(through).expect("position");
    let rows = client.query(&oracle_sql(kind), &[&through]).await.expect("the oracle's join");
    let rows = rows
        .iter()
        .map(|row| {
            let clicked_at: Option<i64> = row.get(4);
            json!({
                "searched": row.get::<_, i64>(0),
                "clicked": row.get::<_, Option<i64>>(1),
                "stream": row.get::<_, String>(2),
                "query": row.get::<_, Option<String>>(3),
                "clicked_at": clicked_at.map(format_timestamp),
            })
        })
        .collect();
    sorted(rows)
}

fn options() -> ContinuousOptions {
    support::quick_continuous_options()
}

#[tokio::test]
async fn continuous_joins_equal_postgresql_at_every_round() {
    let Some(pg) = PgServer::for_test() else { return };
    let (client, connection) =
        tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = support::open_store(&dir).await;
    let inner_sql = join_sql("JOIN");
    let left_sql = join_sql("LEFT JOIN");
    let mut inner = start_continuous(Arc::clone(&store), "clicks", &inner_sql, options()).await.expect("inner");
    let left = start_continuous(Arc::clone(&store), "searches", &left_sql, options()).await.expect("left");
    let mut generator = Generator(0x9e37_79b9_7f4a_7c15);
    let mut matched = 0;
    for round in 0..ROUNDS {
        if round == 2 {
            // Stopped for a round: the restart resumes from its checkpoint.
            inner.stop().await;
            append_round(&store, &mut generator, round).await;
            inner = start_continuous(Arc::clone(&store), "clicks", &inner_sql, options()).await.expect("restart");
        } else {
            append_round(&store, &mut generator, round).await;
        }
        let head = store.head_position().expect("a head").0;
        caught_up(&inner, head).await;
        load_events(&store, &client).await;
        let expected = oracle_rows(&client, "JOIN", head).await;
        assert_eq!(result_rows(&store, "clicks").await, expected, "round {round}: the inner join at position {head}");
        matched = expected.len();
    }
    let all = store.head_position().expect("a head").0;
    let searches = oracle_rows(&client, "LEFT JOIN", all).await;
    assert!(matched > 10, "the run produced matches: {matched}");
    assert!(searches.iter().any(|row| row["clicked"].is_null()), "and searches with no click in the bound");

    // The LEFT JOIN's last unmatched searches are written by the clock.
    let started = Instant::now();
    while result_rows(&store, "searches").await != searches && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(result_rows(&store, "searches").await, searches, "the LEFT JOIN once every bound has passed");

    // Ad hoc, over the same events (the result events are of other types).
    assert_eq!(adhoc_rows(&store, &inner_sql).await, oracle_rows(&client, "JOIN", u64::MAX >> 1).await);
    assert_eq!(adhoc_rows(&store, &left_sql).await, oracle_rows(&client, "LEFT JOIN", u64::MAX >> 1).await);

    inner.stop().await;
    left.stop().await;
    engine.shutdown().await;
}

/// Orders per customer per 100 ms window, as a continuous query.
const PER_WINDOW: &str = "SELECT date_bin('100 milliseconds', created) AS window, \
    json_str(data, 'customer') AS customer, count(*) AS orders \
    FROM event_type('OrderPlaced') GROUP BY window, customer";

/// Each payment with its customer's latest closed window.
const PAYMENT_WITH_WINDOW: &str = "SELECT p.position AS paid, json_str(t.data, 'window') AS window, \
    json_int(t.data, 'orders') AS orders FROM event_type('PaymentTaken') p LEFT JOIN query('per-window') t \
    ON json_str(p.data, 'customer') = json_str(t.data, 'customer')";

/// Goal: a join of a stream with another query's result meets, for each
/// event, the latest result row of its key written before it in the log,
/// as a plain fold over `$all` finds it, across a restart.
#[tokio::test]
async fn a_stream_joined_with_a_query_result_meets_the_latest_row_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = support::open_store(&dir).await;
    let windows = start_continuous(Arc::clone(&store), "per-window", PER_WINDOW, options()).await.expect("windows");
    let mut payments =
        start_continuous(Arc::clone(&store), "payments", PAYMENT_WITH_WINDOW, options()).await.expect("payments");
    let mut generator = Generator(0x51_7cc1_b727_220a);
    for round in 0..60_u64 {
        let customer = format!("c{}", generator.below(3));
        let event_type = if generator.below(3) == 0 { "PaymentTaken" } else { "OrderPlaced" };
        let event = ProposedEvent::json(event_type, json!({"customer": customer}).to_string());
        let stream = StreamName::new(format!("shop-{customer}")).expect("name");
        store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
        tokio::time::sleep(Duration::from_millis(generator.below(4) * 15)).await;
        if round == 30 {
            payments.stop().await;
            payments = start_continuous(Arc::clone(&store), "payments", PAYMENT_WITH_WINDOW, options())
                .await
                .expect("restart");
        }
    }
    let head = store.head_position().expect("a head").0;
    caught_up(&payments, head).await;

    // The fold: the latest row of `$query-per-window` per customer, met by each payment.
    let request =
        ReadAllRequest { from: AllFrom::Start, direction: Direction::Forwards, max_count: u64::MAX, filter: None };
    let mut events = store.read_all(request).await.expect("read $all");
    let mut latest: std::collections::HashMap<String, Json> = std::collections::HashMap::new();
    let mut expected = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.expect("an event");
        if event.position.0 > head {
            break;
        }
        let data: Json = match serde_json::from_slice(&event.data) {
            Ok(data) => data,
            Err(_) => continue,
        };
        let customer = data["customer"].as_str().unwrap_or_default().to_owned();
        if event.stream.as_str() == result_stream("per-window") {
            latest.insert(customer, data);
        } else if event.event_type == "PaymentTaken" {
            let row = latest.get(&customer);
            expected.push(json!({
                "paid": event.position.0,
                "window": row.map_or(Json::Null, |row| row["window"].clone()),
                "orders": row.map_or(Json::Null, |row| row["orders"].clone()),
            }));
        }
    }
    let expected = sorted(expected);
    assert!(expected.iter().any(|row| !row["orders"].is_null()), "some payments met a closed window: {expected:?}");
    assert_eq!(result_rows(&store, "payments").await, expected);
    windows.stop().await;
    payments.stop().await;
    engine.shutdown().await;
}
