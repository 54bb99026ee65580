//! Tests of the log as a whole: round trips across segments and the recovery
//! table of `docs/format.md` (one test per row, named after it).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;

use crate::{FrameBatch, LogConfig, LogError, LogReader, LogWriter, SEGMENT_HEADER_BYTES, open};

fn config(dir: &Path) -> LogConfig {
    // No preallocation: these tests cut and damage files at the data's end.
    LogConfig {
        dir: dir.to_path_buf(),
        segment_bytes_max: 4096,
        torn_tail_bytes_max: 1024 * 1024,
        preallocate_bytes: 0,
    }
}

/// Writes each transaction (a list of payloads) as its own batch; returns
/// every frame's (position, payload).
fn write_transactions(writer: &mut LogWriter, transactions: &[Vec<Vec<u8>>]) -> Vec<(u64, Vec<u8>)> {
    let mut written = Vec::new();
    for transaction in transactions {
        let mut batch = FrameBatch::new();
        let mut offsets = Vec::new();
        for (index, payload) in transaction.iter().enumerate() {
            let last = index + 1 == transaction.len();
            let offset = batch.push(last, |buffer| buffer.extend_from_slice(payload)).expect("payload size");
            offsets.push((offset, payload.clone()));
        }
        let start = writer.write(&batch).expect("write");
        written.extend(offsets.into_iter().map(|(offset, payload)| (start + offset as u64, payload)));
    }
    written
}

fn read_all_forward(reader: &LogReader, end: u64) -> Vec<(u64, Vec<u8>)> {
    reader.scan_forward(0, end).map(|frame| frame.map(|f| (f.position, f.payload.to_vec())).expect("frame")).collect()
}

fn payloads(count: usize, size: usize) -> Vec<Vec<Vec<u8>>> {
    (0..count).map(|index| vec![vec![index as u8; size]]).collect()
}

/// Makes the last write look as it does after a crash during its
/// `fdatasync`: written, but never recorded as synced, so never acknowledged.
/// Only such a write is a torn tail that recovery may cut (LOG-10); the
/// synced end stays where the write before it ended.
fn crash_before_the_last_sync_returned(dir: &Path, end_before: u64) {
    crate::reset_synced_end(dir, Some(end_before)).expect("record the synced end");
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "evlog"))
        .collect();
    files.sort();
    files.pop().expect("a segment")
}

#[test]
fn first_frame_is_never_at_position_zero_and_zero_reads_from_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, report) = open(&config(dir.path()), 0).expect("open");
    assert_eq!(report.end, SEGMENT_HEADER_BYTES);
    let written = write_transactions(&mut writer, &payloads(3, 10));
    assert_eq!(written.first().map(|(position, _)| *position), Some(SEGMENT_HEADER_BYTES));
    assert_eq!(read_all_forward(&reader, writer.end()), written);
    let first = reader.read_frame(0, writer.end()).expect("read").expect("a frame");
    assert_eq!(first.position, SEGMENT_HEADER_BYTES);
}

#[test]
fn frames_round_trip_forwards_and_backwards_across_segment_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(200, 100));
    assert!(std::fs::read_dir(dir.path()).expect("list").count() > 3, "segments must have rolled");
    let end = writer.end();
    assert_eq!(read_all_forward(&reader, end), written);
    let backwards: Vec<_> = reader
        .scan_backward(end)
        .map(|frame| frame.map(|f| (f.position, f.payload.to_vec())).expect("frame"))
        .collect();
    let mut expected = written.clone();
    expected.reverse();
    assert_eq!(backwards, expected);
    for (position, payload) in &written {
        let frame = reader.read_frame(*position, end).expect("read").expect("frame");
        assert_eq!(&frame.payload.to_vec(), payload);
    }
    drop(writer);
    let (writer, reader, report) = open(&config(dir.path()), 0).expect("reopen");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(read_all_forward(&reader, writer.end()), written);
}

#[test]
fn frames_larger_than_a_read_chunk_are_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 64 * 1024 * 1024;
    let (mut writer, reader, _) = open(&big, 0).expect("open");
    let transactions = vec![vec![vec![1u8; 10]], vec![vec![2u8; 700_000]], vec![vec![3u8; 10]]];
    let written = write_transactions(&mut writer, &transactions);
    assert_eq!(read_all_forward(&reader, writer.end()), written);
    let backwards: Vec<_> = reader.scan_backward(writer.end()).map(|f| f.expect("frame").payload.len()).collect();
    assert_eq!(backwards, vec![10, 700_000, 10]);
    drop(writer);
    let (writer, _, report) = open(&big, 0).expect("reopen");
    assert_eq!((report.truncated_bytes, writer.end()), (0, written.last().map_or(0, |(p, _)| p + 10 + 16)));
}

