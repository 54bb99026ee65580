//! Goal: a backup taken while writers append holds every event acknowledged
//! before its durable point, once and in order, and a restore of it opens
//! like any data directory; a second backup into the same place copies only
//! what changed, scavenged segments included; a changed or cut backup is
//! refused at restore, naming the file.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eventfold_engine::{BackupFailure, BackupOptions, Engine, EngineConfig, restore};
use eventfold_store::{
    AppendRequest, CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest,
    RecordedEvent, ScavengeOptions, StreamName,
};
use futures::TryStreamExt;

const WRITERS: usize = 4;

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn config(dir: &Path) -> EngineConfig {
    EngineConfig { segment_bytes_max: 64 * 1024, preallocate_bytes: 16 * 1024, ..EngineConfig::new(dir) }
}

fn event(writer: usize, index: u64) -> ProposedEvent {
    ProposedEvent::json("Written", format!(r#"{{"writer":{writer},"n":{index},"pad":"{}"}}"#, "x".repeat(150)))
}

async fn read_all(engine: &Engine) -> Vec<RecordedEvent> {
    engine.read_all(ReadAllRequest::forwards()).await.expect("read $all").try_collect().await.expect("$all")
}

/// Appends one event at a time to `w-<writer>` until told to stop; returns
/// every acknowledged (revision, position).
async fn write_until(engine: Engine, writer: usize, stop: Arc<AtomicBool>) -> Vec<(u64, u64)> {
    let mut acknowledged = Vec::new();
    let mut index = 0;
    while !stop.load(Ordering::Relaxed) {
        let request =
            AppendRequest::new(name(&format!("w-{writer}")), ExpectedRevision::Any, vec![event(writer, index)]);
        let outcome = engine.append(request).await.expect("append");
        let CurrentRevision::Current(revision) = outcome.current_revision else { panic!("no revision") };
        acknowledged.push((revision, outcome.position.expect("a position").0));
        index += 1;
    }
    acknowledged
}

async fn backup(engine: &Engine, destination: &Path) -> eventfold_store::BackupReport {
    let engine = engine.clone();
    let destination = destination.to_path_buf();
    tokio::task::spawn_blocking(move || {
        engine.backup_to(&destination, &BackupOptions::default(), &mut |_| {}).expect("backup")
    })
    .await
    .expect("backup task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_acknowledged_event_and_an_incremental_one_the_later_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(&dir.path().join("db"))).expect("open");
    // A stream in the first segments only, which the scavenge will remove.
    let doomed = (0..400).map(|index| event(9, index)).collect();
    engine.append(AppendRequest::new(name("doomed"), ExpectedRevision::NoStream, doomed)).await.expect("doomed");
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> =
        (0..WRITERS).map(|writer| tokio::spawn(write_until(engine.clone(), writer, Arc::clone(&stop)))).collect();
    // Let the log grow over a few segments, back up while the writers go on.
    while engine.committed_end().0 < 400 * 1024 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let destination = dir.path().join("backup");
    let first = backup(&engine, &destination).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.push(writer.await.expect("writer"));
    }
    assert!(first.files > 1 && first.bytes_copied == first.bytes_total, "{first:?}");

    let restored_dir = dir.path().join("restored");
    restore(&destination, &restored_dir, &mut |_| {}).expect("restore");
    let restored = Engine::open(config(&restored_dir)).expect("open the restored directory");
    let events = read_all(&restored).await;
    assert!(events.iter().all(|event| event.position.0 < first.durable_end));
    for (writer, acknowledged) in acknowledged.iter().enumerate() {
        let stream = format!("w-{writer}");
        let found: Vec<(u64, u64)> = events
            .iter()
            .filter(|event| event.stream.as_str() == stream)
            .map(|event| (event.revision, event.position.0))
            .collect();
        let expected: Vec<(u64, u64)> =
            acknowledged.iter().copied().filter(|(_, position)| *position < first.durable_end).collect();
        assert!(!expected.is_empty());
        // Every acknowledged event before the point, once, in order, and
        // nothing else of this stream.
        assert_eq!(found, expected, "{stream}");
    }
    let live_prefix: Vec<_> =
        read_all(&engine).await.into_iter().filter(|event| event.position.0 < first.durable_end).collect();
    assert_eq!(events, live_prefix);
    restored.shutdown().await;

    // More events, a tombstone and a scavenge that rewrites sealed segments:
    // the second backup into the same place catches up.
    for writer in 0..WRITERS {
        let events = (0..200).map(|index| event(writer, 10_000 + index)).collect();
        engine
            .append(AppendRequest::new(name(&format!("w-{writer}")), ExpectedRevision::Any, events))
            .await
            .expect("a");
    }
    engine.delete_stream(name("doomed"), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    let started = engine.start_scavenge(ScavengeOptions::default()).await.expect("scavenge");
    loop {
        let status = engine.scavenge_status().await.expect("status");
        if status.state.is_finished() {
            assert!(status.events_removed > 0, "{status:?}");
            break;
        }
        assert_eq!(status.id, started.id);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = backup(&engine, &destination).await;
    assert!(second.bytes_copied < second.bytes_total, "only what changed is copied: {second:?}");
    assert!(second.files_copied >= 1);
    let later_dir = dir.path().join("restored-later");
    restore(&destination, &later_dir, &mut |_| {}).expect("restore the later backup");
    let later = Engine::open(config(&later_dir)).expect("open");
    assert_eq!(read_all(&later).await, read_all(&engine).await);
    later.shutdown().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_truncated_backup_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(&dir.path().join("db"))).expect("open");
    for writer in 0..3 {
        let events = (0..300).map(|index| event(writer, index)).collect();
        engine
            .append(AppendRequest::new(name(&format!("s-{writer}")), ExpectedRevision::Any, events))
            .await
            .expect("a");
    }
    let destination = dir.path().join("backup");
    backup(&engine, &destination).await;
    engine.shutdown().await;
    let segment = std::fs::read_dir(destination.join("log"))
        .expect("list")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .min()
        .expect("a segment");
    let original = std::fs::read(&segment).expect("read");

    let mut tampered = original.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    std::fs::write(&segment, &tampered).expect("tamper");
    let refused = restore(&destination, &dir.path().join("r1"), &mut |_| {}).expect_err("tampered");
    assert!(
        matches!(&refused, BackupFailure::Refused { path, reason } if *path == segment && reason.contains("checksum"))
    );
    assert!(!dir.path().join("r1").exists(), "a refused restore leaves no data directory");

    std::fs::write(&segment, &original[..original.len() - 10]).expect("truncate");
    let refused = restore(&destination, &dir.path().join("r2"), &mut |_| {}).expect_err("truncated");
    assert!(
        matches!(&refused, BackupFailure::Refused { path, reason } if *path == segment && reason.contains("truncated"))
    );

    std::fs::write(&segment, &original).expect("put back");
    std::fs::write(dir.path().join("r3-file"), b"x").expect("file");
    std::fs::create_dir_all(dir.path().join("r3")).expect("dir");
    std::fs::write(dir.path().join("r3").join("x"), b"x").expect("file");
    assert!(matches!(restore(&destination, &dir.path().join("r3"), &mut |_| {}), Err(BackupFailure::Refused { .. })));
    restore(&destination, &dir.path().join("r4"), &mut |_| {}).expect("the intact backup restores");

    std::fs::write(destination.join("manifest.json"), b"{ not json").expect("break the manifest");
    let refused = restore(&destination, &dir.path().join("r5"), &mut |_| {}).expect_err("bad manifest");
    assert!(refused.to_string().contains("manifest.json"), "{refused}");
}
