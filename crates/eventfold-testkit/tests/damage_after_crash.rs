//! Goal: damage to acknowledged events near the end of the log, found after
//! a crash, is reported as corruption: the engine refuses to open, names the
//! segment file and offset, and cuts nothing. It must not be taken for a
//! torn write and cut away with the acknowledged events after it.
//!
//! How: the crash writer appends until SIGKILL; one bit is flipped in the
//! frame four frames before the last acknowledged one (so five acknowledged
//! events lie at or after it); then the engine is opened on the directory.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_testkit::{WriterLine, run_until_killed};

/// The segment header, and a frame's header (length, flags, checksum) and
/// trailer (length): the layout of `docs/format.md`.
const SEGMENT_HEADER_BYTES: usize = 32;
const FRAME_HEADER_BYTES: usize = 12;
const FRAME_TRAILER_BYTES: usize = 4;

#[test]
fn damage_to_acknowledged_events_after_a_crash_is_refused_and_nothing_is_cut() {
    let data = tempfile::tempdir().expect("create the data directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventfold-crash-writer"));
    command.arg(data.path()).arg("4");
    let output = run_until_killed(command, "the crash writer", |line| line.starts_with("ACK "), ms(300));
    let last_acknowledged = output
        .lines
        .iter()
        .filter_map(|line| match line.parse::<WriterLine>() {
            Ok(WriterLine::Acknowledged(ack)) => Some(ack.last_position.0),
            _ => None,
        })
        .max()
        .expect("the writer acknowledged appends");

    let (segment, base) = last_segment(&data.path().join("log"));
    let mut bytes = std::fs::read(&segment).expect("read the last segment");
    let frames = frame_offsets(&bytes);
    let last = frames
        .iter()
        .position(|offset| base + *offset as u64 == last_acknowledged)
        .expect("the last acknowledged event is a frame of the last segment");
    assert!(last >= 4, "only {} acknowledged frames in the last segment", last + 1);
    let damaged = frames[last - 4];
    bytes[damaged + FRAME_HEADER_BYTES + 30] ^= 0x08;
    std::fs::write(&segment, &bytes).expect("damage the segment");

    let error = match Engine::open(EngineConfig::new(data.path())) {
        Ok(_) => panic!("the engine opened on damaged acknowledged events"),
        Err(error) => error.to_string(),
    };
    let file_name = segment.file_name().and_then(|name| name.to_str()).expect("a segment name");
    assert!(error.contains(file_name), "names the file: {error}");
    assert!(error.contains(&format!("offset {damaged}")), "names the offset {damaged}: {error}");
    assert!(error.contains("admin repair"), "points to the repair: {error}");
    assert_eq!(std::fs::read(&segment).expect("read again"), bytes, "nothing was cut");
}

fn ms(milliseconds: u64) -> Duration {
    Duration::from_millis(milliseconds)
}

/// The segment with the highest base, and that base.
fn last_segment(log: &Path) -> (PathBuf, u64) {
    std::fs::read_dir(log)
        .expect("list the log")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let base = path.file_stem()?.to_str()?.parse::<u64>().ok()?;
            (path.extension()? == "evlog").then_some((path, base))
        })
        .max_by_key(|(_, base)| *base)
        .expect("a segment")
}

/// The offsets of the frames of a plain segment, up to the first bytes that
/// are not a frame (the preallocated zeros, or a torn write).
fn frame_offsets(segment: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    while let Some(length) = segment.get(offset..offset + 4) {
        let payload = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
        let end = offset + FRAME_HEADER_BYTES + payload + FRAME_TRAILER_BYTES;
        if payload == 0 || end > segment.len() {
            break;
        }
        offsets.push(offset);
        offset = end;
    }
    offsets
}
