//! Goal: a SIGKILL in the middle of a scavenge leaves a database that opens,
//! still holds every acknowledged event of every live stream, keeps deleted
//! streams deleted, and rebuilds the same index from its log.
//!
//! How: `eventfold-scavenge-crasher` appends and deletes in rounds while
//! rate-limited scavenges run back to back over small segments. Each cycle
//! runs it for a random 200–1200 ms, kills it, reopens the directory here
//! (every third cycle without its index, so the index is rebuilt from the
//! scavenged log) and checks every round any crasher so far acknowledged.
//! All cycles share one directory.
//!
//! `EVENTFOLD_SCAVENGE_CRASH_CYCLES` sets the number of cycles (default 8).

#![cfg(unix)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    EventStore, ReadAllRequest, ReadError, ReadStreamRequest, RecordedEvent, ScavengeOptions, StreamName,
};
use eventfold_testkit::{SCAVENGE_ROUND_EVENTS, run_until_killed};
use futures::TryStreamExt;
use rand::Rng;

const DEFAULT_CYCLES: u32 = 8;
const RUN_MILLISECONDS: std::ops::RangeInclusive<u64> = 200..=1200;
const FINAL_SCAVENGE_TIMEOUT: Duration = Duration::from_secs(60);
/// As the crasher's, so that the reopened engine sees the same segments.
const SEGMENT_BYTES_MAX: u64 = 64 * 1024;

#[derive(Default)]
struct Ledger {
    kept: BTreeSet<u64>,
    deleted: BTreeSet<u64>,
    scavenges_started: u64,
    kills_with_a_half_written_segment: u64,
    next_round: u64,
}

fn config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.segment_bytes_max = SEGMENT_BYTES_MAX;
    config
}

fn name(text: String) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

#[test]
fn a_kill_during_a_scavenge_loses_nothing_acknowledged() {
    let cycles = std::env::var("EVENTFOLD_SCAVENGE_CRASH_CYCLES")
        .ok()
        .and_then(|cycles| cycles.parse().ok())
        .unwrap_or(DEFAULT_CYCLES);
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut ledger = Ledger::default();
    for cycle in 0..cycles {
        let lines = run_crasher_until_killed(dir.path(), ledger.next_round, cycle);
        record(&mut ledger, &lines);
        let log = dir.path().join("log");
        let half_written = std::fs::read_dir(&log)
            .expect("list log")
            .filter_map(Result::ok)
            .any(|entry| entry.path().to_string_lossy().ends_with(".tmp"));
        if half_written {
            ledger.kills_with_a_half_written_segment += 1;
        }
        let rebuild = cycle % 3 == 2;
        if rebuild {
            std::fs::remove_file(dir.path().join("index.redb")).expect("remove the index");
        }
        runtime.block_on(check(dir.path(), &ledger, cycle, false));
    }
    // One last scavenge to completion, then everything again.
    runtime.block_on(check(dir.path(), &ledger, cycles, true));
    eprintln!(
        "scavenge crash test: {cycles} kills, {} of them mid-rewrite, {} scavenges started, {} rounds kept",
        ledger.kills_with_a_half_written_segment,
        ledger.scavenges_started,
        ledger.kept.len()
    );
    assert!(ledger.scavenges_started > 0, "the crasher never started a scavenge");
    assert!(!ledger.kept.is_empty() && !ledger.deleted.is_empty(), "the crasher acknowledged nothing");
}

fn record(ledger: &mut Ledger, lines: &[String]) {
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(kind), Some(value)) = (words.next(), words.next()) else { continue };
        let round = value.parse::<u64>().ok();
        match (kind, round) {
            ("KEPT", Some(round)) => {
                ledger.kept.insert(round);
                ledger.next_round = ledger.next_round.max(round + 2);
            }
            ("DELETED", Some(round)) => {
                ledger.deleted.insert(round);
                ledger.next_round = ledger.next_round.max(round + 2);
            }
            ("SCAVENGING", _) => ledger.scavenges_started += 1,
            _ => {}
        }
    }
}

async fn check(dir: &Path, ledger: &Ledger, cycle: u32, scavenge_first: bool) {
    let engine = Engine::open(config(dir)).unwrap_or_else(|error| panic!("cycle {cycle}: reopen: {error}"));
    let leftovers = std::fs::read_dir(dir.join("log"))
        .expect("list log")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0, "cycle {cycle}: opening removes a half-written segment");
    if scavenge_first {
        engine.start_scavenge(ScavengeOptions::default()).await.expect("start the final scavenge");
        let deadline = Instant::now() + FINAL_SCAVENGE_TIMEOUT;
        let status = loop {
            let status = engine.scavenge_status().await.expect("a status");
            if status.state.is_finished() {
                break status;
            }
            assert!(Instant::now() < deadline, "the final scavenge did not finish: {status:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(status.error, None, "{status:?}");
    }
    for round in &ledger.kept {
        let events = read(&engine, format!("keep-{round}")).await;
        let events = events.unwrap_or_else(|error| panic!("cycle {cycle}: keep-{round}: {error}"));
        let revisions: Vec<u64> = events.iter().map(|event| event.revision).collect();
        assert_eq!(revisions, (0..SCAVENGE_ROUND_EVENTS as u64).collect::<Vec<_>>(), "cycle {cycle}: keep-{round}");
        let marker = format!("\"round\":{round},");
        assert!(
            events.iter().all(|event| String::from_utf8_lossy(&event.data).contains(&marker)),
            "cycle {cycle}: keep-{round} holds another round's data"
        );
    }
    for round in &ledger.deleted {
        let dropped = read(&engine, format!("drop-{round}")).await;
        assert_eq!(dropped, Err(ReadError::StreamNotFound { stream: name(format!("drop-{round}")) }), "cycle {cycle}");
        let gone = read(&engine, format!("gone-{round}")).await;
        assert_eq!(gone, Err(ReadError::StreamDeleted { stream: name(format!("gone-{round}")) }), "cycle {cycle}");
    }
    let all: Vec<RecordedEvent> = engine
        .read_all(ReadAllRequest::forwards())
        .await
        .expect("read $all")
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("cycle {cycle}: $all: {error}"));
    assert!(all.windows(2).all(|pair| pair[0].position < pair[1].position), "cycle {cycle}: $all order");
    engine.shutdown().await;
}

async fn read(engine: &Engine, stream: String) -> Result<Vec<RecordedEvent>, ReadError> {
    engine.read_stream(ReadStreamRequest::forwards(name(stream))).await?.try_collect().await
}

fn run_crasher_until_killed(dir: &Path, first_round: u64, cycle: u32) -> Vec<String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventfold-scavenge-crasher"));
    command.arg(dir).arg(first_round.to_string());
    let run_for = Duration::from_millis(rand::rng().random_range(RUN_MILLISECONDS));
    // Only whole lines count: the kill may cut the last one short ("KEPT 12"
    // into "KEPT 1"), and a cut line claims nothing.
    run_until_killed(command, &format!("cycle {cycle}: the scavenge crasher"), |_| true, run_for).lines
}
