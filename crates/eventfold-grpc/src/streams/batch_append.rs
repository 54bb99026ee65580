//! `Streams.BatchAppend`: many appends pipelined over one bidirectional
//! call. Each batch is identified by a correlation id, may span several
//! messages (until `is_final`) and is answered on its own, in completion
//! order. Batches in flight are bounded; errors come back as
//! `google.rpc.Status` with the detail packed in an `Any`, as clients expect.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use eventfold_proto::event_store::client::streams::batch_append_req::options::{
    DeadlineOption, ExpectedStreamPosition,
};
use eventfold_proto::event_store::client::streams::batch_append_req::{Options, ProposedMessage};
use eventfold_proto::event_store::client::streams::batch_append_resp::{self, Success, success};
use eventfold_proto::event_store::client::streams::{BatchAppendReq, BatchAppendResp};
use eventfold_proto::event_store::client::{self as shared, AllStreamPosition};
use eventfold_proto::google::rpc;
use eventfold_store::{
    AppendError, AppendRequest, AppendSizeBudget, CurrentRevision, EventStore, ExpectedRevision, ProposedEvent,
    StreamName,
};
use futures::StreamExt;
use prost::Message;
use tokio::sync::{Semaphore, mpsc};
use tonic::{Status, Streaming};

use super::ResponseStream;
use crate::convert::{
    ExpectedKind, expected_revision, proposed_event, stream_identifier, stream_name, uuid_from_proto,
};
use crate::errors;

/// Batches being appended at once on one call.
const IN_FLIGHT_BATCHES_MAX: usize = 128;
/// Batches started (first message seen) but not finished, per call.
const OPEN_BATCHES_MAX: usize = 1024;

struct OpenBatch {
    stream: StreamName,
    expected: ExpectedRevision,
    deadline: Option<Duration>,
    events: Vec<ProposedEvent>,
    size: AppendSizeBudget,
}

pub fn batch_append(
    store: Arc<dyn EventStore>,
    max_append_bytes: usize,
    requests: Streaming<BatchAppendReq>,
) -> ResponseStream<BatchAppendResp> {
    let (responses, receiver) = mpsc::channel(IN_FLIGHT_BATCHES_MAX);
    tokio::spawn(receive(store, max_append_bytes, requests, responses));
    tokio_stream_from(receiver)
}

fn tokio_stream_from(mut receiver: mpsc::Receiver<Result<BatchAppendResp, Status>>) -> ResponseStream<BatchAppendResp> {
    futures::stream::poll_fn(move |context| receiver.poll_recv(context)).boxed()
}

