//! A segment file of any bytes, checked and salvaged as `eventfold admin
//! verify` and `repair` do: the check never panics, whatever it meets, and
//! after a salvage the log opens and checks clean.
#![no_main]

use eventfold_log::fuzzing::{COMPACTED_FORMAT_VERSION, encode_versioned_header};
use eventfold_log::{FORMAT_VERSION, LogConfig, open, salvage_log, verify_log};
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

    // As a running writer would have it, up to a committed end, and as a
    // directory no writer holds.
    let committed_end = Some(file.len() as u64);
    verify_log(dir.path(), committed_end, &mut |_| Ok(()), &mut |_| {}).expect("check up to an end");
    verify_log(dir.path(), None, &mut |_| Ok(()), &mut |_| {}).expect("check");

    salvage_log(dir.path(), "fuzz", &mut |_| {}).expect("salvage");
    let after = verify_log(dir.path(), None, &mut |_| Ok(()), &mut |_| {}).expect("check after salvage");
    assert!(after.is_clean(), "a salvaged log checks clean: {:?}", after.damage().collect::<Vec<_>>());
    let config = LogConfig {
        dir: dir.path().to_path_buf(),
        segment_bytes_max: 1 << 20,
        torn_tail_bytes_max: 1 << 20,
        preallocate_bytes: 0,
    };
    let (writer, reader, report) = open(&config, 0).expect("a salvaged log opens");
    let frames = reader.scan_forward(0, report.end).count();
    assert!(frames as u64 <= after.frames());
    drop((writer, reader));
});
