//! Goal: the server answers `GET /health` over real TCP with the store's
//! last position, and stops when asked.

use std::sync::Arc;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get_health(address: std::net::SocketAddr) -> String {
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
    socket
        .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("send request");
    let mut response = String::new();
    socket.read_to_string(&mut response).await.expect("read response");
    response
}

#[tokio::test]
async fn health_reports_status_version_and_last_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path())).expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    let options = eventfold_server::ServeOptions::default();
    let server = tokio::spawn(eventfold_server::serve(store, listener, options, async {
        let _ = stopped.await;
    }));

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

    let _ = stop.send(());
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "server stops cleanly");
}