async fn receive(
    store: Arc<dyn EventStore>,
    max_append_bytes: usize,
    mut requests: Streaming<BatchAppendReq>,
    responses: mpsc::Sender<Result<BatchAppendResp, Status>>,
) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT_BATCHES_MAX));
    let mut open: HashMap<uuid::Uuid, OpenBatch> = HashMap::new();
    loop {
        let request = match requests.message().await {
            Ok(Some(request)) => request,
            // The client closed its side: batches not yet final are dropped
            // unwritten.
            Ok(None) => return,
            // An undecodable message (too large, malformed): say so rather
            // than end the call silently. A client that went away reads
            // nothing, and that is fine too.
            Err(status) => {
                let _ = responses.send(Err(status)).await;
                return;
            }
        };
        let correlation = match uuid_from_proto(request.correlation_id.as_ref()) {
            Ok(correlation) => correlation,
            Err(status) => {
                let _ = responses.send(Err(status)).await;
                return;
            }
        };
        let prepared = prepare(&mut open, correlation, request, max_append_bytes);
        let batch = match prepared {
            Ok(Some(batch)) => batch,
            Ok(None) => continue,
            Err(failure) => {
                let response = failure_response(correlation, *failure);
                if responses.send(Ok(response)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let store = Arc::clone(&store);
        let responses = responses.clone();
        tokio::spawn(async move {
            let response = append(store.as_ref(), correlation, batch).await;
            let _ = responses.send(Ok(response)).await;
            drop(permit);
        });
    }
}

/// Why a batch failed, with what the response echoes back.
struct Failure {
    stream: Option<shared::StreamIdentifier>,
    expected: Option<ExpectedRevision>,
    status: rpc::Status,
}

/// Adds a message to its batch; returns the batch once it is final.
fn prepare(
    open: &mut HashMap<uuid::Uuid, OpenBatch>,
    correlation: uuid::Uuid,
    request: BatchAppendReq,
    max_append_bytes: usize,
) -> Result<Option<OpenBatch>, Box<Failure>> {
    // Refusals echo the stream identifier as sent, valid or not: clients
    // expect it in every response.
    let echoed = request.options.as_ref().and_then(|options| options.stream_identifier.clone());
    let bad =
        |message: String| Box::new(Failure { stream: echoed.clone(), expected: None, status: bad_request(message) });
    if !open.contains_key(&correlation) {
        let options = request.options.ok_or_else(|| bad("the first message of a batch must carry options".into()))?;
        if open.len() >= OPEN_BATCHES_MAX {
            return Err(bad(format!("more than {OPEN_BATCHES_MAX} unfinished batches on one call")));
        }
        let batch = open_batch(options, max_append_bytes).map_err(|status| bad(status.message().to_owned()))?;
        open.insert(correlation, batch);
    }
    let Some(batch) = open.get_mut(&correlation) else { return Ok(None) };
    for ProposedMessage { id, metadata, custom_metadata, data } in request.proposed_messages {
        let event = proposed_event(id.as_ref(), &metadata, custom_metadata, data);
        let failure = |status: rpc::Status| Failure {
            stream: Some(stream_identifier(&batch.stream)),
            expected: Some(batch.expected),
            status,
        };
        let event = match event {
            Ok(event) => event,
            Err(status) => {
                let failure = failure(bad_request(status.message().to_owned()));
                open.remove(&correlation);
                return Err(Box::new(failure));
            }
        };
        if let Err(error) = batch.size.add(&event) {
            let failure = failure(append_error_status(&error));
            open.remove(&correlation);
            return Err(Box::new(failure));
        }
        batch.events.push(event);
    }
    if request.is_final { Ok(open.remove(&correlation)) } else { Ok(None) }
}

fn open_batch(options: Options, max_append_bytes: usize) -> Result<OpenBatch, Status> {
    let stream = stream_name(options.stream_identifier.as_ref())?;
    let expected = expected_revision(options.expected_stream_position, |option| match option {
        ExpectedStreamPosition::StreamPosition(revision) => ExpectedKind::Exact(revision),
        ExpectedStreamPosition::NoStream(()) => ExpectedKind::NoStream,
        ExpectedStreamPosition::Any(()) => ExpectedKind::Any,
        ExpectedStreamPosition::StreamExists(()) => ExpectedKind::StreamExists,
    })?;
    let deadline = match options.deadline_option {
        Some(DeadlineOption::Deadline(duration)) => {
            Some(Duration::new(duration.seconds.max(0) as u64, duration.nanos.max(0) as u32))
        }
        Some(DeadlineOption::Deadline21100(timestamp)) => SystemTime::try_from(timestamp)
            .ok()
            .map(|deadline| deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)),
        None => None,
    };
    Ok(OpenBatch { stream, expected, deadline, events: Vec::new(), size: AppendSizeBudget::new(max_append_bytes) })
}

async fn append(store: &dyn EventStore, correlation: uuid::Uuid, batch: OpenBatch) -> BatchAppendResp {
    let stream = batch.stream.clone();
    let expected = batch.expected;
    let request = AppendRequest::new(batch.stream, batch.expected, batch.events);
    let outcome = match batch.deadline {
        Some(deadline) => match tokio::time::timeout(deadline, store.append(request)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let status = detailed(
                    rpc::Code::DeadlineExceeded,
                    "Timeout".into(),
                    "event_store.client.Timeout",
                    shared::Timeout {}.encode_to_vec(),
                );
                return failure_response(
                    correlation,
                    Failure { stream: Some(stream_identifier(&stream)), expected: Some(expected), status },
                );
            }
        },
        None => store.append(request).await,
    };
    match outcome {
        Ok(outcome) => BatchAppendResp {
            correlation_id: Some(crate::convert::uuid_to_proto(correlation, false)),
            result: Some(batch_append_resp::Result::Success(Success {
                current_revision_option: Some(match outcome.current_revision {
                    CurrentRevision::Current(revision) => success::CurrentRevisionOption::CurrentRevision(revision),
                    CurrentRevision::NoStream => success::CurrentRevisionOption::NoStream(()),
                }),
                position_option: Some(match outcome.position {
                    Some(position) => success::PositionOption::Position(AllStreamPosition {
                        commit_position: position.0,
                        prepare_position: position.0,
                    }),
                    None => success::PositionOption::NoPosition(()),
                }),
            })),
            stream_identifier: Some(stream_identifier(&stream)),
            expected_stream_position: Some(expected_position(expected)),
        },
        Err(error) => failure_response(
            correlation,
            Failure {
                stream: Some(stream_identifier(&stream)),
                expected: Some(expected),
                status: append_error_status(&error),
            },
        ),
    }
}

