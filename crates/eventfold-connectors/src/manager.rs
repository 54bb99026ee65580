//! [`Connectors`]: the subsystem's entry point. It loads the definitions,
//! runs one task per enabled connector, and serves create, start, stop,
//! reset, settings, delete, list and status. Every change is recorded in
//! `$connectors` before it takes effect, so a restart resumes the same set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eventfold_store::EventStore;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::checkpoint;
use crate::definitions::{self, Change, Definition};
use crate::error::ConnectorError;
use crate::info::ConnectorInfo;
use crate::runner::Runner;
use crate::secrets;
use crate::settings::{ConnectorSettings, flatten};
use crate::sink::SinkError;
use crate::status::{ConnectorState, SharedStatus};
use crate::streams::{check_id, limit_checkpoints};

/// Longest wait for a target at create (connect and prepare).
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for a task to stop (it finishes or abandons a delivery).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the node runs connectors (`eventfold serve --run-connectors`).
#[derive(Clone, Copy, Debug)]
pub struct ConnectorsOptions {
    pub run: bool,
}

impl Default for ConnectorsOptions {
    fn default() -> Self {
        Self { run: true }
    }
}

#[derive(Clone)]
pub struct Connectors {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    registry: Mutex<BTreeMap<String, Entry>>,
}

struct Entry {
    definition: Definition,
    status: SharedStatus,
    task: Option<Task>,
}

