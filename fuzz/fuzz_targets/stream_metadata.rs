//! Stream metadata documents (`$metadata` events): any bytes are accepted or
//! refused, never a panic; a soft delete's rewrite keeps the document valid,
//! sets `$tb` and keeps the other settings.
#![no_main]

use eventfold_engine::fuzzing::{check_metadata, retention_of, with_truncate_before};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let valid = check_metadata(data).is_ok();
    let retention = retention_of(data);
    if !valid {
        return;
    }
    let revision = retention.truncate_before.wrapping_add(data.len() as u64);
    let rewritten = with_truncate_before(Some(data), revision);
    assert!(check_metadata(&rewritten).is_ok(), "the rewritten document stays valid");
    let rewritten_retention = retention_of(&rewritten);
    assert_eq!(rewritten_retention.truncate_before, revision);
    assert_eq!(rewritten_retention.max_count, retention.max_count);
    assert_eq!(rewritten_retention.max_age_seconds, retention.max_age_seconds);
    // Every other key survives the rewrite. Values are not compared: JSON
    // floats need not print back to the same bits.
    let before: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(data).expect("checked object");
    let after: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&rewritten).expect("written object");
    for key in before.keys() {
        assert!(after.contains_key(key), "key {key} kept");
    }
});
