//! Store errors → gRPC statuses, once, at the edge. Clients decide by the
//! status code, the message text (Python) and the `exception` trailer (Rust,
//! Node, .NET), so all three follow what EventStoreDB sends.

use eventfold_store::{
    AccessDenied, AppendError, CurrentRevision, ExpectedRevision, ReadError, ScavengeError, StorageError,
    StorageErrorKind, StreamName, SubscriptionError,
};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// A `google.rpc.Status` with `detail`, a message of the protobuf type
/// `type_name`, packed in an `Any`, as clients unpack it.
pub fn packed_status(
    code: i32,
    message: String,
    type_name: &str,
    detail: Vec<u8>,
) -> eventfold_proto::google::rpc::Status {
    eventfold_proto::google::rpc::Status {
        code,
        message,
        details: Some(prost_types::Any { type_url: format!("type.googleapis.com/{type_name}"), value: detail }),
    }
}

/// A status with trailers. A value a header cannot carry (a control
/// character) is left out rather than failing the answer.
pub fn with_trailers(code: Code, message: String, trailers: &[(&'static str, String)]) -> Status {
    let mut metadata = MetadataMap::new();
    for (key, value) in trailers {
        if let Ok(value) = MetadataValue::try_from(value.as_str()) {
            metadata.insert(*key, value);
        }
    }
    Status::with_metadata(code, message, metadata)
}

pub fn stream_deleted(stream: &StreamName) -> Status {
    with_trailers(
        Code::FailedPrecondition,
        format!("Event stream '{stream}' is deleted."),
        &[("exception", "stream-deleted".into()), ("stream-name", stream.to_string())],
    )
}

pub fn wrong_expected_version(stream: &StreamName, expected: ExpectedRevision, actual: CurrentRevision) -> Status {
    let expected = expected.event_number();
    let actual = actual.event_number();
    with_trailers(
        Code::FailedPrecondition,
        format!(
            "WrongExpectedVersion: Append failed due to WrongExpectedVersion. Stream: {stream}, Expected version: {expected}, Actual version: {actual}"
        ),
        &[
            ("exception", "wrong-expected-version".into()),
            ("stream-name", stream.to_string()),
            ("expected-version", expected.to_string()),
            ("actual-version", actual.to_string()),
        ],
    )
}

pub fn maximum_append_size_exceeded(max_bytes: usize) -> Status {
    with_trailers(
        Code::InvalidArgument,
        format!("Maximum Append Size of {max_bytes} Exceeded."),
        &[("exception", "maximum-append-size-exceeded".into()), ("maximum-append-size", max_bytes.to_string())],
    )
}

/// EventStoreDB's answer to a request the caller may not make: the clients
/// raise their `AccessDenied` error on the code and the `exception` trailer.
pub fn access_denied(denied: &AccessDenied) -> Status {
    with_trailers(
        Code::PermissionDenied,
        access_denied_message(denied),
        &[("exception", "access-denied".into()), ("stream-name", denied.resource.clone())],
    )
}

/// Starts as EventStoreDB's "Access denied" and says what was refused.
pub fn access_denied_message(denied: &AccessDenied) -> String {
    format!("Access denied: a client may not {} '{}'.", denied.operation, denied.resource)
}

/// The code of a storage failure, the same for every call that meets it
/// (Append and BatchAppend alike): a full disk is `RESOURCE_EXHAUSTED`; a
/// store that will take the call again later (a missing resource, a
/// shutdown) is `UNAVAILABLE`, which clients may retry.
/// A call that only the leader of a shared store serves, made to another
/// node: KurrentDB's answer, NOT_FOUND "Leader info available" with the
/// leader's address in trailers, which the clients follow (they reconnect
/// to the leader and the application retries).
pub fn not_leader(leader: &eventfold_store::NodeEndpoint) -> Status {
    with_trailers(
        Code::NotFound,
        "Leader info available".into(),
        &[
            ("exception", "not-leader".into()),
            ("leader-endpoint-host", leader.host.clone()),
            ("leader-endpoint-port", leader.port.to_string()),
        ],
    )
}

pub fn storage_code(kind: StorageErrorKind) -> Code {
    match kind {
        StorageErrorKind::DiskFull => Code::ResourceExhausted,
        StorageErrorKind::Unavailable | StorageErrorKind::Closed => Code::Unavailable,
        _ => Code::Internal,
    }
}

pub fn storage(error: &StorageError) -> Status {
    Status::new(storage_code(error.kind), error.to_string())
}

pub fn append(error: &AppendError) -> Status {
    match error {
        AppendError::WrongExpectedVersion { stream, expected, actual } => {
            wrong_expected_version(stream, *expected, *actual)
        }
        AppendError::StreamDeleted { stream } => stream_deleted(stream),
        AppendError::MaximumAppendSizeExceeded { max_bytes, .. } => maximum_append_size_exceeded(*max_bytes),
        AppendError::InvalidEvent { reason } => Status::invalid_argument(reason.clone()),
        AppendError::AccessDenied(denied) => access_denied(denied),
        AppendError::Storage(storage_error) => storage(storage_error),
        other => Status::internal(other.to_string()),
    }
}

pub fn read(error: &ReadError) -> Status {
    match error {
        ReadError::StreamDeleted { stream } => stream_deleted(stream),
        ReadError::StreamNotFound { stream } => with_trailers(
            Code::NotFound,
            format!("Event stream '{stream}' is not found."),
            &[("exception", "stream-not-found".into()), ("stream-name", stream.to_string())],
        ),
        ReadError::InvalidPosition { position } => {
            Status::invalid_argument(format!("position {position} is not the position of an event"))
        }
        ReadError::AccessDenied(denied) => access_denied(denied),
        ReadError::Storage(storage_error) => storage(storage_error),
        other => Status::internal(other.to_string()),
    }
}

pub fn subscription(error: &SubscriptionError) -> Status {
    match error {
        SubscriptionError::StreamDeleted { stream } => stream_deleted(stream),
        SubscriptionError::InvalidPosition { position } => {
            Status::invalid_argument(format!("position {position} is not the position of an event"))
        }
        SubscriptionError::AccessDenied(denied) => access_denied(denied),
        SubscriptionError::Storage(storage_error) => storage(storage_error),
        other => Status::internal(other.to_string()),
    }
}

/// EventStoreDB's answer to stopping a scavenge that is not running.
pub fn scavenge_not_found(scavenge_id: &str) -> Status {
    with_trailers(
        Code::NotFound,
        "Scavenge id was invalid.".to_owned(),
        &[("exception", "scavenge-not-found".into()), ("scavenge-id", scavenge_id.to_owned())],
    )
}

/// `InProgress` is not an error on the wire (it is an answer of its own);
/// it only reaches here by mistake, and says so as `FAILED_PRECONDITION`.
pub fn scavenge(error: &ScavengeError) -> Status {
    match error {
        ScavengeError::NotFound { id } => scavenge_not_found(id),
        ScavengeError::Unsupported => Status::unimplemented("this storage backend does not scavenge"),
        ScavengeError::InProgress(running) => {
            Status::failed_precondition(format!("scavenge {} is already in progress", running.id))
        }
        ScavengeError::Storage(storage_error) => storage(storage_error),
        ScavengeError::AccessDenied(denied) => access_denied(denied),
        other => Status::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_is_permission_denied_with_the_access_denied_trailer() {
        let denied = AccessDenied {
            resource: "$persistentsubscription-config".into(),
            operation: eventfold_store::Operation::Tombstone,
        };
        for status in [
            append(&AppendError::AccessDenied(denied.clone())),
            read(&ReadError::AccessDenied(denied.clone())),
            subscription(&SubscriptionError::AccessDenied(denied)),
        ] {
            assert_eq!(status.code(), Code::PermissionDenied);
            let trailer = |name: &str| status.metadata().get(name).and_then(|value| value.to_str().ok());
            assert_eq!(trailer("exception"), Some("access-denied"));
            assert_eq!(trailer("stream-name"), Some("$persistentsubscription-config"));
        }
    }

    #[test]
    fn a_follower_answers_with_the_leaders_address_as_kurrentdb_followers_do() {
        let status = not_leader(&eventfold_store::NodeEndpoint { host: "10.0.0.7".into(), port: 2113 });
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "Leader info available");
        let trailer = |key: &str| status.metadata().get(key).and_then(|value| value.to_str().ok()).map(str::to_owned);
        assert_eq!(trailer("exception").as_deref(), Some("not-leader"));
        assert_eq!(trailer("leader-endpoint-host").as_deref(), Some("10.0.0.7"));
        assert_eq!(trailer("leader-endpoint-port").as_deref(), Some("2113"));
    }

    #[test]
    fn scavenge_errors_map_to_eventstoredb_statuses() {
        let not_found = scavenge(&ScavengeError::NotFound { id: "abc".into() });
        assert_eq!((not_found.code(), not_found.message()), (Code::NotFound, "Scavenge id was invalid."));
        let trailer =
            |name: &str| not_found.metadata().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        assert_eq!(trailer("exception").as_deref(), Some("scavenge-not-found"));
        assert_eq!(trailer("scavenge-id").as_deref(), Some("abc"));
        assert_eq!(scavenge(&ScavengeError::Unsupported).code(), Code::Unimplemented);
        let closed = ScavengeError::Storage(StorageError::new(StorageErrorKind::Closed, "closed"));
        assert_eq!(scavenge(&closed).code(), Code::Unavailable, "storage errors share the one mapping");
    }

    #[test]
    fn transient_storage_errors_map_to_retryable_codes_with_their_cause() {
        let full = AppendError::Storage(StorageError::new(StorageErrorKind::DiskFull, "preallocate: No space left"));
        let status = append(&full);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("No space left"), "{}", status.message());
        let short = StorageError::new(StorageErrorKind::Unavailable, "create: Too many open files");
        let status = append(&AppendError::Storage(short));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("Too many open files"), "{}", status.message());
    }
}
