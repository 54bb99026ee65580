//! Goal: the server answers `GET /health` over real TCP with the store's
//! last position, and stops when asked; while the store refuses writes,
//! `/health` says degraded and why (503) and `/health/live` stays up, and
//! both are ok again once the store heals.

use crate::support;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_log::faults::{self, FaultPoint};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get_health(address: std::net::SocketAddr) -> String {
    get(address, "/health").await
}

async fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send request");
    let mut response = String::new();
    socket.read_to_string(&mut response).await.expect("read response");
    response
}

#[tokio::test]
async fn health_reports_status_version_and_last_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let running = support::serve(engine.clone()).await;
    let address = running.address;

    let empty = get_health(address).await;
    assert!(empty.starts_with("HTTP/1.1 200"), "{empty}");
    assert!(empty.contains(r#""status":"ok""#) && empty.contains(r#""last_position":null"#), "{empty}");

    let stream = StreamName::new("health-1").expect("name");
    let outcome = engine
        .append(AppendRequest::new(stream, ExpectedRevision::Any, vec![ProposedEvent::json("Pinged", "{}")]))
        .await
        .expect("append");
    let position = outcome.position.expect("a position").0;
    let after = get_health(address).await;
    assert!(after.contains(&format!(r#""last_position":{position}"#)), "{after}");

    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_degraded_with_the_reason_while_writes_are_refused_and_live_stays_up() {
    const EMFILE: i32 = 24;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig { segment_bytes_max: 16 * 1024, ..EngineConfig::new(dir.path()) };
    let engine = Engine::open(config).expect("open");
    let running = support::serve(engine.clone()).await;
    let address = running.address;

    // No file descriptor for the next segment: the append that needs it is
    // refused, and so is every append until the condition clears.
    faults::inject(dir.path(), FaultPoint::CreateSegment, EMFILE);
    let stream = StreamName::new("health-2").expect("name");
    let padding = "x".repeat(1000);
    let mut refused = false;
    for _ in 0..100 {
        let event = ProposedEvent::json("Filled", format!(r#"{{"padding":"{padding}"}}"#));
        if engine.append(AppendRequest::new(stream.clone(), ExpectedRevision::Any, vec![event])).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the appends reached the roll");
    let degraded = get_health(address).await;
    assert!(degraded.starts_with("HTTP/1.1 503"), "{degraded}");
    assert!(
        degraded.contains(r#""status":"degraded""#) && degraded.contains("Too many open files"),
        "the reason is given: {degraded}"
    );
    let live = get(address, "/health/live").await;
    assert!(live.starts_with("HTTP/1.1 204"), "reads are still served: {live}");

    faults::clear(dir.path(), FaultPoint::CreateSegment);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let healed = get_health(address).await;
        if healed.starts_with("HTTP/1.1 200") {
            assert!(healed.contains(r#""status":"ok""#) && !healed.contains("reason"), "{healed}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still degraded after the condition cleared: {healed}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    running.finish().await;
}
