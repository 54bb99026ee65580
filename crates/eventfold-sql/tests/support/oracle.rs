//! The oracle for continuous queries: the same events in the real engine
//! and in a PostgreSQL table, a continuous query run over the engine, and
//! the equivalent SQL run by PostgreSQL, compared at several positions of
//! the log.
//!
//! - [`generate`] makes a repeatable mix of orders (customers, amounts, a
//!   time `at` written in the order, some minutes late), payments of those
//!   orders, and clicks in sessions;
//! - [`Oracle::append`] appends them to the engine in small batches with
//!   pauses, so that `created` spans many short windows, and
//!   [`Oracle::load_postgres`] copies every event of `$all` into
//!   `events(stream, revision, position, event_type, created, created_ticks,
//!   data jsonb)`;
//! - [`Oracle::check`] runs a continuous query over the whole log, then
//!   compares, at each position asked, its result at that position (the
//!   rows of `$query-{name}` produced there or earlier, the latest per
//!   `$key`) with PostgreSQL's answer to the SQL with `{through}` replaced
//!   by the position.
//!
//! PostgreSQL helpers for the SQL: `ef_ticks(timestamptz)` (100 ns ticks),
//! `log_ticks(position)` (the `created` of the log at a position, in
//! ticks: what has closed a window on `created` there) and
//! `ef_json_time(data, 'at')` (`json_time`). Rows are compared as sets of
//! cells in column order: numbers to 6 places, timestamps to the
//! microsecond (PostgreSQL's precision), text as text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventfold_engine::Engine;
use eventfold_sql::{ContinuousOptions, plan_maintained, result_stream, start_continuous};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, ReadError, ReadStreamRequest,
    StreamName,
};
use eventfold_testkit::pg_server::PgServer;
use futures::StreamExt;
use tokio_postgres::types::Type;

/// One event to append.
#[derive(Clone, Debug)]
pub struct Generated {
    pub stream: String,
    pub event_type: String,
    pub data: serde_json::Value,
}

/// 2026-12-05T12:00:00Z in epoch milliseconds: where order times start.
pub const ORDER_TIME_BASE_MILLISECONDS: i64 = 1_796_472_000_000;

/// A small linear congruential generator: repeatable without a crate.
struct Repeatable(u64);

impl Repeatable {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// `count` events from `seed`: about half orders, a quarter payments, a
/// quarter clicks. One order in six carries a time one to five minutes
/// before the latest one, as ISO text or epoch milliseconds alternately.
pub fn generate(seed: u64, count: usize) -> Vec<Generated> {
    let mut random = Repeatable(seed);
    let mut events = Vec::with_capacity(count);
    let mut order_seconds = 0_i64;
    let mut orders = 0_u64;
    for _ in 0..count {
        match random.below(4) {
            0 | 1 => {
                order_seconds += i64::try_from(random.below(12)).unwrap_or(0);
                let late = random.below(6) == 0;
                let seconds = if late {
                    order_seconds - 60 - i64::try_from(random.below(240)).unwrap_or(0)
                } else {
                    order_seconds
                };
                let milliseconds = ORDER_TIME_BASE_MILLISECONDS + seconds * 1_000;
                let at = if orders.is_multiple_of(2) {
                    serde_json::json!(milliseconds)
                } else {
                    serde_json::json!(eventfold_sql::format_timestamp(milliseconds * 10_000))
                };
                let customer = format!("c-{}", random.below(5));
                let amount = 1 + random.below(100);
                events.push(Generated {
                    stream: format!("order-{orders}"),
                    event_type: "OrderPlaced".into(),
                    data: serde_json::json!({"customer": customer, "amount": amount, "at": at}),
                });
                orders += 1;
            }
            2 => {
                let order = random.below(orders.max(1));
                events.push(Generated {
                    stream: format!("payment-{order}"),
                    event_type: "PaymentTaken".into(),
                    data: serde_json::json!({"order": format!("order-{order}"), "amount": 1 + random.below(100)}),
                });
            }
            _ => {
                // Users click in bursts: one of few users, several clicks.
                let visitor = format!("u-{}", random.below(4));
                events.push(Generated {
                    stream: format!("click-{visitor}"),
                    event_type: "Clicked".into(),
                    data: serde_json::json!({"user": visitor, "page": format!("/p/{}", random.below(8))}),
                });
            }
        }
    }
    events
}

/// A cell of a result, comparable across the two engines.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    /// A number to 6 places.
    Number(String),
    /// Microseconds since the Unix epoch.
    Time(i64),
    Text(String),
}

pub struct Oracle {
    pub store: Arc<dyn EventStore>,
    engine: Engine,
    postgres: tokio_postgres::Client,
    /// The positions of the events appended, in order.
    pub positions: Vec<u64>,
    _server: PgServer,
    _dir: tempfile::TempDir,
}

