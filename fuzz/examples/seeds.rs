//! Writes the seed corpora in `fuzz/corpus/<target>/`: a few valid inputs
//! per target, from which the fuzzer mutates. Run from `fuzz/` with
//! `cargo run --example seeds` after a format or protocol change.

use std::fs;
use std::path::Path;

use bytes::Bytes;
use eventfold_log::fuzzing::{
    COMPACTED_FORMAT_VERSION, CompactedFooter, batch_bytes, encode_compacted_footer, encode_versioned_header,
};
use eventfold_log::{FORMAT_VERSION, FrameBatch, SEGMENT_HEADER_BYTES};
use eventfold_proto::event_store::client::streams::{
    AppendReq, BatchAppendReq, DeleteReq, ReadReq, TombstoneReq, append_req, batch_append_req, delete_req, read_req,
    tombstone_req,
};
use eventfold_proto::event_store::client::{Empty, StreamIdentifier, Uuid as ProtoUuid, uuid};
use prost::Message;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        fs::write(dir.join(name), bytes).expect("write a seed");
    };

    // Frames: one batch of a few transactions, and a segment header.
    let frames = frames();
    write("log_frame", "batch", &frames);
    write("log_frame", "header", &encode_versioned_header(4096, FORMAT_VERSION));
    write("log_frame", "payloads", b"order-1\0{\"amount\":3}\0x\0\0last");

    // Segments: a plain one (mode 0) and a compacted one (mode 1), each
    // without its header, which the target writes itself.
    write("log_segment", "plain", &[&[0u8][..], &frames].concat());
    let compacted = compacted(&frames);
    write("log_segment", "compacted", &[&[1u8][..], &compacted[SEGMENT_HEADER_BYTES as usize..]].concat());
    write("log_segment", "empty", &[0u8]);

    // Compacted tables: the whole file, base 0 (mode 0), and the same with
    // checksums to be fixed up by the target (mode 1).
    write("log_compacted_table", "table", &[&[0u8][..], &compacted].concat());
    write("log_compacted_table", "table-fixed", &[&[1u8][..], &compacted].concat());

    for (name, document) in [
        ("empty", "{}"),
        ("retention", r#"{"$maxCount":10,"$maxAge":3600,"$tb":4}"#),
        ("acl", r#"{"$acl":{"$r":"$all","$w":["admin"]},"$cacheControl":null,"custom":[1.5,"x",true]}"#),
        ("soft-deleted", r#"{"$tb":9223372036854775807,"owner":"team-a"}"#),
        ("wrong-type", r#"{"$maxCount":-1}"#),
    ] {
        write("stream_metadata", name, document.as_bytes());
    }

    for (name, input) in [
        ("no-system", "^(?!\\$).*\norder-1"),
        ("alternation", "^(order|cart)-[0-9]+$\ncart-42"),
        ("prefixes", "order-|cart-\ncart-9"),
        ("system", "$et-\n$et-OrderPlaced"),
        ("invalid", "(unclosed\norder-1"),
    ] {
        write("filter", name, input.as_bytes());
    }

    for (name, kind, bytes) in requests() {
        write("grpc_requests", name, &[&[kind][..], &bytes].concat());
    }
}

fn frames() -> Vec<u8> {
    let mut batch = FrameBatch::new();
    for (payload, ends) in [(&b"first"[..], true), (b"second, part 1", false), (b"second, part 2", true)] {
        batch.push(ends, |buffer| buffer.extend_from_slice(payload)).expect("small payload");
    }
    batch_bytes(&batch).to_vec()
}

/// A compacted segment at base 0 keeping the first and last frame of
/// `frames` (a plain segment's body), at their original positions.
fn compacted(frames: &[u8]) -> Vec<u8> {
    let header = SEGMENT_HEADER_BYTES;
    let frame_len = |at: usize| 16 + u32::from_le_bytes(frames[at..at + 4].try_into().expect("4 bytes")) as usize;
    let first = frame_len(0);
    let second = frame_len(first);
    let third = frame_len(first + second);
    let mut file = encode_versioned_header(0, COMPACTED_FORMAT_VERSION).to_vec();
    file.extend_from_slice(&frames[..first]);
    file.extend_from_slice(&frames[first + second..]);
    let entries = [(header, header), (header + (first + second) as u64, header + first as u64)];
    let mut table = Vec::new();
    for (position, offset) in entries {
        table.extend_from_slice(&position.to_le_bytes());
        table.extend_from_slice(&offset.to_le_bytes());
    }
    file.extend_from_slice(&table);
    let footer = CompactedFooter {
        end_position: header + (first + second + third) as u64,
        frame_count: entries.len() as u64,
        table_crc: crc32c::crc32c(&table),
    };
    file.extend_from_slice(&encode_compacted_footer(&footer));
    file
}

/// Requests as the official clients send them, with the first byte the
/// target uses to pick the message type.
fn requests() -> Vec<(&'static str, u8, Vec<u8>)> {
    let stream = || Some(StreamIdentifier { stream_name: Bytes::from_static(b"order-1") });
    let id = || Some(ProtoUuid { value: Some(uuid::Value::String("5f1c3f3e-6f4b-4a53-9d1e-2f5a0f5d8e11".into())) });
    let append_options = AppendReq {
        content: Some(append_req::Content::Options(append_req::Options {
            stream_identifier: stream(),
            expected_stream_revision: Some(append_req::options::ExpectedStreamRevision::Any(Empty {})),
        })),
    };
    let append_event = AppendReq {
        content: Some(append_req::Content::ProposedMessage(append_req::ProposedMessage {
            id: id(),
            metadata: [
                ("type".to_owned(), "OrderPlaced".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ]
            .into(),
            custom_metadata: Bytes::new(),
            data: Bytes::from_static(br#"{"amount":3}"#),
        })),
    };
    let batch = BatchAppendReq {
        correlation_id: id(),
        options: Some(batch_append_req::Options {
            stream_identifier: stream(),
            expected_stream_position: Some(batch_append_req::options::ExpectedStreamPosition::StreamPosition(4)),
            deadline_option: None,
        }),
        proposed_messages: vec![batch_append_req::ProposedMessage {
            id: id(),
            metadata: [("type".to_owned(), "OrderPlaced".to_owned())].into(),
            custom_metadata: Bytes::new(),
            data: Bytes::from_static(b"{}"),
        }],
        is_final: true,
    };
    let read_stream = ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(read_req::options::StreamOption::Stream(read_req::options::StreamOptions {
                stream_identifier: stream(),
                revision_option: Some(read_req::options::stream_options::RevisionOption::Start(Empty {})),
            })),
            count_option: Some(read_req::options::CountOption::Count(100)),
            filter_option: Some(read_req::options::FilterOption::NoFilter(Empty {})),
            ..Default::default()
        }),
    };
    let read_all = ReadReq {
        options: Some(read_req::Options {
            stream_option: Some(read_req::options::StreamOption::All(read_req::options::AllOptions {
                all_option: Some(read_req::options::all_options::AllOption::Position(read_req::options::Position {
                    commit_position: 32,
                    prepare_position: 32,
                })),
            })),
            count_option: Some(read_req::options::CountOption::Subscription(read_req::options::SubscriptionOptions {})),
            filter_option: Some(read_req::options::FilterOption::Filter(read_req::options::FilterOptions {
                filter: Some(read_req::options::filter_options::Filter::EventType(
                    read_req::options::filter_options::Expression { regex: "^(?!\\$).*".into(), prefix: Vec::new() },
                )),
                window: Some(read_req::options::filter_options::Window::Max(32)),
                checkpoint_interval_multiplier: 1,
            })),
            ..Default::default()
        }),
    };
    let delete = DeleteReq {
        options: Some(delete_req::Options {
            stream_identifier: stream(),
            expected_stream_revision: Some(delete_req::options::ExpectedStreamRevision::Revision(3)),
        }),
    };
    let tombstone = TombstoneReq {
        options: Some(tombstone_req::Options {
            stream_identifier: stream(),
            expected_stream_revision: Some(tombstone_req::options::ExpectedStreamRevision::StreamExists(Empty {})),
        }),
    };
    let mut requests = vec![
        ("append-options", 0, append_options.encode_to_vec()),
        ("append-event", 0, append_event.encode_to_vec()),
        ("batch-append", 1, batch.encode_to_vec()),
        ("read-stream", 2, read_stream.encode_to_vec()),
        ("read-all-filtered", 2, read_all.encode_to_vec()),
        ("delete", 3, delete.encode_to_vec()),
        ("tombstone", 4, tombstone.encode_to_vec()),
    ];
    // The persistent subscription and operations requests start empty (all
    // defaults), which is a valid message of each type.
    for (name, kind) in [
        ("persistent-create", 5),
        ("persistent-update", 6),
        ("persistent-delete", 7),
        ("persistent-read", 8),
        ("persistent-info", 9),
        ("persistent-list", 10),
        ("persistent-replay", 11),
        ("scavenge", 12),
    ] {
        requests.push((name, kind, Vec::new()));
    }
    requests
}
