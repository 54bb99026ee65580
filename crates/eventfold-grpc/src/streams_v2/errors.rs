//! Store errors → the second protocol's statuses. Each carries its detail
//! message packed in the `google.rpc.Status` of the `grpc-status-details-bin`
//! trailer, whose code and message equal the call's (the Python client
//! checks that), and clients choose their exception by the detail's type.

use eventfold_proto::kurrentdb::protocol::v2::streams::errors::{
    AppendTransactionSizeExceededErrorDetails, StreamAlreadyInAppendSessionErrorDetails,
    StreamRevisionConflictErrorDetails, StreamTombstonedErrorDetails,
};
use eventfold_store::{AppendError, StreamName};
use prost::Message;
use tonic::{Code, Status};

use crate::errors::packed_status;

pub fn append(error: &AppendError) -> Status {
    match error {
        AppendError::WrongExpectedVersion { stream, expected, actual } => {
            let (expected, actual) = (expected.event_number(), actual.event_number());
            detailed(
                Code::FailedPrecondition,
                format!(
                    "Append failed due to a revision conflict on stream '{stream}'. Expected revision: {expected}. Actual revision: {actual}."
                ),
                "StreamRevisionConflictErrorDetails",
                &StreamRevisionConflictErrorDetails {
                    stream: stream.to_string(),
                    expected_revision: expected,
                    actual_revision: actual,
                },
            )
        }
        // A soft-deleted stream takes appends; the store refuses only a
        // tombstoned one.
        AppendError::StreamDeleted { stream } => detailed(
            Code::FailedPrecondition,
            format!("Stream '{stream}' is tombstoned."),
            "StreamTombstonedErrorDetails",
            &StreamTombstonedErrorDetails { stream: stream.to_string() },
        ),
        AppendError::MaximumAppendSizeExceeded { size_bytes, max_bytes } => detailed(
            Code::Aborted,
            format!("The append session of {size_bytes} bytes exceeds the maximum of {max_bytes} bytes."),
            "AppendTransactionSizeExceededErrorDetails",
            &AppendTransactionSizeExceededErrorDetails {
                size: i32::try_from(*size_bytes).unwrap_or(i32::MAX),
                max_size: i32::try_from(*max_bytes).unwrap_or(i32::MAX),
            },
        ),
        other => crate::errors::append(other),
    }
}

/// A session names each stream once.
pub fn stream_already_in_session(stream: &StreamName) -> Status {
    detailed(
        Code::Aborted,
        format!("Stream '{stream}' is already in this append session: send all of its records in one request."),
        "StreamAlreadyInAppendSessionErrorDetails",
        &StreamAlreadyInAppendSessionErrorDetails { stream: stream.to_string() },
    )
}

/// The call's status, with `detail` (the errors package's message `name`)
/// packed in the `google.rpc.Status` of its details.
fn detailed(code: Code, message: String, name: &str, detail: &impl Message) -> Status {
    let type_name = format!("kurrentdb.protocol.v2.streams.errors.{name}");
    let status = packed_status(code as i32, message.clone(), &type_name, detail.encode_to_vec());
    Status::with_details(code, message, status.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use eventfold_proto::google::rpc;
    use eventfold_store::{CurrentRevision, ExpectedRevision};

    use super::*;

    #[test]
    fn a_revision_conflict_carries_its_detail_in_a_status_matching_the_call() {
        let stream = StreamName::new("order-1").expect("a name");
        let status = append(&AppendError::WrongExpectedVersion {
            stream,
            expected: ExpectedRevision::NoStream,
            actual: CurrentRevision::Current(3),
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        let rich = rpc::Status::decode(status.details()).expect("a google.rpc.Status");
        assert_eq!((rich.code, rich.message.as_str()), (Code::FailedPrecondition as i32, status.message()));
        let any = rich.details.expect("a detail");
        assert_eq!(
            any.type_url,
            "type.googleapis.com/kurrentdb.protocol.v2.streams.errors.StreamRevisionConflictErrorDetails"
        );
        let detail = StreamRevisionConflictErrorDetails::decode(any.value.as_slice()).expect("decodes");
        assert_eq!((detail.stream.as_str(), detail.expected_revision, detail.actual_revision), ("order-1", -1, 3));
    }
}
