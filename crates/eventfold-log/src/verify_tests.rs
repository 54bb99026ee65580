//! Verify and salvage: damage anywhere in the log is found with its file and
//! offset, and salvage keeps every frame that verifies at its position.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{
    CompactionPolicy, Frame, FrameBatch, LogCheck, LogConfig, LogError, LogReader, LogWriter, Progress,
    SEGMENT_HEADER_BYTES, Visit, open, salvage_log, verify_log,
};

fn config(dir: &Path) -> LogConfig {
    LogConfig {
        dir: dir.to_path_buf(),
        segment_bytes_max: 4096,
        torn_tail_bytes_max: 1024 * 1024,
        preallocate_bytes: 1024,
    }
}

/// Writes `count` transactions of two frames of 100 bytes; payload byte 0
/// is the transaction's index. Returns every frame's (position, payload).
fn write(writer: &mut LogWriter, count: usize) -> Vec<(u64, Vec<u8>)> {
    let mut written = Vec::new();
    for index in 0..count {
        let mut batch = FrameBatch::new();
        let mut offsets = Vec::new();
        for frame in 0..2u8 {
            let mut payload = vec![index as u8, frame];
            payload.resize(100, b'x');
            let offset = batch.push(frame == 1, |buffer| buffer.extend_from_slice(&payload)).expect("size");
            offsets.push((offset, payload));
        }
        let start = writer.write(&batch).expect("write");
        written.extend(offsets.into_iter().map(|(offset, payload)| (start + offset as u64, payload)));
    }
    written
}

fn check(dir: &Path, end: Option<u64>) -> (LogCheck, Vec<u64>) {
    let mut positions = Vec::new();
    let mut visit = |visit: Visit<'_>| {
        if let Visit::Frame(frame) = visit {
            positions.push(frame.position);
        }
        Ok(())
    };
    let check = verify_log(dir, end, &mut visit, &mut |_| {}).expect("verify");
    (check, positions)
}

/// Flips one byte of the log at global `position` (a plain segment).
fn flip(dir: &Path, position: u64) {
    let segments = crate::segment::list_segments(dir).expect("list");
    let (base, path) = segments.iter().rev().find(|(base, _)| *base <= position).expect("segment");
    let file = fs::OpenOptions::new().read(true).write(true).open(path).expect("open");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position - base).expect("read");
    byte[0] ^= 0x40;
    file.write_all_at(&byte, position - base).expect("write");
}

fn all_frames(reader: &LogReader, end: u64) -> Vec<(u64, Vec<u8>)> {
    reader
        .scan_forward(0, end)
        .map(|frame| frame.map(|frame| (frame.position, frame.payload.to_vec())))
        .collect::<Result<_, _>>()
        .expect("scan")
}

/// Goal: a clean log verifies with every frame seen once and the writer's
/// preallocated zeros not taken for damage.
#[test]
fn a_clean_log_verifies_every_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    drop(writer);
    let mut last_progress = Progress::default();
    let check =
        verify_log(dir.path(), None, &mut |_| Ok(()), &mut |progress| last_progress = progress).expect("verify");
    assert!(check.is_clean(), "{:?}", check.damage().collect::<Vec<_>>());
    assert!(check.segments.len() > 2, "several segments");
    assert_eq!(check.frames(), written.len() as u64);
    assert_eq!(last_progress.bytes_done, last_progress.bytes_total);
    let (_, positions) = self::check(dir.path(), None);
    assert_eq!(positions, written.iter().map(|(position, _)| *position).collect::<Vec<_>>());
}

/// Goal: a flipped byte in the payload of a frame in the middle of a
/// sealed segment is reported with its file and offset as exactly that
/// frame, and every other frame still verifies.
#[test]
fn a_flipped_payload_byte_in_a_sealed_segment_is_one_lost_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    drop(writer);
    let (victim, _) = written[5];
    flip(dir.path(), victim + 50);
    let (check, positions) = check(dir.path(), None);
    let damage: Vec<_> = check.damage().collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    let segment = &check.segments[0];
    assert_eq!(damage[0].path, segment.path);
    assert_eq!(damage[0].offset, victim - segment.base);
    assert_eq!(damage[0].frame_positions, vec![victim]);
    assert_eq!(damage[0].positions, victim..written[6].0);
    assert!(!damage[0].at_tail);
    let expected: Vec<u64> = written.iter().map(|(position, _)| *position).filter(|p| *p != victim).collect();
    assert_eq!(positions, expected);
}