#[test]
fn recovery_clean_end_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _, _) = open(&config(dir.path()), 0).expect("open");
    write_transactions(&mut writer, &payloads(5, 20));
    let end = writer.end();
    drop(writer);
    let (_, _, report) = open(&config(dir.path()), 0).expect("reopen");
    assert_eq!((report.end, report.truncated_bytes, report.tail_error), (end, 0, None));
}

/// Cuts the last frame at every byte (short header, short payload, missing
/// trailer): each reopen keeps exactly the frames before it.
#[test]
fn recovery_cut_at_every_byte_of_the_last_frame_truncates_to_the_previous_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 1024 * 1024;
    let (mut writer, _, _) = open(&big, 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(4, 40));
    let full_end = writer.end();
    drop(writer);
    let (last_position, _) = *written.last().expect("frames");
    crash_before_the_last_sync_returned(dir.path(), last_position);
    let segment = last_segment(dir.path());
    let original = std::fs::read(&segment).expect("read segment");
    for cut_at in last_position..full_end {
        std::fs::write(&segment, original.get(..cut_at as usize).expect("prefix")).expect("cut");
        let (writer, reader, report) = open(&big, 0).expect("reopen after cut");
        assert_eq!(report.end, last_position, "cut at {cut_at}");
        assert_eq!(writer.end(), last_position);
        let expected_error = if cut_at == last_position { None } else { report.tail_error };
        assert_eq!(report.tail_error, expected_error);
        assert_eq!(read_all_forward(&reader, writer.end()), written.get(..3).expect("prefix").to_vec());
        assert_eq!(std::fs::metadata(&segment).expect("stat").len(), last_position, "cut is persisted");
    }
}

#[test]
fn recovery_bad_checksum_at_the_tail_truncates_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _, _) = open(&config(dir.path()), 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(3, 30));
    let full_end = writer.end();
    drop(writer);
    let (last_position, _) = *written.last().expect("frames");
    crash_before_the_last_sync_returned(dir.path(), last_position);
    let segment = last_segment(dir.path());
    let original = std::fs::read(&segment).expect("read");
    let base = full_end - original.len() as u64;
    for flip in (last_position - base)..(full_end - base) {
        for bit in [0u8, 3, 7] {
            let mut damaged = original.clone();
            if let Some(byte) = damaged.get_mut(flip as usize) {
                *byte ^= 1 << bit;
            }
            std::fs::write(&segment, &damaged).expect("damage");
            let (writer, reader, report) = open(&config(dir.path()), 0).expect("reopen");
            assert_eq!(writer.end(), last_position, "flip byte {flip} bit {bit}");
            assert!(report.tail_error.is_some());
            assert_eq!(read_all_forward(&reader, writer.end()), written.get(..2).expect("prefix").to_vec());
            std::fs::write(&segment, &original).expect("restore");
        }
    }
}

#[test]
fn recovery_zeroed_preallocation_after_the_end_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _, _) = open(&config(dir.path()), 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(2, 30));
    let end = writer.end();
    drop(writer);
    let mut file = OpenOptions::new().append(true).open(last_segment(dir.path())).expect("open segment");
    file.write_all(&[0u8; 512]).expect("zeros");
    let (writer, reader, report) = open(&config(dir.path()), 0).expect("reopen");
    // Zeros right after a transaction's end are preallocation, not damage.
    assert_eq!((writer.end(), report.truncated_bytes, report.tail_error), (end, 0, None));
    assert_eq!(read_all_forward(&reader, end), written);
}

#[test]
fn recovery_unfinished_transaction_is_dropped_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 1024 * 1024;
    let (mut writer, _, _) = open(&big, 0).expect("open");
    let written =
        write_transactions(&mut writer, &[vec![b"a".to_vec()], vec![b"b1".to_vec(), b"b2".to_vec(), b"b3".to_vec()]]);
    drop(writer);
    let (second_transaction, _) = *written.get(1).expect("frames");
    crash_before_the_last_sync_returned(dir.path(), second_transaction);
    let segment = last_segment(dir.path());
    let length = std::fs::metadata(&segment).expect("stat").len();
    // Cut inside the last frame of the three-frame transaction: its first two
    // frames are whole and valid, but must not survive without the third.
    std::fs::write(&segment, std::fs::read(&segment).expect("read").get(..(length - 3) as usize).expect("prefix"))
        .expect("cut");
    let (writer, reader, _) = open(&big, 0).expect("reopen");
    assert_eq!(read_all_forward(&reader, writer.end()), written.get(..1).expect("prefix").to_vec());
}

