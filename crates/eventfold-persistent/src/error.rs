//! What each operation of [`crate::PersistentSubscriptions`] can answer
//! besides success. The protocol layer maps each variant to the status and
//! `exception` trailer the clients expect.

use eventfold_store::{NodeEndpoint, StorageError};

use crate::key::GroupKey;
use crate::settings::InvalidSettings;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    #[error("subscription group {} on stream {} exists", .0.group(), .0.source().label())]
    AlreadyExists(GroupKey),
    #[error(transparent)]
    InvalidSettings(#[from] InvalidSettings),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("persistent subscriptions are shut down")]
    ShutDown,
    /// The group definitions could not be read when the subsystem started
    /// (or restarted): why, as logged then.
    #[error("persistent subscriptions are unavailable: {0}")]
    Unavailable(String),
    /// Another node of a shared store leads and runs the groups: the
    /// client is told where (KurrentDB's `not-leader`).
    #[error("persistent subscriptions run on the leader, {0}")]
    NotLeader(NodeEndpoint),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    #[error("subscription group {} on stream {} does not exist", .0.group(), .0.source().label())]
    NotFound(GroupKey),
    #[error(transparent)]
    InvalidSettings(#[from] InvalidSettings),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("persistent subscriptions are shut down")]
    ShutDown,
    /// The group definitions could not be read when the subsystem started
    /// (or restarted): why, as logged then.
    #[error("persistent subscriptions are unavailable: {0}")]
    Unavailable(String),
    /// Another node of a shared store leads and runs the groups: the
    /// client is told where (KurrentDB's `not-leader`).
    #[error("persistent subscriptions run on the leader, {0}")]
    NotLeader(NodeEndpoint),
}

/// For operations on one existing group: delete, info, replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    #[error("subscription group {} on stream {} does not exist", .0.group(), .0.source().label())]
    NotFound(GroupKey),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("persistent subscriptions are shut down")]
    ShutDown,
    /// The group definitions could not be read when the subsystem started
    /// (or restarted): why, as logged then.
    #[error("persistent subscriptions are unavailable: {0}")]
    Unavailable(String),
    /// Another node of a shared store leads and runs the groups: the
    /// client is told where (KurrentDB's `not-leader`).
    #[error("persistent subscriptions run on the leader, {0}")]
    NotLeader(NodeEndpoint),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    #[error("subscription group {} on stream {} does not exist", .0.group(), .0.source().label())]
    NotFound(GroupKey),
    /// The message starts as EventStoreDB's does: the Python clients match it.
    #[error("Maximum subscriptions reached for subscription group {} on stream {}", .0.group(), .0.source().label())]
    MaximumSubscribersReached(GroupKey),
    #[error("persistent subscriptions are shut down")]
    ShutDown,
    /// The group definitions could not be read when the subsystem started
    /// (or restarted): why, as logged then.
    #[error("persistent subscriptions are unavailable: {0}")]
    Unavailable(String),
    /// Another node of a shared store leads and runs the groups: the
    /// client is told where (KurrentDB's `not-leader`).
    #[error("persistent subscriptions run on the leader, {0}")]
    NotLeader(NodeEndpoint),
}

/// The consumer's group stopped: acks and nacks have nowhere to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the persistent subscription group stopped")]
pub struct GroupStopped;