/// Goal: when the length of a frame is what was hit, the walk finds the
/// next frame by itself and loses nothing past it.
#[test]
fn a_damaged_length_is_skipped_to_the_next_valid_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    drop(writer);
    let (victim, _) = written[3];
    flip(dir.path(), victim + 1);
    let (check, positions) = check(dir.path(), None);
    let damage: Vec<_> = check.damage().collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].positions, victim..written[4].0);
    assert_eq!(positions.len(), written.len() - 1);
}

/// Goal: salvage sets the damaged segment aside, and the log then opens and
/// serves every other frame at its original position; a second verify is
/// clean.
#[test]
fn salvage_keeps_every_frame_that_verifies_at_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    drop(writer);
    let (victim, _) = written[5];
    flip(dir.path(), victim + 50);
    let report = salvage_log(dir.path(), "test", &mut |_| {}).expect("salvage");
    assert_eq!(report.salvaged.len(), 1);
    let salvaged = &report.salvaged[0];
    assert!(salvaged.set_aside.exists(), "the damaged original is kept");
    assert!(salvaged.set_aside.starts_with(dir.path().join("damaged")));
    assert_eq!(salvaged.lost.len(), 1);
    assert_eq!(salvaged.lost[0].frame_positions, vec![victim]);
    assert!(report.new_segment.is_none(), "a sealed segment was replaced");

    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("the log opens");
    let expected: Vec<_> = written.iter().filter(|(position, _)| *position != victim).cloned().collect();
    assert_eq!(all_frames(&reader, writer.end()), expected);
    assert!(reader.read_frame_exact(victim, writer.end()).expect("read").is_none());
    write(&mut writer, 1);
    drop(writer);
    assert!(check(dir.path(), None).0.is_clean());
}

/// Goal: damage in the segment the writer appends to is salvaged too: the
/// replacement is sealed, a new segment follows it, and appends go on.
#[test]
fn salvage_of_the_last_segment_adds_a_new_one_for_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    let end = writer.end();
    drop(writer);
    let (victim, _) = written[written.len() - 4];
    flip(dir.path(), victim + 50);
    let report = salvage_log(dir.path(), "test", &mut |_| {}).expect("salvage");
    assert_eq!(report.salvaged.len(), 1);
    assert_eq!(report.salvaged[0].lost[0].frame_positions, vec![victim]);
    assert!(report.new_segment.is_some());

    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("the log opens");
    // The new segment starts where the old one's data ended.
    assert_eq!(writer.end(), end + SEGMENT_HEADER_BYTES, "positions go on where they were");
    let expected: Vec<_> = written.iter().filter(|(position, _)| *position != victim).cloned().collect();
    assert_eq!(all_frames(&reader, writer.end()), expected);
    let more = write(&mut writer, 2);
    assert!(more[0].0 >= end);
    assert_eq!(all_frames(&reader, writer.end()).len(), expected.len() + 4);
}

struct DropOdd;

impl CompactionPolicy for DropOdd {
    type Error = LogError;
    fn keep(&mut self, frame: &Frame) -> Result<bool, LogError> {
        Ok(frame.payload.first().is_some_and(|index| index % 2 == 0))
    }
    fn pace(&mut self, _bytes: u64) -> Result<(), LogError> {
        Ok(())
    }
}

