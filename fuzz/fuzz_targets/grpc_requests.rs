//! The request messages the server decodes from clients: any bytes either
//! decode or are refused with an error, never a panic, and a message that
//! decodes survives encoding and decoding again unchanged.
#![no_main]

use eventfold_proto::event_store::client::{operations, persistent_subscriptions as persistent, streams};
use eventfold_proto::kurrentdb::protocol::v2::streams as streams_v2;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the message type, the rest is its encoding.
    let Some((&kind, bytes)) = data.split_first() else { return };
    match kind % 15 {
        0 => round_trip::<streams::AppendReq>(bytes),
        1 => round_trip::<streams::BatchAppendReq>(bytes),
        2 => round_trip::<streams::ReadReq>(bytes),
        3 => round_trip::<streams::DeleteReq>(bytes),
        4 => round_trip::<streams::TombstoneReq>(bytes),
        5 => round_trip::<persistent::CreateReq>(bytes),
        6 => round_trip::<persistent::UpdateReq>(bytes),
        7 => round_trip::<persistent::DeleteReq>(bytes),
        8 => round_trip::<persistent::ReadReq>(bytes),
        9 => round_trip::<persistent::GetInfoReq>(bytes),
        10 => round_trip::<persistent::ListReq>(bytes),
        11 => round_trip::<persistent::ReplayParkedReq>(bytes),
        12 => round_trip_with_floats::<streams_v2::AppendRequest>(bytes),
        13 => round_trip_with_floats::<streams_v2::AppendRecordsRequest>(bytes),
        _ => round_trip::<operations::StartScavengeReq>(bytes),
    }
});

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    let Ok(message) = M::decode(bytes) else { return };
    let encoded = message.encode_to_vec();
    assert_eq!(encoded.len(), message.encoded_len());
    let again = M::decode(encoded.as_slice()).expect("an encoded message decodes");
    // Map fields encode in hash order, so compare messages, not bytes.
    assert_eq!(again, message);
}

/// As [`round_trip`], for messages that may carry a float (a record's
/// properties): a NaN is unequal to itself, so the message decoded again is
/// compared by its encoded length only.
fn round_trip_with_floats<M: Message + Default>(bytes: &[u8]) {
    let Ok(message) = M::decode(bytes) else { return };
    let encoded = message.encode_to_vec();
    assert_eq!(encoded.len(), message.encoded_len());
    let again = M::decode(encoded.as_slice()).expect("an encoded message decodes");
    assert_eq!(again.encoded_len(), encoded.len());
}