#[test]
fn recovery_bad_checksum_before_more_than_one_write_of_data_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut strict = config(dir.path());
    strict.segment_bytes_max = 1024 * 1024;
    strict.torn_tail_bytes_max = 200;
    let (mut writer, _, _) = open(&strict, 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(20, 30));
    drop(writer);
    let (second, _) = written.get(1).expect("second frame");
    // Only the first write was synced: the rest counts as one torn write,
    // and it is too long to be one.
    crash_before_the_last_sync_returned(dir.path(), *second);
    let segment = last_segment(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    if let Some(byte) = bytes.get_mut(*second as usize + 14) {
        *byte ^= 0xff;
    }
    std::fs::write(&segment, &bytes).expect("damage");
    let error = open(&strict, 0).err().expect("must refuse");
    assert!(matches!(error, LogError::Corrupt { .. }), "{error}");
}

/// A flipped bit five frames before the end, after a crash: those frames
/// were synced and acknowledged, so this is damage, not a torn write. Opening
/// refuses, names the file and offset, and cuts nothing; the same bytes past
/// the synced end would be a torn tail.
#[test]
fn recovery_damage_below_the_synced_end_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 1024 * 1024;
    let (mut writer, _, _) = open(&big, 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(10, 30));
    let end = writer.end();
    drop(writer);
    let segment = last_segment(dir.path());
    let (damaged_position, _) = *written.get(5).expect("frame");
    let base = end - std::fs::metadata(&segment).expect("stat").len();
    let mut bytes = std::fs::read(&segment).expect("read");
    if let Some(byte) = bytes.get_mut((damaged_position - base) as usize + 20) {
        *byte ^= 0x04;
    }
    std::fs::write(&segment, &bytes).expect("damage");

    let error = open(&big, 0).err().expect("must refuse");
    match &error {
        LogError::Corrupt { segment: named, offset, reason } => {
            assert_eq!((named, *offset), (&segment, damaged_position - base), "{error}");
            assert!(reason.contains("synced") && reason.contains("admin repair"), "{reason}");
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert_eq!(std::fs::read(&segment).expect("read"), bytes, "nothing was cut");
    // Also refused when the index checkpoint lies before the damage.
    assert!(matches!(open(&big, damaged_position), Err(LogError::Corrupt { .. })));

    // Had the crash come before those writes were synced, they would be a
    // torn tail: cut back to the last whole transaction before them.
    crash_before_the_last_sync_returned(dir.path(), damaged_position);
    let (writer, reader, report) = open(&big, 0).expect("reopen");
    assert_eq!((writer.end(), report.synced_end), (damaged_position, Some(damaged_position)));
    assert_eq!(read_all_forward(&reader, writer.end()), written.get(..5).expect("prefix").to_vec());
}

/// A log that ends, or turns to zeros, before its synced end has lost
/// acknowledged data: refused, not cut.
#[test]
fn recovery_synced_data_missing_or_zeroed_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 1024 * 1024;
    let (mut writer, _, _) = open(&big, 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(6, 30));
    drop(writer);
    let segment = last_segment(dir.path());
    let original = std::fs::read(&segment).expect("read");
    let (last_position, _) = *written.last().expect("frames");
    let base = last_position - (original.len() as u64 - 30 - 16);
    let keep = (last_position - base) as usize;

    std::fs::write(&segment, original.get(..keep).expect("prefix")).expect("cut");
    let error = open(&big, 0).err().expect("a cut log must be refused");
    assert!(error.to_string().contains("acknowledged data is missing"), "{error}");

    let mut zeroed = original.clone();
    zeroed.iter_mut().skip(keep).for_each(|byte| *byte = 0);
    std::fs::write(&segment, &zeroed).expect("zero");
    let error = open(&big, 0).err().expect("zeros over synced data must be refused");
    assert!(error.to_string().contains("synced end"), "{error}");

    std::fs::write(&segment, &original).expect("restore");
    let (_, reader, report) = open(&big, 0).expect("reopen");
    assert_eq!(report.tail_error, None);
    assert_eq!(read_all_forward(&reader, report.end), written);
}

