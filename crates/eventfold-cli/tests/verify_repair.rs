//! Goal: the real `eventfold admin verify` finds a byte flipped in the
//! middle of a sealed segment, names its file and offset and exits 1;
//! while a server holds the directory it refuses and points at the online
//! check, which finds the same damage through the server; `eventfold admin
//! repair` then sets the segment aside, reports the lost position, and the
//! database verifies clean and serves every other event.

mod support;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, RecordedEvent, StreamName,
};
use futures::TryStreamExt;

fn eventfold(args: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventfold"))
        .args(args)
        .env("EVENTFOLD_DB", db)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run eventfold")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A database of 60 events in segments of 4 KiB; returns its events.
async fn fill(dir: &Path) -> Vec<RecordedEvent> {
    let mut config = EngineConfig::new(dir);
    config.segment_bytes_max = 4096;
    let engine = Engine::open(config).expect("open");
    for index in 0..60 {
        let event = ProposedEvent::json("Happened", format!("{{\"n\":{index},\"padding\":\"{}\"}}", "p".repeat(40)));
        let stream = StreamName::new(format!("order-{}", index % 3)).expect("name");
        engine.append(AppendRequest::new(stream, ExpectedRevision::Any, vec![event])).await.expect("append");
    }
    let events = read_all(&engine).await;
    engine.shutdown().await;
    events
}

async fn read_all(engine: &Engine) -> Vec<RecordedEvent> {
    engine.read_all(ReadAllRequest::forwards()).await.expect("read all").try_collect().await.expect("events")
}

fn first_segment(dir: &Path) -> PathBuf {
    dir.join("log").join(format!("{:020}.evlog", 0))
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_the_damage_and_repair_keeps_everything_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path();
    let events = fill(db).await;

    let clean = eventfold(&["admin", "verify"], db);
    assert!(clean.status.success(), "a fresh database verifies: {}{}", text(&clean.stdout), text(&clean.stderr));
    assert!(text(&clean.stdout).contains("clean"));

    let victim = events[4].clone();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(first_segment(db)).expect("open segment");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, victim.position.0 + 40).expect("read");
    file.write_all_at(&[byte[0] ^ 0x20], victim.position.0 + 40).expect("flip");
    drop(file);

    let found = eventfold(&["admin", "verify"], db);
    let stdout = text(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "damage makes verify fail: {stdout}{}", text(&found.stderr));
    assert!(stdout.contains(&format!("{:020}.evlog at offset {}", 0, victim.position.0)), "{stdout}");
    assert!(stdout.contains(&format!("{} revision {}", victim.stream, victim.revision)), "{stdout}");

    let json = eventfold(&["admin", "verify", "--json"], db);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("a JSON report");
    assert_eq!(report["clean"], false);
    assert_eq!(report["damaged"][0]["offset"], victim.position.0);
    assert_eq!(report["damaged"][0]["frame_positions"][0], victim.position.0);

    {
        // Projections off: their registrations would join the events compared below.
        let server = support::start_with_env(db, &[("EVENTFOLD_RUN_PROJECTIONS", "None")]);
        let refused = eventfold(&["admin", "verify"], db);
        assert_eq!(refused.status.code(), Some(1));
        assert!(text(&refused.stderr).contains("a server is running"), "{}", text(&refused.stderr));
        let url = format!("http://{}", server.address);
        let online = eventfold(&["admin", "verify", "--json", "--server", &url], db);
        assert_eq!(online.status.code(), Some(1), "{}", text(&online.stderr));
        let report: serde_json::Value = serde_json::from_slice(&online.stdout).expect("a JSON report");
        assert_eq!(report["online"], true);
        assert_eq!(report["damaged"][0]["frame_positions"][0], victim.position.0);
        let refused = eventfold(&["admin", "repair"], db);
        assert!(!refused.status.success(), "no repair under a running server");
    }

    let repaired = eventfold(&["admin", "repair"], db);
    let stdout = text(&repaired.stdout);
    assert!(repaired.status.success(), "{stdout}{}", text(&repaired.stderr));
    assert!(stdout.contains(&format!("(the frame(s) at {})", victim.position.0)), "{stdout}");
    assert!(stdout.contains(&format!("lost: {} revision {}", victim.stream, victim.revision)), "{stdout}");
    let set_aside: Vec<_> = std::fs::read_dir(db.join("log").join("damaged")).expect("damaged/").collect();
    assert_eq!(set_aside.len(), 1, "the damaged segment is kept");

    let again = eventfold(&["admin", "verify"], db);
    assert!(again.status.success(), "{}{}", text(&again.stdout), text(&again.stderr));

    // A second damaged frame, in a later segment, repaired with a JSON report.
    let second = events[40].clone();
    let (path, base) = segment_of(db, second.position.0);
    assert_ne!(base, 0);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).expect("open segment");
    let offset = second.position.0 - base + 40;
    file.read_exact_at(&mut byte, offset).expect("read");
    file.write_all_at(&[byte[0] ^ 0x20], offset).expect("flip");
    drop(file);
    let json = eventfold(&["admin", "repair", "--json"], db);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("a JSON report");
    assert_eq!(report["repaired"][0]["lost"][0]["frame_positions"][0], second.position.0);
    assert_eq!(report["before"]["index"]["events_in_damage"][0]["revision"], second.revision);
    assert_eq!(report["index_rebuilt"], true);

    let engine = Engine::open(EngineConfig::new(db)).expect("reopen");
    let lost = [victim.position, second.position];
    let expected: Vec<_> = events.into_iter().filter(|event| !lost.contains(&event.position)).collect();
    assert_eq!(read_all(&engine).await, expected);
    engine.shutdown().await;
}

/// The segment file holding `position`, and its base.
fn segment_of(db: &Path, position: u64) -> (PathBuf, u64) {
    let mut bases: Vec<u64> = std::fs::read_dir(db.join("log"))
        .expect("list")
        .filter_map(|entry| entry.ok()?.path().file_name()?.to_str()?.strip_suffix(".evlog")?.parse().ok())
        .collect();
    bases.sort();
    let base = bases.into_iter().rev().find(|base| *base <= position).expect("a segment");
    (db.join("log").join(format!("{base:020}.evlog")), base)
}