fn append_error_status(error: &AppendError) -> rpc::Status {
    match error {
        AppendError::WrongExpectedVersion { expected, actual, .. } => {
            use shared::wrong_expected_version::{CurrentStreamRevisionOption, ExpectedStreamPositionOption};
            let detail = shared::WrongExpectedVersion {
                current_stream_revision_option: Some(match actual {
                    CurrentRevision::Current(revision) => CurrentStreamRevisionOption::CurrentStreamRevision(*revision),
                    CurrentRevision::NoStream => CurrentStreamRevisionOption::CurrentNoStream(()),
                }),
                expected_stream_position_option: Some(match expected {
                    ExpectedRevision::Exact(revision) => {
                        ExpectedStreamPositionOption::ExpectedStreamPosition(*revision)
                    }
                    ExpectedRevision::Any => ExpectedStreamPositionOption::ExpectedAny(()),
                    ExpectedRevision::StreamExists => ExpectedStreamPositionOption::ExpectedStreamExists(()),
                    ExpectedRevision::NoStream => ExpectedStreamPositionOption::ExpectedNoStream(()),
                }),
            };
            detailed(
                rpc::Code::FailedPrecondition,
                error.to_string(),
                "event_store.client.WrongExpectedVersion",
                detail.encode_to_vec(),
            )
        }
        AppendError::StreamDeleted { stream } => detailed(
            rpc::Code::FailedPrecondition,
            format!("Event stream '{stream}' is deleted."),
            "event_store.client.StreamDeleted",
            shared::StreamDeleted { stream_identifier: Some(stream_identifier(stream)) }.encode_to_vec(),
        ),
        AppendError::MaximumAppendSizeExceeded { max_bytes, .. } => detailed(
            rpc::Code::InvalidArgument,
            format!("Maximum Append Size of {max_bytes} Exceeded."),
            "event_store.client.MaximumAppendSizeExceeded",
            shared::MaximumAppendSizeExceeded { max_append_size: *max_bytes as u32 }.encode_to_vec(),
        ),
        AppendError::InvalidEvent { reason } => bad_request(reason.clone()),
        // The code Append answers with; the detail stays `Unknown`, the only
        // one the protocol has for it.
        AppendError::Storage(storage) => rpc::Status {
            code: errors::storage_code(storage.kind) as i32,
            message: storage.to_string(),
            details: Some(prost_types::Any {
                type_url: "type.googleapis.com/event_store.client.Unknown".to_owned(),
                value: shared::Unknown {}.encode_to_vec(),
            }),
        },
        AppendError::AccessDenied(denied) => detailed(
            rpc::Code::PermissionDenied,
            crate::errors::access_denied_message(denied),
            "event_store.client.AccessDenied",
            shared::AccessDenied {}.encode_to_vec(),
        ),
        other => detailed(
            rpc::Code::Unknown,
            other.to_string(),
            "event_store.client.Unknown",
            shared::Unknown {}.encode_to_vec(),
        ),
    }
}

fn detailed(code: rpc::Code, message: String, type_name: &str, value: Vec<u8>) -> rpc::Status {
    errors::packed_status(code as i32, message, type_name, value)
}

fn bad_request(message: String) -> rpc::Status {
    let detail = shared::BadRequest { message: message.clone() }.encode_to_vec();
    detailed(rpc::Code::InvalidArgument, message, "event_store.client.BadRequest", detail)
}

fn failure_response(correlation: uuid::Uuid, failure: Failure) -> BatchAppendResp {
    BatchAppendResp {
        correlation_id: Some(crate::convert::uuid_to_proto(correlation, false)),
        result: Some(batch_append_resp::Result::Error(failure.status)),
        stream_identifier: failure.stream,
        expected_stream_position: failure.expected.map(expected_position),
    }
}

fn expected_position(expected: ExpectedRevision) -> batch_append_resp::ExpectedStreamPosition {
    match expected {
        ExpectedRevision::Exact(revision) => batch_append_resp::ExpectedStreamPosition::StreamPosition(revision),
        ExpectedRevision::NoStream => batch_append_resp::ExpectedStreamPosition::NoStream(()),
        ExpectedRevision::Any => batch_append_resp::ExpectedStreamPosition::Any(()),
        ExpectedRevision::StreamExists => batch_append_resp::ExpectedStreamPosition::StreamExists(()),
    }
}

#[cfg(test)]
mod tests {
    use eventfold_store::{StorageError, StorageErrorKind};

    use super::*;

    /// Goal: a storage failure gets the same status code from BatchAppend as
    /// from Append, with its cause in the message.
    #[test]
    fn storage_failures_answer_the_code_append_answers() {
        for (kind, cause) in [
            (StorageErrorKind::DiskFull, "No space left on device"),
            (StorageErrorKind::Unavailable, "Too many open files"),
            (StorageErrorKind::Poisoned, "fdatasync failed"),
        ] {
            let error = AppendError::Storage(StorageError::new(kind, cause));
            let status = append_error_status(&error);
            assert_eq!(status.code, errors::append(&error).code() as i32, "{kind}");
            assert!(status.message.contains(cause), "{}", status.message);
        }
    }
}
