//! Reading and writing user records through the store itself (the users
//! subsystem decides who may change what before it writes).

use std::sync::Arc;

use bytes::Bytes;
use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, ReadError,
    ReadStreamRequest, StorageError, StorageErrorKind,
};
use futures::StreamExt;

use crate::UsersError;
use crate::record::{USER_CREATED_EVENT_TYPE, USER_EVENT_TYPE, UserRecord, user_stream, users_stream};

/// A user's current record and the revision it was read at.
pub struct StoredUser {
    pub record: UserRecord,
    pub revision: u64,
    pub updated_ticks: i64,
}

fn corrupt(message: String) -> StorageError {
    StorageError::new(StorageErrorKind::Corrupt, message)
}

/// The user's latest record; `None` for a user that does not exist (never
/// created, or deleted).
pub async fn read_user(store: &Arc<dyn EventStore>, login: &str) -> Result<Option<StoredUser>, UsersError> {
    let stream = user_stream(login)?;
    let request = ReadStreamRequest { max_count: 1, ..ReadStreamRequest::backwards(stream) };
    let latest = match store.read_stream(request).await {
        Ok(mut events) => events.next().await,
        Err(error) => Some(Err(error)),
    };
    let event = match latest {
        Some(Ok(event)) => event,
        Some(Err(ReadError::Storage(error))) => return Err(error.into()),
        Some(Err(ReadError::AccessDenied(denied))) => return Err(denied.into()),
        Some(Err(_)) | None => return Ok(None),
    };
    if event.event_type != USER_EVENT_TYPE {
        return Ok(None);
    }
    let record = serde_json::from_slice::<UserRecord>(&event.data)
        .map_err(|error| corrupt(format!("the record of user `{login}` cannot be read: {error}")))?;
    Ok(Some(StoredUser { record, revision: event.revision, updated_ticks: event.created.ticks() }))
}

/// Writes `record` as the user's new state, if the stream is still where
/// it was read (`expected`).
pub async fn write_user(
    store: &Arc<dyn EventStore>,
    record: &UserRecord,
    expected: ExpectedRevision,
) -> Result<(), UsersError> {
    let stream = user_stream(&record.login_name)?;
    let data = serde_json::to_vec(record).map_err(|error| corrupt(format!("a user record: {error}")))?;
    let event = ProposedEvent::json(USER_EVENT_TYPE, data);
    store
        .append(AppendRequest::new(stream, expected, vec![event]))
        .await
        .map_err(|error| from_append(&record.login_name, error))?;
    Ok(())
}

/// The expectation under which a user that does not exist now may be
/// created: a deleted user's stream goes on from its last revision.
pub async fn creation_expectation(store: &Arc<dyn EventStore>, login: &str) -> Result<ExpectedRevision, UsersError> {
    let stream = user_stream(login)?;
    match store.stream_revision(&stream).await {
        Ok(CurrentRevision::NoStream) => Ok(ExpectedRevision::NoStream),
        Ok(CurrentRevision::Current(revision)) => Ok(ExpectedRevision::Exact(revision)),
        Err(ReadError::Storage(error)) => Err(error.into()),
        Err(error) => Err(corrupt(format!("the stream of user `{login}`: {error}")).into()),
    }
}

/// Adds `login` to the list of users.
pub async fn list_user(store: &Arc<dyn EventStore>, login: &str) -> Result<(), UsersError> {
    let event = ProposedEvent::json(USER_CREATED_EVENT_TYPE, Bytes::from(login.to_owned()));
    store
        .append(AppendRequest::new(users_stream(), ExpectedRevision::Any, vec![event]))
        .await
        .map_err(|error| from_append(login, error))?;
    Ok(())
}

/// Every login in the list, once each, in creation order.
pub async fn listed_logins(store: &Arc<dyn EventStore>) -> Result<Vec<String>, UsersError> {
    let mut events = match store.read_stream(ReadStreamRequest::forwards(users_stream())).await {
        Ok(events) => events,
        Err(ReadError::Storage(error)) => return Err(error.into()),
        Err(_) => return Ok(Vec::new()),
    };
    let mut logins = Vec::new();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(ReadError::Storage(error)) => return Err(error.into()),
            Err(_) => break,
        };
        if event.event_type == USER_CREATED_EVENT_TYPE
            && let Ok(login) = std::str::from_utf8(&event.data)
            && !logins.iter().any(|listed| listed == login)
        {
            logins.push(login.to_owned());
        }
    }
    Ok(logins)
}

/// Deletes the user's stream (soft: the login may be created again).
pub async fn delete_user(store: &Arc<dyn EventStore>, login: &str, revision: u64) -> Result<(), UsersError> {
    let stream = user_stream(login)?;
    store
        .delete_stream(stream, ExpectedRevision::Exact(revision), DeleteMode::Soft)
        .await
        .map_err(|error| from_append(login, error))?;
    Ok(())
}

fn from_append(login: &str, error: AppendError) -> UsersError {
    match error {
        AppendError::WrongExpectedVersion { .. } => UsersError::Conflict(login.to_owned()),
        AppendError::Storage(error) => error.into(),
        AppendError::AccessDenied(denied) => denied.into(),
        other => corrupt(format!("writing user `{login}`: {other}")).into(),
    }
}
