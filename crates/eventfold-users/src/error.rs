use eventfold_store::{AccessDenied, StorageError};

/// Why a user management call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsersError {
    #[error("invalid login `{login}`: {reason}")]
    InvalidLogin { login: String, reason: String },
    #[error("a password may not be empty")]
    EmptyPassword,
    #[error("user `{0}` not found")]
    NotFound(String),
    #[error("user `{0}` already exists")]
    AlreadyExists(String),
    /// A password change named the wrong current password.
    #[error("the current password of user `{0}` is wrong")]
    WrongCurrentPassword(String),
    /// The user's record changed between reading and writing it.
    #[error("user `{0}` changed meanwhile; try again")]
    Conflict(String),
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why credentials were not accepted. The faces answer every kind the same
/// way (unauthenticated), so that a caller cannot tell which logins exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticationError {
    #[error("no such user")]
    UnknownUser,
    #[error("wrong password")]
    WrongPassword,
    #[error("the user is disabled")]
    Disabled,
    #[error(transparent)]
    Storage(#[from] StorageError),
}
