//! Goal (IDX-3): a crash between a scavenge's compaction of the log and its
//! deletion of index entries leaves a consistent store: the entries left
//! point at removed positions, reads skip them and answer as they will once
//! they are gone, and the next scavenge deletes them.

use std::path::Path;
use std::sync::Arc;

use eventfold_store::{
    AppendRequest, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, ReadStreamRequest, RecordedEvent,
    ScavengeOptions, StreamName,
};
use futures::TryStreamExt;

use super::{Run, compact_sealed_segments};
use crate::{Engine, EngineConfig};

fn config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.segment_bytes_max = 16 * 1024;
    config
}

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn entries(engine: &Engine) -> u64 {
    engine.shared().snapshot().event_entry_count().expect("count")
}

/// Each stream and link stream, read whole forwards and its last three
/// backwards.
async fn views(engine: &Engine) -> Vec<Vec<RecordedEvent>> {
    let mut views = Vec::new();
    for stream in ["order-0", "order-5", "$ce-order", "$et-Placed", "$streams"] {
        for request in [
            ReadStreamRequest::forwards(name(stream)),
            ReadStreamRequest { max_count: 3, ..ReadStreamRequest::backwards(name(stream)) },
        ] {
            views.push(engine.read_stream(request).await.expect(stream).try_collect().await.expect(stream));
        }
    }
    views
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_a_crash_left_after_the_compaction_are_skipped_then_deleted_by_the_next_scavenge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    for round in 0..5 {
        for stream in 0..10 {
            let events = (0..10)
                .map(|number| {
                    ProposedEvent::json(
                        "Placed",
                        format!(r#"{{"round":{round},"n":{number},"pad":"{}"}}"#, "x".repeat(150)),
                    )
                })
                .collect();
            let request = AppendRequest::new(name(&format!("order-{stream}")), ExpectedRevision::Any, events);
            engine.append(request).await.expect("append");
        }
    }
    for stream in (0..10).filter(|stream| *stream != 0 && *stream != 5) {
        engine
            .delete_stream(name(&format!("order-{stream}")), ExpectedRevision::Any, DeleteMode::Soft)
            .await
            .expect("delete");
    }
    let entries_before = entries(&engine);

    // The log step alone: what a scavenge killed before its index step left.
    let shared = Arc::clone(engine.shared());
    let compacted = tokio::task::spawn_blocking(move || {
        compact_sealed_segments(&shared, &Run::new(), &ScavengeOptions::default()).is_ok()
    });
    assert!(compacted.await.expect("join"), "the compaction failed");
    assert!(shared_removed_something(&engine), "the compaction removed nothing");
    assert_eq!(entries(&engine), entries_before, "nothing deleted the entries yet");
    let stale = views(&engine).await;
    engine.shutdown().await;
    drop(engine);

    let engine = Engine::open(config(dir.path())).expect("reopen");
    assert_eq!(entries(&engine), entries_before, "the entries of removed events are still there");
    assert_eq!(views(&engine).await, stale);
    let started = engine.start_scavenge(ScavengeOptions::default()).await.expect("start");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = engine.scavenge_status().await.expect("status");
        assert_eq!(status.id, started.id);
        if status.state.is_finished() {
            assert_eq!(status.state, eventfold_store::ScavengeState::Completed, "{status:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still running: {status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let entries_after = entries(&engine);
    assert!(entries_after * 2 < entries_before, "the next scavenge deletes them: {entries_before} -> {entries_after}");
    assert_eq!(views(&engine).await, stale, "and no read changes");
    engine.shutdown().await;
}

fn shared_removed_something(engine: &Engine) -> bool {
    engine.shared().reader.first_compacted_base().is_some()
}
