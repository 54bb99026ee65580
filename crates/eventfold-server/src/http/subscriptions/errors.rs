//! The persistent subscriptions' refusals as HTTP statuses, once.

use eventfold_persistent::{ConnectError, CreateError, GroupError, UpdateError};

use crate::http::atom::AtomError;

pub fn group(error: GroupError) -> AtomError {
    match error {
        error @ GroupError::NotFound(_) => AtomError::NotFound(error.to_string()),
        GroupError::Storage(storage) => storage.into(),
        other => AtomError::Unavailable(other.to_string()),
    }
}

pub fn create(error: CreateError) -> AtomError {
    match error {
        error @ CreateError::AlreadyExists(_) => AtomError::Conflict(error.to_string()),
        CreateError::InvalidSettings(invalid) => AtomError::BadRequest(invalid.to_string()),
        CreateError::Storage(storage) => storage.into(),
        other => AtomError::Unavailable(other.to_string()),
    }
}

pub fn update(error: UpdateError) -> AtomError {
    match error {
        error @ UpdateError::NotFound(_) => AtomError::NotFound(error.to_string()),
        UpdateError::InvalidSettings(invalid) => AtomError::BadRequest(invalid.to_string()),
        UpdateError::Storage(storage) => storage.into(),
        other => AtomError::Unavailable(other.to_string()),
    }
}

pub fn connect(error: ConnectError) -> AtomError {
    match error {
        error @ ConnectError::NotFound(_) => AtomError::NotFound(error.to_string()),
        error @ ConnectError::MaximumSubscribersReached(_) => AtomError::BadRequest(error.to_string()),
        other => AtomError::Unavailable(other.to_string()),
    }
}
