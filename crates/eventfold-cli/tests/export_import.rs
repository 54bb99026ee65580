//! Goal: `eventfold export` of 100k events and `eventfold import` into a
//! fresh server reproduce every stream, revision, id and the `$all` order;
//! an import killed part way and run again gives the same result; an
//! import straight from another server over gRPC too; a line that is not
//! JSON stops the import at that line, everything before it appended
//! exactly once; an import that meets other events in a stream refuses.

mod cli_support;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{fails, ok};
use eventfold_client::{Client, Direction, Expected, ProposedEvent, ReadFrom};
use futures::TryStreamExt;
use support::start;

const EVENTS: usize = 100_000;
const STREAMS: usize = 200;
const PER_APPEND: usize = 50;

/// 100k events over 200 streams, 50 per append in turn; a few binary ones
/// and some with metadata, so both encodings travel.
async fn populate(url: &str) {
    let client = Client::connect(url).await.expect("connect");
    let mut appended = 0;
    let mut round = 0;
    while appended < EVENTS {
        for stream in 0..STREAMS {
            let events = (0..PER_APPEND)
                .map(|index| {
                    let n = round * PER_APPEND + index;
                    let mut event =
                        ProposedEvent::json("Recorded", format!(r#"{{"stream":{stream},"n":{n},"pad":"abcdefgh"}}"#));
                    if n.is_multiple_of(97) {
                        event.is_json = false;
                        event.data = vec![0, 1, 2, 255, 254, (n % 251) as u8].into();
                    }
                    if n.is_multiple_of(13) {
                        event.metadata = format!(r#"{{"n":{n}}}"#).into();
                    }
                    event
                })
                .collect();
            client.append(&format!("s-{stream}"), Expected::Any, events).await.expect("append");
            appended += PER_APPEND;
        }
        round += 1;
    }
}

/// `$all` of a server without its system events: (stream, revision, id,
/// type, data, metadata), in order.
async fn all_events(url: &str) -> Vec<(String, u64, String, String, Vec<u8>, Vec<u8>)> {
    let client = Client::connect(url).await.expect("connect");
    let events: Vec<_> = client
        .read("$all", ReadFrom::Start, Direction::Forwards, u64::MAX, None)
        .await
        .expect("read")
        .try_collect()
        .await
        .expect("$all");
    events
        .into_iter()
        .filter(|event| !event.stream.starts_with('$'))
        .map(|event| {
            (
                event.stream,
                event.revision,
                event.id.to_string(),
                event.event_type,
                event.data.to_vec(),
                event.metadata.to_vec(),
            )
        })
        .collect()
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).expect("read export").lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imports_into_fresh_servers_whole_resumed_and_over_grpc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = start(&dir.path().join("source"));
    let source_url = format!("http://{}", source.address);
    populate(&source_url).await;
    let expected = all_events(&source_url).await;
    assert_eq!(expected.len(), EVENTS);

    let file = dir.path().join("export.jsonl");
    let file_text = file.to_str().expect("path").to_owned();
    ok(&["export", "--server", &source_url, "--output", &file_text]);
    assert!(count_lines(&file) >= EVENTS);

    // Whole, into a fresh server.
    let target = start(&dir.path().join("target"));
    let target_url = format!("http://{}", target.address);
    let output = cli_support::eventfold(&["import", &file_text, "--server", &target_url]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or(""));
    assert_eq!(all_events(&target_url).await, expected);
    // Again: everything is there already, nothing is added.
    ok(&["import", &file_text, "--server", &target_url]);
    assert_eq!(all_events(&target_url).await, expected);

    // Killed part way, then run again.
    let resumed = start(&dir.path().join("resumed"));
    let resumed_url = format!("http://{}", resumed.address);
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(["import", &file_text, "--server", &resumed_url, "--batch-events", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn import");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let so_far = all_events(&resumed_url).await.len();
        if so_far >= EVENTS / 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the import made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let partial = all_events(&resumed_url).await.len();
    assert!(partial < EVENTS, "killed part way: {partial}");
    ok(&["import", &file_text, "--server", &resumed_url]);
    assert_eq!(all_events(&resumed_url).await, expected);

    // Straight from the source server, over gRPC.
    let copied = start(&dir.path().join("copied"));
    let copied_url = format!("http://{}", copied.address);
    let from = format!("esdb://{}?tls=false", source.address);
    ok(&["import", "--from", &from, "--server", &copied_url]);
    assert_eq!(all_events(&copied_url).await, expected);

    // A target whose stream holds other events refuses, naming it.
    let other = start(&dir.path().join("other"));
    let other_url = format!("http://{}", other.address);
    ok(&["append", "s-0", "--type", "Mine", "--data", "{}", "--server", &other_url]);
    let refused = fails(&["import", &file_text, "--server", &other_url]);
    assert!(refused.contains("stream `s-0` already exists in the target with other events"), "{refused}");
}

#[test]
fn a_line_that_is_not_json_stops_the_import_there_and_what_came_before_is_appended_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("db"));
    let url = format!("http://{}", server.address);
    let good = |stream: &str, revision: u64| {
        format!(
            r#"{{"stream":"{stream}","revision":{revision},"type":"T","id":"{}","data":{{"r":{revision}}}}}"#,
            uuid::Uuid::new_v4()
        )
    };
    let lines =
        [good("a", 0), good("a", 1), good("b", 0), good("a", 2), good("b", 1), "{\"stream\":".into(), good("c", 0)];
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write");
    let path = file.to_str().expect("path");
    for _ in 0..2 {
        let refused = fails(&["import", path, "--server", &url]);
        assert!(refused.contains("line 6"), "{refused}");
        let events = cli_support::json_lines(&ok(&["read", "$all", "--server", &url]));
        let user: Vec<_> = events
            .iter()
            .filter(|event| !event["stream"].as_str().unwrap_or("$").starts_with('$'))
            .map(|event| (event["stream"].as_str().unwrap_or("").to_owned(), event["revision"].as_u64().unwrap_or(99)))
            .collect();
        let expected: Vec<(String, u64)> =
            [("a", 0), ("a", 1), ("b", 0), ("a", 2), ("b", 1)].iter().map(|(s, r)| ((*s).to_owned(), *r)).collect();
        assert_eq!(user, expected, "the five lines before, once, in order");
    }
    let gap = dir.path().join("gap.jsonl");
    std::fs::write(&gap, good("d", 3)).expect("write");
    assert!(fails(&["import", gap.to_str().expect("path"), "--server", &url]).contains("gap"));
    assert!(fails(&["import", "/no/such/file", "--server", &url]).contains("/no/such/file"));
    assert!(fails(&["import", "--server", &url]).contains("FILE"));
}

#[test]
fn deleted_streams_import_as_they_were() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = start(&dir.path().join("source"));
    let url = format!("http://{}", source.address);
    let append = |stream: &str, url: &str| ok(&["append", stream, "--type", "T", "--data", "{}", "--server", url]);
    for _ in 0..3 {
        append("again", &url);
        append("gone", &url);
    }
    ok(&["delete", "again", "--server", &url]);
    append("again", &url);
    ok(&["delete", "gone", "--tombstone", "--server", &url]);
    let file = dir.path().join("export.jsonl");
    ok(&["export", "--server", &url, "-o", &file.to_string_lossy()]);

    let target = start(&dir.path().join("target"));
    let target_url = format!("http://{}", target.address);
    ok(&["import", &file.to_string_lossy(), "--server", &target_url]);
    let read = |url: &str| cli_support::json_lines(&ok(&["read", "again", "--server", url]));
    let revisions = |events: Vec<serde_json::Value>| events.iter().map(|e| e["revision"].as_u64()).collect::<Vec<_>>();
    assert_eq!(revisions(read(&target_url)), revisions(read(&url)));
    assert_eq!(revisions(read(&target_url)), [Some(3)]);
    assert!(fails(&["read", "gone", "--server", &target_url]).contains("deleted"));
    // And again, resumed over what is there.
    ok(&["import", &file.to_string_lossy(), "--server", &target_url]);
    assert_eq!(revisions(read(&target_url)), [Some(3)]);
}
