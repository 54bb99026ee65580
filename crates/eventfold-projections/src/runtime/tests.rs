use std::time::{Duration, Instant};

use super::{QueryError, QueryRuntime, RuntimeError, RuntimeLimits, SourceEvent, compile};

fn event<'a>(stream: &'a str, revision: u64, event_type: &'a str, data: &'a str) -> SourceEvent<'a> {
    SourceEvent {
        stream: stream.into(),
        revision,
        event_type: event_type.into(),
        event_id: format!("id-{stream}-{revision}").into(),
        data: data.into(),
        metadata: "".into(),
        link_metadata: None,
        is_json: true,
        created: "2026-01-01T00:00:00Z".into(),
    }
}

fn runtime(query: &str) -> Box<dyn QueryRuntime> {
    compile(query, RuntimeLimits::default()).expect("the query compiles")
}

#[test]
fn a_counting_query_counts() {
    let mut query = runtime(
        "fromAll().when({ $init: function () { return { count: 0 }; }, \
         added: function (s, e) { s.count += e.data.n; } })",
    );
    for revision in 0..3 {
        query.handle(&event("a-1", revision, "added", r#"{"n":2}"#)).expect("handled");
    }
    assert_eq!(query.state("").expect("state").as_deref(), Some(r#"{"count":6}"#));
}

#[test]
fn a_syntax_error_names_line_and_column() {
    let error = compile("fromAll()\n  .when({ $any: function (s, e) { s.x = ; } })", RuntimeLimits::default())
        .err()
        .expect("refused");
    match error {
        QueryError::Syntax { line, column, .. } => {
            assert_eq!(line, 2);
            assert!(column > 0, "column {column}");
        }
        other => panic!("not a syntax error: {other:?}"),
    }
}

#[test]
fn an_unknown_option_is_refused() {
    let error = compile("options({ noSuchOption: true }); fromAll().when({})", RuntimeLimits::default())
        .err()
        .expect("refused");
    assert!(error.to_string().contains("noSuchOption"), "{error}");
}

#[test]
fn a_query_without_source_is_refused() {
    assert_eq!(compile("", RuntimeLimits::default()).err(), Some(QueryError::NoSource));
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let limits = RuntimeLimits { event_deadline: Duration::from_millis(100), ..RuntimeLimits::default() };
    let mut query = compile("fromAll().when({ $any: function (s, e) { while (true) {} } })", limits).expect("compiles");
    let started = Instant::now();
    let error = query.handle(&event("a-1", 0, "x", "{}")).expect_err("faults");
    assert_eq!(error, RuntimeError::DeadlineExceeded(Duration::from_millis(100)));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The runtime stays usable for reads after a fault.
    assert!(query.state("").is_ok());
}

#[test]
fn a_memory_hog_runs_out_of_its_own_memory() {
    let limits = RuntimeLimits { memory_bytes: 16 * 1024 * 1024, ..RuntimeLimits::default() };
    let mut query = compile(
        "fromAll().when({ $any: function (s, e) { var a = []; while (true) { a.push('x'.repeat(1000) + a.length); } } })",
        limits,
    )
    .expect("compiles");
    let error = query.handle(&event("a-1", 0, "x", "{}")).expect_err("faults");
    // Where QuickJS cannot allocate even its error, it throws a bare null,
    // which the prelude's catch sees as a query's `throw null`.
    let out_of_memory_as_null =
        matches!(&error, RuntimeError::Threw(reason) if reason.starts_with("null (") && reason.contains("memory"));
    assert!(
        matches!(error, RuntimeError::OutOfMemory(_) | RuntimeError::DeadlineExceeded(_)) || out_of_memory_as_null,
        "{error:?}"
    );
}

#[test]
fn a_state_over_the_limit_faults() {
    let limits = RuntimeLimits { max_state_bytes: 1000, ..RuntimeLimits::default() };
    let mut query =
        compile("fromAll().when({ $any: function (s, e) { s.text = 'y'.repeat(2000); } })", limits).expect("compiles");
    query.handle(&event("a-1", 0, "x", "{}")).expect("handled");
    let error = query.take_changes().expect_err("too large");
    assert!(matches!(error, RuntimeError::StateTooLarge { bytes, max: 1000, .. } if bytes > 2000));
}

#[test]
fn a_throwing_handler_reports_its_message() {
    let mut query = runtime("fromAll().when({ $any: function (s, e) { throw new Error('bad event'); } })");
    let error = query.handle(&event("a-1", 0, "x", "{}")).expect_err("faults");
    assert_eq!(error, RuntimeError::Threw("Error: bad event".into()));
}

#[test]
fn emit_without_emit_enabled_faults_with_the_reference_reason() {
    let mut query = runtime("fromAll().when({ $any: function (s, e) { emit('out', 'T', {}); } })");
    let error = query.handle(&event("a-1", 0, "x", "{}")).expect_err("faults");
    assert!(error.to_string().contains("'emit' is not allowed by the projection/configuration/mode"), "{error}");
}

#[test]
fn partitions_effects_and_results_come_back_from_take_changes() {
    let mut query = runtime(
        "fromAll().partitionBy(function (e) { return e.data.k; }).when({ \
           $init: function () { return { n: 0 }; }, \
           $any: function (s, e) { s.n++; linkTo('by-' + e.partition, e); } }) \
         .transformBy(function (s) { return { doubled: s.n * 2 }; })",
    );
    query.set_emit_enabled(true).expect("set");
    query.handle(&event("a-1", 0, "x", r#"{"k":"p"}"#)).expect("handled");
    query.handle(&event("a-1", 1, "x", r#"{"k":"q"}"#)).expect("handled");
    query.handle(&event("a-2", 0, "x", r#"{"k":"p"}"#)).expect("handled");
    let changes = query.take_changes().expect("changes");
    let mut states: Vec<_> = changes
        .partitions
        .iter()
        .map(|change| (change.partition.as_str(), change.state.as_deref(), change.result.as_deref()))
        .collect();
    states.sort();
    assert_eq!(
        states,
        vec![("p", Some(r#"{"n":2}"#), Some(r#"{"doubled":4}"#)), ("q", Some(r#"{"n":1}"#), Some(r#"{"doubled":2}"#))]
    );
    assert_eq!(changes.effects.len(), 3);
    assert!(query.take_changes().expect("none").partitions.is_empty());
}

#[test]
fn the_definition_narrows_sources_and_types() {
    let query = runtime("fromCategory('order').foreachStream().when({ placed: function (s, e) {} })");
    let definition = query.definition();
    assert!(definition.foreach_stream);
    assert!(definition.selects("order-1", "placed"));
    assert!(!definition.selects("order-1", "other"));
    assert!(!definition.selects("invoice-1", "placed"));
}

#[test]
fn bi_state_keeps_a_shared_state_beside_each_partition() {
    let mut query = runtime(
        "options({ biState: true }); fromAll().foreachStream().when({ \
           $init: function () { return { n: 0 }; }, $initShared: function () { return { total: 0 }; }, \
           $any: function (s, e) { s[0].n++; s[1].total++; return s; } })",
    );
    query.handle(&event("a-1", 0, "x", "{}")).expect("handled");
    query.handle(&event("a-2", 0, "x", "{}")).expect("handled");
    let changes = query.take_changes().expect("changes");
    assert_eq!(changes.shared.as_deref(), Some(r#"{"total":2}"#));
    assert_eq!(query.state("a-2").expect("state").as_deref(), Some(r#"{"n":1}"#));
}

#[test]
fn created_runs_once_per_partition_and_deleted_on_request() {
    let mut query = runtime(
        "fromCategory('a').foreachStream().when({ $init: function () { return { created: 0, n: 0, deleted: false }; }, \
           $created: function (s, e) { s.created++; }, \
           $deleted: function (s, e, partition, soft) { s.deleted = true; }, \
           x: function (s, e) { s.n++; } })",
    );
    query.handle(&event("a-1", 0, "x", "{}")).expect("handled");
    query.handle(&event("a-1", 1, "x", "{}")).expect("handled");
    query.handle_deleted("a-1", false).expect("deleted");
    assert_eq!(query.state("a-1").expect("state").as_deref(), Some(r#"{"created":1,"n":2,"deleted":true}"#));
}

#[test]
fn without_when_the_state_is_the_last_body_and_filter_by_hides_results() {
    let mut plain = runtime("fromStream('a-1')");
    plain.handle(&event("a-1", 0, "x", r#"{"v":1}"#)).expect("handled");
    plain.handle(&event("a-1", 1, "x", r#"{"v":2}"#)).expect("handled");
    assert_eq!(plain.state("").expect("state").as_deref(), Some(r#"{"v":2}"#));

    let mut filtered = runtime(
        "fromAll().when({ $init: function () { return { n: 0 }; }, $any: function (s, e) { s.n++; } }) \
         .filterBy(function (s) { return s.n > 1; })",
    );
    filtered.handle(&event("a-1", 0, "x", "{}")).expect("handled");
    assert_eq!(filtered.result("").expect("result"), None);
    filtered.handle(&event("a-1", 1, "x", "{}")).expect("handled");
    assert_eq!(filtered.result("").expect("result").as_deref(), Some(r#"{"n":2}"#));
}

#[test]
fn the_event_object_carries_its_fields() {
    let mut query = runtime(
        "fromAll().when({ $any: function (s, e) { return { stream: e.streamId, seq: e.sequenceNumber, \
           type: e.eventType, id: e.eventId, json: e.isJson, raw: e.bodyRaw, body: e.body.k, category: e.category, \
           partition: e.partition, created: e.created, meta: e.metadata }; } })",
    );
    let mut source = event("order-7", 3, "placed", r#"{"k":"v"}"#);
    source.metadata = r#"{"m":1}"#.into();
    query.handle(&source).expect("handled");
    let state: serde_json::Value = serde_json::from_str(&query.state("").expect("state").expect("some")).expect("json");
    assert_eq!(
        state,
        serde_json::json!({ "stream": "order-7", "seq": 3, "type": "placed", "id": "id-order-7-3", "json": true,
            "raw": "{\"k\":\"v\"}", "body": "v", "category": "order", "partition": "", "created": "2026-01-01T00:00:00Z",
            "meta": { "m": 1 } })
    );
}

#[test]
fn an_event_read_directly_has_null_link_metadata_and_keeps_it_when_stored() {
    let mut query = runtime(
        "fromAll().when({ $init: function () { return { events: [] }; }, \
           $any: function (s, e) { s.raw = e.linkMetadataRaw; s.parsed = e.linkMetadata; s.events.push(e); } })",
    );
    query.handle(&event("order-7", 0, "placed", r#"{"k":"v"}"#)).expect("handled");
    let state: serde_json::Value = serde_json::from_str(&query.state("").expect("state").expect("some")).expect("json");
    // `get`, not indexing: a missing key would also index as null.
    let null = Some(&serde_json::Value::Null);
    assert_eq!(state.get("raw"), null);
    assert_eq!(state.get("parsed"), null);
    let stored = &state["events"][0];
    assert_eq!(stored.get("linkMetadata"), null);
    assert_eq!(stored.get("linkMetadataRaw"), null);
    assert_eq!(stored["data"], serde_json::json!({ "k": "v" }));
    assert_eq!(stored["streamId"], "order-7");
}

#[test]
fn a_batch_faults_at_the_event_that_throws_and_runs_nothing_after_it() {
    let mut query = runtime(
        "fromAll().when({ $init: function () { return { seen: [] }; }, \
           $any: function (s, e) { if (e.eventType === 'bad') { throw new Error('cannot take ' + e.sequenceNumber); } \
             s.seen.push(e.sequenceNumber); } })",
    );
    let batch = [
        event("a-1", 0, "ok", "{}"),
        event("a-1", 1, "ok", "{}"),
        event("a-1", 2, "bad", "{}"),
        event("a-1", 3, "ok", "{}"),
    ];
    let fault = query.handle_batch(&batch).expect_err("faults");
    assert_eq!(fault.index, 2);
    assert_eq!(fault.error, RuntimeError::Threw("Error: cannot take 2".into()));
    // As after the event before it: the event after it never ran.
    assert_eq!(query.state("").expect("state").as_deref(), Some(r#"{"seen":[0,1]}"#));
}

#[test]
fn an_endless_loop_in_the_middle_of_a_batch_is_stopped_at_its_own_deadline() {
    let limits = RuntimeLimits { event_deadline: Duration::from_millis(100), ..RuntimeLimits::default() };
    let mut query = compile(
        "fromAll().when({ $init: function () { return { n: 0 }; }, \
           $any: function (s, e) { s.n++; if (e.eventType === 'spin') { while (true) {} } } })",
        limits,
    )
    .expect("compiles");
    let batch: Vec<_> =
        (0..200).map(|revision| event("a-1", revision, if revision == 150 { "spin" } else { "x" }, "{}")).collect();
    let started = Instant::now();
    let fault = query.handle_batch(&batch).expect_err("faults");
    assert_eq!(fault.index, 150);
    assert_eq!(fault.error, RuntimeError::DeadlineExceeded(Duration::from_millis(100)));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn every_event_of_a_batch_gets_the_whole_deadline() {
    // Each event takes about half the deadline: the batch takes longer
    // than one deadline and still completes.
    let limits = RuntimeLimits { event_deadline: Duration::from_millis(100), ..RuntimeLimits::default() };
    let mut query = compile(
        "fromAll().when({ $init: function () { return { n: 0 }; }, \
           $any: function (s, e) { var until = Date.now() + 50; while (Date.now() < until) {} s.n++; } })",
        limits,
    )
    .expect("compiles");
    let batch: Vec<_> = (0..6).map(|revision| event("a-1", revision, "x", "{}")).collect();
    let handled = query.handle_batch(&batch).expect("handled");
    assert_eq!(handled.handled, 6);
    assert_eq!(handled.partitions, vec![String::new()]);
    assert_eq!(query.state("").expect("state").as_deref(), Some(r#"{"n":6}"#));
}

#[test]
fn a_batch_answers_its_partitions_once_each_in_the_order_first_met() {
    let mut query = runtime(
        "fromAll().partitionBy(function (e) { return e.data.k; }).when({ $any: function (s, e) { s.n = (s.n || 0) + 1; } })",
    );
    let batch = [
        event("a-1", 0, "x", r#"{"k":"q"}"#),
        event("a-1", 1, "x", r#"{"k":"p"}"#),
        event("a-1", 2, "x", r#"{}"#),
        event("a-1", 3, "x", r#"{"k":"q"}"#),
    ];
    let handled = query.handle_batch(&batch).expect("handled");
    // The event without a key has no partition: it is not handled.
    assert_eq!(handled.handled, 3);
    assert_eq!(handled.partitions, vec!["q".to_owned(), "p".to_owned()]);
    assert_eq!(query.state("q").expect("state").as_deref(), Some(r#"{"n":2}"#));
}

#[test]
fn a_body_that_is_not_json_is_parsed_only_when_read_and_reads_as_null() {
    let mut query = runtime(
        "fromAll().when({ $init: function () { return { n: 0 }; }, \
           $any: function (s, e) { s.n++; if (e.eventType === 'read') { s.raw = e.bodyRaw; s.data = e.data; \
             s.body = e.body; s.json = e.isJson; } } })",
    );
    // A handler that never reads the body does not trip over it.
    let batch = [event("a-1", 0, "skip", "{not json"), event("a-1", 1, "read", "{not json")];
    query.handle_batch(&batch).expect("handled");
    let state: serde_json::Value = serde_json::from_str(&query.state("").expect("state").expect("some")).expect("json");
    assert_eq!(state, serde_json::json!({ "n": 2, "raw": "{not json", "data": null, "body": null, "json": true }));
}

#[test]
fn repeated_fields_of_neighbouring_events_stay_each_events_own() {
    let mut query = runtime(
        "fromAll().when({ $init: function () { return { seen: [] }; }, \
           $any: function (s, e) { s.seen.push([e.streamId, e.category, e.eventType, e.created, e.metadataRaw, e.bodyRaw]); } })",
    );
    let mut first = event("order-1", 0, "placed", r#"{"a":1}"#);
    first.created = "2026-01-01T00:00:00.0000000Z".into();
    let mut second = event("order-1", 1, "placed", r#"{"a":2}"#);
    second.created = "2026-01-01T00:00:00.0000000Z".into();
    let mut third = event("invoice-1", 0, "sent", r#"{"a":3}"#);
    third.created = "2026-01-02T00:00:00.0000000Z".into();
    third.metadata = r#"{"m":1}"#.into();
    query.handle_batch(&[first, second, third]).expect("handled");
    let state: serde_json::Value = serde_json::from_str(&query.state("").expect("state").expect("some")).expect("json");
    assert_eq!(
        state["seen"],
        serde_json::json!([
            ["order-1", "order", "placed", "2026-01-01T00:00:00.0000000Z", "", "{\"a\":1}"],
            ["order-1", "order", "placed", "2026-01-01T00:00:00.0000000Z", "", "{\"a\":2}"],
            ["invoice-1", "invoice", "sent", "2026-01-02T00:00:00.0000000Z", "{\"m\":1}", "{\"a\":3}"],
        ])
    );
}

#[test]
fn a_handler_may_assign_the_event_fields_and_enumerate_them() {
    let mut query = runtime(
        "fromAll().when({ $any: function (s, e) { var names = []; for (var name in e) { names.push(name); } \
           e.streamId = 'renamed'; e.partition = 'mine'; \
           return { names: names, stream: e.streamId, partition: e.partition, type: e.eventType }; } })",
    );
    query.handle(&event("order-7", 0, "placed", "{}")).expect("handled");
    let state: serde_json::Value = serde_json::from_str(&query.state("").expect("state").expect("some")).expect("json");
    assert_eq!(state["stream"], "renamed");
    assert_eq!(state["partition"], "mine");
    assert_eq!(state["type"], "placed");
    let names: Vec<&str> = state["names"].as_array().expect("names").iter().filter_map(|name| name.as_str()).collect();
    for field in [
        "streamId",
        "sequenceNumber",
        "eventType",
        "eventId",
        "bodyRaw",
        "metadataRaw",
        "linkMetadataRaw",
        "isJson",
        "created",
        "category",
        "partition",
    ] {
        assert!(names.contains(&field), "{field} is not enumerated: {names:?}");
    }
}

#[test]
fn an_event_object_lists_its_fields_as_its_own() {
    let mut query = runtime(
        "fromAll().when({ $any: function (s, e) { var inherited = []; for (var name in e) { inherited.push(name); } \
           var keys = Object.keys(e); var copy = { ...e }; var text = JSON.parse(JSON.stringify(e)); \
           var body = e.body; \
           return { keys: keys, inherited: inherited, copy: copy, text: text, keysAfterRead: Object.keys(e), \
             copyAfterRead: { ...e }, sameBody: body === e.data }; } })",
    );
    let mut source = event("order-7", 3, "placed", r#"{"k":"v"}"#);
    source.metadata = r#"{"m":1}"#.into();
    query.handle(&source).expect("handled");
    let state: serde_json::Value = serde_json::from_str(&query.state("").expect("state").expect("some")).expect("json");
    let own = [
        "partition",
        "bodyRaw",
        "metadataRaw",
        "streamId",
        "eventId",
        "eventType",
        "linkMetadataRaw",
        "isJson",
        "category",
        "sequenceNumber",
        "created",
    ];
    assert_eq!(state["keys"], serde_json::json!(own));
    let copy = &state["copy"];
    assert_eq!(copy["streamId"], "order-7");
    assert_eq!(copy["sequenceNumber"], 3);
    assert_eq!(copy["eventType"], "placed");
    assert_eq!(copy["bodyRaw"], r#"{"k":"v"}"#);
    assert_eq!(copy["metadataRaw"], r#"{"m":1}"#);
    assert_eq!(copy["category"], "order");
    assert_eq!(copy.get("linkMetadataRaw"), Some(&serde_json::Value::Null));
    // `for...in` also meets the parsed fields, still unparsed on the
    // shared prototype; nothing of the engine's own shows.
    let inherited: Vec<&str> =
        state["inherited"].as_array().expect("names").iter().filter_map(|name| name.as_str()).collect();
    for field in own.iter().chain(&["data", "body", "metadata", "linkMetadata"]) {
        assert!(inherited.contains(field), "{field} is not enumerated: {inherited:?}");
    }
    assert_eq!(inherited.len(), own.len() + 4, "{inherited:?}");
    assert_eq!(state["text"]["data"], serde_json::json!({ "k": "v" }));
    assert_eq!(state["text"]["metadata"], serde_json::json!({ "m": 1 }));
    assert_eq!(state["text"]["streamId"], "order-7");
    // Once read, the body is the event's own, as the reference server's.
    let after: Vec<&str> =
        state["keysAfterRead"].as_array().expect("keys").iter().filter_map(|name| name.as_str()).collect();
    assert!(after.contains(&"body") && after.contains(&"data"), "{after:?}");
    assert_eq!(state["copyAfterRead"]["body"], serde_json::json!({ "k": "v" }));
    assert_eq!(state["sameBody"], true);
}

#[test]
fn a_thrown_value_that_is_not_an_error_is_named_never_out_of_memory() {
    let null = format!(
        "null (thrown by the query, or by the engine out of its {} bytes of memory)",
        RuntimeLimits::default().memory_bytes
    );
    for (thrown, reason) in [
        ("null", null.as_str()),
        ("undefined", "undefined"),
        ("42", "42"),
        ("{ code: 7 }", r#"{"code":7}"#),
        ("'plain text'", "plain text"),
        ("new Error('out of memory')", "Error: out of memory"),
    ] {
        let mut query = runtime(&format!("fromAll().when({{ $any: function (s, e) {{ throw {thrown}; }} }})"));
        let error = query.handle(&event("a-1", 0, "x", "{}")).expect_err("faults");
        assert_eq!(error, RuntimeError::Threw(reason.into()), "throw {thrown}");
    }
    // Outside the handlers too: a partition function, a transform.
    let mut query = runtime("fromAll().partitionBy(function (e) { throw null; }).when({ $any: function (s, e) {} })");
    let error = query.handle(&event("a-1", 0, "x", "{}")).expect_err("faults");
    assert_eq!(error, RuntimeError::Threw(null.clone()));
    let mut query =
        runtime("fromAll().when({ $any: function (s, e) {} }).transformBy(function (s) { throw undefined; })");
    query.handle(&event("a-1", 0, "x", "{}")).expect("handled");
    assert_eq!(query.take_changes().expect_err("faults"), RuntimeError::Threw("undefined".into()));
}

#[test]
fn a_query_that_throws_null_while_defining_itself_says_so() {
    let error = compile("throw null;", RuntimeLimits::default()).err().expect("refused");
    assert_eq!(error, QueryError::Definition("null".into()));
}

#[test]
fn bodies_of_every_shape_parse_as_they_are_whatever_shapes_are_kept() {
    let mut query = runtime("fromAll().when({ $any: function (s, e) { return { seen: e.data }; } })");
    let many_fields: String =
        format!("{{{}}}", (0..100).map(|index| format!("\"f{index}\":{index}")).collect::<Vec<_>>().join(","));
    let bodies = [
        r#"{"__proto__":{"x":1},"a":2}"#.to_owned(),
        many_fields,
        r#"[1,{"b":2}]"#.to_owned(),
        r#""text""#.to_owned(),
        r#"{"a":1,"b":{"c":[true,null]}}"#.to_owned(),
    ];
    // More than one round of the parses between two kept shapes.
    for round in 0..3000_u64 {
        let body = &bodies[(round % bodies.len() as u64) as usize];
        query.handle(&event("a-1", round, "T", body)).expect("handled");
        let state: serde_json::Value =
            serde_json::from_str(&query.state("").expect("state").expect("a state")).expect("JSON");
        let expected: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(state["seen"], expected, "round {round}");
    }
}
