//! Group definitions, stored as events in `$persistentsubscription-config`:
//! one event per change (put or removed), and every [`SNAPSHOT_EVERY`]
//! changes a snapshot of all groups, after which the stream's `$tb` hides
//! what came before. A load therefore reads one snapshot and at most
//! [`SNAPSHOT_EVERY`] changes, however long the server has run.

use std::collections::BTreeMap;
use std::sync::Arc;

use eventfold_store::{
    CurrentRevision, EventStore, EventStream, ReadError, ReadStreamRequest, StorageError, StreamName,
};
use futures::StreamExt;

use crate::definition::GroupDefinition;
use crate::key::GroupKey;
use crate::records::{DefinitionRecord, KeyRecord, SnapshotRecord};
use crate::store_errors;
use crate::store_io::{append_any, json_event, set_metadata};

pub const CONFIG_STREAM: &str = "$persistentsubscription-config";
const PUT_EVENT_TYPE: &str = "$PersistentSubscriptionPut";
const REMOVED_EVENT_TYPE: &str = "$PersistentSubscriptionRemoved";
const SNAPSHOT_EVENT_TYPE: &str = "$PersistentSubscriptionsSnapshot";
/// Changes between snapshots: bounds what a load reads.
const SNAPSHOT_EVERY: u32 = 64;

pub(crate) struct ConfigStore {
    store: Arc<dyn EventStore>,
    stream: StreamName,
    changes_since_snapshot: u32,
}

pub(crate) type Definitions = BTreeMap<GroupKey, GroupDefinition>;

impl ConfigStore {
    /// Reads every group definition.
    pub async fn load(store: Arc<dyn EventStore>) -> Result<(ConfigStore, Definitions), StorageError> {
        let stream = config_stream();
        let mut groups = Definitions::new();
        let mut changes_since_snapshot = 0;
        let mut events = match read_visible(store.as_ref(), &stream).await? {
            Some(events) => events,
            None => return Ok((ConfigStore { store, stream, changes_since_snapshot }, groups)),
        };
        while let Some(event) = events.next().await {
            let event = event.map_err(store_errors::from_read)?;
            // A damaged record loses one change, not every group: log it and
            // go on (the log's checksums make this a bug, not bit rot).
            let applied = match event.event_type.as_str() {
                SNAPSHOT_EVENT_TYPE => serde_json::from_slice::<SnapshotRecord>(&event.data)
                    .map_err(|error| error.to_string())
                    .map(|snapshot| {
                        groups.clear();
                        changes_since_snapshot = 0;
                        for record in &snapshot.groups {
                            insert(&mut groups, record);
                        }
                    }),
                PUT_EVENT_TYPE => serde_json::from_slice::<DefinitionRecord>(&event.data)
                    .map_err(|error| error.to_string())
                    .map(|record| {
                        changes_since_snapshot += 1;
                        insert(&mut groups, &record);
                    }),
                REMOVED_EVENT_TYPE => serde_json::from_slice::<KeyRecord>(&event.data)
                    .map_err(|error| error.to_string())
                    .and_then(|record| GroupKey::try_from(&record).map_err(|error| error.to_string()))
                    .map(|key| {
                        changes_since_snapshot += 1;
                        groups.remove(&key);
                    }),
                _ => Ok(()),
            };
            if let Err(error) = applied {
                tracing::error!(revision = event.revision, %error, "skipping an unreadable persistent subscription config event");
            }
        }
        Ok((ConfigStore { store, stream, changes_since_snapshot }, groups))
    }

    pub async fn put(&mut self, definition: &GroupDefinition) -> Result<(), StorageError> {
        let event =
            json_event(PUT_EVENT_TYPE, &DefinitionRecord::from(definition)).map_err(store_errors::from_append)?;
        append_any(self.store.as_ref(), &self.stream, vec![event]).await.map_err(store_errors::from_append)?;
        self.changes_since_snapshot += 1;
        Ok(())
    }

    pub async fn remove(&mut self, key: &GroupKey) -> Result<(), StorageError> {
        let event = json_event(REMOVED_EVENT_TYPE, &KeyRecord::from(key)).map_err(store_errors::from_append)?;
        append_any(self.store.as_ref(), &self.stream, vec![event]).await.map_err(store_errors::from_append)?;
        self.changes_since_snapshot += 1;
        Ok(())
    }

    /// After enough changes, writes all of `groups` as one snapshot and
    /// hides the events before it. Either write failing costs only a longer
    /// load next time, so failures are logged, not returned.
    pub async fn snapshot_if_due<'a>(&mut self, groups: impl Iterator<Item = &'a GroupDefinition>) {
        if self.changes_since_snapshot < SNAPSHOT_EVERY {
            return;
        }
        let snapshot = SnapshotRecord { groups: groups.map(DefinitionRecord::from).collect() };
        let written = match json_event(SNAPSHOT_EVENT_TYPE, &snapshot) {
            Ok(event) => append_any(self.store.as_ref(), &self.stream, vec![event]).await,
            Err(error) => Err(error),
        };
        let revision = match written {
            Ok(outcome) => outcome.current_revision.next().saturating_sub(1),
            Err(error) => {
                tracing::warn!(%error, "cannot write the persistent subscription config snapshot");
                return;
            }
        };
        self.changes_since_snapshot = 0;
        let hide_older = serde_json::json!({ "$tb": revision });
        if let Err(error) = set_metadata(self.store.as_ref(), &self.stream, hide_older).await {
            tracing::warn!(%error, "cannot truncate the persistent subscription config stream");
        }
    }
}

/// The config stream's events, `None` when it was never written. A stream
/// with events of which none is visible was deleted or truncated by hand
/// (this crate always keeps its last snapshot visible): its metadata is
/// reset so that every event still in the log is read again, rather than
/// every group being dropped.
async fn read_visible(store: &dyn EventStore, stream: &StreamName) -> Result<Option<EventStream>, StorageError> {
    match store.read_stream(ReadStreamRequest::forwards(stream.clone())).await {
        Ok(events) => return Ok(Some(events)),
        Err(ReadError::StreamNotFound { .. }) => {}
        Err(error) => return Err(store_errors::from_read(error)),
    }
    if store.stream_revision(stream).await.map_err(store_errors::from_read)? == CurrentRevision::NoStream {
        return Ok(None);
    }
    tracing::error!(
        stream = %stream,
        "the persistent subscription config stream was deleted or truncated; restoring it from what the log still holds"
    );
    set_metadata(store, stream, serde_json::json!({})).await.map_err(store_errors::from_append)?;
    match store.read_stream(ReadStreamRequest::forwards(stream.clone())).await {
        Ok(events) => Ok(Some(events)),
        Err(ReadError::StreamNotFound { .. }) => Ok(None),
        Err(error) => Err(store_errors::from_read(error)),
    }
}

fn insert(groups: &mut Definitions, record: &DefinitionRecord) {
    match GroupDefinition::try_from(record) {
        Ok(definition) => {
            groups.insert(definition.key().clone(), definition);
        }
        Err(error) => tracing::error!(%error, "skipping an unreadable persistent subscription definition"),
    }
}

fn config_stream() -> StreamName {
    match StreamName::new(CONFIG_STREAM) {
        Ok(stream) => stream,
        Err(error) => unreachable!("the config stream name is valid: {error}"),
    }
}
