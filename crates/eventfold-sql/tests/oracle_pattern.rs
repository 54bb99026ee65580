//! Goal: a continuous `MATCH_RECOGNIZE` reports, at every position of the
//! log, exactly the matches that are final there, each once, and the same
//! ones a hand-written plain-Rust detector of the same pattern finds over
//! the same events; across a checkpoint and restore; and answered ad hoc
//! over the real engine it agrees with the continuous query. Patterns it
//! cannot run are refused with the reason.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventfold_sql::{MaintainedQuery, QueryRequest, SqlLimits, Value, plan_maintained, start_continuous, start_query};
use eventfold_store::{
    AppendRequest, ContentType, EventId, EventStore, ExpectedRevision, Position, ProposedEvent, ReadStreamRequest,
    RecordedEvent, StreamName, Timestamp,
};
use futures::StreamExt;

const SECOND: i64 = 10_000_000;
const MINUTE: i64 = 60 * SECOND;

const PAYMENTS: &str = "SELECT * FROM events MATCH_RECOGNIZE (\
     PARTITION BY stream ORDER BY position \
     MEASURES FIRST(F.created) AS first_failure, LAST(S.created) AS success, COUNT(F.*) AS failures \
     ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW \
     PATTERN (F{3,} S) \
     DEFINE F AS event_type = 'PaymentFailed', S AS event_type = 'PaymentSucceeded') WITHIN '10 minutes'";

const RISING: &str = "SELECT * FROM category('machine') MATCH_RECOGNIZE (\
     PARTITION BY stream ORDER BY created \
     MEASURES FIRST(A.position) AS start_position, LAST(UP.position) AS end_position, \
     MAX(json_float(UP.data, 't')) AS peak, MATCH_NUMBER() AS match \
     PATTERN (A UP{3}) \
     DEFINE UP AS json_float(data, 't') > PREV(json_float(data, 't')))";

/// A small deterministic generator, so a failure replays.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Failed,
    Succeeded,
    Reading(f64),
    Noise,
}

