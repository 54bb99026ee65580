//! Verify and repair over the engine: damage in the middle of a sealed
//! segment is found with its file and offset (offline, and online while
//! appends go on), a repair sets the segment aside and keeps every other
//! event at its position, and an index that disagrees with the log is
//! rebuilt at start instead of serving wrong answers.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use eventfold_engine::{Engine, EngineConfig, EngineError, repair_offline, verify_offline};
use eventfold_index::{Index, IndexUpdate};
use eventfold_store::{
    AppendRequest, CurrentRevision, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, ReadStreamRequest,
    RecordedEvent, StreamName,
};
use futures::TryStreamExt;

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.segment_bytes_max = 4096;
    config.preallocate_bytes = 1024;
    config
}

/// Appends 60 events, one per append, to three streams in turn.
async fn fill(engine: &Engine) {
    for index in 0..60 {
        let event = ProposedEvent::json("Happened", format!("{{\"n\":{index},\"padding\":\"{}\"}}", "p".repeat(40)));
        let stream = name(&format!("order-{}", index % 3));
        engine.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
    }
}

async fn all_events(engine: &Engine) -> Vec<RecordedEvent> {
    engine.read_all(ReadAllRequest::forwards()).await.expect("read all").try_collect().await.expect("events")
}

async fn stream_events(engine: &Engine, stream: &str) -> Vec<RecordedEvent> {
    let read = engine.read_stream(ReadStreamRequest::forwards(name(stream))).await.expect("read");
    read.try_collect().await.expect("events")
}

/// The segment file holding `position`, and its base.
fn segment_of(dir: &Path, position: u64) -> (PathBuf, u64) {
    let mut segments: Vec<(u64, PathBuf)> = std::fs::read_dir(dir.join("log"))
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "evlog"))
        .map(|path| {
            let base = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse().ok());
            (base.expect("base"), path)
        })
        .collect();
    segments.sort();
    let (base, path) = segments.into_iter().rev().find(|(base, _)| *base <= position).expect("segment");
    (path, base)
}

fn flip_byte(path: &Path, offset: u64) {
    let file = OpenOptions::new().read(true).write(true).open(path).expect("open segment");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).expect("read");
    byte[0] ^= 0x20;
    file.write_all_at(&byte, offset).expect("write");
}

/// Goal: a byte flipped in the middle of a sealed segment is reported by
/// verify with the file and offset of its frame and the event it held;
/// repair moves the segment aside, reports the lost position, and the
/// reopened store serves every other event where it was and goes on.
#[tokio::test]
async fn a_flipped_byte_in_a_sealed_segment_is_found_and_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    fill(&engine).await;
    let before = all_events(&engine).await;
    engine.shutdown().await;
    drop(engine);

    let victim = before[4].clone();
    let (segment, base) = segment_of(dir.path(), victim.position.0);
    assert_eq!(base, 0, "the victim is in the first, sealed segment");
    flip_byte(&segment, victim.position.0 - base + 40);

    let report = verify_offline(dir.path(), &mut |_| {}).expect("verify");
    assert!(!report.is_clean());
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    let damage = &report.damaged[0];
    assert_eq!(PathBuf::from(&damage.file), segment);
    assert_eq!(damage.offset, victim.position.0 - base);
    assert_eq!(damage.frame_positions, vec![victim.position.0]);
    assert_eq!(report.index.events_in_damage.len(), 1);
    assert_eq!(report.index.events_in_damage[0].stream, victim.stream.as_str());
    assert_eq!(report.index.events_in_damage[0].revision, victim.revision);
    assert_eq!(report.index.mismatch_count, 0, "{:?}", report.index.mismatches);
    assert!(report.index.entries_checked > 0 && report.index.events_checked > 0);

    let repair = repair_offline(dir.path(), &mut |_| {}).expect("repair");
    assert_eq!(repair.repaired.len(), 1);
    assert!(Path::new(&repair.repaired[0].set_aside).exists(), "the damaged segment is kept aside");
    assert_eq!(repair.repaired[0].lost.len(), 1);
    assert_eq!(repair.repaired[0].lost[0].frame_positions, vec![victim.position.0]);
    assert!(repair.new_segment.is_none());

    let engine = Engine::open(config(dir.path())).expect("reopen after repair");
    let expected: Vec<_> = before.iter().filter(|event| event.position != victim.position).cloned().collect();
    assert_eq!(all_events(&engine).await, expected);
    let stream = stream_events(&engine, victim.stream.as_str()).await;
    assert_eq!(stream.len(), 19);
    assert!(stream.iter().all(|event| event.revision != victim.revision));
    let outcome = engine
        .append(AppendRequest::new(
            victim.stream.clone(),
            ExpectedRevision::Exact(19),
            vec![ProposedEvent::json("Later", "{}")],
        ))
        .await
        .expect("append after repair");
    assert_eq!(outcome.current_revision, CurrentRevision::Current(20));
    engine.shutdown().await;
    drop(engine);
    assert!(verify_offline(dir.path(), &mut |_| {}).expect("verify again").is_clean());
}

