use crate::runtime::QueryError;

/// Why a projection call was refused. Faces map these to their protocol's
/// answers (KurrentDB's texts for gRPC).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    #[error("Projection '{0}' not found")]
    NotFound(String),
    #[error("Projection '{0}' already exists")]
    AlreadyExists(String),
    /// The call is understood but cannot be done in the projection's state.
    #[error("{0}")]
    OperationFailed(String),
    /// The call's arguments are wrong (KurrentDB throws in its handler).
    #[error("{0}")]
    InvalidArgument(String),
    #[error("invalid query: {0}")]
    InvalidQuery(QueryError),
    #[error("projections are not running on this node")]
    NotRunning,
    /// Another node of a shared store leads and runs the projections: the
    /// client is told where (KurrentDB's `not-leader`).
    #[error("projections run on the leader, {0}")]
    NotLeader(eventfold_store::NodeEndpoint),
    #[error("projections cannot reach their streams: {0}")]
    Storage(String),
}
