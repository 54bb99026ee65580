//! Goal: a missing resource (no file descriptor for a new log segment, no
//! space for the preallocation) refuses appends with a transient error that
//! names the cause, the store reports itself degraded meanwhile and keeps
//! serving reads, and appends resume by themselves once the condition
//! clears, without a restart and without losing anything acknowledged
//! (LOG-9). The failures are injected at the exact step in the log.

use std::path::Path;
use std::time::{Duration, Instant};

use eventfold_engine::{Engine, EngineConfig};
use eventfold_log::faults::{self, FaultPoint};
use eventfold_store::{
    AppendError, AppendRequest, EventStore, ExpectedRevision, Position, ProposedEvent, ReadAllRequest,
    StorageErrorKind, StoreHealth, StreamName,
};
use futures::TryStreamExt;

const EMFILE: i32 = 24;
const ENOSPC: i32 = 28;

/// Longest wait for the writer to find that the condition cleared.
const HEAL_TIMEOUT: Duration = Duration::from_secs(10);

fn config(dir: &Path) -> EngineConfig {
    // Small segments and preallocations, so that a few appends reach a roll
    // or a preallocation.
    EngineConfig { segment_bytes_max: 64 * 1024, preallocate_bytes: 16 * 1024, ..EngineConfig::new(dir) }
}

async fn append_one(engine: &Engine, acknowledged: &mut Vec<Position>) -> Result<(), AppendError> {
    let stream = StreamName::new("faulty-1").expect("valid stream name");
    let event = ProposedEvent::json("Filled", format!("{{\"padding\":\"{}\"}}", "x".repeat(1000)));
    let outcome = engine.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await?;
    acknowledged.push(outcome.position.expect("a written event has a position"));
    Ok(())
}

/// Appends until one is refused; returns that refusal.
async fn append_until_refused(engine: &Engine, acknowledged: &mut Vec<Position>) -> AppendError {
    for _ in 0..500 {
        if let Err(error) = append_one(engine, acknowledged).await {
            return error;
        }
    }
    panic!("500 appends of 1 KiB never reached the injected fault");
}

fn assert_transient(error: &AppendError, kind: StorageErrorKind, cause: &str) {
    match error {
        AppendError::Storage(storage) => {
            assert_eq!(storage.kind, kind, "{storage}");
            assert!(storage.kind.is_transient());
            assert!(storage.message.contains(cause), "the cause is in the message: {storage}");
        }
        other => panic!("expected a storage error, got {other}"),
    }
}

async fn wait_healthy(engine: &Engine) {
    let deadline = Instant::now() + HEAL_TIMEOUT;
    while !engine.health().is_ok() {
        assert!(Instant::now() < deadline, "still degraded after the condition cleared: {:?}", engine.health());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn read_positions(engine: &Engine) -> Vec<Position> {
    let events: Vec<_> =
        engine.read_all(ReadAllRequest::forwards()).await.expect("read").try_collect().await.expect("events");
    events.into_iter().map(|event| event.position).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_refused_while_a_resource_is_missing_and_resume_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    let mut acknowledged = Vec::new();
    for _ in 0..3 {
        append_one(&engine, &mut acknowledged).await.expect("append");
    }

    for (point, errno, kind, cause) in [
        (FaultPoint::CreateSegment, EMFILE, StorageErrorKind::Unavailable, "Too many open files"),
        (FaultPoint::Preallocate, ENOSPC, StorageErrorKind::DiskFull, "No space left"),
    ] {
        faults::inject(dir.path(), point, errno);
        let refused = append_until_refused(&engine, &mut acknowledged).await;
        assert_transient(&refused, kind, cause);
        match engine.health() {
            StoreHealth::Degraded(error) => assert_eq!(error.kind, kind, "{error}"),
            other => panic!("the store reports the refusal: {other:?}"),
        }
        let again = append_one(&engine, &mut acknowledged).await.expect_err("still refused");
        assert_transient(&again, kind, cause);
        assert_eq!(read_positions(&engine).await, acknowledged, "reads are served meanwhile");

        faults::clear(dir.path(), point);
        wait_healthy(&engine).await;
        append_one(&engine, &mut acknowledged).await.expect("appends resume without a restart");
        assert_eq!(read_positions(&engine).await, acknowledged);
    }

    engine.shutdown().await;
    drop(engine);
    let engine = Engine::open(config(dir.path())).expect("reopen");
    assert_eq!(read_positions(&engine).await, acknowledged, "nothing acknowledged is lost");
    assert!(engine.health().is_ok());
    engine.shutdown().await;
}
