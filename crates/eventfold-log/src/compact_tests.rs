//! Compaction: kept frames keep their positions, reads skip what went, the
//! result survives reopening, and transactions stay whole.

use std::path::Path;

use proptest::prelude::*;

use crate::{
    CompactionPolicy, Frame, FrameBatch, LogConfig, LogError, LogReader, LogWriter, SEGMENT_HEADER_BYTES, open,
};

fn config(dir: &Path) -> LogConfig {
    // Preallocation on: sealed segments must be cut back to their data.
    LogConfig {
        dir: dir.to_path_buf(),
        segment_bytes_max: 4096,
        torn_tail_bytes_max: 1024 * 1024,
        preallocate_bytes: 1024,
    }
}

/// Keeps the frames whose first payload byte passes `keep`; counts paced bytes.
struct ByFirstByte<F> {
    keep: F,
    paced: u64,
}

impl<F: FnMut(u8) -> bool> CompactionPolicy for ByFirstByte<F> {
    type Error = LogError;
    fn keep(&mut self, frame: &Frame) -> Result<bool, LogError> {
        Ok((self.keep)(frame.payload.first().copied().unwrap_or(0)))
    }
    fn pace(&mut self, bytes: u64) -> Result<(), LogError> {
        self.paced += bytes;
        Ok(())
    }
}

fn policy<F: FnMut(u8) -> bool>(keep: F) -> ByFirstByte<F> {
    ByFirstByte { keep, paced: 0 }
}

/// One transaction per entry; payload byte 0 is the transaction's index (mod
/// 256), byte 1 the frame's index in it. Returns (position, payload, ends).
fn write(writer: &mut LogWriter, sizes: &[Vec<usize>]) -> Vec<(u64, Vec<u8>, bool)> {
    let mut written = Vec::new();
    for (index, transaction) in sizes.iter().enumerate() {
        let mut batch = FrameBatch::new();
        let mut offsets = Vec::new();
        for (frame, size) in transaction.iter().enumerate() {
            let mut payload = vec![index as u8, frame as u8];
            payload.resize((*size).max(2), 7);
            let last = frame + 1 == transaction.len();
            let offset = batch.push(last, |buffer| buffer.extend_from_slice(&payload)).expect("size");
            offsets.push((offset, payload, last));
        }
        let start = writer.write(&batch).expect("write");
        written.extend(offsets.into_iter().map(|(offset, payload, last)| (start + offset as u64, payload, last)));
    }
    written
}

fn forward(reader: &LogReader, end: u64) -> Vec<(u64, Vec<u8>)> {
    reader.scan_forward(0, end).map(|frame| frame.map(|f| (f.position, f.payload.to_vec())).expect("frame")).collect()
}

fn backward(reader: &LogReader, end: u64) -> Vec<(u64, Vec<u8>)> {
    reader.scan_backward(end).map(|frame| frame.map(|f| (f.position, f.payload.to_vec())).expect("frame")).collect()
}

fn compact_all<F: FnMut(u8) -> bool>(reader: &LogReader, keep: F) -> u64 {
    let mut policy = policy(keep);
    let mut removed = 0;
    for segment in reader.sealed_segments().expect("sealed") {
        removed += reader.compact_segment(segment.base, &mut policy).expect("compact").frames_removed;
    }
    removed
}

fn even(byte: u8) -> bool {
    byte.is_multiple_of(2)
}

#[test]
fn kept_frames_keep_their_positions_and_reads_skip_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, &vec![vec![100]; 120]);
    let end = writer.end();
    let sealed = reader.sealed_segments().expect("sealed");
    assert!(sealed.len() >= 2, "segments must have rolled");
    let last_sealed_end = sealed.last().map(|segment| segment.end).expect("sealed");
    assert!(compact_all(&reader, even) > 0);

    // Frames in the writer's segment are never compacted.
    let keep = |position: u64, byte: u8| position >= last_sealed_end || even(byte);
    let expected: Vec<_> = written
        .iter()
        .filter(|(position, payload, _)| keep(*position, payload[0]))
        .map(|(position, payload, _)| (*position, payload.clone()))
        .collect();
    assert_eq!(forward(&reader, end), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(backward(&reader, end), reversed);
    for (index, (position, payload, _)) in written.iter().enumerate() {
        let exact = reader.read_frame_exact(*position, end).expect("read");
        if keep(*position, payload[0]) {
            assert_eq!(exact.map(|frame| frame.payload.to_vec()), Some(payload.clone()));
            assert!(!reader.was_removed(*position));
        } else {
            assert_eq!(exact, None, "removed frame {index} must not be served");
            assert!(reader.was_removed(*position));
            let next = written.iter().skip(index + 1).find(|(p, payload, _)| keep(*p, payload[0]));
            assert_eq!(reader.first_frame_at_or_after(*position), next.map_or(end, |(p, _, _)| *p));
            let read = reader.read_frame(*position, end).expect("read").map(|frame| frame.position);
            assert_eq!(read, next.map(|(p, _, _)| *p));
        }
    }
    // A backward scan from a removed position starts at the frame before it.
    let removed = written.iter().position(|(p, payload, _)| !keep(*p, payload[0])).expect("one removed");
    if let Some(before) = written.get(..removed).and_then(|frames| frames.iter().rev().find(|(p, b, _)| keep(*p, b[0])))
    {
        let first = reader.scan_backward(written[removed].0).next().map(|frame| frame.expect("frame").position);
        assert_eq!(first, Some(before.0));
    }

    // Reopen: the same frames, and the writer appends after them.
    drop(writer);
    let (mut writer, reader, report) = open(&config(dir.path()), 0).expect("reopen");
    assert_eq!((report.end, report.truncated_bytes), (end, 0));
    assert_eq!(forward(&reader, end), expected);
    let more = write(&mut writer, &[vec![50]]);
    assert_eq!(more.first().map(|(position, _, _)| *position), Some(end));
}

