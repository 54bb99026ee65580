//! Goal: every stream command (`append`, `read`, `tail`, `streams`,
//! `metadata`, `delete`) does its work against a real `eventfold serve`,
//! and refuses bad input (bad JSON, a bad revision, a missing or deleted
//! stream, a bad server address, a server that is not there) with a
//! message and a failing exit status.

mod cli_support;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cli_support::{fails, json_lines, ok};
use support::start;

#[test]
fn append_read_streams_metadata_and_delete_work_and_refuse_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("db"));
    let url = format!("http://{}", server.address);
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).chain(["--server".to_owned(), url.clone()]).collect()
    };

    let first = json_lines(&ok(&with(&["append", "order-1", "--type", "Placed", "--data", r#"{"a":1}"#])));
    assert_eq!(first[0]["revision"], 0);
    ok(&with(&["append", "order-1", "--type", "Paid", "--data", r#"{"b":2}"#, "--expected-revision", "0"]));
    ok(&with(&["append", "order-2", "--type", "Placed", "--data", "{}", "--expected-revision", "no-stream"]));
    let esdb = format!("esdb://{}?tls=false", server.address);
    ok(&["append", "order-3", "--type", "Placed", "--data", "[1]", "--server", &esdb]);

    // Bad input: refused before anything is sent, or by the server.
    assert!(fails(&with(&["append", "order-1", "--type", "X", "--data", "{"])).contains("--data is not valid JSON"));
    assert!(
        fails(&with(&["append", "order-1", "--type", "X", "--data", "{}", "--expected-revision", "0"]))
            .contains("expected 0, actual 1")
    );
    assert!(
        fails(&with(&["append", "order-1", "--type", "X", "--data", "{}", "--expected-revision=-3"]))
            .contains("expected revision `-3`")
    );
    assert!(fails(&with(&["append", "$all", "--type", "X", "--data", "{}"])).contains("$all"));
    assert!(fails(&with(&["append", "o", "--type", "X", "--data", "{}", "--id", "nope"])).contains("not a UUID"));
    assert!(
        fails(&["append", "o", "--type", "X", "--data", "{}", "--server", "esdb://localhost:2113"])
            .contains("tls=false")
    );
    assert!(fails(&["append", "o", "--type", "X", "--data", "{}", "--server", "ftp://x"]).contains("scheme"));
    assert!(fails(&["read", "o", "--server", "http://127.0.0.1:1"]).contains("connecting"));

    let events = json_lines(&ok(&with(&["read", "order-1"])));
    assert_eq!(events.iter().map(|event| event["type"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["Placed", "Paid"]);
    assert_eq!(events[1]["data"], serde_json::json!({"b": 2}));
    let backwards = json_lines(&ok(&with(&["read", "order-1", "--backwards", "--count", "1"])));
    assert_eq!((backwards.len(), backwards[0]["revision"].as_u64()), (1, Some(1)));
    let from = json_lines(&ok(&with(&["read", "order-1", "--from", "1"])));
    assert_eq!(from.len(), 1);
    let all = json_lines(&ok(&with(&["read", "$all"])));
    assert_eq!(all.iter().filter(|event| !event["stream"].as_str().unwrap_or("$").starts_with('$')).count(), 4);
    let table = ok(&with(&["read", "order-1", "--format", "table"]));
    assert!(table.starts_with("STREAM") && table.contains("Paid"), "{table}");
    assert!(fails(&with(&["read", "missing"])).contains("stream `missing` not found"));
    assert!(fails(&with(&["read", "order-1", "--from", "soon"])).contains("--from `soon`"));
    assert!(fails(&with(&["read", "order-1", "--format", "xml"])).contains("xml"));

    let streams = ok(&with(&["streams", "--format", "json"]));
    let names: Vec<_> =
        json_lines(&streams).iter().map(|line| line["stream"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(names, ["order-3", "order-2", "order-1"], "newest first, each once");
    assert_eq!(json_lines(&ok(&with(&["streams", "--format", "json", "--count", "1"]))).len(), 1);
    assert!(fails(&with(&["streams", "--count", "0"])).contains("--count"));

    assert_eq!(ok(&with(&["metadata", "get", "order-1"])).trim(), "{}");
    ok(&with(&["metadata", "set", "order-1", r#"{"$maxCount":1,"owner":"me"}"#]));
    assert_eq!(ok(&with(&["metadata", "get", "order-1"])).trim(), r#"{"$maxCount":1,"owner":"me"}"#);
    assert_eq!(json_lines(&ok(&with(&["read", "order-1"]))).len(), 1, "$maxCount applies");
    assert!(fails(&with(&["metadata", "set", "order-1", "[1]"])).contains("JSON object"));
    assert!(fails(&with(&["metadata", "set", "order-1", "{"])).contains("not valid JSON"));
    assert!(fails(&with(&["metadata", "set", "order-1", r#"{"$maxCount":-1}"#])).contains("maxCount"));

    ok(&with(&["delete", "order-2"]));
    assert!(fails(&with(&["read", "order-2"])).contains("not found"));
    ok(&with(&["append", "order-2", "--type", "Again", "--data", "{}"]));
    ok(&with(&["delete", "order-3", "--tombstone"]));
    assert!(fails(&with(&["read", "order-3"])).contains("deleted"));
    assert!(fails(&with(&["append", "order-3", "--type", "X", "--data", "{}"])).contains("deleted"));
    assert!(fails(&with(&["delete", "order-1", "--expected-revision", "7"])).contains("7"));
    assert!(fails(&with(&["delete", ""])).contains("empty"));
}

#[test]
fn tail_prints_events_as_they_are_appended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("db"));
    let url = format!("http://{}", server.address);
    ok(&["append", "live-1", "--type", "Before", "--data", "{}", "--server", &url]);
    let mut tail = Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(["tail", "$all", "--server", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    let mut stderr = BufReader::new(tail.stderr.take().expect("stderr"));
    let mut line = String::new();
    // Live once it says so; only then is an append sure to come after.
    while !line.contains("live") {
        line.clear();
        assert!(stderr.read_line(&mut line).expect("read") > 0, "tail ended before going live");
    }
    ok(&["append", "live-1", "--type", "After", "--data", r#"{"n":1}"#, "--server", &url]);
    let mut stdout = BufReader::new(tail.stdout.take().expect("stdout"));
    let mut printed = String::new();
    stdout.read_line(&mut printed).expect("a line");
    let _ = tail.kill();
    let _ = tail.wait();
    let event: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!((event["stream"].as_str(), event["type"].as_str()), (Some("live-1"), Some("After")));
    assert!(fails(&["tail", "", "--server", &url]).contains("empty"));
    std::thread::sleep(Duration::from_millis(10));
}
