//! Model test of the processor: for random event sequences, the final state
//! of every partition equals folding the same events in plain Rust, whether
//! the events come in one batch or many, and across a checkpoint restore.

use std::collections::BTreeMap;

use eventfold_projections::Processor;
use eventfold_projections::runtime::{RuntimeLimits, compile};
use eventfold_store::{ContentType, EventId, Position, RecordedEvent, StreamName, Timestamp};
use proptest::prelude::*;

const QUERY: &str = "fromAll().partitionBy(function (e) { return e.data.key; }).when({ \
    $init: function () { return { sum: 0, count: 0, last: null }; }, \
    deposited: function (s, e) { s.sum += e.data.amount; s.count += 1; s.last = e.eventType; }, \
    withdrawn: function (s, e) { s.sum -= e.data.amount; s.count += 1; s.last = e.eventType; } })";

#[derive(Clone, Debug)]
struct Input {
    stream: u8,
    key: u8,
    kind: u8,
    amount: i32,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Folded {
    sum: i64,
    count: u64,
    last: Option<String>,
}

fn event_type(kind: u8) -> &'static str {
    match kind {
        0 => "deposited",
        1 => "withdrawn",
        _ => "ignored",
    }
}

fn recorded(inputs: &[Input]) -> Vec<RecordedEvent> {
    let mut revisions: BTreeMap<u8, u64> = BTreeMap::new();
    inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let revision = revisions.entry(input.stream).or_insert(0);
            let event = RecordedEvent {
                stream: StreamName::new(format!("account-{}", input.stream)).expect("name"),
                revision: *revision,
                position: Position(index as u64 * 100),
                id: EventId::random(),
                event_type: event_type(input.kind).into(),
                content_type: ContentType::Json,
                created: Timestamp(0),
                data: format!(r#"{{"key":"k{}","amount":{}}}"#, input.key, input.amount).into_bytes().into(),
                metadata: Default::default(),
            };
            *revision += 1;
            event
        })
        .collect()
}

/// The same fold in plain Rust.
fn model(inputs: &[Input]) -> BTreeMap<String, Folded> {
    let mut states: BTreeMap<String, Folded> = BTreeMap::new();
    for input in inputs {
        if input.kind > 1 {
            // Not handled: the event is not even read, so no partition starts.
            continue;
        }
        let state = states.entry(format!("k{}", input.key)).or_default();
        state.sum += if input.kind == 0 { i64::from(input.amount) } else { -i64::from(input.amount) };
        state.count += 1;
        state.last = Some(event_type(input.kind).into());
    }
    states
}

fn folded(state: &str) -> Folded {
    let value: serde_json::Value = serde_json::from_str(state).expect("json");
    Folded {
        sum: value["sum"].as_f64().expect("sum") as i64,
        count: value["count"].as_u64().expect("count"),
        last: value["last"].as_str().map(str::to_owned),
    }
}

fn processor() -> Processor {
    Processor::new(compile(QUERY, RuntimeLimits::default()).expect("compiles"))
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    prop::collection::vec(
        (0u8..4, 0u8..5, 0u8..3, -1000i32..1000).prop_map(|(stream, key, kind, amount)| Input {
            stream,
            key,
            kind,
            amount,
        }),
        0..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_partition_equals_the_plain_fold(inputs in inputs(), split in 0usize..120) {
        let events = recorded(&inputs);
        let expected = model(&inputs);
        let split = split.min(events.len());

        // In two batches, with a checkpoint restore between them.
        let mut first = processor();
        let batch = first.process(&events[..split]).expect("first batch");
        let mut saved: BTreeMap<String, String> = BTreeMap::new();
        for change in batch.changes.partitions {
            if let Some(state) = change.state {
                saved.insert(change.partition, state);
            }
        }
        let mut second = processor();
        second.restore(&saved, None).expect("restore");
        second.process(&events[split..]).expect("second batch");

        // And in one batch per event.
        let mut single = processor();
        for event in &events {
            single.process(std::slice::from_ref(event)).expect("one event");
        }

        for candidate in [&mut second, &mut single] {
            let mut actual = BTreeMap::new();
            for key in expected.keys() {
                let state = candidate.runtime().state(key).expect("state").expect("partition exists");
                actual.insert(key.clone(), folded(&state));
            }
            prop_assert_eq!(&actual, &expected);
            prop_assert_eq!(candidate.partitions(), expected.len());
        }
    }
}
