//! Histogram buckets. Every histogram eventfold records is a duration in
//! seconds except the group-commit batch sizes, so the buckets go by kind,
//! not by each crate's metric names (the server does not see the engine).

use metrics_exporter_prometheus::Matcher;

use super::calls::names as calls;

/// Durations (`fdatasync`, a batch's flush, an HTTP request): fine steps
/// where a healthy disk lands (~100 µs for a synced write here), coarse
/// ones up to a stall of seconds.
pub(super) const SECONDS: &[f64] = &[
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,
    2.5, 10.0,
];

/// KurrentDB's buckets for gRPC method durations (1 µs to 10 s, a decade
/// each): its dashboards' heatmaps name these very bounds.
const GRPC_METHOD_SECONDS: &[f64] = &[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];

/// Histograms of counts, named `…_batch_events` or `…_batch_appends`: the
/// appends and events sharing one `fdatasync` (the engine), the events one
/// sequencing step numbers (PostgreSQL); from 1 up to a queue's depth.
const COUNT_SUFFIXES: [&str; 2] = ["_batch_events", "_batch_appends"];
const COUNTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0, 65536.0];

/// The overrides of [`SECONDS`]; no two of them match the same name.
pub(super) fn overrides() -> [(Matcher, &'static [f64]); 3] {
    [
        (Matcher::Full(calls::GRPC_METHOD_DURATION.to_owned()), GRPC_METHOD_SECONDS),
        (Matcher::Suffix(COUNT_SUFFIXES[0].to_owned()), COUNTS),
        (Matcher::Suffix(COUNT_SUFFIXES[1].to_owned()), COUNTS),
    ]
}
