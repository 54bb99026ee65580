//! Connector definitions, stored as events in `$connectors`: one event per
//! change, folded on load. Definitions change rarely (create, settings,
//! start/stop, delete), so the stream stays short.

use std::collections::BTreeMap;

use eventfold_store::{EventStore, ReadError, ReadStreamRequest, StorageError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::checkpoint::storage;
use crate::settings::RawSettings;
use crate::streams::{append_any, definitions_stream, json_event};

const CREATED: &str = "$ConnectorCreated";
const RECONFIGURED: &str = "$ConnectorReconfigured";
const STARTED: &str = "$ConnectorStarted";
const STOPPED: &str = "$ConnectorStopped";
const DELETED: &str = "$ConnectorDeleted";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub id: String,
    pub name: String,
    pub settings: RawSettings,
    /// Whether it should run (started and not stopped since).
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Serialize, Deserialize)]
struct IdRecord {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct SettingsRecord {
    id: String,
    settings: RawSettings,
}

pub(crate) enum Change<'a> {
    Created(&'a Definition),
    Reconfigured { id: &'a str, settings: &'a RawSettings },
    Started(&'a str),
    Stopped(&'a str),
    Deleted(&'a str),
}

pub(crate) async fn record(store: &dyn EventStore, change: Change<'_>) -> Result<(), StorageError> {
    let event = match change {
        Change::Created(definition) => json_event(CREATED, definition),
        Change::Reconfigured { id, settings } => {
            json_event(RECONFIGURED, &SettingsRecord { id: id.to_owned(), settings: settings.clone() })
        }
        Change::Started(id) => json_event(STARTED, &IdRecord { id: id.to_owned() }),
        Change::Stopped(id) => json_event(STOPPED, &IdRecord { id: id.to_owned() }),
        Change::Deleted(id) => json_event(DELETED, &IdRecord { id: id.to_owned() }),
    }
    .map_err(|error| storage(&error))?;
    append_any(store, &definitions_stream(), vec![event]).await.map(|_| ()).map_err(|error| storage(&error))
}

pub(crate) async fn load(store: &dyn EventStore) -> Result<BTreeMap<String, Definition>, StorageError> {
    let mut definitions = BTreeMap::new();
    let mut events = match store.read_stream(ReadStreamRequest::forwards(definitions_stream())).await {
        Ok(events) => events,
        Err(ReadError::StreamNotFound { .. }) => return Ok(definitions),
        Err(error) => return Err(storage(&error)),
    };
    while let Some(event) = events.next().await {
        let event = event.map_err(|error| storage(&error))?;
        let applied = apply(&mut definitions, &event.event_type, &event.data);
        if let Err(error) = applied {
            tracing::error!(revision = event.revision, %error, "skipping an unreadable connector definition event");
        }
    }
    Ok(definitions)
}

fn apply(definitions: &mut BTreeMap<String, Definition>, event_type: &str, data: &[u8]) -> serde_json::Result<()> {
    match event_type {
        CREATED => {
            let definition: Definition = serde_json::from_slice(data)?;
            definitions.insert(definition.id.clone(), definition);
        }
        RECONFIGURED => {
            let record: SettingsRecord = serde_json::from_slice(data)?;
            if let Some(definition) = definitions.get_mut(&record.id) {
                definition.settings = record.settings;
            }
        }
        STARTED | STOPPED => {
            let record: IdRecord = serde_json::from_slice(data)?;
            if let Some(definition) = definitions.get_mut(&record.id) {
                definition.enabled = event_type == STARTED;
            }
        }
        DELETED => {
            let record: IdRecord = serde_json::from_slice(data)?;
            definitions.remove(&record.id);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_fold_into_definitions() {
        let mut definitions = BTreeMap::new();
        let created = Definition {
            id: "a".into(),
            name: "A".into(),
            settings: RawSettings::from([("url".into(), "http://h/1".into())]),
            enabled: true,
        };
        let json = |value: serde_json::Value| serde_json::to_vec(&value).expect("encodes");
        apply(&mut definitions, CREATED, &serde_json::to_vec(&created).expect("encodes")).expect("applies");
        apply(&mut definitions, STOPPED, &json(serde_json::json!({"id": "a"}))).expect("applies");
        apply(&mut definitions, RECONFIGURED, &json(serde_json::json!({"id": "a", "settings": {"url": "http://h/2"}})))
            .expect("applies");
        let definition = &definitions["a"];
        assert!(!definition.enabled);
        assert_eq!(definition.settings["url"], "http://h/2");
        apply(&mut definitions, DELETED, &json(serde_json::json!({"id": "a"}))).expect("applies");
        assert!(definitions.is_empty());
        assert!(apply(&mut definitions, CREATED, b"not json").is_err());
    }
}