#[test]
fn compaction_gives_the_space_back_and_a_second_pass_works_on_the_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, &vec![vec![200]; 60]);
    let end = writer.end();
    let before: u64 = reader.sealed_segments().expect("sealed").iter().map(|segment| segment.file_bytes).sum();
    compact_all(&reader, |byte| byte.is_multiple_of(4));
    let after: u64 = reader.sealed_segments().expect("sealed").iter().map(|segment| segment.file_bytes).sum();
    assert!(after * 2 < before, "{after} bytes left of {before}");
    let sealed_end = reader.sealed_segments().expect("sealed").last().map(|segment| segment.end).expect("one");

    // Second pass on compacted segments, removing more.
    compact_all(&reader, |byte| byte.is_multiple_of(8));
    let keep = |position: u64, byte: u8| position >= sealed_end || byte.is_multiple_of(8);
    let expected: Vec<_> = written
        .iter()
        .filter(|(p, payload, _)| keep(*p, payload[0]))
        .map(|(p, payload, _)| (*p, payload.clone()))
        .collect();
    assert_eq!(forward(&reader, end), expected);
    drop(writer);
    let (_, reader, _) = open(&config(dir.path()), 0).expect("reopen");
    assert_eq!(forward(&reader, end), expected);
    assert!(reader.sealed_segments().expect("sealed").iter().all(|segment| segment.compacted));
}

#[test]
fn a_segment_with_nothing_to_drop_is_not_rewritten_and_an_emptied_one_reads_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, &vec![vec![300]; 40]);
    let end = writer.end();
    let first = reader.sealed_segments().expect("sealed").first().cloned().expect("sealed");
    let mut keep_all = policy(|_| true);
    let kept = reader.compact_segment(first.base, &mut keep_all).expect("compact");
    assert!(!kept.rewritten);
    assert!(keep_all.paced >= kept.bytes_read && kept.bytes_read > 0, "every byte read is paced");
    assert_eq!(kept.bytes_after, kept.bytes_before);
    let emptied = reader.compact_segment(first.base, &mut policy(|_| false)).expect("compact");
    assert!(emptied.rewritten && emptied.frames_kept == 0 && emptied.frames_removed > 0);
    let expected: Vec<_> =
        written.iter().filter(|(p, _, _)| *p >= first.end).map(|(p, payload, _)| (*p, payload.clone())).collect();
    assert_eq!(forward(&reader, end), expected);
    assert_eq!(reader.first_frame_at_or_after(0), first.end + SEGMENT_HEADER_BYTES);
    assert_eq!(backward(&reader, end).len(), expected.len());
}

#[test]
fn the_writers_segment_cannot_be_compacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    write(&mut writer, &[vec![10]]);
    let error = reader.compact_segment(0, &mut policy(|_| false)).expect_err("not sealed");
    assert!(matches!(error, LogError::NotSealed { base: 0 }), "{error}");
}

#[test]
fn a_transaction_whose_last_frame_goes_ends_at_its_last_kept_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    // Transaction 0 has three frames; drop its last one (frame index 2).
    let mut sizes = vec![vec![100, 100, 100]];
    sizes.extend(vec![vec![500]; 20]);
    write(&mut writer, &sizes);
    let mut frame_policy = FrameIndexPolicy;
    reader.compact_segment(0, &mut frame_policy).expect("compact");
    let frames: Vec<Frame> = reader.scan_forward(0, writer.end()).map(|frame| frame.expect("frame")).collect();
    let first_two: Vec<(u8, u8, bool)> =
        frames.iter().take(2).map(|frame| (frame.payload[0], frame.payload[1], frame.ends_transaction)).collect();
    assert_eq!(first_two, vec![(0, 0, false), (0, 1, true)]);
}

/// Drops the third frame of transaction 0 only.
struct FrameIndexPolicy;

impl CompactionPolicy for FrameIndexPolicy {
    type Error = LogError;
    fn keep(&mut self, frame: &Frame) -> Result<bool, LogError> {
        Ok(!(frame.payload[0] == 0 && frame.payload[1] == 2))
    }
    fn pace(&mut self, _: u64) -> Result<(), LogError> {
        Ok(())
    }
}