/// Goal: in a compacted segment each table entry is checked on its own, so
/// a damaged frame there is exactly that frame, and salvage keeps the rest.
#[test]
fn a_damaged_frame_of_a_compacted_segment_is_exactly_that_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    let base = reader.sealed_segments().expect("sealed")[0].base;
    reader.compact_segment(base, &mut DropOdd).expect("compact");
    drop((writer, reader));
    let (check, before) = check(dir.path(), None);
    assert!(check.is_clean());
    assert!(check.segments[0].compacted);
    // The second kept frame of the compacted segment: find its file offset
    // through the frame's payload, which compaction copied byte for byte.
    let victim = before[1];
    let file = fs::read(&check.segments[0].path).expect("read");
    let (_, payload) = written.iter().find(|(position, _)| *position == victim).expect("written");
    let at = file.windows(payload.len()).position(|window| window == payload.as_slice()).expect("payload");
    let mut damaged = file.clone();
    damaged[at + 10] ^= 1;
    fs::write(&check.segments[0].path, damaged).expect("write");

    let (after, positions) = self::check(dir.path(), None);
    let damage: Vec<_> = after.damage().collect();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].frame_positions, vec![victim]);
    assert_eq!(positions.len(), before.len() - 1);
    salvage_log(dir.path(), "test", &mut |_| {}).expect("salvage");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("the log opens");
    let frames = all_frames(&reader, writer.end());
    assert_eq!(frames.len(), before.len() - 1);
    assert!(frames.iter().all(|(position, _)| *position != victim));
    write(&mut writer, 1);
}

/// Goal: with a committed end (a writer running), nothing at or past it is
/// read: bytes being written there are not damage.
#[test]
fn a_running_writer_s_bytes_past_the_committed_end_are_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 10);
    let end = writer.end();
    // A write in progress past the end: garbage the check must not see.
    let segments = crate::segment::list_segments(dir.path()).expect("list");
    let (base, path) = segments.last().expect("segment");
    let file = fs::OpenOptions::new().write(true).open(path).expect("open");
    file.write_all_at(&[0xAB; 64], end - base).expect("write");
    let (check, positions) = check(dir.path(), Some(end));
    assert!(check.is_clean(), "{:?}", check.damage().collect::<Vec<_>>());
    assert_eq!(positions.len(), written.len());
    // Without the end, the same bytes are a torn tail.
    let (offline, _) = self::check(dir.path(), None);
    let damage: Vec<_> = offline.damage().collect();
    assert_eq!(damage.len(), 1);
    assert!(damage[0].at_tail);
    assert_eq!(damage[0].positions.start, end);
}

/// Goal: a repair stopped after it replaced the writer's segment but before
/// it created the next one (open refuses a compacted last segment) is
/// finished by running it again.
#[test]
fn a_repair_stopped_before_the_writer_s_segment_is_finished_by_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 40);
    drop(writer);
    let (victim, _) = written[written.len() - 3];
    flip(dir.path(), victim + 50);
    let first = salvage_log(dir.path(), "first", &mut |_| {}).expect("salvage");
    let added = first.new_segment.expect("a segment for the writer");
    fs::remove_file(&added).expect("as if the repair stopped before creating it");
    assert!(open(&config(dir.path()), 0).is_err(), "a compacted last segment is refused");

    let second = salvage_log(dir.path(), "second", &mut |_| {}).expect("salvage again");
    assert!(second.salvaged.is_empty(), "nothing is damaged any more");
    assert_eq!(second.new_segment, Some(added));
    let (writer, reader, _) = open(&config(dir.path()), 0).expect("the log opens");
    assert_eq!(all_frames(&reader, writer.end()).len(), written.len() - 1);
}

