//! Goal: `eventfold serve`, run as a real process, opens its data
//! directory, answers `GET /health` on the address it logs, and on SIGTERM
//! stops cleanly (exit 0) so that the next start finds nothing to repair.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use support::{Server, logged_address, spawn_serve, start, start_with_env};

fn get(address: SocketAddr, path: &str) -> String {
    let mut socket = TcpStream::connect(address).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(socket, "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").expect("send");
    let mut response = String::new();
    socket.read_to_string(&mut response).expect("read");
    response
}

fn terminate(mut server: Server) -> Vec<String> {
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("run kill");
    assert!(status.success());
    for _ in 0..300 {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            assert!(exit.success(), "clean exit after SIGTERM, got {exit}");
            return server.log.try_iter().collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.child.kill();
    panic!("server did not stop within 30 s of SIGTERM");
}

#[test]
fn serve_answers_health_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path());
    let response = get(server.address, "/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#), "{response}");
    let missing = get(server.address, "/no-such-page");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let log = terminate(server);
    assert!(log.iter().any(|line| line.contains("stopped")), "{log:?}");
    assert!(dir.path().join("log").is_dir() && dir.path().join("index.redb").is_file());

    // The directory is released and reopens without repairs.
    let again = start(dir.path());
    assert!(get(again.address, "/health").starts_with("HTTP/1.1 200"));
    terminate(again);
}

/// A SIGTERM that comes the moment the server says it serves, before it has
/// answered anything, still stops it cleanly: the signal is listened for
/// from the start, not only once serving is under way (otherwise the
/// signal's default action kills the process and the next start repairs).
#[test]
fn a_sigterm_right_after_start_stops_cleanly() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = terminate(start(dir.path()));
        assert!(log.iter().any(|line| line.contains("stopped")), "{log:?}");
    }
}

#[test]
fn serve_keeps_serving_when_nobody_reads_its_log_any_more() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_serve(dir.path());
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let address: SocketAddr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).expect("read the log") > 0, "server exited before serving");
        if let Some(address) = logged_address(&line) {
            break address;
        }
    };
    // The parent stops reading: every later log line meets a closed pipe.
    drop(stderr);
    let mut socket = TcpStream::connect(address).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // Starting a scavenge logs at info level.
    write!(
        socket,
        "POST /admin/scavenge HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    socket.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    assert!(get(address, "/health").starts_with("HTTP/1.1 200"), "still serving");
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_http_stream_api_is_turned_on_by_its_environment_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let off = start(dir.path());
    assert!(get(off.address, "/streams/orders").starts_with("HTTP/1.1 404"));
    assert!(get(off.address, "/info").contains(r#""atomPub":false"#));
    terminate(off);
    let on = start_with_env(dir.path(), &[("EVENTFOLD_ENABLE_ATOM_PUB_OVER_HTTP", "true")]);
    assert!(get(on.address, "/info").contains(r#""atomPub":true"#));
    assert!(get(on.address, "/streams/orders").starts_with("HTTP/1.1 404"), "a stream not written yet");
    let all = get(on.address, "/streams/%24all");
    assert!(all.starts_with("HTTP/1.1 200") && all.contains("All events"), "{all}");
    terminate(on);
}