struct Task {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Connectors {
    /// Loads the definitions over `store` (the store itself: the
    /// subsystem's streams are its own) and starts the enabled ones. A
    /// store that cannot be read leaves the subsystem empty, logged.
    pub async fn start(store: Arc<dyn EventStore>, options: ConnectorsOptions) -> Self {
        if !options.run {
            return Self { inner: None };
        }
        let loaded = match definitions::load(store.as_ref()).await {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "cannot read the connector definitions; none runs");
                BTreeMap::new()
            }
        };
        let mut registry = BTreeMap::new();
        for (id, definition) in loaded {
            let status = SharedStatus::new(&id);
            let mut entry = Entry { definition, status, task: None };
            if entry.definition.enabled {
                spawn(&store, &mut entry);
            }
            registry.insert(id, entry);
        }
        Self { inner: Some(Arc::new(Inner { store, registry: Mutex::new(registry) })) }
    }

    fn inner(&self) -> Result<&Arc<Inner>, ConnectorError> {
        self.inner.as_ref().ok_or(ConnectorError::Disabled)
    }

    /// Creates and starts a connector, after checking its settings against
    /// its target; nothing is stored when they fail.
    pub async fn create(
        &self,
        id: &str,
        name: Option<String>,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ConnectorInfo, ConnectorError> {
        let inner = self.inner()?;
        check_id(id).map_err(|reason| ConnectorError::InvalidId { id: id.to_owned(), reason })?;
        let raw = flatten(settings)?;
        let parsed = ConnectorSettings::parse(&raw)?;
        let mut registry = inner.registry.lock().await;
        if registry.contains_key(id) {
            return Err(ConnectorError::AlreadyExists { id: id.to_owned() });
        }
        validate(id, &parsed).await?;
        let definition =
            Definition { id: id.to_owned(), name: name.unwrap_or_else(|| id.to_owned()), settings: raw, enabled: true };
        let store = inner.store.as_ref();
        if let Err(error) = limit_checkpoints(store, id).await {
            tracing::warn!(connector = id, %error, "cannot limit the connector's checkpoint stream");
        }
        // A connector of this id deleted earlier must not lend its
        // checkpoint to this one.
        checkpoint::save(store, id, None).await.map_err(storage)?;
        definitions::record(store, Change::Created(&definition)).await.map_err(storage)?;
        let mut entry = Entry { definition, status: SharedStatus::new(id), task: None };
        spawn(&inner.store, &mut entry);
        let info = describe(&entry);
        registry.insert(id.to_owned(), entry);
        Ok(info)
    }

    pub async fn start_connector(&self, id: &str) -> Result<ConnectorInfo, ConnectorError> {
        let inner = self.inner()?;
        let mut registry = inner.registry.lock().await;
        let entry = registry.get_mut(id).ok_or_else(|| not_found(id))?;
        if entry.task.as_ref().is_some_and(|task| !task.handle.is_finished()) {
            return Ok(describe(entry));
        }
        definitions::record(inner.store.as_ref(), Change::Started(id)).await.map_err(storage)?;
        entry.definition.enabled = true;
        spawn(&inner.store, entry);
        Ok(describe(entry))
    }

    pub async fn stop(&self, id: &str) -> Result<ConnectorInfo, ConnectorError> {
        let inner = self.inner()?;
        let mut registry = inner.registry.lock().await;
        let entry = registry.get_mut(id).ok_or_else(|| not_found(id))?;
        if entry.definition.enabled {
            definitions::record(inner.store.as_ref(), Change::Stopped(id)).await.map_err(storage)?;
            entry.definition.enabled = false;
        }
        halt(entry).await;
        Ok(describe(entry))
    }

    /// Moves the checkpoint: to `position` (delivery resumes after it), or
    /// back to the initial position. A running connector restarts.
    pub async fn reset(&self, id: &str, position: Option<u64>) -> Result<ConnectorInfo, ConnectorError> {
        let inner = self.inner()?;
        let mut registry = inner.registry.lock().await;
        let entry = registry.get_mut(id).ok_or_else(|| not_found(id))?;
        let settings = ConnectorSettings::parse(&entry.definition.settings)?;
        halt(entry).await;
        let mut sink = settings.sink.build(id);
        let reset = if sink.keeps_checkpoint() {
            let reset = tokio::time::timeout(VALIDATE_TIMEOUT, sink.reset(position)).await;
            reset.map_err(|_| ConnectorError::Target("no answer in time".into()))?.map_err(target)
        } else {
            checkpoint::save(inner.store.as_ref(), id, position).await.map_err(storage)
        };
        if entry.definition.enabled {
            spawn(&inner.store, entry);
        }
        reset?;
        entry.status.set_position(position, None);
        Ok(describe(entry))
    }

    /// Replaces the settings (checked as at create); a running connector
    /// restarts with them from its checkpoint.
    pub async fn reconfigure(
        &self,
        id: &str,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ConnectorInfo, ConnectorError> {
        let inner = self.inner()?;
        let mut raw = flatten(settings)?;
        let mut registry = inner.registry.lock().await;
        let entry = registry.get_mut(id).ok_or_else(|| not_found(id))?;
        // Secrets sent back as `GET` showed them stay as they were.
        secrets::restore(&mut raw, &entry.definition.settings);
        let parsed = ConnectorSettings::parse(&raw)?;
        validate(id, &parsed).await?;
        definitions::record(inner.store.as_ref(), Change::Reconfigured { id, settings: &raw })
            .await
            .map_err(storage)?;
        entry.definition.settings = raw;
        halt(entry).await;
        if entry.definition.enabled {
            spawn(&inner.store, entry);
        }
        Ok(describe(entry))
    }

    /// Stops and removes a connector, with its checkpoint (a connector
    /// created again under this id starts afresh). Its dead letters stay.
    pub async fn delete(&self, id: &str) -> Result<(), ConnectorError> {
        let inner = self.inner()?;
        let mut registry = inner.registry.lock().await;
        let entry = registry.get_mut(id).ok_or_else(|| not_found(id))?;
        halt(entry).await;
        definitions::record(inner.store.as_ref(), Change::Deleted(id)).await.map_err(storage)?;
        if let Err(error) = checkpoint::save(inner.store.as_ref(), id, None).await {
            tracing::warn!(connector = id, %error, "cannot clear the connector's checkpoint");
        }
        if let Ok(settings) = ConnectorSettings::parse(&entry.definition.settings) {
            let mut sink = settings.sink.build(id);
            if sink.keeps_checkpoint()
                && let Ok(Err(error)) = tokio::time::timeout(VALIDATE_TIMEOUT, sink.reset(None)).await
            {
                tracing::warn!(connector = id, %error, "cannot delete the connector's checkpoint in its target");
            }
        }
        registry.remove(id);
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<ConnectorInfo>, ConnectorError> {
        let inner = self.inner()?;
        let registry = inner.registry.lock().await;
        Ok(registry.values().map(describe).collect())
    }

    pub async fn info(&self, id: &str) -> Result<ConnectorInfo, ConnectorError> {
        let inner = self.inner()?;
        let registry = inner.registry.lock().await;
        registry.get(id).map(describe).ok_or_else(|| not_found(id))
    }

    /// Stops every task (each writes its last checkpoint), leaving the
    /// definitions as they are: the same connectors run after a restart.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else { return };
        let mut registry = inner.registry.lock().await;
        for entry in registry.values_mut() {
            halt(entry).await;
        }
    }
}

/// Starts `entry`'s task; settings that no longer parse fault it.
fn spawn(store: &Arc<dyn EventStore>, entry: &mut Entry) {
    let settings = match ConnectorSettings::parse(&entry.definition.settings) {
        Ok(settings) => settings,
        Err(error) => {
            entry.status.set_state(ConnectorState::Faulted { reason: error.to_string() });
            return;
        }
    };
    let (stop, stopped) = watch::channel(false);
    let runner = Runner {
        id: entry.definition.id.clone(),
        store: Arc::clone(store),
        settings,
        status: entry.status.clone(),
        stop: stopped,
    };
    entry.status.set_state(ConnectorState::Running);
    entry.task = Some(Task { stop, handle: tokio::spawn(runner.run()) });
}

async fn halt(entry: &mut Entry) {
    let Some(task) = entry.task.take() else { return };
    let _ = task.stop.send(true);
    let mut handle = task.handle;
    if tokio::time::timeout(STOP_TIMEOUT, &mut handle).await.is_err() {
        tracing::warn!(connector = %entry.definition.id, "connector did not stop in time; aborted");
        handle.abort();
        entry.status.set_state(ConnectorState::Stopped);
    }
}

async fn validate(id: &str, settings: &ConnectorSettings) -> Result<(), ConnectorError> {
    let mut sink = settings.sink.build(id);
    match tokio::time::timeout(VALIDATE_TIMEOUT, sink.validate()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(target(error)),
        Err(_) => Err(ConnectorError::Target(format!("no answer within {VALIDATE_TIMEOUT:?}"))),
    }
}

fn describe(entry: &Entry) -> ConnectorInfo {
    let counters = entry.status.counters();
    ConnectorInfo {
        connector_id: entry.definition.id.clone(),
        name: entry.definition.name.clone(),
        settings: secrets::redacted(&entry.definition.settings),
        state: entry.status.state(),
        position: counters.position,
        lag: counters.lag,
        events_per_second: counters.events_per_second,
        delivered: counters.delivered,
        dead_lettered: counters.dead_lettered,
        errors: counters.errors,
        last_error: counters.last_error,
    }
}

fn not_found(id: &str) -> ConnectorError {
    ConnectorError::NotFound { id: id.to_owned() }
}

fn storage(error: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Storage(error.to_string())
}

fn target(error: SinkError) -> ConnectorError {
    ConnectorError::Target(match error {
        SinkError::Unavailable(reason) | SinkError::Transient(reason) | SinkError::Rejected(reason) => reason,
    })
}
