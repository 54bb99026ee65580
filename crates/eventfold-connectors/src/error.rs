//! What the connector subsystem answers with when a request cannot be done.

/// A setting that cannot be used, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{key}`: {reason}")]
pub struct InvalidSettings {
    pub key: String,
    pub reason: String,
}

impl InvalidSettings {
    pub fn new(key: &str, reason: &str) -> Self {
        Self { key: key.to_owned(), reason: reason.to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error("connector `{id}` does not exist")]
    NotFound { id: String },
    #[error("connector `{id}` already exists")]
    AlreadyExists { id: String },
    #[error("invalid connector id `{id}`: {reason}")]
    InvalidId { id: String, reason: String },
    #[error(transparent)]
    InvalidSettings(#[from] InvalidSettings),
    /// The sink's target refused the settings at create (unreachable,
    /// a table that does not exist, ...).
    #[error("the connector's target: {0}")]
    Target(String),
    #[error("connectors do not run on this node (started with connectors off)")]
    Disabled,
    #[error("storage: {0}")]
    Storage(String),
}
