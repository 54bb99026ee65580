//! Query definitions, stored as events in `$queries`: one event per change
//! (created, reset, deleted), folded on load.

use std::collections::BTreeMap;

use eventfold_store::{
    AppendRequest, EventStore, ExpectedRevision, ProposedEvent, ReadError, ReadStreamRequest, StreamName,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::QueriesError;

const CREATED: &str = "$QueryCreated";
const RESET: &str = "$QueryReset";
const DELETED: &str = "$QueryDeleted";

/// The stream of definition changes.
pub(crate) const DEFINITIONS_STREAM: &str = "$queries";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Definition {
    pub name: String,
    pub sql: String,
    /// Read the events after this position (none: from the start).
    #[serde(default)]
    pub from: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct ResetRecord {
    name: String,
    #[serde(default)]
    from: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct NameRecord {
    name: String,
}

pub(crate) enum Change<'a> {
    Created(&'a Definition),
    Reset { name: &'a str, from: Option<u64> },
    Deleted(&'a str),
}

pub(crate) async fn record(store: &dyn EventStore, change: Change<'_>) -> Result<(), QueriesError> {
    let (event_type, data) = match change {
        Change::Created(definition) => (CREATED, serde_json::to_string(definition)),
        Change::Reset { name, from } => (RESET, serde_json::to_string(&ResetRecord { name: name.to_owned(), from })),
        Change::Deleted(name) => (DELETED, serde_json::to_string(&NameRecord { name: name.to_owned() })),
    };
    let data = data.map_err(QueriesError::storage)?;
    let stream = StreamName::new(DEFINITIONS_STREAM).map_err(QueriesError::storage)?;
    let request = AppendRequest::new(stream, ExpectedRevision::Any, vec![ProposedEvent::json(event_type, data)]);
    store.append(request).await.map(|_| ()).map_err(QueriesError::storage)
}

pub(crate) async fn load(store: &dyn EventStore) -> Result<BTreeMap<String, Definition>, QueriesError> {
    let mut definitions = BTreeMap::new();
    let stream = StreamName::new(DEFINITIONS_STREAM).map_err(QueriesError::storage)?;
    let mut events = match store.read_stream(ReadStreamRequest::forwards(stream)).await {
        Ok(events) => events,
        Err(ReadError::StreamNotFound { .. }) => return Ok(definitions),
        Err(error) => return Err(QueriesError::storage(error)),
    };
    while let Some(event) = events.next().await {
        let event = event.map_err(QueriesError::storage)?;
        if let Err(error) = apply(&mut definitions, &event.event_type, &event.data) {
            tracing::error!(revision = event.revision, %error, "skipping an unreadable query definition event");
        }
    }
    Ok(definitions)
}

fn apply(definitions: &mut BTreeMap<String, Definition>, event_type: &str, data: &[u8]) -> serde_json::Result<()> {
    match event_type {
        CREATED => {
            let definition: Definition = serde_json::from_slice(data)?;
            definitions.insert(definition.name.clone(), definition);
        }
        RESET => {
            let record: ResetRecord = serde_json::from_slice(data)?;
            if let Some(definition) = definitions.get_mut(&record.name) {
                definition.from = record.from;
            }
        }
        DELETED => {
            let record: NameRecord = serde_json::from_slice(data)?;
            definitions.remove(&record.name);
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
        let created = Definition { name: "a".into(), sql: "SELECT 1".into(), from: None };
        let json = |value: serde_json::Value| serde_json::to_vec(&value).expect("encodes");
        apply(&mut definitions, CREATED, &serde_json::to_vec(&created).expect("encodes")).expect("applies");
        apply(&mut definitions, RESET, &json(serde_json::json!({"name": "a", "from": 42}))).expect("applies");
        assert_eq!(definitions["a"].from, Some(42));
        apply(&mut definitions, RESET, &json(serde_json::json!({"name": "a"}))).expect("applies");
        assert_eq!(definitions["a"].from, None);
        apply(&mut definitions, DELETED, &json(serde_json::json!({"name": "a"}))).expect("applies");
        assert!(definitions.is_empty());
        assert!(apply(&mut definitions, CREATED, b"not json").is_err());
    }
}
