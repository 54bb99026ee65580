use crate::error::SqlError;

/// Why a continuous-query request failed; the faces map each variant once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueriesError {
    /// The node does not run continuous queries: turned off, or a follower
    /// of a shared store (the leader runs them).
    #[error("continuous queries do not run on this node")]
    Disabled,
    #[error("a query name is 1 to 128 letters, digits, `-`, `_` or `.`, not `{name}`")]
    InvalidName { name: String },
    #[error("continuous query `{name}` already exists")]
    AlreadyExists { name: String },
    #[error("continuous query `{name}` does not exist")]
    NotFound { name: String },
    /// The SQL does not parse or plan, or cannot be maintained continuously.
    #[error(transparent)]
    Invalid(SqlError),
    /// Reading or writing the subsystem's streams failed.
    #[error("storage: {message}")]
    Storage { message: String },
}

impl QueriesError {
    pub(crate) fn storage(error: impl std::fmt::Display) -> Self {
        QueriesError::Storage { message: error.to_string() }
    }
}