impl Oracle {
    /// The engine and a PostgreSQL; `None` (the test is skipped, said on
    /// stderr) only where PostgreSQL is not installed.
    pub async fn start() -> Option<Oracle> {
        let server = PgServer::for_test()?;
        server.create_database("oracle").expect("create the database");
        let (postgres, connection) =
            tokio_postgres::connect(&server.url("oracle"), tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
        tokio::spawn(connection);
        postgres.batch_execute(SCHEMA).await.expect("create the events table");
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, store) = super::open_store(&dir).await;
        Some(Oracle { store, engine, postgres, positions: Vec::new(), _server: server, _dir: dir })
    }

    /// Appends `events` in batches of `batch`, pausing `pause(n)` after
    /// the `n`th batch (so that `created` moves on), each event on its own.
    pub async fn append(&mut self, events: &[Generated], batch: usize, pause: impl Fn(usize) -> Duration) {
        for (number, chunk) in events.chunks(batch.max(1)).enumerate() {
            for event in chunk {
                let stream = StreamName::new(event.stream.clone()).expect("a stream name");
                let proposed = ProposedEvent::json(event.event_type.clone(), event.data.to_string());
                let outcome = self
                    .store
                    .append(AppendRequest::new(stream, ExpectedRevision::Any, vec![proposed]))
                    .await
                    .expect("append");
                self.positions.push(outcome.position.expect("a position").0);
            }
            tokio::time::sleep(pause(number)).await;
        }
    }

    /// Copies every event of `$all` into PostgreSQL's `events`.
    pub async fn load_postgres(&mut self) {
        let insert = self
            .postgres
            .prepare_typed(
                "INSERT INTO events (stream, revision, position, event_type, created, created_ticks, data) \
                 VALUES ($1, $2, $3, $4, timestamptz 'epoch' + ($5 / 10) * interval '1 microsecond', $5, $6::text::jsonb)",
                &[Type::TEXT, Type::INT8, Type::INT8, Type::TEXT, Type::INT8, Type::TEXT],
            )
            .await
            .expect("prepare the insert");
        let transaction = self.postgres.transaction().await.expect("begin");
        let mut events = self.store.read_all(ReadAllRequest::forwards()).await.expect("read $all");
        while let Some(event) = events.next().await {
            let event = event.expect("an event");
            let data = std::str::from_utf8(&event.data).unwrap_or("null").to_owned();
            let data = if serde_json::from_str::<serde_json::Value>(&data).is_ok() { data } else { "null".into() };
            transaction
                .execute(
                    &insert,
                    &[
                        &event.stream.as_str(),
                        &i64::try_from(event.revision).expect("a revision"),
                        &i64::try_from(event.position.0).expect("a position"),
                        &event.event_type,
                        &event.created.ticks(),
                        &data,
                    ],
                )
                .await
                .expect("insert an event");
        }
        transaction.commit().await.expect("commit");
    }

    /// PostgreSQL's rows for `sql`, sorted.
    pub async fn postgres_rows(&self, sql: &str) -> Vec<Vec<Cell>> {
        let rows = self.postgres.query(sql, &[]).await.unwrap_or_else(|error| panic!("{sql}: {error:?}"));
        let mut cells: Vec<Vec<Cell>> =
            rows.iter().map(|row| (0..row.len()).map(|index| postgres_cell(row, index)).collect()).collect();
        cells.sort();
        cells
    }

    /// Starts continuous query `name` and waits until it has read every
    /// event appended.
    pub async fn run_continuous(&self, name: &str, sql: &str, options: ContinuousOptions) {
        let query = start_continuous(Arc::clone(&self.store), name, sql, options).await.expect("start the query");
        let last = self.positions.last().copied();
        let started = Instant::now();
        while query.status().position < last {
            assert!(started.elapsed() < Duration::from_secs(60), "{name} did not read the log: {:?}", query.status());
            assert!(query.status().failure.is_none(), "{name} failed: {:?}", query.status());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the rows of the last event be committed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        query.stop().await;
    }

    /// The result of continuous query `name` (of `sql`) at `through`: the
    /// rows produced at or before it, the latest per `$key`, sorted.
    pub async fn continuous_rows(&self, name: &str, sql: &str, through: u64) -> Vec<Vec<Cell>> {
        let columns = plan_maintained(sql, 1).expect("plans").columns().to_vec();
        let stream = StreamName::new(result_stream(name)).expect("a stream name");
        let events: Vec<_> = match self.store.read_stream(ReadStreamRequest::forwards(stream)).await {
            Ok(events) => events.collect().await,
            Err(ReadError::StreamNotFound { .. }) => Vec::new(),
            Err(error) => panic!("reading the rows of {name}: {error}"),
        };
        let mut latest = BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            let event = event.expect("a row event");
            let metadata: serde_json::Value = serde_json::from_slice(&event.metadata).expect("metadata");
            if metadata["$position"].as_u64().expect("$position") > through {
                continue;
            }
            let key = metadata["$key"].as_str().map_or_else(|| format!("row {index}"), str::to_owned);
            let row: serde_json::Value = serde_json::from_slice(&event.data).expect("data");
            latest.insert(key, columns.iter().map(|column| json_cell(&row[column])).collect::<Vec<_>>());
        }
        let mut rows: Vec<Vec<Cell>> = latest.into_values().collect();
        rows.sort();
        rows
    }

