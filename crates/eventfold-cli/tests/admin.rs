//! Goal: `eventfold admin scavenge`, run against a real `eventfold serve`,
//! starts a scavenge over the HTTP API, waits for it and prints its final
//! status as JSON on stdout, with progress on stderr; `--stop` with an id
//! the server does not know fails with the server's reason. Against a
//! scripted HTTP server: the wait follows progress to the end, a failed
//! scavenge fails the command, a running one is reported, not doubled.

mod cli_support;
mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::time::Duration;

use cli_support::eventfold_within as eventfold;
use support::start;

#[test]
fn scavenge_waits_for_completion_and_prints_the_final_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let output = eventfold(&["admin", "scavenge", "--server", &url], Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {}: {stdout} {stderr}", output.status);
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON status");
    assert_eq!(status["state"], "completed", "{status}");
    assert_eq!(status["segments_done"], status["segments_total"], "{status}");
    assert!(status["finished"].as_i64() >= status["started"].as_i64(), "{status}");
    assert!(status["error"].is_null(), "{status}");
    let id = status["id"].as_str().expect("an id");
    // stderr is not a terminal here: plain progress lines naming the scavenge.
    assert!(stderr.lines().any(|line| line.starts_with(&format!("scavenge {id}"))), "{stderr}");

    // Without waiting, the started status comes back at once; the server
    // still reports the scavenge afterwards.
    let output = eventfold(&["admin", "scavenge", "--server", &url, "--no-wait"], Duration::from_secs(30));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let started: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON status");
    assert_ne!(started["id"], status["id"]);
    assert!(["running", "completed"].contains(&started["state"].as_str().unwrap_or_default()), "{started}");
}

#[test]
fn stopping_an_unknown_scavenge_fails_with_the_server_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let url = format!("http://{}", server.address);
    let output =
        eventfold(&["admin", "scavenge", "--server", &url, "--stop", "no-such-scavenge"], Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    assert!(stderr.contains("no running scavenge `no-such-scavenge`"), "{stderr}");
    assert!(stderr.contains("was invalid"), "the server's reason is shown: {stderr}");
}

#[test]
fn an_unreachable_server_fails_promptly() {
    // A port just released by the system: nothing listens on it.
    let address = std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("port");
    let url = format!("http://{address}");
    let output = eventfold(&["admin", "scavenge", "--server", &url], Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("connecting to"), "{stderr}");
}

/// A server that answers each connection's request with the next of
/// `answers` (status code, JSON body) and records the request lines.
fn scripted_server(answers: Vec<(u16, String)>) -> (SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for (code, body) in answers {
            let Ok((socket, _)) = listener.accept() else { break };
            socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            let mut reader = BufReader::new(socket);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut content_length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut request_body = vec![0; content_length];
            let _ = reader.read_exact(&mut request_body);
            requests.push(format!("{} {}", request_line.trim(), String::from_utf8_lossy(&request_body)));
            let response = format!(
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(reader.get_mut(), response.as_bytes());
        }
        requests
    });
    (address, handle)
}

fn status_json(state: &str, done: u64, error: Option<&str>) -> String {
    serde_json::json!({
        "id": "s-1", "state": state, "started": 1_700_000_000_000_i64,
        "finished": if state == "running" { None } else { Some(1_700_000_001_000_i64) },
        "segments_total": 2, "segments_done": done, "bytes_read": 100 * done,
        "bytes_reclaimed": 2048 * done, "events_kept": 5, "events_removed": done, "error": error,
    })
    .to_string()
}

#[test]
fn scavenge_follows_progress_until_the_end_and_fails_when_the_scavenge_does() {
    let answers = vec![
        (202, status_json("running", 0, None)),
        (200, status_json("running", 1, None)),
        (200, status_json("running", 1, None)),
        (200, status_json("completed", 2, None)),
    ];
    let (address, requests) = scripted_server(answers);
    let url = format!("http://{address}");
    let output =
        eventfold(&["admin", "scavenge", "--server", &url, "--max-bytes-per-second", "1000"], Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON status");
    assert_eq!((status["state"].as_str(), status["segments_done"].as_u64()), (Some("completed"), Some(2)));
    let progress: Vec<&str> = stderr.lines().filter(|line| line.starts_with("scavenge s-1")).collect();
    assert_eq!(
        progress,
        [
            "scavenge s-1 running: 0/2 segments, 0 B reclaimed",
            "scavenge s-1 running: 1/2 segments, 2.0 KiB reclaimed",
            "scavenge s-1 completed: 2/2 segments, 4.0 KiB reclaimed",
        ],
        "one plain line per change when stderr is not a terminal"
    );
    let requests = requests.join().expect("server thread");
    assert_eq!(
        requests.first().map(String::as_str),
        Some(r#"POST /admin/scavenge HTTP/1.1 {"max_bytes_per_second":1000}"#)
    );
    assert!(requests.iter().skip(1).all(|request| request.starts_with("GET /admin/scavenge HTTP/1.1")), "{requests:?}");

    let answers = vec![(202, status_json("running", 0, None)), (200, status_json("failed", 1, Some("disk on fire")))];
    let (address, _requests) = scripted_server(answers);
    let url = format!("http://{address}");
    let output = eventfold(&["admin", "scavenge", "--server", &url], Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a failed scavenge fails the command");
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the final status is still printed");
    assert_eq!(status["state"], "failed");
    assert!(stderr.contains("disk on fire"), "{stderr}");
}

#[test]
fn a_running_scavenge_is_reported_instead_of_a_second_one() {
    let (address, _requests) = scripted_server(vec![(409, status_json("running", 1, None))]);
    let url = format!("http://{address}");
    let output = eventfold(&["admin", "scavenge", "--server", &url], Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("scavenge s-1 is already running"), "{stderr}");
    assert!(stderr.contains("--stop s-1"), "{stderr}");
}
