//! The join state against a nested loop written out in plain Rust: at
//! every position, the rows produced so far are the join of the events read
//! so far; a checkpoint restored mid-way continues alike; the state limit
//! stops a join that would hold more.

use bytes::Bytes;
use eventfold_store::{ContentType, EventId, Position, RecordedEvent, StreamName, Timestamp};

use super::plan_join;
use super::state::JoinState;
use crate::statement::{self, Parsed};
use crate::value::{TICKS_PER_MILLISECOND, Value};

const WITHIN_MILLISECONDS: i64 = 30;
const WITHIN: i64 = WITHIN_MILLISECONDS * TICKS_PER_MILLISECOND;

fn state(sql: &str, held_max: usize) -> JoinState {
    let Parsed::Query(query) = statement::parse(sql).expect("parse") else { panic!("not a query") };
    JoinState::new(plan_join(&query).expect("plan"), held_max)
}

/// Searches and clicks over a few sessions, `created` rising by 0 to 9
/// milliseconds (equal stamps included), from a fixed seed.
fn events(count: u64) -> Vec<RecordedEvent> {
    let mut seed = 0x2545_f491_u64;
    let mut next = |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut created = 1_000_i64;
    (0..count)
        .map(|index| {
            created += i64::try_from(next(10)).expect("small") * TICKS_PER_MILLISECOND;
            let event_type = if next(2) == 0 { "Searched" } else { "Clicked" };
            let data = serde_json::json!({"session": format!("s{}", next(4)), "n": index});
            RecordedEvent {
                stream: StreamName::new(format!("session-{}", next(3))).expect("name"),
                revision: index,
                position: Position(index * 100),
                id: EventId::random(),
                event_type: event_type.into(),
                content_type: ContentType::Json,
                created: Timestamp(created),
                data: Bytes::from(data.to_string()),
                metadata: Bytes::new(),
            }
        })
        .collect()
}

fn field(event: &RecordedEvent, name: &str) -> serde_json::Value {
    let data: serde_json::Value = serde_json::from_slice(&event.data).expect("json");
    data[name].clone()
}

fn sql(kind: &str) -> String {
    format!(
        "SELECT s.position AS searched, c.position AS clicked FROM event_type('Searched') s {kind} \
         event_type('Clicked') c ON json_str(s.data, 'session') = json_str(c.data, 'session') \
         AND c.created BETWEEN s.created AND s.created + INTERVAL '{WITHIN_MILLISECONDS} milliseconds'"
    )
}

fn naive_inner(events: &[RecordedEvent]) -> Vec<(i64, Option<i64>)> {
    let mut rows = Vec::new();
    for search in events.iter().filter(|event| event.event_type == "Searched") {
        for click in events.iter().filter(|event| event.event_type == "Clicked") {
            let within = (search.created.0..=search.created.0 + WITHIN).contains(&click.created.0);
            if within && field(search, "session") == field(click, "session") {
                rows.push((position(search), Some(position(click))));
            }
        }
    }
    rows.sort();
    rows
}

fn position(event: &RecordedEvent) -> i64 {
    i64::try_from(event.position.0).expect("small")
}

