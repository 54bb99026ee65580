//! Goal: a data directory of every format version this build knows opens,
//! with its events, from a frozen copy (`tests/fixtures/format-v<N>`); an
//! older one stays at its version unless the upgrade is asked for; a
//! directory of a newer version, or with a damaged version file, is refused
//! before anything in it changes.

use std::path::Path;

use eventfold_engine::{DATA_FORMAT_VERSION, Engine, EngineConfig, EngineError, read_format_version};
use eventfold_store::{EventStore, ReadAllRequest, ReadError, ReadStreamRequest, StreamName};
use futures::TryStreamExt;

fn fixture(version: u32) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("format-v{version}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("name")
}

/// The fixtures hold: `order-1` revisions 0..=2 (`{"n":i}`, ids ending in
/// i), `order-2` one event, `$$order-1` (`$maxCount` 10), `order-3`
/// tombstoned.
async fn check_contents(engine: &Engine) {
    let order_1: Vec<_> = engine
        .read_stream(ReadStreamRequest::forwards(name("order-1")))
        .await
        .expect("read")
        .try_collect()
        .await
        .expect("events");
    let seen: Vec<_> =
        order_1.iter().map(|event| (event.revision, event.data.to_vec(), event.id.0.to_string())).collect();
    let expected: Vec<_> = (0..3_u64)
        .map(|index| {
            (index, format!(r#"{{"n":{index}}}"#).into_bytes(), format!("00000000-0000-4000-8000-00000000000{index}"))
        })
        .collect();
    assert_eq!(seen, expected);
    let order_2: Vec<_> = engine
        .read_stream(ReadStreamRequest::forwards(name("order-2")))
        .await
        .expect("read")
        .try_collect()
        .await
        .expect("events");
    assert_eq!(order_2.len(), 1);
    let deleted = engine.read_stream(ReadStreamRequest::forwards(name("order-3"))).await.err();
    assert_eq!(deleted, Some(ReadError::StreamDeleted { stream: name("order-3") }));
    let all: Vec<_> = engine.read_all(ReadAllRequest::forwards()).await.expect("all").try_collect().await.expect("all");
    assert_eq!(all.len(), 6);
}

#[tokio::test]
async fn every_format_version_opens_and_an_older_one_migrates_only_when_asked() {
    for version in 1..=DATA_FORMAT_VERSION {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&fixture(version), dir.path());
        let engine = Engine::open(EngineConfig::new(dir.path())).expect("a fixture opens");
        check_contents(&engine).await;
        engine.shutdown().await;
        drop(engine);
        let recorded = read_format_version(dir.path()).expect("version").unwrap_or(1);
        assert_eq!(recorded, version, "opening leaves the version as it was");

        let upgrade = EngineConfig { upgrade_format: true, ..EngineConfig::new(dir.path()) };
        let engine = Engine::open(upgrade).expect("open with the upgrade");
        check_contents(&engine).await;
        engine.shutdown().await;
        drop(engine);
        assert_eq!(read_format_version(dir.path()).expect("version"), Some(DATA_FORMAT_VERSION));
    }
}

#[tokio::test]
async fn a_new_directory_records_the_current_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(EngineConfig::new(dir.path().join("db"))).expect("open");
    engine.shutdown().await;
    assert_eq!(read_format_version(&dir.path().join("db")).expect("version"), Some(DATA_FORMAT_VERSION));
}

#[test]
fn a_newer_or_unreadable_version_is_refused_and_left_alone() {
    for (text, words) in
        [("99\n", "newer eventfold"), ("two\n", "not a format version"), ("0\n", "not a format version")]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&fixture(DATA_FORMAT_VERSION), dir.path());
        let file = dir.path().join(eventfold_engine::FORMAT_VERSION_FILE);
        std::fs::write(&file, text).expect("write");
        let segment = dir.path().join("log/00000000000000000000.evlog");
        let before = std::fs::read(&segment).expect("read");
        let refused = Engine::open(EngineConfig::new(dir.path())).err().expect("refused");
        assert!(matches!(&refused, EngineError::DataFormat { path, .. } if *path == file), "{refused}");
        assert!(refused.to_string().contains(words), "{refused}");
        assert_eq!(std::fs::read(&file).expect("read"), text.as_bytes());
        assert_eq!(std::fs::read(&segment).expect("read"), before);
    }
}
