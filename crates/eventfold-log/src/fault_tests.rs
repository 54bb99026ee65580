//! Tests of LOG-9: a failure before any byte of a batch was written (no file
//! descriptor for a new segment, no space for the preallocation) refuses the
//! batch without poisoning the writer, leaves the log as it was, and the
//! same writer succeeds once the condition clears. Failures are injected
//! through `faults`, so each test hits exactly the step it names.

use std::path::{Path, PathBuf};

use crate::faults::{self, FaultPoint};
use crate::{FrameBatch, LogConfig, LogError, LogReader, LogWriter, open};

const EMFILE: i32 = 24;
const ENOSPC: i32 = 28;

fn small_segments(dir: &Path) -> LogConfig {
    LogConfig {
        dir: dir.to_path_buf(),
        segment_bytes_max: 4096,
        torn_tail_bytes_max: 1024 * 1024,
        preallocate_bytes: 1024,
    }
}

fn batch_of(payload: &[u8]) -> FrameBatch {
    let mut batch = FrameBatch::new();
    batch.push(true, |buffer| buffer.extend_from_slice(payload)).expect("payload size");
    batch
}

fn read_all(reader: &LogReader, end: u64) -> Vec<(u64, Vec<u8>)> {
    reader.scan_forward(0, end).map(|frame| frame.map(|f| (f.position, f.payload.to_vec())).expect("frame")).collect()
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect();
    found.sort();
    found
}

/// Writes single-frame batches of `size` bytes until the next one would
/// roll the segment; returns what was written.
fn fill_segment(writer: &mut LogWriter, size: usize, written: &mut Vec<(u64, Vec<u8>)>) {
    let segment_end = 4096;
    let frame_bytes = (size + crate::FRAME_OVERHEAD_BYTES) as u64;
    while writer.end() - writer.active_base + frame_bytes <= segment_end {
        let payload = vec![written.len() as u8; size];
        let start = writer.write(&batch_of(&payload)).expect("write");
        written.push((start, payload));
    }
}

fn assert_refused(result: Result<u64, LogError>, writer: &LogWriter, cause: &str) {
    let error = result.expect_err("the batch is refused");
    assert!(error.to_string().contains(cause), "the cause is named: {error}");
    assert!(!writer.is_poisoned(), "a failure before any byte was written does not poison: {error}");
}

#[test]
fn log_9_a_roll_without_a_file_descriptor_refuses_the_batch_and_a_later_roll_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, reader, _) = open(&small_segments(dir.path()), 0).expect("open");
    let mut written = Vec::new();
    // 38 frames of 106 bytes leave 36 of the 4096: room for one small frame.
    fill_segment(&mut writer, 90, &mut written);
    let end = writer.end();
    let segments_before = files_with_extension(dir.path(), "evlog");

    // No descriptor for the new segment's file, then none for its other
    // handles once its file exists: both refuse, and leave nothing behind.
    for point in [FaultPoint::CreateSegment, FaultPoint::OpenSegment] {
        faults::inject(dir.path(), point, EMFILE);
        for _ in 0..2 {
            assert_refused(writer.write(&batch_of(&[7; 100])), &writer, "Too many open files");
            assert_eq!(writer.end(), end, "nothing was written");
            assert_eq!(files_with_extension(dir.path(), "evlog"), segments_before, "no half-made segment");
            assert!(files_with_extension(dir.path(), "tmp").is_empty(), "no temporary file left");
        }
        faults::clear(dir.path(), point);
    }
    let sealed = segments_before.last().expect("a segment");
    assert_eq!(
        std::fs::metadata(sealed).expect("stat").len(),
        end - writer.active_base,
        "the segment to seal was cut back to its data, once"
    );

    // A batch small enough for the old segment still goes there...
    let start = writer.write(&batch_of(&[6; 10])).expect("a batch that needs no roll");
    written.push((start, vec![6; 10]));
    // ...and the roll works once descriptors are back, with the same writer.
    let start = writer.write(&batch_of(&[8; 100])).expect("the roll succeeds once the condition clears");
    written.push((start, vec![8; 100]));
    assert!(files_with_extension(dir.path(), "evlog").len() > segments_before.len(), "rolled");
    assert_eq!(read_all(&reader, writer.end()), written);

    // Nothing acknowledged is lost, and the segments are contiguous.
    let end = writer.end();
    drop((writer, reader));
    let (writer, reader, report) = open(&small_segments(dir.path()), 0).expect("reopen");
    assert_eq!((report.end, report.truncated_bytes), (end, 0));
    assert_eq!(read_all(&reader, writer.end()), written);
}

#[test]
fn log_9_a_preallocation_without_space_refuses_the_batch_and_gives_the_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        LogConfig { segment_bytes_max: 1024 * 1024, preallocate_bytes: 128 * 1024, ..small_segments(dir.path()) };
    let (mut writer, reader, _) = open(&config, 0).expect("open");
    let mut written = Vec::new();
    for index in 0..3u8 {
        let start = writer.write(&batch_of(&[index; 100])).expect("write");
        written.push((start, vec![index; 100]));
    }
    let segment = files_with_extension(dir.path(), "evlog").pop().expect("a segment");
    let length_before = std::fs::metadata(&segment).expect("stat").len();
    let end = writer.end();

    // More than the preallocated zeros hold: the next batch needs more.
    let large = vec![9; 200 * 1024];
    faults::inject(dir.path(), FaultPoint::Preallocate, ENOSPC);
    for _ in 0..2 {
        let result = writer.write(&batch_of(&large));
        assert!(result.as_ref().is_err_and(LogError::is_disk_full), "{result:?}");
        assert_refused(result, &writer, "No space left");
        assert_eq!(writer.end(), end, "nothing was written");
        assert_eq!(std::fs::metadata(&segment).expect("stat").len(), length_before, "the zeros are given back");
    }
    // Small batches that fit in what was preallocated before go on.
    let start = writer.write(&batch_of(&[3; 100])).expect("a batch needing no new space");
    written.push((start, vec![3; 100]));

    faults::clear(dir.path(), FaultPoint::Preallocate);
    let start = writer.write(&batch_of(&large)).expect("the batch succeeds once space is back");
    written.push((start, large));
    assert_eq!(read_all(&reader, writer.end()), written);

    let end = writer.end();
    drop((writer, reader));
    let (writer, reader, report) = open(&config, 0).expect("reopen");
    assert_eq!((report.end, report.truncated_bytes), (end, 0));
    assert_eq!(read_all(&reader, writer.end()), written);
}

#[test]
fn log_9_prepare_alone_reports_whether_the_resource_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _reader, _) = open(&small_segments(dir.path()), 0).expect("open");
    let mut written = Vec::new();
    fill_segment(&mut writer, 100, &mut written);
    let end = writer.end();
    faults::inject(dir.path(), FaultPoint::CreateSegment, EMFILE);
    assert!(writer.prepare(200).is_err() && !writer.is_poisoned());
    faults::clear(dir.path(), FaultPoint::CreateSegment);
    writer.prepare(200).expect("the roll succeeds alone");
    assert!(writer.end() > end, "the writer moved to the new segment, past the old one's header");
}
