//! Projection definitions as events: `$projections-$all` lists which
//! projections exist (`$ProjectionCreated` / `$ProjectionDeleted`, data =
//! name) and `$projections-{name}` holds every version of one
//! (`$ProjectionUpdated`).

use std::collections::BTreeMap;

use eventfold_store::{AppendRequest, ContentType, DeleteMode, EventId, EventStore, ExpectedRevision, ProposedEvent};

use crate::error::ProjectionError;
use crate::names::{self, ProjectionStreams};
use crate::record::ProjectionRecord;
use crate::store_io::{all_events, last_event, storage, stream_name};

fn event(event_type: &str, content_type: ContentType, data: Vec<u8>) -> ProposedEvent {
    ProposedEvent {
        id: EventId::random(),
        event_type: event_type.into(),
        content_type,
        data: data.into(),
        metadata: Default::default(),
    }
}

fn record_event(record: &ProjectionRecord) -> Result<ProposedEvent, ProjectionError> {
    let data = serde_json::to_vec(record).map_err(storage)?;
    Ok(event(names::UPDATED, ContentType::Json, data))
}

/// Every stored projection by name, and whether the registry was ever
/// initialized.
pub async fn load(store: &dyn EventStore) -> Result<(bool, BTreeMap<String, ProjectionRecord>), ProjectionError> {
    let mut names_in_order: Vec<String> = Vec::new();
    let mut initialized = false;
    for listed in all_events(store, names::REGISTRY_STREAM).await? {
        let name = String::from_utf8_lossy(&listed.data).into_owned();
        match listed.event_type.as_str() {
            names::INITIALIZED => initialized = true,
            names::CREATED if !names_in_order.contains(&name) => names_in_order.push(name),
            names::DELETED => names_in_order.retain(|known| *known != name),
            _ => {}
        }
    }
    let mut records = BTreeMap::new();
    for name in names_in_order {
        let Some(last) = last_event(store, &ProjectionStreams::new(&name).definition()).await? else { continue };
        match serde_json::from_slice::<ProjectionRecord>(&last.data) {
            Ok(record) => {
                records.insert(name, record);
            }
            Err(error) => {
                tracing::error!(projection = %name, %error, "a projection's definition cannot be read; it is left out")
            }
        }
    }
    Ok((initialized, records))
}

/// Marks the registry initialized (done once, with the system projections).
pub async fn initialize(store: &dyn EventStore, system: &[(String, ProjectionRecord)]) -> Result<(), ProjectionError> {
    let mut requests = vec![AppendRequest::new(
        stream_name(names::REGISTRY_STREAM)?,
        ExpectedRevision::Any,
        vec![event(names::INITIALIZED, ContentType::Binary, Vec::new())],
    )];
    for (name, record) in system {
        requests[0].events.push(event(names::CREATED, ContentType::Binary, name.clone().into_bytes()));
        requests.push(AppendRequest::new(
            stream_name(&ProjectionStreams::new(name).definition())?,
            ExpectedRevision::Any,
            vec![record_event(record)?],
        ));
    }
    store.append_transaction(requests).await.map_err(storage)?;
    Ok(())
}

/// Stores a new projection: listed and defined in one transaction.
pub async fn create(store: &dyn EventStore, name: &str, record: &ProjectionRecord) -> Result<(), ProjectionError> {
    let requests = vec![
        AppendRequest::new(
            stream_name(names::REGISTRY_STREAM)?,
            ExpectedRevision::Any,
            vec![event(names::CREATED, ContentType::Binary, name.as_bytes().to_vec())],
        ),
        AppendRequest::new(
            stream_name(&ProjectionStreams::new(name).definition())?,
            ExpectedRevision::Any,
            vec![record_event(record)?],
        ),
    ];
    store.append_transaction(requests).await.map_err(storage)?;
    Ok(())
}

pub async fn update(store: &dyn EventStore, name: &str, record: &ProjectionRecord) -> Result<(), ProjectionError> {
    let request = AppendRequest::new(
        stream_name(&ProjectionStreams::new(name).definition())?,
        ExpectedRevision::Any,
        vec![record_event(record)?],
    );
    store.append(request).await.map_err(storage)?;
    Ok(())
}

pub async fn delete(store: &dyn EventStore, name: &str) -> Result<(), ProjectionError> {
    let request = AppendRequest::new(
        stream_name(names::REGISTRY_STREAM)?,
        ExpectedRevision::Any,
        vec![event(names::DELETED, ContentType::Binary, name.as_bytes().to_vec())],
    );
    store.append(request).await.map_err(storage)?;
    soft_delete(store, &ProjectionStreams::new(name).definition()).await
}

/// Soft-deletes `stream`; one that does not exist is already gone.
pub async fn soft_delete(store: &dyn EventStore, stream: &str) -> Result<(), ProjectionError> {
    match store.delete_stream(stream_name(stream)?, ExpectedRevision::Any, DeleteMode::Soft).await {
        Ok(_) => Ok(()),
        Err(
            eventfold_store::AppendError::StreamDeleted { .. }
            | eventfold_store::AppendError::WrongExpectedVersion {
                actual: eventfold_store::CurrentRevision::NoStream,
                ..
            },
        ) => Ok(()),
        Err(error) => Err(storage(error)),
    }
}