fn event(position: u64, created: i64, stream: &str, kind: &Kind) -> RecordedEvent {
    let (event_type, data) = match kind {
        Kind::Failed => ("PaymentFailed", "{}".to_owned()),
        Kind::Succeeded => ("PaymentSucceeded", "{}".to_owned()),
        Kind::Reading(t) => ("TemperatureRead", format!(r#"{{"t":{t}}}"#)),
        Kind::Noise => ("Heartbeat", "{}".to_owned()),
    };
    RecordedEvent {
        stream: StreamName::new(stream).expect("name"),
        revision: 0,
        position: Position(position),
        id: EventId::random(),
        event_type: event_type.to_owned(),
        content_type: ContentType::Json,
        created: Timestamp(created),
        data: Bytes::from(data),
        metadata: Bytes::new(),
    }
}

/// Payments failing and succeeding on a few accounts, temperatures of a few
/// machines drifting, and events of neither; `created` rising by up to
/// 90 seconds, so that some runs of failures outlast ten minutes.
fn generate(seed: u64, count: u64) -> Vec<(RecordedEvent, String, Kind)> {
    let mut random = Random(seed);
    let mut created = 1_800_000_000 * SECOND;
    let mut temperatures = [20.0_f64; 3];
    let mut events = Vec::new();
    for position in 0..count {
        created += i64::try_from(random.below(90)).expect("small") * SECOND;
        let (stream, kind) = match random.below(10) {
            0..=5 => {
                let stream = format!("account-{}", random.below(4));
                (stream, if random.below(10) < 7 { Kind::Failed } else { Kind::Succeeded })
            }
            6..=8 => {
                let machine = usize::try_from(random.below(3)).expect("small");
                temperatures[machine] += (random.below(5) as f64 - 1.5) / 2.0;
                (format!("machine-{machine}"), Kind::Reading(temperatures[machine]))
            }
            _ => ("noise-1".to_owned(), Kind::Noise),
        };
        events.push((event(position * 10, created, &stream, &kind), stream, kind));
    }
    events
}

fn iso(ticks: i64) -> serde_json::Value {
    serde_json::Value::String(eventfold_sql::format_timestamp(ticks))
}

/// The payment pattern by hand: per account, from each failure, the run
/// of failures within ten minutes of it, then a success within them.
/// `now` is the latest `created` read: a run it has passed is over.
fn payments_by_hand(events: &[(RecordedEvent, String, Kind)], now: i64) -> Vec<serde_json::Value> {
    let mut streams: BTreeMap<&str, Vec<(&Kind, i64)>> = BTreeMap::new();
    for (event, stream, kind) in events {
        streams.entry(stream).or_default().push((kind, event.created.0));
    }
    let mut found = Vec::new();
    for (stream, rows) in streams {
        let mut start = 0;
        while start < rows.len() {
            if !matches!(rows[start].0, Kind::Failed) {
                start += 1;
                continue;
            }
            let deadline = rows[start].1 + 10 * MINUTE;
            let mut next = start;
            while next < rows.len() && matches!(rows[next].0, Kind::Failed) && rows[next].1 < deadline {
                next += 1;
            }
            if next == rows.len() {
                if deadline <= now {
                    start += 1;
                    continue;
                }
                // Still open: neither it nor anything after it is final.
                break;
            }
            let failures = next - start;
            if failures >= 3 && matches!(rows[next].0, Kind::Succeeded) && rows[next].1 < deadline {
                found.push(serde_json::json!({
                    "stream": stream,
                    "first_failure": iso(rows[start].1),
                    "success": iso(rows[next].1),
                    "failures": failures,
                }));
                start = next + 1;
            } else {
                start += 1;
            }
        }
    }
    found
}

/// The rising pattern by hand: per machine, a reading then three readings
/// each warmer than the one before.
fn rising_by_hand(events: &[(RecordedEvent, String, Kind)]) -> Vec<serde_json::Value> {
    let mut streams: BTreeMap<&str, Vec<(f64, u64)>> = BTreeMap::new();
    for (event, stream, kind) in events {
        if let Kind::Reading(t) = kind {
            streams.entry(stream).or_default().push((*t, event.position.0));
        }
    }
    let mut found = Vec::new();
    for (stream, rows) in streams {
        let rises = |row: usize| rows[row].0 > rows[row - 1].0;
        let mut start = 0;
        let mut matches = 0;
        while start < rows.len() {
            let present = (start + 1..=start + 3).filter(|row| *row < rows.len());
            if start + 3 < rows.len() {
                if (start + 1..=start + 3).all(rises) {
                    matches += 1;
                    let peak = rows[start + 1..=start + 3].iter().map(|row| row.0).fold(f64::MIN, f64::max);
                    found.push(serde_json::json!({
                        "stream": stream,
                        "start_position": rows[start].1,
                        "end_position": rows[start + 3].1,
                        "peak": peak,
                        "match": matches,
                    }));
                    start += 4;
                } else {
                    start += 1;
                }
            } else if present.clone().all(rises) {
                break;
            } else {
                start += 1;
            }
        }
    }
    found
}

fn as_objects(query: &dyn MaintainedQuery, rows: Vec<eventfold_sql::ResultRow>) -> Vec<serde_json::Value> {
    rows.into_iter()
        .map(|row| {
            let object: serde_json::Map<String, serde_json::Value> =
                query.columns().iter().cloned().zip(row.values.iter().map(Value::to_json)).collect();
            serde_json::Value::Object(object)
        })
        .collect()
}

fn sorted(mut rows: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    rows.sort_by_key(|row| row.to_string());
    rows
}

#[test]
fn continuous_matches_equal_the_plain_rust_detector_at_every_checked_position() {
    for seed in [7_u64, 1234, 99_991, 424_242] {
        let events = generate(seed, 900);
        let mut payments = plan_maintained(PAYMENTS, 100_000).expect("payments");
        let mut rising = plan_maintained(RISING, 100_000).expect("rising");
        let (mut paid, mut rose) = (Vec::new(), Vec::new());
        for (index, (event, _, _)) in events.iter().enumerate() {
            let rows = payments.apply(event).expect("apply");
            paid.extend(as_objects(payments.as_ref(), rows));
            let rows = rising.apply(event).expect("apply");
            rose.extend(as_objects(rising.as_ref(), rows));
            let read = index + 1;
            if read % 75 == 0 {
                let prefix = &events[..read];
                let now = event.created.0;
                assert_eq!(sorted(paid.clone()), sorted(payments_by_hand(prefix, now)), "seed {seed}, {read} events");
                assert_eq!(sorted(rose.clone()), sorted(rising_by_hand(prefix)), "seed {seed}, {read} events");
            }
            if read == 450 {
                // A restart from the checkpoint goes on as if nothing happened.
                let mut restored = plan_maintained(PAYMENTS, 100_000).expect("payments");
                restored.restore(&payments.to_json()).expect("restore payments");
                payments = restored;
                let mut restored = plan_maintained(RISING, 100_000).expect("rising");
                restored.restore(&rising.to_json()).expect("restore rising");
                rising = restored;
            }
        }
        // The clock passes every time bound of an idle log.
        let last = events.last().expect("events").0.created.0;
        let rows = payments.close_through(last + 11 * MINUTE);
        paid.extend(as_objects(payments.as_ref(), rows));
        assert_eq!(sorted(paid.clone()), sorted(payments_by_hand(&events, i64::MAX)), "seed {seed}, closed");
        assert!(paid.len() >= 3, "seed {seed}: the data makes matches: {}", paid.len());
        assert!(rose.len() >= 3, "seed {seed}: the data makes matches: {}", rose.len());
        assert!(payments.held() < 100, "a closed log leaves only what is pending: {}", payments.held());
    }
}

fn refusal(sql: &str) -> String {
    match plan_maintained(sql, 100) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("accepted: {sql}"),
    }
}

fn with(clauses: &str) -> String {
    format!("SELECT * FROM events MATCH_RECOGNIZE ({clauses})")
}

#[test]
fn patterns_that_cannot_run_are_refused_with_the_reason() {
    let define = "DEFINE A AS event_type = 'X'";
    for (clauses, reason) in [
        (format!("ORDER BY stream PATTERN (A B) {define}"), "ORDER BY stream"),
        (format!("ORDER BY position DESC PATTERN (A B) {define}"), "ORDER BY position DESC"),
        (format!("MEASURES COUNT(*) AS n ALL ROWS PER MATCH PATTERN (A B) {define}"), "ALL ROWS PER MATCH"),
        (format!("AFTER MATCH SKIP TO FIRST B PATTERN (A B) {define}"), "TO FIRST"),
        (format!("PATTERN (PERMUTE(A, B)) {define}"), "PERMUTE"),
        (format!("PATTERN (^ A B) {define}"), "anchors"),
        (format!("PATTERN (A*) {define}"), "no rows"),
        (format!("PATTERN (A B) {define}, C AS true"), "DEFINE names C"),
        ("PATTERN (A B) DEFINE B AS created - FIRST(A.created) < INTERVAL '1 minute'".to_owned(), "FIRST"),
        (format!("MEASURES A.created AS moment PATTERN (A B) {define}"), "measure"),
        (format!("MEASURES SUM(A.position + B.position) AS s PATTERN (A B) {define}"), "one variable"),
        ("PATTERN (A B) DEFINE B AS PREV(stream) LIKE 'x%'".to_owned(), "PREV"),
    ] {
        let refused = refusal(&with(&clauses));
        assert!(refused.contains(reason), "{clauses}: {refused}");
    }
    let twice = with(&format!("PARTITION BY stream MEASURES COUNT(*) AS stream PATTERN (A B) {define}"));
    assert!(refusal(&twice).contains("two columns are named stream"));
    let around = format!("{} WHERE stream = 'x'", with(&format!("PATTERN (A B) {define}")));
    assert!(refusal(&around).contains("WHERE"));
    let bad_within = format!("{} WITHIN 'soon'", with(&format!("PATTERN (A B) {define}")));
    assert!(refusal(&bad_within).contains("WITHIN"));

    // The README's examples.
    let readme = [
        PAYMENTS.replace("FROM events", "FROM category('account')"),
        "SELECT * FROM category('machine') MATCH_RECOGNIZE (PARTITION BY stream ORDER BY position \
         MEASURES FIRST(A.created) AS start, MAX(json_float(UP.data, 't')) AS peak, MATCH_NUMBER() AS n \
         PATTERN (A UP{3}) DEFINE UP AS json_float(data, 't') > PREV(json_float(data, 't')))"
            .to_owned(),
    ];
    assert_eq!(plan_maintained(&readme[0], 100).expect("payments").columns().len(), 4);
    assert_eq!(plan_maintained(&readme[1], 100).expect("rising").columns(), ["stream", "start", "peak", "n"]);
    let flink = "SELECT * FROM events MATCH_RECOGNIZE (MEASURES COUNT(*) AS n \
                 PATTERN (A{,2} B? C | C) WITHIN INTERVAL '10' MINUTE DEFINE A AS true, B AS true, C AS true)";
    if let Err(error) = plan_maintained(flink, 100) {
        panic!("{flink}: {error}");
    }

    // No PARTITION BY and no ORDER BY is fine: the whole log, in its order.
    let whole_log = plan_maintained(
        &with(&format!("MEASURES COUNT(*) AS n, MATCH_NUMBER() AS m PATTERN ((A | B)+? B) {define}, B AS true")),
        100,
    )
    .expect("accepted");
    assert_eq!(whole_log.columns(), ["n", "m"]);
}

#[test]
fn the_state_limit_fails_the_query_clearly() {
    let sql = with("PARTITION BY stream MEASURES COUNT(*) AS n PATTERN (A+ B) DEFINE A AS true, B AS false");
    let mut query = plan_maintained(&sql, 50).expect("plan");
    let mut failure = None;
    for position in 0..200 {
        if let Err(error) = query.apply(&event(position, position as i64, "account-1", &Kind::Failed)) {
            failure = Some(error.to_string());
            break;
        }
    }
    let failure = failure.expect("the state limit was reached");
    assert!(failure.contains("more than 50"), "{failure}");
}

async fn append(store: &Arc<dyn EventStore>, stream: &str, event_type: &str) {
    let stream = StreamName::new(stream).expect("name");
    let event = ProposedEvent::json(event_type, "{}");
    store.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
}

#[tokio::test]
async fn ad_hoc_and_continuous_answers_agree_over_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = support::open_store(&dir).await;
    let query = start_continuous(Arc::clone(&store), "payments", PAYMENTS, support::quick_continuous_options())
        .await
        .expect("start");
    let runs: [(&str, &[&str]); 5] = [
        ("account-1", &["F", "F", "F", "S"]),
        ("account-2", &["F", "F", "F", "F", "F", "S", "F", "S"]),
        ("account-3", &["F", "F", "S", "F", "F", "F", "S"]),
        ("account-4", &["F", "F", "F", "F"]),
        ("order-1", &["S"]),
    ];
    for step in 0..8 {
        for (stream, run) in runs {
            if let Some(letter) = run.get(step) {
                let event_type = if *letter == "F" { "PaymentFailed" } else { "PaymentSucceeded" };
                append(&store, stream, event_type).await;
            }
        }
    }
    let answer = start_query(Arc::clone(&store), QueryRequest::new(PAYMENTS), &SqlLimits::default())
        .await
        .expect("ad hoc")
        .collect()
        .await
        .expect("answer");
    let ad_hoc: Vec<serde_json::Value> = answer
        .rows
        .iter()
        .map(|row| {
            serde_json::Value::Object(answer.columns.iter().cloned().zip(row.iter().map(Value::to_json)).collect())
        })
        .collect();
    let mut failures: Vec<(String, i64)> =
        ad_hoc.iter().map(|row| (row["stream"].to_string(), row["failures"].as_i64().expect("failures"))).collect();
    failures.sort();
    let expected =
        [("account-1", 3), ("account-2", 5), ("account-3", 3)].map(|(stream, count)| (format!("{stream:?}"), count));
    assert_eq!(failures, expected, "{ad_hoc:?}");
    let started = Instant::now();
    loop {
        let written = support::result_rows(&store, "payments").await;
        if sorted(written.clone()) == sorted(ad_hoc.clone()) || started.elapsed() > Duration::from_secs(20) {
            assert_eq!(sorted(written), sorted(ad_hoc), "continuous against ad hoc");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = query.status();
    assert!(status.failure.is_none(), "{status:?}");
    query.stop().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn when_nothing_follows_a_greedy_run_its_time_bound_makes_the_match_final() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = support::open_store(&dir).await;
    let sql = "SELECT stream, failures FROM category('account') MATCH_RECOGNIZE (PARTITION BY stream \
               MEASURES COUNT(F.*) AS failures PATTERN (F{3,}) DEFINE F AS event_type = 'PaymentFailed') \
               WITHIN '300 milliseconds'";
    let query =
        start_continuous(Arc::clone(&store), "runs", sql, support::quick_continuous_options()).await.expect("start");
    for stream in ["account-1", "account-1", "account-1", "account-1", "account-2"] {
        append(&store, stream, "PaymentFailed").await;
    }
    // No row follows the run: only the time bound passing (by a later
    // event of the log, or by the clock) ends it.
    let expected = vec![serde_json::json!({"stream": "account-1", "failures": 4})];
    let started = Instant::now();
    loop {
        let written = support::result_rows(&store, "runs").await;
        if written == expected || started.elapsed() > Duration::from_secs(20) {
            assert_eq!(written, expected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = start_query(Arc::clone(&store), QueryRequest::new(sql), &SqlLimits::default())
        .await
        .expect("ad hoc")
        .collect()
        .await
        .expect("answer");
    assert_eq!(answer.rows, vec![vec![Value::Text("account-1".into()), Value::Int(4)]]);
    let explained = start_query(Arc::clone(&store), QueryRequest::new(format!("EXPLAIN {sql}")), &SqlLimits::default())
        .await
        .expect("explain")
        .collect()
        .await
        .expect("answer");
    let text = format!("{:?}", explained.rows);
    assert!(text.contains("$ce-account") && text.contains("300 ms"), "{text}");
    query.stop().await;
    engine.shutdown().await;
}

#[tokio::test]
async fn a_partial_match_survives_a_stop_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, store) = support::open_store(&dir).await;
    let options = support::quick_continuous_options();
    let query = start_continuous(Arc::clone(&store), "resumed", PAYMENTS, options).await.expect("start");
    append(&store, "account-1", "PaymentFailed").await;
    append(&store, "account-1", "PaymentFailed").await;
    // Wait for a checkpoint that holds the two failures, then stop.
    let started = Instant::now();
    while query.status().position.is_none() || query.status().events_read < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "the query reads the failures");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    query.stop().await;
    // The checkpoint holds the partial match (so the restart resumes it,
    // rather than reading the log again from its start).
    let checkpoint = StreamName::new("$query-resumed-checkpoint").expect("name");
    let request = ReadStreamRequest {
        stream: checkpoint,
        from: eventfold_store::RevisionFrom::End,
        direction: eventfold_store::Direction::Backwards,
        max_count: 1,
    };
    let last = store.read_stream(request).await.expect("a checkpoint").next().await.expect("one").expect("read");
    let state: serde_json::Value = serde_json::from_slice(&last.data).expect("JSON");
    let pending = state["partitions"].as_array().expect("partitions").iter().any(|partition| {
        partition["keys"][0]["text"] == "account-1"
            && !partition["matcher"]["attempts"].as_array().expect("attempts").is_empty()
    });
    assert!(pending, "{state}");
    append(&store, "account-1", "PaymentFailed").await;
    append(&store, "account-1", "PaymentSucceeded").await;
    let query = start_continuous(Arc::clone(&store), "resumed", PAYMENTS, options).await.expect("restart");
    let started = Instant::now();
    loop {
        let written = support::result_rows(&store, "resumed").await;
        if !written.is_empty() || started.elapsed() > Duration::from_secs(20) {
            assert_eq!(written.len(), 1, "{written:?}");
            assert_eq!(written[0]["failures"], 3, "{written:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(support::result_rows(&store, "resumed").await.len(), 1, "the match is written once");
    query.stop().await;
    engine.shutdown().await;
}