/// Writes transactions of the given frame sizes; payload byte 0 is the
/// transaction's index, byte 1 the frame's. Returns (position, payload).
fn write_sizes(writer: &mut LogWriter, sizes: &[Vec<usize>]) -> Vec<(u64, Vec<u8>)> {
    let mut written = Vec::new();
    for (index, transaction) in sizes.iter().enumerate() {
        let mut batch = FrameBatch::new();
        let mut offsets = Vec::new();
        for (frame, size) in transaction.iter().enumerate() {
            let mut payload = vec![index as u8, frame as u8];
            payload.resize((*size).max(2), b'e');
            let last = frame + 1 == transaction.len();
            let offset = batch.push(last, |buffer| buffer.extend_from_slice(&payload)).expect("size");
            offsets.push((offset, payload));
        }
        let start = writer.write(&batch).expect("write");
        written.extend(offsets.into_iter().map(|(offset, payload)| (start + offset as u64, payload)));
    }
    written
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any transactions, bytes flipped anywhere in the segment files: after
    /// salvage the log opens, every frame no flip touched is there at its
    /// position with its payload, no touched frame is, and each lost frame
    /// lies in a reported damaged range.
    #[test]
    fn salvage_keeps_exactly_the_untouched_frames(
        sizes in proptest::collection::vec(proptest::collection::vec(2usize..400, 1..4), 1..50),
        flips in proptest::collection::vec((0u64..1 << 20, 0u8..8), 1..4),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
        let written = write_sizes(&mut writer, &sizes);
        drop(writer);
        let segments = crate::segment::list_segments(dir.path()).expect("list");
        let mut files = Vec::new();
        for (base, path) in &segments {
            files.push((*base, path.clone(), fs::metadata(path).expect("stat").len()));
        }
        let total: u64 = files.iter().map(|(_, _, length)| length).sum();
        let mut touched = Vec::new();
        for (at, bit) in &flips {
            let mut at = at % total;
            let (base, path, _) = files
                .iter()
                .find(|(_, _, length)| {
                    if at < *length { true } else { at -= length; false }
                })
                .expect("a file");
            let file = fs::OpenOptions::new().read(true).write(true).open(path).expect("open");
            let mut byte = [0u8];
            file.read_exact_at(&mut byte, at).expect("read");
            file.write_all_at(&[byte[0] ^ (1 << bit)], at).expect("write");
            touched.push(base + at);
        }
        let frame_end = |position: u64, payload: &[u8]| position + payload.len() as u64 + 16;
        let hit = |position: u64, payload: &[u8]| touched.iter().any(|at| *at >= position && *at < frame_end(position, payload));

        let report = salvage_log(dir.path(), "prop", &mut |_| {}).expect("salvage");
        let (writer, reader, _) = open(&config(dir.path()), 0).expect("the log opens after salvage");
        let kept = all_frames(&reader, writer.end());
        let untouched: Vec<_> = written.iter().filter(|(position, payload)| !hit(*position, payload)).cloned().collect();
        // A damaged last frame of the writer's last transaction looks like a
        // torn write: the transaction's other frames go, as recovery cuts
        // them, and are counted as unfinished.
        let unfinished: u64 = report.salvaged.iter().map(|segment| segment.unfinished_frames_dropped).sum();
        let kept_count = untouched.len() - usize::try_from(unfinished).expect("count");
        let positions = |frames: &[(u64, Vec<u8>)]| frames.iter().map(|(position, _)| *position).collect::<Vec<_>>();
        proptest::prop_assert_eq!(positions(&kept), positions(&untouched[..kept_count]), "flipped at {:?}", touched);
        proptest::prop_assert!(kept == untouched[..kept_count], "payloads differ");
        let last_base = files.last().map_or(0, |(base, _, _)| *base);
        proptest::prop_assert!(untouched[kept_count..].iter().all(|(position, _)| *position >= last_base));
        for (position, payload) in written.iter().filter(|(position, payload)| hit(*position, payload)) {
            let reported = report
                .salvaged
                .iter()
                .flat_map(|segment| &segment.lost)
                .any(|damage| damage.positions.contains(position));
            proptest::prop_assert!(reported, "frame at {} ({} bytes) lost without a report", position, payload.len());
        }
        drop((writer, reader));
        proptest::prop_assert!(check(dir.path(), None).0.is_clean());
    }
}

/// Goal: the replacement a repair was writing when it stopped is removed on
/// open; the segment it was for is whole.
#[test]
fn a_leftover_salvage_file_is_removed_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, 5);
    drop(writer);
    let leftover = dir.path().join(format!("{:020}.salvage.tmp", 0));
    fs::write(&leftover, b"half a replacement").expect("write leftover");
    let (writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    assert!(!leftover.exists());
    assert_eq!(all_frames(&reader, writer.end()), written);
}
