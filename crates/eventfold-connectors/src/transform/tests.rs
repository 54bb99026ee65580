use bytes::Bytes;
use eventfold_store::{ContentType, RecordedEvent};
use serde_json::{Value, json};

use super::{TransformSettings, Transformer};
use crate::settings::Reader;
use crate::testing::{raw, recorded};

fn compile(code: &str, extra: &[(&str, &str)]) -> Result<Option<TransformSettings>, String> {
    let mut pairs = vec![("transform", code)];
    pairs.extend_from_slice(extra);
    TransformSettings::from_settings(&Reader(&raw(&pairs))).map_err(|error| error.to_string())
}

fn transformer(code: &str) -> Transformer {
    compile(code, &[]).expect("compiles").expect("a transform").start().expect("starts")
}

fn order(n: u64) -> RecordedEvent {
    recorded("order-1", "Placed", n, 100 + n, Bytes::from(json!({ "n": n }).to_string()))
}

fn data(event: &RecordedEvent) -> Value {
    serde_json::from_slice(&event.data).expect("JSON data")
}

#[test]
fn a_function_or_a_body_changes_the_data() {
    for code in [
        "function (e) { return {...e.data, total: e.data.n * 2}; }",
        "e => ({...e.data, total: e.data.n * 2})",
        "return {...e.data, total: e.data.n * 2};",
    ] {
        let out = transformer(code).apply(&order(3)).expect("runs").expect("kept");
        assert_eq!(data(&out), json!({"n": 3, "total": 6}), "{code}");
        assert_eq!((out.stream.as_str(), out.event_type.as_str(), out.revision), ("order-1", "Placed", 3));
    }
}

#[test]
fn the_event_can_be_renamed_or_dropped() {
    let mut renaming = transformer("e.stream = 'big-' + e.stream; e.eventType = 'Big'; return e.data;");
    let out = renaming.apply(&order(1)).expect("runs").expect("kept");
    assert_eq!((out.stream.as_str(), out.event_type.as_str()), ("big-order-1", "Big"));
    assert_eq!(out.position, order(1).position, "the position stays the event's");

    let mut dropping = transformer("if (e.data.n % 2 === 0) return null; return e.data;");
    assert!(dropping.apply(&order(2)).expect("runs").is_none());
    assert!(dropping.apply(&order(3)).expect("runs").is_some());
    assert!(transformer("function (e) {}").apply(&order(1)).expect("runs").is_none(), "undefined drops");
}

#[test]
fn the_event_carries_its_fields() {
    let mut echo =
        transformer("return [e.stream, e.eventType, e.eventId.length, e.revision, e.position, e.isJson, e.metadata];");
    let mut event = order(4);
    event.metadata = Bytes::from_static(br#"{"user":"u"}"#);
    let out = echo.apply(&event).expect("runs").expect("kept");
    assert_eq!(data(&out), json!(["order-1", "Placed", 36, 4, 104, true, {"user": "u"}]));

    let binary = RecordedEvent { content_type: ContentType::Binary, data: Bytes::from_static(b"raw"), ..order(1) };
    let out = transformer("return {text: e.data, json: e.isJson};").apply(&binary).expect("runs").expect("kept");
    assert_eq!(data(&out), json!({"text": "raw", "json": false}));
    assert_eq!(out.content_type, ContentType::Json);
}

#[test]
fn failures_are_the_events_and_say_why() {
    let error = transformer("throw new Error('no ' + e.data.n)").apply(&order(7)).expect_err("throws");
    assert!(error.contains("no 7"), "{error}");
    let error = transformer("return e.data.missing.deeper;").apply(&order(7)).expect_err("TypeError");
    assert!(error.contains("TypeError"), "{error}");
    let error = transformer("e.stream = ''; return e.data;").apply(&order(7)).expect_err("bad stream");
    assert!(error.contains("stream"), "{error}");
    let error = transformer("return () => 1;").apply(&order(7)).expect_err("not JSON");
    assert!(error.contains("JSON"), "{error}");
    let not_json = recorded("a", "X", 0, 1, Bytes::from_static(b"{oops"));
    assert!(transformer("return e.data;").apply(&not_json).is_err(), "JSON data that does not parse");

    let mut spinning = compile("while (true) {}", &[("transformTimeoutMs", "50")])
        .expect("compiles")
        .expect("a transform")
        .start()
        .expect("starts");
    let error = spinning.apply(&order(1)).expect_err("deadline");
    assert!(error.contains("50 ms"), "{error}");
    assert!(spinning.apply(&order(1)).is_err(), "and again: the runtime is still usable");

    let mut hungry = compile("const a = []; for (;;) a.push('x'.repeat(1024));", &[("transformMemoryMb", "4")])
        .expect("compiles")
        .expect("a transform")
        .start()
        .expect("starts");
    let error = hungry.apply(&order(1)).expect_err("memory");
    assert!(error.contains("memory"), "{error}");
}

#[test]
fn bad_code_is_refused_at_create_with_its_line() {
    let error = compile("function (e) { return e.data. }", &[]).expect_err("syntax");
    assert!(error.contains("transform") && error.contains("syntax error at line 1"), "{error}");
    let error = compile("const x = 1;\nreturn {x: };", &[]).expect_err("syntax in a body");
    assert!(error.contains("syntax error at line 2"), "{error}");
    let error = compile("return 1;", &[("transformTimeoutMs", "0")]).expect_err("bad limit");
    assert!(error.contains("transformTimeoutMs"), "{error}");
    assert!(compile("  ", &[]).expect("blank").is_none());
    assert!(TransformSettings::from_settings(&Reader(&raw(&[]))).expect("none").is_none());
}
