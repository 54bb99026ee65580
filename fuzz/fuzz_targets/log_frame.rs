//! Frame and segment-header decoding: any bytes either decode or are refused,
//! never a panic; what decodes encodes back to the same bytes, and every
//! frame the batch writer makes decodes to its payload.
#![no_main]

use eventfold_log::FrameBatch;
use eventfold_log::fuzzing::{FrameInfo, batch_bytes, check_frame, decode_segment_header, encode_versioned_header};
use eventfold_log::{FRAME_HEADER_BYTES, FRAME_OVERHEAD_BYTES, FRAME_TRAILER_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decode_arbitrary_frame(data);
    decode_arbitrary_header(data);
    round_trip_frames(data);
});

fn decode_arbitrary_frame(data: &[u8]) {
    let Ok(info) = check_frame(data) else { return };
    let frame = &data[..info.frame_bytes()];
    // A frame that checks must be exactly what the writer would make of its
    // payload and flags.
    let payload = &frame[FRAME_HEADER_BYTES..frame.len() - FRAME_TRAILER_BYTES];
    let mut batch = FrameBatch::new();
    batch.push(info.ends_transaction(), |buffer| buffer.extend_from_slice(payload)).expect("a checked payload fits");
    assert_eq!(batch_bytes(&batch), frame, "a checked frame re-encodes to itself");
}

fn decode_arbitrary_header(data: &[u8]) {
    let Ok((base, version)) = decode_segment_header(data) else { return };
    // The reserved fields are not read, so compare what was decoded rather
    // than the bytes.
    let header = encode_versioned_header(base, version);
    assert_eq!(decode_segment_header(&header), Ok((base, version)), "a header decodes to what it was encoded from");
    assert_eq!(header[..12], data[..12], "magic and version");
    assert_eq!(header[16..24], data[16..24], "base");
}

/// Cuts the input into payloads (a zero byte ends each), writes them as
/// one batch, and reads the batch back frame by frame.
fn round_trip_frames(data: &[u8]) {
    let mut batch = FrameBatch::new();
    let mut payloads = Vec::new();
    for (index, payload) in data.split(|byte| *byte == 0).enumerate() {
        let ends_transaction = index % 3 == 2;
        match batch.push(ends_transaction, |buffer| buffer.extend_from_slice(payload)) {
            Ok(_) => payloads.push((payload, ends_transaction)),
            Err(_) => assert!(payload.is_empty(), "only an empty payload is refused here"),
        }
    }
    assert_eq!(batch.frame_count(), payloads.len());
    let mut bytes = batch_bytes(&batch);
    for (payload, ends_transaction) in payloads {
        let info: FrameInfo = check_frame(bytes).expect("a written frame checks");
        assert_eq!(info.payload_bytes, payload.len());
        assert_eq!(info.ends_transaction(), ends_transaction);
        assert_eq!(&bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + payload.len()], payload);
        assert_eq!(info.frame_bytes(), payload.len() + FRAME_OVERHEAD_BYTES);
        bytes = &bytes[info.frame_bytes()..];
    }
    assert!(bytes.is_empty(), "nothing follows the last frame");
}
