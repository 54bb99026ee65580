//! A group's checkpoint: the cursor up to which every event was handled
//! (acked, skipped or parked), stored as the last event of
//! `$persistentsubscription-<stream>::<group>-checkpoint`. The stream keeps
//! only its last event (`$maxCount: 1`), so reading it costs one event.

use eventfold_store::{DeleteMode, EventStore, ExpectedRevision, StorageError};
use uuid::Uuid;

use crate::definition::Cursor;
use crate::key::GroupKey;
use crate::records::CheckpointRecord;
use crate::store_errors;
use crate::store_io::{append_any, json_event, last_event, set_metadata};

const CHECKPOINT_EVENT_TYPE: &str = "$SubscriptionCheckpoint";

/// The group's last checkpoint, if this incarnation of it wrote one.
pub(crate) async fn load(
    store: &dyn EventStore,
    key: &GroupKey,
    incarnation: Uuid,
) -> Result<Option<Cursor>, StorageError> {
    let Some(event) = last_event(store, &key.checkpoint_stream()).await.map_err(store_errors::from_read)? else {
        return Ok(None);
    };
    match serde_json::from_slice::<CheckpointRecord>(&event.data) {
        Ok(record) if record.incarnation == incarnation.to_string() => Ok(Some(record.cursor)),
        // Another group of the same name wrote it before being deleted.
        Ok(_) => Ok(None),
        Err(error) => Err(StorageError::new(
            eventfold_store::StorageErrorKind::Corrupt,
            format!("checkpoint of {key} is unreadable: {error}"),
        )),
    }
}

pub(crate) async fn write(
    store: &dyn EventStore,
    key: &GroupKey,
    incarnation: Uuid,
    cursor: Cursor,
) -> Result<(), StorageError> {
    let record = CheckpointRecord { incarnation: incarnation.to_string(), cursor };
    let event = json_event(CHECKPOINT_EVENT_TYPE, &record).map_err(store_errors::from_append)?;
    append_any(store, &key.checkpoint_stream(), vec![event]).await.map_err(store_errors::from_append)?;
    Ok(())
}

/// Run when a group is created: only the last checkpoint matters.
pub(crate) async fn prepare(store: &dyn EventStore, key: &GroupKey) -> Result<(), StorageError> {
    set_metadata(store, &key.checkpoint_stream(), serde_json::json!({ "$maxCount": 1 }))
        .await
        .map_err(store_errors::from_append)
}

/// Run when a group is deleted. A stream that never existed is fine.
pub(crate) async fn delete(store: &dyn EventStore, key: &GroupKey) {
    if let Err(error) = store.delete_stream(key.checkpoint_stream(), ExpectedRevision::Any, DeleteMode::Soft).await {
        tracing::debug!(%key, %error, "deleting the checkpoint stream");
    }
}