/// Every frame of the last segment is checked on open, and a position the
/// caller knows to be durable (the index checkpoint) protects what lies
/// below it even without a synced-end record.
#[test]
fn recovery_checks_the_whole_last_segment_and_the_checkpoint_is_a_durable_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 1024 * 1024;
    let (mut writer, _, _) = open(&big, 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(10, 30));
    drop(writer);
    let (checkpoint, _) = *written.get(6).expect("frame");
    let (_, _, report) = open(&big, checkpoint).expect("reopen");
    assert_eq!(report.scanned_from, SEGMENT_HEADER_BYTES);

    crate::reset_synced_end(dir.path(), None).expect("forget the synced end");
    let segment = last_segment(dir.path());
    let mut bytes = std::fs::read(&segment).expect("read");
    let (damaged, _) = *written.get(5).expect("frame");
    if let Some(byte) = bytes.get_mut(damaged as usize + 13) {
        *byte ^= 0x80;
    }
    std::fs::write(&segment, &bytes).expect("damage");
    let error = open(&big, checkpoint).err().expect("damage below the checkpoint must be refused");
    assert!(matches!(error, LogError::Corrupt { offset, .. } if offset == damaged), "{error}");
    // Without any durable end, the same bytes are a torn tail.
    let (writer, _, report) = open(&big, 0).expect("reopen");
    assert_eq!((writer.end(), report.synced_end), (damaged, None));
}

#[test]
fn write_refused_after_poisoning_and_payload_limits_are_enforced() {
    let mut batch = FrameBatch::new();
    assert!(batch.push(true, |_| {}).is_err(), "empty payload refused");
    assert!(batch.is_empty());
    let mark = batch.mark();
    batch.push(false, |buffer| buffer.push(1)).expect("push");
    batch.rollback(mark);
    assert!(batch.is_empty() && !batch.has_open_transaction());
}

#[test]
fn ending_a_transaction_after_the_fact_is_the_same_as_ending_it_on_push() {
    let mut direct = FrameBatch::new();
    direct.push(false, |buffer| buffer.extend_from_slice(b"one")).expect("push");
    direct.push(true, |buffer| buffer.extend_from_slice(b"two")).expect("push");
    let mut later = FrameBatch::new();
    later.push(false, |buffer| buffer.extend_from_slice(b"one")).expect("push");
    later.push(false, |buffer| buffer.extend_from_slice(b"two")).expect("push");
    assert!(later.has_open_transaction());
    later.end_transaction();
    assert!(!later.has_open_transaction());
    assert_eq!(direct.as_bytes(), later.as_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any sequence of transactions reads back the same, both ways, before
    /// and after a reopen.
    #[test]
    fn any_transactions_round_trip(transactions in prop::collection::vec(
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..4), 1..40)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut writer, reader, _) = open(&config(dir.path()), 0).expect("open");
        let written = write_transactions(&mut writer, &transactions);
        prop_assert_eq!(read_all_forward(&reader, writer.end()), written.clone());
        drop(writer);
        let (writer, reader, report) = open(&config(dir.path()), 0).expect("reopen");
        prop_assert_eq!(report.truncated_bytes, 0);
        let mut backwards: Vec<_> = reader.scan_backward(writer.end()).map(|f| {
            let frame = f.expect("frame");
            (frame.position, frame.payload.to_vec())
        }).collect();
        backwards.reverse();
        prop_assert_eq!(backwards, written);
    }
}

fn preallocating(dir: &Path) -> LogConfig {
    LogConfig { preallocate_bytes: 64 * 1024, segment_bytes_max: 256 * 1024, ..config(dir) }
}

#[test]
fn preallocated_zeros_are_not_data_and_sealed_segments_end_at_their_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&preallocating(dir.path()), 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(20, 100));
    let end = writer.end();
    let segment = last_segment(dir.path());
    assert!(std::fs::metadata(&segment).expect("stat").len() > end, "zeros are written ahead of the data");
    assert_eq!(read_all_forward(&reader, end), written);
    drop((writer, reader));

    let (mut writer, reader, report) = open(&preallocating(dir.path()), 0).expect("reopen");
    assert_eq!((report.end, report.truncated_bytes, report.tail_error), (end, 0, None));
    assert_eq!(read_all_forward(&reader, end), written);
    // Enough to roll several times: every sealed segment ends exactly
    // where the next begins.
    let more = write_transactions(&mut writer, &payloads(3000, 200));
    let end = writer.end();
    drop((writer, reader));
    let mut segments: Vec<(u64, u64)> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "evlog"))
        .map(|path| {
            let base = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse().ok());
            (base.expect("a base"), std::fs::metadata(&path).expect("stat").len())
        })
        .collect();
    segments.sort();
    assert!(segments.len() > 2, "segments must have rolled");
    for pair in segments.windows(2) {
        assert_eq!(pair[0].0 + pair[0].1, pair[1].0, "a sealed segment ends at its successor's base");
    }
    let (_, reader, report) = open(&preallocating(dir.path()), 0).expect("reopen");
    assert_eq!(report.end, end);
    let mut expected = written;
    expected.extend(more);
    assert_eq!(read_all_forward(&reader, end), expected);
}