/// Goal: a running store verifies itself while appends go on, finds the
/// damage, and an offline verify is refused while it holds the directory.
#[tokio::test]
async fn a_running_store_verifies_itself_while_appends_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    fill(&engine).await;
    assert!(engine.verify_storage().await.expect("verify").is_clean());
    let victim = all_events(&engine).await[7].clone();
    let (segment, base) = segment_of(dir.path(), victim.position.0);
    flip_byte(&segment, victim.position.0 - base + 40);

    let appending = {
        let engine = engine.clone();
        tokio::spawn(async move { fill(&engine).await })
    };
    let report = engine.verify_storage().await.expect("verify");
    appending.await.expect("appends went on");
    assert!(report.online);
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    assert_eq!(report.damaged[0].frame_positions, vec![victim.position.0]);
    assert_eq!(report.index.events_in_damage.len(), 1);

    let refused = verify_offline(dir.path(), &mut |_| {});
    assert!(matches!(refused, Err(EngineError::Locked { .. })), "a held directory is not verified offline");
    engine.shutdown().await;
}

/// Goal: an index entry that points at the wrong event is found by verify,
/// and at start the index is rebuilt instead of serving it.
#[tokio::test]
async fn an_index_pointing_at_the_wrong_event_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    fill(&engine).await;
    let before = stream_events(&engine, "order-1").await;
    let other = stream_events(&engine, "order-2").await;
    engine.shutdown().await;
    drop(engine);

    {
        let index = Index::open(&dir.path().join("index.redb")).expect("index");
        let snapshot = index.snapshot().expect("snapshot");
        let stream = snapshot.stream("order-1").expect("read").expect("stream");
        let update = IndexUpdate {
            streams: Vec::new(),
            // Revision 5 of order-1 now points at an event of order-2.
            events: vec![(stream.id, 5, other[3].position.0)],
            next_stream_id: snapshot.next_stream_id().expect("next id"),
        };
        let checkpoint = snapshot.checkpoint().expect("checkpoint");
        drop(snapshot);
        index.apply(&update, checkpoint, true).expect("corrupt the index");
    }

    let report = verify_offline(dir.path(), &mut |_| {}).expect("verify");
    assert!(report.damaged.is_empty());
    assert!(report.index.mismatch_count >= 1);
    assert!(
        report.index.mismatches.iter().any(|mismatch| mismatch.stream == "order-1" && mismatch.revision == 5),
        "{:?}",
        report.index.mismatches
    );

    let engine = Engine::open(config(dir.path())).expect("reopen");
    assert_eq!(stream_events(&engine, "order-1").await, before);
    engine.shutdown().await;
    drop(engine);
    assert!(verify_offline(dir.path(), &mut |_| {}).expect("verify again").is_clean());
}

/// Goal: an index file garbled on disk does not stop the start: it is
/// rebuilt and reads are right.
#[tokio::test]
async fn a_garbled_index_file_is_rebuilt_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path())).expect("open");
    fill(&engine).await;
    let before = all_events(&engine).await;
    engine.shutdown().await;
    drop(engine);

    let path = dir.path().join("index.redb");
    let length = std::fs::metadata(&path).expect("stat").len();
    let file = OpenOptions::new().write(true).open(&path).expect("open index");
    for offset in (0..length).step_by(512) {
        file.write_all_at(&[0xA5; 64], offset).expect("garble");
    }
    drop(file);

    let report = verify_offline(dir.path(), &mut |_| {}).expect("verify");
    assert!(!report.index.is_clean(), "{:?}", report.index);

    let engine = Engine::open(config(dir.path())).expect("reopen");
    assert_eq!(all_events(&engine).await, before);
    for stream in ["order-0", "order-1", "order-2"] {
        assert_eq!(stream_events(&engine, stream).await.len(), 20);
    }
    engine.shutdown().await;
}

/// Goal: damage in the segment the writer appends to is repaired too: the
/// segment is replaced and followed by a new one, every other event is
/// served, and appends go on with the next revisions.
#[tokio::test]
async fn damage_in_the_writer_s_segment_is_repaired_and_appends_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.segment_bytes_max = 1024 * 1024;
    let engine = Engine::open(config.clone()).expect("open");
    fill(&engine).await;
    let before = all_events(&engine).await;
    engine.shutdown().await;
    drop(engine);

    let victim = before[30].clone();
    let (segment, base) = segment_of(dir.path(), victim.position.0);
    flip_byte(&segment, victim.position.0 - base + 40);
    let report = verify_offline(dir.path(), &mut |_| {}).expect("verify");
    assert_eq!(report.segments.len(), 1);
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);
    assert!(!report.damaged[0].at_tail, "valid frames follow the damage");

    let repair = repair_offline(dir.path(), &mut |_| {}).expect("repair");
    assert_eq!(repair.repaired.len(), 1);
    assert!(repair.new_segment.is_some(), "a new segment for the writer");

    let engine = Engine::open(config).expect("reopen after repair");
    let expected: Vec<_> = before.iter().filter(|event| event.position != victim.position).cloned().collect();
    assert_eq!(all_events(&engine).await, expected);
    fill(&engine).await;
    assert_eq!(stream_events(&engine, victim.stream.as_str()).await.len(), 39);
    assert_eq!(all_events(&engine).await.len(), 119);
    engine.shutdown().await;
    drop(engine);
    assert!(verify_offline(dir.path(), &mut |_| {}).expect("verify again").is_clean());
}
