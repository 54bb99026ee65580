//! Who may do what to which stream: the one decision every client request
//! passes through ([`crate::ClientAccess`] asks it before each call). Today
//! it knows no users; it keeps clients away from the streams that hold
//! eventfold's own state, which the server needs in order to start.
//!
//! Subsystems that own such streams (persistent subscriptions) write them
//! through the store itself, not through this check.

use std::fmt;

use crate::StreamName;
use crate::system_names::{ALL_STREAM, METADATA_STREAM_PREFIX, PERSISTENT_SUBSCRIPTION_STREAM_PREFIX};

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reads or subscribes.
    Read,
    /// Appends events to a stream.
    Append,
    /// Writes a stream's metadata (an append to `$$<stream>`): it can
    /// truncate the stream (`$tb`, `$maxCount`, `$maxAge`).
    WriteMetadata,
    /// Soft-deletes a stream (truncates it to its end).
    Delete,
    /// Deletes a stream for good.
    Tombstone,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Append => "append",
            Operation::WriteMetadata => "write the metadata of",
            Operation::Delete => "delete",
            Operation::Tombstone => "tombstone",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What a request touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    Stream(&'a StreamName),
    /// The whole log, `$all`.
    All,
}

impl Resource<'_> {
    pub fn name(&self) -> &str {
        match self {
            Resource::Stream(stream) => stream.as_str(),
            Resource::All => ALL_STREAM,
        }
    }
}

/// A request the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access denied: a client may not {operation} `{resource}`")]
pub struct AccessDenied {
    /// The stream named in the request (`$all` for the whole log). For a
    /// metadata write it is the metadata stream, `$$<stream>`.
    pub resource: String,
    pub operation: Operation,
}

/// The rules. Reads are open; every write to eventfold's own state
/// (persistent subscription streams and their metadata streams) is refused,
/// because a client that deletes or truncates them destroys state the
/// server cannot rebuild from anything else.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessPolicy;

impl AccessPolicy {
    pub fn check(&self, resource: Resource<'_>, operation: Operation) -> Result<(), AccessDenied> {
        let denied = match resource {
            Resource::All => false,
            Resource::Stream(stream) => operation != Operation::Read && holds_server_state(stream),
        };
        if denied {
            return Err(AccessDenied { resource: resource.name().to_owned(), operation });
        }
        Ok(())
    }

    /// An append to `$$<stream>` writes `<stream>`'s metadata.
    pub fn append_operation(stream: &StreamName) -> Operation {
        if stream.as_str().starts_with(METADATA_STREAM_PREFIX) { Operation::WriteMetadata } else { Operation::Append }
    }
}

/// Whether `stream` is one of eventfold's own state streams, or the
/// metadata stream of one (whose `$tb` or `$maxCount` would truncate it).
pub fn holds_server_state(stream: &StreamName) -> bool {
    let name = stream.as_str();
    let subject = name.strip_prefix(METADATA_STREAM_PREFIX).unwrap_or(name);
    subject.starts_with(PERSISTENT_SUBSCRIPTION_STREAM_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str) -> StreamName {
        StreamName::new(name).expect("valid stream name")
    }

    const WRITES: [Operation; 4] =
        [Operation::Append, Operation::WriteMetadata, Operation::Delete, Operation::Tombstone];

    #[test]
    fn server_state_streams_and_their_metadata_are_read_only_for_clients() {
        let policy = AccessPolicy;
        for name in [
            "$persistentsubscription-config",
            "$$$persistentsubscription-config",
            "$persistentsubscription-orders::billing-checkpoint",
            "$$$persistentsubscription-orders::billing-parked",
            "$persistentsubscription-$all::g-parked",
        ] {
            let stream = stream(name);
            assert_eq!(policy.check(Resource::Stream(&stream), Operation::Read), Ok(()), "{name} stays readable");
            for operation in WRITES {
                let denied = policy.check(Resource::Stream(&stream), operation).expect_err(name);
                assert_eq!((denied.resource.as_str(), denied.operation), (name, operation));
            }
        }
    }

    #[test]
    fn other_streams_system_ones_included_are_open() {
        let policy = AccessPolicy;
        for name in ["order-1", "$$order-1", "$ce-order", "$persistentsubscriptions", "persistentsubscription-x"] {
            let stream = stream(name);
            for operation in WRITES.into_iter().chain([Operation::Read]) {
                assert_eq!(policy.check(Resource::Stream(&stream), operation), Ok(()), "{operation} {name}");
            }
        }
        assert_eq!(policy.check(Resource::All, Operation::Read), Ok(()));
    }

    #[test]
    fn an_append_to_a_metadata_stream_writes_metadata() {
        assert_eq!(AccessPolicy::append_operation(&stream("$$order-1")), Operation::WriteMetadata);
        assert_eq!(AccessPolicy::append_operation(&stream("order-1")), Operation::Append);
        assert_eq!(AccessPolicy::append_operation(&stream("$ce-order")), Operation::Append);
    }
}