/// A torn write inside the preallocated zeros is cut, and cut for good: a
/// shorter later write never leaves its leftovers behind to be read.
#[test]
fn a_torn_write_into_the_preallocation_is_cut_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _, _) = open(&preallocating(dir.path()), 0).expect("open");
    let written = write_transactions(&mut writer, &payloads(5, 50));
    let end = writer.end();
    drop(writer);
    // A frame of a big transaction that never finished: valid frames without
    // the transaction's last one, as a crash mid-write can leave them.
    let mut torn = FrameBatch::new();
    for _ in 0..4 {
        torn.push(false, |buffer| buffer.extend_from_slice(&[9u8; 300])).expect("size");
    }
    let segment = last_segment(dir.path());
    let file = OpenOptions::new().write(true).open(&segment).expect("open segment");
    std::os::unix::fs::FileExt::write_all_at(&file, torn.as_bytes(), end).expect("torn write");
    drop(file);

    let (mut writer, reader, report) = open(&preallocating(dir.path()), 0).expect("reopen");
    assert_eq!(report.end, end);
    assert!(report.tail_error.is_some() && report.truncated_bytes > 0);
    assert_eq!(read_all_forward(&reader, end), written);
    // A short transaction now, then a reopen: the old frames after it must
    // not come back.
    let mut expected = written;
    expected.extend(write_transactions(&mut writer, &[vec![b"short".to_vec()]]));
    let end = writer.end();
    drop((writer, reader));
    let (writer, reader, report) = open(&preallocating(dir.path()), 0).expect("reopen again");
    assert_eq!((writer.end(), report.tail_error), (end, None));
    assert_eq!(read_all_forward(&reader, end), expected);
}

#[test]
fn work_done_while_syncing_sees_the_batch_start_and_the_batch_is_durable_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&preallocating(dir.path()), 0).expect("open");
    let before = write_transactions(&mut writer, &payloads(3, 40));
    let mut batch = FrameBatch::new();
    let offset = batch.push(true, |buffer| buffer.extend_from_slice(b"overlapped")).expect("size");
    let expected_start = writer.end();
    let (start, seen) = writer.write_with(&batch, |start| start * 2).expect("write");
    assert_eq!((start, seen), (expected_start, expected_start * 2));
    assert_eq!(writer.end(), start + batch.len_bytes() as u64);
    let frame = reader.read_frame(start + offset as u64, writer.end()).expect("read").expect("frame");
    assert_eq!(frame.payload.as_ref(), b"overlapped");
    let end = writer.end();
    drop((writer, reader));
    let (_, reader, report) = open(&preallocating(dir.path()), 0).expect("reopen");
    assert_eq!(report.end, end);
    assert_eq!(read_all_forward(&reader, end).len(), before.len() + 1);
}

#[test]
fn frames_read_together_equal_frames_read_alone_whatever_their_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = config(dir.path());
    big.segment_bytes_max = 4 * 1024 * 1024;
    let (mut writer, reader, _) = open(&big, 0).expect("open");
    let mut transactions = payloads(40, 100);
    transactions.insert(10, vec![vec![7u8; 300_000]]);
    transactions.insert(30, vec![vec![8u8; 5_000]]);
    let written = write_transactions(&mut writer, &transactions);
    let end = writer.end();
    let mut wanted: Vec<u64> = written.iter().map(|(position, _)| *position).step_by(3).collect();
    wanted.extend(written.iter().rev().map(|(position, _)| *position));
    let together = reader.read_frames_exact(&wanted, end).expect("read together");
    let payloads: Vec<Option<Vec<u8>>> =
        together.into_iter().map(|frame| frame.map(|frame| frame.payload.to_vec())).collect();
    let expected: Vec<Option<Vec<u8>>> = wanted
        .iter()
        .map(|position| written.iter().find(|(at, _)| at == position).map(|(_, payload)| payload.clone()))
        .collect();
    assert_eq!(payloads, expected);
}