fn pairs(rows: &[Vec<Value>]) -> Vec<(i64, Option<i64>)> {
    let mut pairs: Vec<(i64, Option<i64>)> = rows
        .iter()
        .map(|row| match row.as_slice() {
            [Value::Int(left), Value::Int(right)] => (*left, Some(*right)),
            [Value::Int(left), Value::Null] => (*left, None),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn inner_join_rows_at_every_position_equal_the_nested_loop() {
    let events = events(400);
    let mut join = state(&sql("JOIN"), 10_000);
    let mut rows = Vec::new();
    for (index, event) in events.iter().enumerate() {
        rows.extend(join.apply(event).expect("apply"));
        assert_eq!(pairs(&rows), naive_inner(&events[..=index]), "after event {index}");
    }
    assert!(!rows.is_empty());
    // Only the events within the bound of the last one are still held.
    assert!(join.held() < 60, "held {}", join.held());
}

#[test]
fn left_join_adds_each_unmatched_search_once_its_bound_has_passed() {
    let events = events(300);
    let mut join = state(&sql("LEFT JOIN"), 10_000);
    let mut rows = Vec::new();
    for event in &events {
        rows.extend(join.apply(event).expect("apply"));
    }
    rows.extend(join.close_through(i64::MAX));
    let mut expected = naive_inner(&events);
    for search in events.iter().filter(|event| event.event_type == "Searched") {
        if !expected.iter().any(|(left, _)| *left == position(search)) {
            expected.push((position(search), None));
        }
    }
    expected.sort();
    assert_eq!(pairs(&rows), expected);
    assert!(expected.iter().any(|(_, right)| right.is_none()));
    assert_eq!(join.held(), 0);
}

#[test]
fn a_restored_checkpoint_reads_again_and_continues_as_the_state_it_saved() {
    let events = events(300);
    for kind in ["JOIN", "LEFT JOIN"] {
        // The clock on an idle log after some events, as far as the next
        // event's stamp.
        let clock_after = |index: usize| {
            events.get(index + 1).filter(|_| index.is_multiple_of(23)).map(|following| following.created.ticks())
        };
        let mut whole = state(&sql(kind), 10_000);
        let mut whole_rows = Vec::new();
        for (index, event) in events.iter().enumerate() {
            whole_rows.extend(whole.apply(event).expect("apply"));
            if let Some(through) = clock_after(index) {
                whole_rows.extend(whole.close_through(through));
            }
        }
        let mut split = state(&sql(kind), 10_000);
        let mut split_rows = Vec::new();
        let (mut next, mut steps, mut checkpoints) = (0, 0_u64, 0);
        while let Some(event) = events.get(next) {
            split_rows.extend(split.apply(event).expect("apply"));
            if let Some(through) = clock_after(next) {
                split_rows.extend(split.close_through(through));
            }
            next += 1;
            steps += 1;
            if steps.is_multiple_of(37) {
                // A restart: restore, then read again after the position
                // the restored state asks for, as the runner does.
                let saved = split.to_json();
                split = state(&sql(kind), 10_000);
                split.restore(&saved).expect("restore");
                next = match split.position() {
                    None => 0,
                    Some(after) => events.iter().position(|event| event.position.0 > after).expect("an event after"),
                };
                checkpoints += 1;
            }
        }
        assert!(checkpoints > 5);
        // The same rows in the same order: replayed row ids depend on it.
        assert_eq!(whole_rows, split_rows, "{kind}");
        let saved = split.to_json().to_string();
        assert!(saved.len() < 2_000, "a checkpoint holds no event: {saved}");
    }
    let windowed = serde_json::json!({"position": 3, "closedThrough": 0, "lateEvents": 0, "groups": []});
    assert!(state(&sql("JOIN"), 10).restore(&windowed).is_none());
}

#[test]
fn a_join_holding_more_than_its_limit_fails_with_the_reason() {
    let mut join = state(&sql("JOIN"), 5);
    let failure = events(100).iter().find_map(|event| join.apply(event).err()).expect("the limit is reached");
    assert!(failure.to_string().contains("holds 5 events"), "{failure}");
}

const WITH_TOTALS: &str = "SELECT o.position AS ordered, json_int(t.data, 'orders') AS orders_before \
    FROM event_type('OrderPlaced') o LEFT JOIN query('totals') t \
    ON json_str(o.data, 'customer') = json_str(t.data, 'customer')";

/// Orders and the result rows of a query `totals` (one per customer
/// update), interleaved.
fn orders_and_totals(count: u64) -> Vec<RecordedEvent> {
    let mut seed = 0x1234_5678_u64;
    let mut next = |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    (0..count)
        .map(|index| {
            let customer = format!("c{}", next(5));
            let (stream, event_type, data) = if next(3) == 0 {
                (
                    "$query-totals".to_owned(),
                    "QueryResult",
                    serde_json::json!({"customer": customer, "orders": next(100)}),
                )
            } else {
                (format!("order-{index}"), "OrderPlaced", serde_json::json!({"customer": customer}))
            };
            RecordedEvent {
                stream: StreamName::new(stream).expect("name"),
                revision: 0,
                position: Position(index * 100),
                id: EventId::random(),
                event_type: event_type.into(),
                content_type: ContentType::Json,
                created: Timestamp(i64::try_from(index).expect("small")),
                data: Bytes::from(data.to_string()),
                metadata: Bytes::new(),
            }
        })
        .collect()
}

#[test]
fn each_event_meets_the_latest_row_of_a_query_result_at_its_position() {
    let events = orders_and_totals(300);
    let mut expected = Vec::new();
    for (index, order) in events.iter().enumerate().filter(|(_, event)| event.event_type == "OrderPlaced") {
        let latest = events[..index]
            .iter()
            .rev()
            .find(|row| row.event_type == "QueryResult" && field(row, "customer") == field(order, "customer"));
        expected.push((position(order), latest.map(|row| field(row, "orders").as_i64().expect("orders"))));
    }
    let mut join = state(WITH_TOTALS, 100);
    let mut rows = Vec::new();
    for (index, event) in events.iter().enumerate() {
        rows.extend(join.apply(event).expect("apply"));
        if index == 150 {
            // A restart: the table is in the checkpoint, reading resumes after it.
            let saved = join.to_json();
            join = state(WITH_TOTALS, 100);
            join.restore(&saved).expect("restore");
            assert_eq!(join.position(), Some(event.position.0));
        }
    }
    assert_eq!(pairs(&rows), expected);
    assert!(expected.iter().any(|(_, orders)| orders.is_none()) && expected.iter().any(|(_, orders)| orders.is_some()));
    assert_eq!(join.held(), 5, "one row per customer");
    let mut too_small = state(WITH_TOTALS, 2);
    assert!(events.iter().any(|event| too_small.apply(event).is_err()), "five customers' rows exceed a limit of two");
}

#[test]
fn a_bound_reaching_back_before_the_left_event_is_kept_both_ways() {
    // Clicks from 30 ms before to 10 ms after the search, written with
    // comparisons and the left side second.
    let sql = "SELECT s.position AS searched, c.position AS clicked FROM event_type('Searched') s JOIN \
        event_type('Clicked') c ON json_str(c.data, 'session') = json_str(s.data, 'session') \
        AND s.created <= c.created + INTERVAL '30 milliseconds' AND s.created + INTERVAL '10 milliseconds' >= c.created";
    let events = events(400);
    let mut join = state(sql, 10_000);
    let mut rows = Vec::new();
    let window = 10 * TICKS_PER_MILLISECOND;
    for (index, event) in events.iter().enumerate() {
        rows.extend(join.apply(event).expect("apply"));
        let mut expected = Vec::new();
        for search in events[..=index].iter().filter(|event| event.event_type == "Searched") {
            for click in events[..=index].iter().filter(|event| event.event_type == "Clicked") {
                let within = (search.created.0 - WITHIN..=search.created.0 + window).contains(&click.created.0);
                if within && field(search, "session") == field(click, "session") {
                    expected.push((position(search), Some(position(click))));
                }
            }
        }
        expected.sort();
        assert_eq!(pairs(&rows), expected, "after event {index}");
    }
    assert!(rows.len() > 20);
}