    /// Runs `sql` continuously as `name`, then at each of `positions`
    /// compares its result with PostgreSQL's rows for `postgres_sql`
    /// (`{through}` replaced by the position). Answers how many rows were
    /// compared, for the caller to check the test is not vacuous.
    pub async fn check(&self, name: &str, sql: &str, postgres_sql: &str, positions: &[u64]) -> usize {
        self.run_continuous(name, sql, super::quick_continuous_options()).await;
        let mut compared = 0;
        for through in positions {
            let expected = self.postgres_rows(&postgres_sql.replace("{through}", &through.to_string())).await;
            let actual = self.continuous_rows(name, sql, *through).await;
            assert_eq!(actual, expected, "{name} at position {through}");
            compared += actual.len();
        }
        compared
    }

    /// `count` positions spread over the events appended, the last one
    /// excluded: there the clock may have closed windows too.
    pub fn spread_positions(&self, count: usize) -> Vec<u64> {
        let usable = self.positions.len().saturating_sub(1);
        (1..=count).filter_map(|step| self.positions.get(usable * step / (count + 1))).copied().collect()
    }

    pub async fn shutdown(self) {
        self.engine.shutdown().await;
    }
}

const SCHEMA: &str = "
CREATE TABLE events (
    stream text NOT NULL,
    revision bigint NOT NULL,
    position bigint PRIMARY KEY,
    event_type text NOT NULL,
    created timestamptz NOT NULL,
    created_ticks bigint NOT NULL,
    data jsonb
);
CREATE FUNCTION ef_ticks(at timestamptz) RETURNS bigint
    AS $$ SELECT (extract(epoch FROM at) * 10000000)::bigint $$ LANGUAGE sql IMMUTABLE;
CREATE FUNCTION log_ticks(through bigint) RETURNS bigint
    AS $$ SELECT max(created_ticks) FROM events WHERE position <= through $$ LANGUAGE sql STABLE;
CREATE FUNCTION ef_json_time(data jsonb, field text) RETURNS timestamptz AS $$
    SELECT CASE jsonb_typeof(data -> field)
        WHEN 'number' THEN timestamptz 'epoch' + (data ->> field)::bigint * interval '1 millisecond'
        WHEN 'string' THEN (data ->> field)::timestamptz
    END $$ LANGUAGE sql IMMUTABLE;
";

fn number(value: f64) -> Cell {
    Cell::Number(format!("{value:.6}"))
}

fn postgres_cell(row: &tokio_postgres::Row, index: usize) -> Cell {
    let column_type = row.columns().get(index).map(|column| column.type_().clone());
    let cell = match column_type {
        Some(Type::INT2) => row.get::<_, Option<i16>>(index).map(|value| number(f64::from(value))),
        Some(Type::INT4) => row.get::<_, Option<i32>>(index).map(|value| number(f64::from(value))),
        Some(Type::INT8) => row.get::<_, Option<i64>>(index).map(|value| number(value as f64)),
        Some(Type::FLOAT4) => row.get::<_, Option<f32>>(index).map(|value| number(f64::from(value))),
        Some(Type::FLOAT8) => row.get::<_, Option<f64>>(index).map(number),
        Some(Type::TEXT | Type::VARCHAR) => row.get::<_, Option<String>>(index).map(Cell::Text),
        Some(Type::BOOL) => row.get::<_, Option<bool>>(index).map(|value| Cell::Text(value.to_string())),
        Some(Type::TIMESTAMPTZ | Type::TIMESTAMP) => {
            row.get::<_, Option<std::time::SystemTime>>(index).map(|at| Cell::Time(system_micros(at)))
        }
        other => panic!("column {index} has type {other:?}; cast it to bigint, float8, text or timestamptz"),
    };
    cell.unwrap_or(Cell::Null)
}

fn system_micros(at: std::time::SystemTime) -> i64 {
    match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).expect("in range"),
        Err(before) => -i64::try_from(before.duration().as_micros()).expect("in range"),
    }
}

fn json_cell(value: &serde_json::Value) -> Cell {
    match value {
        serde_json::Value::Null => Cell::Null,
        serde_json::Value::Number(value) => number(value.as_f64().expect("a number")),
        serde_json::Value::String(text) => parse_utc_micros(text).map_or_else(|| Cell::Text(text.clone()), Cell::Time),
        serde_json::Value::Bool(flag) => Cell::Text(flag.to_string()),
        other => Cell::Text(other.to_string()),
    }
}

/// `2026-12-05T14:03:07.1234567Z` (how a result row writes a timestamp)
/// to microseconds, rounded down as PostgreSQL's storage of ticks is.
fn parse_utc_micros(text: &str) -> Option<i64> {
    let body = text.strip_suffix('Z')?;
    let (date, time) = body.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (clock.next()?.ok()?, clock.next()?.ok()?, clock.next()?.ok()?);
    if fraction.len() > 7 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let ticks_fraction: i64 = format!("{fraction:0<7}").parse().ok()?;
    // Days since the epoch of a proleptic Gregorian date.
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((seconds * 10_000_000 + ticks_fraction).div_euclid(10))
}