/// Goal: the zeros ahead of the data are written on the preallocation thread
/// before the writer needs them, so appends that stay below them never wait
/// for zeros; and a region still being filled is never written into.
#[test]
fn preallocation_runs_ahead_of_the_writer_on_its_own_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { preallocate_bytes: 64 * 1024, segment_bytes_max: 16 * 1024 * 1024, ..config(dir.path()) };
    let (mut writer, reader, _) = open(&config, 0).expect("open");
    // The first batch preallocates on the writer's thread: nothing is ahead yet.
    let mut written = write_transactions(&mut writer, &payloads(1, 100));
    let first = writer.allocated;
    assert_eq!(first, SEGMENT_HEADER_BYTES + 64 * 1024, "one region on the writer's thread");
    // Past half of it, the next region is filled on the other thread.
    written.extend(write_transactions(&mut writer, &payloads(40, 1000)));
    assert!(writer.preallocator.running().is_some() || writer.allocated > first, "a region is being filled ahead");
    writer.settle_preallocation().expect("the region ahead is filled");
    assert_eq!(writer.allocated, first + 64 * 1024);
    let segment = last_segment(dir.path());
    assert_eq!(std::fs::metadata(&segment).expect("stat").len(), writer.allocated, "zeros up to the region's end");
    // Many more batches, reading back each time: no zero ever lands on data.
    for _ in 0..20 {
        written.extend(write_transactions(&mut writer, &payloads(10, 3000)));
        assert_eq!(read_all_forward(&reader, writer.end()), written);
    }
    let end = writer.end();
    drop((writer, reader));
    let (_, reader, report) = open(&config, 0).expect("reopen");
    assert_eq!((report.end, report.truncated_bytes, report.tail_error), (end, 0, None));
    assert_eq!(read_all_forward(&reader, end), written);
}

/// A payload that holds a whole valid frame inside it: a reader that looked
/// for frames by their bytes would take it for one.
fn payload_hiding_a_frame(index: usize) -> Vec<u8> {
    let mut hidden = FrameBatch::new();
    hidden.push(true, |buffer| buffer.extend_from_slice(&[index as u8; 40])).expect("payload size");
    let mut payload = vec![0xAB; 7];
    payload.extend_from_slice(hidden.as_bytes());
    payload.extend_from_slice(&[0xCD; 900]);
    payload
}

#[test]
fn every_position_maps_to_the_next_frame_start_even_inside_frames_that_hide_frames() {
    // Goal: a client may read "from" any position; the log must name the
    // first frame starting at or after it, never a frame hidden in a payload,
    // within and across segments, the first walk and the hinted ones after.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.segment_bytes_max = 512 * 1024;
    let (mut writer, reader, _) = open(&config, 0).expect("open");
    // Few transactions of many frames: one fsync each.
    let transactions: Vec<Vec<Vec<u8>>> =
        (0..40).map(|batch| (0..100).map(|index| payload_hiding_a_frame(batch * 100 + index)).collect()).collect();
    let written = write_transactions(&mut writer, &transactions);
    let end = writer.end();
    assert!(reader.segments().len() > 4, "the frames span several segments");
    let starts: Vec<u64> = written.iter().map(|(position, _)| *position).collect();
    let expected =
        |position: u64| starts.get(starts.partition_point(|start| *start < position)).copied().unwrap_or(end);
    for _pass in 0..2 {
        for pair in starts.windows(2).step_by(13) {
            let (start, next) = (pair[0], pair[1]);
            // 12 bytes of frame header and 7 of padding: a whole valid frame
            // starts there, inside the payload.
            let hidden = start + 19;
            let fooled = reader.read_frame(hidden, end).expect("read");
            assert_eq!(fooled.map(|frame| frame.position), Some(hidden), "the payload hides a frame");
            for position in [start, start + 1, start + 12, hidden, hidden + 1, next - 1] {
                let found = reader.frame_start_at_or_after(position, end).expect("walk");
                assert_eq!(found, expected(position), "position {position}");
            }
        }
    }
    assert_eq!(reader.frame_start_at_or_after(0, end).expect("walk"), SEGMENT_HEADER_BYTES);
    let last = *starts.last().expect("frames");
    assert_eq!(reader.frame_start_at_or_after(last + 1, end).expect("walk"), end);
    assert_eq!(reader.frame_start_at_or_after(end + 5, end).expect("walk"), end + 5);
}
