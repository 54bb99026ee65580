//! `POST /admin/verify`: the store checks every frame of its log and its
//! index against the log while it keeps serving, and answers when done:
//! `200` with the report (clean or not), `501` for a backend that cannot
//! verify, `500`/`503` when storage fails. Errors are `{"error": "..."}`.
//!
//! The report's JSON shape is `VerifyReportBody`, which `eventfold admin
//! verify --json` prints for an offline check as well.

use crate::http::caller::Caller;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eventfold_store::{
    DamagedRange, IndexMismatch, IndexReport, LostEvent, SegmentReport, StorageErrorKind, VerifyError, VerifyReport,
};
use serde::{Deserialize, Serialize};

/// A verification's report as JSON; converts to and from the store's.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VerifyReportBody {
    pub online: bool,
    pub clean: bool,
    pub segments_checked: u64,
    pub frames_checked: u64,
    pub bytes_checked: u64,
    pub segments: Vec<SegmentBody>,
    pub damaged: Vec<DamagedRangeBody>,
    pub index: IndexBody,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SegmentBody {
    pub file: String,
    pub base: u64,
    pub compacted: bool,
    pub bytes: u64,
    pub frames: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DamagedRangeBody {
    pub file: String,
    pub offset: u64,
    pub bytes: u64,
    pub position_start: u64,
    pub position_end: u64,
    pub frame_positions: Vec<u64>,
    pub reason: String,
    pub at_tail: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct IndexBody {
    pub checkpoint: u64,
    pub entries_checked: u64,
    pub events_checked: u64,
    pub mismatch_count: u64,
    pub mismatches: Vec<MismatchBody>,
    pub events_in_damage: Vec<LostEventBody>,
    pub unreadable: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MismatchBody {
    pub stream: String,
    pub revision: u64,
    pub position: u64,
    pub problem: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LostEventBody {
    pub stream: String,
    pub revision: u64,
    pub position: u64,
}

impl From<&DamagedRange> for DamagedRangeBody {
    fn from(range: &DamagedRange) -> Self {
        Self {
            file: range.file.clone(),
            offset: range.offset,
            bytes: range.bytes,
            position_start: range.position_start,
            position_end: range.position_end,
            frame_positions: range.frame_positions.clone(),
            reason: range.reason.clone(),
            at_tail: range.at_tail,
        }
    }
}

impl From<DamagedRangeBody> for DamagedRange {
    fn from(range: DamagedRangeBody) -> Self {
        Self {
            file: range.file,
            offset: range.offset,
            bytes: range.bytes,
            position_start: range.position_start,
            position_end: range.position_end,
            frame_positions: range.frame_positions,
            reason: range.reason,
            at_tail: range.at_tail,
        }
    }
}

impl From<&LostEvent> for LostEventBody {
    fn from(event: &LostEvent) -> Self {
        Self { stream: event.stream.clone(), revision: event.revision, position: event.position }
    }
}

impl From<&VerifyReport> for VerifyReportBody {
    fn from(report: &VerifyReport) -> Self {
        let index = &report.index;
        Self {
            online: report.online,
            clean: report.is_clean(),
            segments_checked: report.segments.len() as u64,
            frames_checked: report.frames_checked(),
            bytes_checked: report.bytes_checked(),
            segments: report
                .segments
                .iter()
                .map(|segment| SegmentBody {
                    file: segment.file.clone(),
                    base: segment.base,
                    compacted: segment.compacted,
                    bytes: segment.bytes,
                    frames: segment.frames,
                })
                .collect(),
            damaged: report.damaged.iter().map(DamagedRangeBody::from).collect(),
            index: IndexBody {
                checkpoint: index.checkpoint,
                entries_checked: index.entries_checked,
                events_checked: index.events_checked,
                mismatch_count: index.mismatch_count,
                mismatches: index
                    .mismatches
                    .iter()
                    .map(|mismatch| MismatchBody {
                        stream: mismatch.stream.clone(),
                        revision: mismatch.revision,
                        position: mismatch.position,
                        problem: mismatch.problem.clone(),
                    })
                    .collect(),
                events_in_damage: index.events_in_damage.iter().map(LostEventBody::from).collect(),
                unreadable: index.unreadable.clone(),
            },
        }
    }
}

impl From<VerifyReportBody> for VerifyReport {
    fn from(body: VerifyReportBody) -> Self {
        let index = body.index;
        Self {
            online: body.online,
            segments: body
                .segments
                .into_iter()
                .map(|segment| SegmentReport {
                    file: segment.file,
                    base: segment.base,
                    compacted: segment.compacted,
                    bytes: segment.bytes,
                    frames: segment.frames,
                })
                .collect(),
            damaged: body.damaged.into_iter().map(DamagedRange::from).collect(),
            index: IndexReport {
                checkpoint: index.checkpoint,
                entries_checked: index.entries_checked,
                events_checked: index.events_checked,
                mismatch_count: index.mismatch_count,
                mismatches: index
                    .mismatches
                    .into_iter()
                    .map(|mismatch| IndexMismatch {
                        stream: mismatch.stream,
                        revision: mismatch.revision,
                        position: mismatch.position,
                        problem: mismatch.problem,
                    })
                    .collect(),
                events_in_damage: index
                    .events_in_damage
                    .into_iter()
                    .map(|event| LostEvent { stream: event.stream, revision: event.revision, position: event.position })
                    .collect(),
                unreadable: index.unreadable,
            },
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

/// `POST /admin/verify`.
pub async fn verify(Caller(node): Caller) -> Response {
    match node.client_store().verify_storage().await {
        Ok(report) => (StatusCode::OK, Json(VerifyReportBody::from(&report))).into_response(),
        Err(error) => {
            let code = match &error {
                VerifyError::Unsupported => StatusCode::NOT_IMPLEMENTED,
                VerifyError::AccessDenied(_) => StatusCode::FORBIDDEN,
                VerifyError::Storage(storage)
                    if matches!(storage.kind, StorageErrorKind::Closed | StorageErrorKind::Unavailable) =>
                {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (code, Json(ErrorBody { error: error.to_string() })).into_response()
        }
    }
}