#[test]
fn a_stopped_compaction_leaves_the_segment_as_it_was() {
    struct Stopping;
    impl CompactionPolicy for Stopping {
        type Error = LogError;
        fn keep(&mut self, _: &Frame) -> Result<bool, LogError> {
            Ok(false)
        }
        fn pace(&mut self, _: u64) -> Result<(), LogError> {
            Err(LogError::Poisoned)
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, &vec![vec![300]; 30]);
    assert!(reader.compact_segment(0, &mut Stopping).is_err());
    assert_eq!(forward(&reader, writer.end()).len(), written.len());
    let leftovers = std::fs::read_dir(dir.path())
        .expect("list")
        .filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().to_string_lossy().ends_with(".tmp")))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_leftover_temporary_file_from_a_crash_is_removed_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write(&mut writer, &vec![vec![300]; 30]);
    let end = writer.end();
    drop((writer, reader));
    let leftover = dir.path().join(format!("{:020}.compact.tmp", 0));
    std::fs::write(&leftover, b"half a compacted segment").expect("write");
    let (_, reader, _) = open(&config(dir.path()), 0).expect("reopen");
    assert!(!leftover.exists());
    assert_eq!(forward(&reader, end).len(), written.len());
}

#[test]
fn a_damaged_position_table_is_reported_as_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    write(&mut writer, &vec![vec![300]; 30]);
    compact_all(&reader, even);
    drop((writer, reader));
    let path = dir.path().join(format!("{:020}.evlog", 0));
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.len() - 40;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    let error = open(&config(dir.path()), 0).err().expect("corrupt");
    assert!(matches!(error, LogError::Corrupt { .. }), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any transactions, any keep mask, compacted once or twice: reads equal
    /// the original frames minus the dropped ones, before and after reopening.
    #[test]
    fn compaction_equals_filtering(
        sizes in prop::collection::vec(prop::collection::vec(2usize..600, 1..4), 1..60),
        first_mask in any::<u64>(),
        second_mask in any::<u64>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
        let written = write(&mut writer, &sizes);
        let end = writer.end();
        let sealed_end = reader.sealed_segments().expect("sealed").last().map_or(0, |segment| segment.end);
        let first = |byte: u8| first_mask >> (byte % 64) & 1 == 1;
        let second = |byte: u8| second_mask >> (byte % 64) & 1 == 1;
        compact_all(&reader, first);
        compact_all(&reader, |byte| first(byte) && second(byte));
        let keep = |position: u64, byte: u8| position >= sealed_end || (first(byte) && second(byte));
        let expected: Vec<_> = written
            .iter()
            .filter(|(p, payload, _)| keep(*p, payload[0]))
            .map(|(p, payload, _)| (*p, payload.clone()))
            .collect();
        prop_assert_eq!(forward(&reader, end), expected.clone());
        // Many frames at once, in any order, read as each would be alone.
        let mut wanted: Vec<u64> = written.iter().map(|(position, _, _)| *position).collect();
        wanted.reverse();
        wanted.push(end + 1);
        let together = reader.read_frames_exact(&wanted, end).expect("read together");
        let alone: Vec<_> =
            wanted.iter().map(|position| reader.read_frame_exact(*position, end).expect("read alone")).collect();
        prop_assert_eq!(together, alone);
        let mut reversed = expected.clone();
        reversed.reverse();
        prop_assert_eq!(backward(&reader, end), reversed);
        drop((writer, reader));
        let (_, reader, report) = open(&config(dir.path()), 0).expect("reopen");
        prop_assert_eq!(report.end, end);
        prop_assert_eq!(forward(&reader, end), expected);
    }
}

#[test]
fn position_tables_decode_from_bytes_and_refuse_what_does_not_fit() {
    use crate::format::{CompactedFooter, encode_compacted_footer};
    use crate::fuzzing::decode_compacted_table;

    let file_with = |entries: &[(u64, u64)], frame_count: u64, end_position: u64| {
        let mut file = vec![0u8; 64];
        let mut table = Vec::new();
        for (position, offset) in entries {
            table.extend_from_slice(&position.to_le_bytes());
            table.extend_from_slice(&offset.to_le_bytes());
        }
        file.extend_from_slice(&table);
        let footer = CompactedFooter { end_position, frame_count, table_crc: crc32c::crc32c(&table) };
        file.extend_from_slice(&encode_compacted_footer(&footer));
        file
    };
    let table = decode_compacted_table(&file_with(&[(32, 32), (48, 40)], 2, 100), 0).expect("a valid table");
    assert_eq!((table.positions, table.offsets, table.frames_end), (vec![32, 48], vec![32, 40], 64));
    // A frame count whose table size overflows, or that is larger than the
    // file, is refused rather than read.
    assert!(decode_compacted_table(&file_with(&[], u64::MAX / 8, 100), 0).is_err());
    assert!(decode_compacted_table(&file_with(&[], 5, 100), 0).is_err());
    // Entries out of order, or past the end position, are refused.
    assert!(decode_compacted_table(&file_with(&[(48, 32), (32, 40)], 2, 100), 0).is_err());
    assert!(decode_compacted_table(&file_with(&[(32, 32)], 1, 32), 0).is_err());
}
