//! A segment file as opening the log finds it: recovery, then reading every
//! frame forwards and backwards. Any bytes either open or are refused with
//! an error, never a panic, and both directions read the same frames.
#![no_main]

use eventfold_log::fuzzing::{COMPACTED_FORMAT_VERSION, encode_versioned_header};
use eventfold_log::{FORMAT_VERSION, LogConfig, open};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format version; the rest follows a valid
    // header, so that the fuzzer spends its time on frames and tables.
    let Some((&mode, body)) = data.split_first() else { return };
    let version = if mode & 1 == 0 { FORMAT_VERSION } else { COMPACTED_FORMAT_VERSION };
    let mut file = encode_versioned_header(0, version).to_vec();
    file.extend_from_slice(body);
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join(format!("{:020}.evlog", 0)), &file).expect("write the segment");
    let config = LogConfig {
        dir: dir.path().to_path_buf(),
        segment_bytes_max: 1 << 20,
        torn_tail_bytes_max: 1 << 20,
        preallocate_bytes: 0,
    };
    let Ok((writer, reader, report)) = open(&config, 0) else { return };
    let first = reader.first_frame_at_or_after(0);
    let mut forward = Vec::new();
    let mut scan = reader.scan_forward(first, report.end);
    let forward_ok = loop {
        match scan.next_frame() {
            Ok(Some(frame)) => {
                assert!(frame.position < frame.next_position && frame.next_position <= report.end);
                assert!(!frame.payload.is_empty());
                forward.push((frame.position, frame.payload));
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    let mut backward = Vec::new();
    let mut scan = reader.scan_backward(report.end);
    let backward_ok = loop {
        match scan.next_frame() {
            Ok(Some(frame)) => backward.push((frame.position, frame.payload)),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    if forward_ok && backward_ok {
        backward.reverse();
        assert_eq!(forward, backward, "both directions read the same frames");
    }
    drop((writer, reader));
});
