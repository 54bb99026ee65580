//! Persistent-subscription errors → gRPC statuses, as EventStoreDB sends
//! them: the status code and message text (the Python clients match on
//! both) and the `exception`, `stream-name` and `group-name` trailers (the
//! Rust, Node and .NET clients read those).

use eventfold_persistent::{ConnectError, CreateError, DropReason, GroupError, GroupKey, InvalidSettings, UpdateError};
use tonic::{Code, Status};

pub use crate::errors::storage;
use crate::errors::{not_leader, with_trailers};

fn with_group(code: Code, message: String, exception: &str, key: &GroupKey) -> Status {
    let trailers = [
        ("exception", exception.to_owned()),
        ("stream-name", key.source().label().to_owned()),
        ("group-name", key.group().to_owned()),
    ];
    with_trailers(code, message, &trailers)
}

pub fn exists(key: &GroupKey) -> Status {
    let message = format!("Subscription group {} on stream {} exists.", key.group(), key.source().label());
    with_group(Code::AlreadyExists, message, "persistent-subscription-exists", key)
}

pub fn does_not_exist(key: &GroupKey) -> Status {
    let message = format!("Subscription group {} on stream {} does not exist.", key.group(), key.source().label());
    with_group(Code::NotFound, message, "persistent-subscription-does-not-exist", key)
}

fn shut_down() -> Status {
    Status::unavailable("persistent subscriptions are shut down")
}

/// The subsystem could not read its group definitions at start; the rest of
/// the server works.
fn unavailable(reason: &str) -> Status {
    Status::unavailable(format!("persistent subscriptions are unavailable: {reason}"))
}

/// Settings a group cannot run with (a read batch not smaller than the
/// history buffer, an unknown consumer strategy): KurrentDB answers these as
/// a failed operation, INTERNAL, which the clients raise as InternalError.
pub fn invalid_settings(invalid: &InvalidSettings) -> Status {
    Status::internal(invalid.reason.clone())
}

pub fn create(error: &CreateError) -> Status {
    match error {
        CreateError::AlreadyExists(key) => exists(key),
        CreateError::InvalidSettings(invalid) => invalid_settings(invalid),
        CreateError::Storage(error) => storage(error),
        CreateError::ShutDown => shut_down(),
        CreateError::Unavailable(reason) => unavailable(reason),
        CreateError::NotLeader(leader) => not_leader(leader),
        other => Status::internal(other.to_string()),
    }
}

pub fn update(error: &UpdateError) -> Status {
    match error {
        UpdateError::NotFound(key) => does_not_exist(key),
        UpdateError::InvalidSettings(invalid) => invalid_settings(invalid),
        UpdateError::Storage(error) => storage(error),
        UpdateError::ShutDown => shut_down(),
        UpdateError::Unavailable(reason) => unavailable(reason),
        UpdateError::NotLeader(leader) => not_leader(leader),
        other => Status::internal(other.to_string()),
    }
}

pub fn group(error: &GroupError) -> Status {
    match error {
        GroupError::NotFound(key) => does_not_exist(key),
        GroupError::Storage(error) => storage(error),
        GroupError::ShutDown => shut_down(),
        GroupError::Unavailable(reason) => unavailable(reason),
        GroupError::NotLeader(leader) => not_leader(leader),
        other => Status::internal(other.to_string()),
    }
}

pub fn connect(error: &ConnectError) -> Status {
    match error {
        ConnectError::NotFound(key) => does_not_exist(key),
        ConnectError::MaximumSubscribersReached(key) => {
            let message = format!(
                "Maximum subscriptions reached for subscription group {} on stream {}.",
                key.group(),
                key.source().label()
            );
            with_group(Code::FailedPrecondition, message, "maximum-subscribers-reached", key)
        }
        ConnectError::ShutDown => shut_down(),
        ConnectError::Unavailable(reason) => unavailable(reason),
        ConnectError::NotLeader(leader) => not_leader(leader),
        other => Status::internal(other.to_string()),
    }
}

/// How a consumer's call ends when the group lets it go.
pub fn dropped(key: &GroupKey, reason: &DropReason) -> Status {
    let (group, stream) = (key.group(), key.source().label());
    match reason {
        DropReason::Failed(why) => {
            let message = format!("Subscription group {group} on stream {stream} failed: '{why}'");
            with_group(Code::Internal, message, "persistent-subscription-failed", key)
        }
        DropReason::ShuttingDown => Status::unavailable("Server is shutting down."),
        DropReason::NotLeader(Some(leader)) => not_leader(leader),
        DropReason::NotLeader(None) => Status::unavailable("no node leads the shared store now"),
        DropReason::Deleted | DropReason::Updated | DropReason::Restarted => {
            let message = format!("Subscription group {group} on stream {stream} was dropped.");
            with_group(Code::Cancelled, message, "persistent-subscription-dropped", key)
        }
    }
}

#[cfg(test)]
mod tests {
    use eventfold_persistent::Source;

    use super::*;

    #[test]
    fn statuses_carry_the_codes_messages_and_trailers_clients_read() {
        let key = GroupKey::new(Source::All, "g").expect("valid key");
        let exists = exists(&key);
        assert_eq!(exists.code(), Code::AlreadyExists);
        assert_eq!(
            exists.metadata().get("exception").and_then(|value| value.to_str().ok()),
            Some("persistent-subscription-exists")
        );
        let missing = does_not_exist(&key);
        assert_eq!(missing.code(), Code::NotFound);
        assert_eq!(missing.metadata().get("stream-name").and_then(|value| value.to_str().ok()), Some("$all"));
        let full = connect(&ConnectError::MaximumSubscribersReached(key.clone()));
        assert_eq!(full.code(), Code::FailedPrecondition);
        assert!(full.message().starts_with("Maximum subscriptions reached"));
    }

    #[test]
    fn settings_a_group_cannot_run_with_are_internal_errors_as_in_kurrentdb() {
        let batch =
            InvalidSettings::new("the read batch size (500) must be smaller than the history buffer size (500)");
        for status in
            [create(&CreateError::InvalidSettings(batch.clone())), update(&UpdateError::InvalidSettings(batch))]
        {
            assert_eq!(status.code(), Code::Internal);
            assert!(status.message().contains("read batch size"));
        }
    }
}
