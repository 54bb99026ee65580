//! The subsystem: every projection by name, with its task. Changes (create,
//! update, delete, enable, disable, reset, restart) are made one at a time
//! under one lock and stored before they take effect; statistics, state and
//! result only look.

use std::collections::BTreeMap;
use std::sync::Arc;

use eventfold_store::{EventStore, NodeEndpoint, Position};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::checkpoint;
use crate::error::ProjectionError;
use crate::mode::Mode;
use crate::names::ProjectionStreams;
use crate::options::{ProjectionsOptions, RunProjections};
use crate::record::{JS_HANDLER, ProjectionRecord};
use crate::registry;
use crate::run_as::RunAs;
use crate::runner::{Runner, StopMode};
use crate::runtime::compile;
use crate::states::{PartitionState, StateCache};
use crate::status::{ProjectionStatistics, Status, StatusCell};
use crate::store_io::all_events;
use crate::system;

/// A new projection, as a client asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateProjection {
    /// Ignored for `OneTime`, which gets a fresh id as its name.
    pub name: String,
    pub mode: Mode,
    pub query: String,
    pub emit_enabled: bool,
    pub track_emitted_streams: bool,
    pub engine_version: i32,
    /// Whose rights it acts with: the creator's (`RunAs::of` the caller).
    pub run_as: Option<RunAs>,
}

/// What a delete removes beside the projection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub emitted_streams: bool,
    pub state_stream: bool,
    pub checkpoint_stream: bool,
}

/// Which projections statistics cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Select {
    Named(String),
    All,
    Mode(Mode),
}

/// Projections over one store. Cheap to clone.
#[derive(Clone)]
pub struct Projections {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    options: ProjectionsOptions,
    admin: Mutex<Admin>,
}

#[derive(Default)]
struct Admin {
    entries: BTreeMap<String, Entry>,
    /// Why the definitions could not be read at the last (re)start.
    unavailable: Option<String>,
    /// Another node of a shared store leads: nothing runs here. Where the
    /// leader is, when known.
    following: Option<Option<NodeEndpoint>>,
    shut_down: bool,
}

struct Entry {
    record: ProjectionRecord,
    status: StatusCell,
    states: StateCache,
    task: Option<Task>,
}

struct Task {
    stop: watch::Sender<Option<StopMode>>,
    join: JoinHandle<()>,
}

impl Projections {
    /// Loads every projection and starts the enabled ones. Never fails:
    /// when the definitions cannot be read, every call answers why until a
    /// restart of the subsystem reads them.
    pub async fn start(store: Arc<dyn EventStore>, options: ProjectionsOptions) -> Projections {
        let projections =
            Projections { inner: Arc::new(Inner { store, options, admin: Mutex::new(Admin::default()) }) };
        if options.run != RunProjections::None {
            let mut admin = projections.inner.admin.lock().await;
            projections.load(&mut admin).await;
        }
        projections
    }

    /// The subsystem on a node that follows `leader` over a shared store:
    /// nothing runs here, and every call answers where the leader is, until
    /// [`Self::lead`].
    pub fn follower(
        store: Arc<dyn EventStore>,
        options: ProjectionsOptions,
        leader: Option<NodeEndpoint>,
    ) -> Projections {
        let admin = Admin { following: Some(leader), ..Admin::default() };
        Projections { inner: Arc::new(Inner { store, options, admin: Mutex::new(admin) }) }
    }

    /// This node leads now: the projections are loaded and the enabled ones
    /// start here, from their checkpoints. A node that leads already is left
    /// as it is.
    pub async fn lead(&self) {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down || admin.following.take().is_none() {
            return;
        }
        if self.inner.options.run != RunProjections::None {
            self.load(&mut admin).await;
        }
    }

    /// Another node leads now: every projection stops here with a last
    /// checkpoint, and calls answer where the leader is.
    pub async fn follow(&self, leader: Option<NodeEndpoint>) {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return;
        }
        for entry in admin.entries.values_mut() {
            Self::stop_task(entry, StopMode::Checkpoint).await;
        }
        admin.entries.clear();
        admin.following = Some(leader);
    }

    pub fn options(&self) -> &ProjectionsOptions {
        &self.inner.options
    }

    fn store(&self) -> &dyn EventStore {
        self.inner.store.as_ref()
    }

    async fn load(&self, admin: &mut Admin) {
        match self.read_registry().await {
            Ok(records) => {
                admin.unavailable = None;
                for (name, record) in records {
                    let entry =
                        Entry { record, status: StatusCell::default(), states: StateCache::default(), task: None };
                    admin.entries.insert(name.clone(), entry);
                    self.start_if_enabled(admin, &name).await;
                }
            }
            Err(error) => {
                tracing::error!(%error, "projections are unavailable: their definitions cannot be read");
                admin.unavailable = Some(error.to_string());
            }
        }
    }

    async fn read_registry(&self) -> Result<BTreeMap<String, ProjectionRecord>, ProjectionError> {
        let (initialized, mut records) = registry::load(self.store()).await?;
        if !initialized {
            let standard = system::standard(self.inner.options.start_standard_projections);
            registry::initialize(self.store(), &standard).await?;
            records.extend(standard);
        } else if self.inner.options.start_standard_projections {
            for (name, record) in &mut records {
                if system::is_system(name) && !record.enabled {
                    record.enabled = true;
                    registry::update(self.store(), name, record).await?;
                }
            }
        }
        Ok(records)
    }

    fn may_run(&self, name: &str) -> bool {
        match self.inner.options.run {
            RunProjections::None => false,
            RunProjections::System => system::is_system(name),
            RunProjections::All => true,
        }
    }

    async fn start_if_enabled(&self, admin: &mut Admin, name: &str) {
        let Some(entry) = admin.entries.get_mut(name) else { return };
        if entry.task.is_some() {
            return;
        }
        if !entry.record.enabled || !self.may_run(name) {
            entry.status.update(|live| {
                live.status = Status::Stopped;
                live.epoch = entry.record.epoch;
                live.version = entry.record.version;
            });
            if entry.record.mode.checkpoints() && !entry.record.is_native() {
                preload_states(self.store(), name, &entry.record, &entry.states).await;
            }
            return;
        }
        if entry.record.is_native() {
            entry.status.update(|live| {
                live.status = Status::Running;
                live.epoch = entry.record.epoch;
                live.version = entry.record.version;
                live.position = self.inner.store.head_position();
            });
            return;
        }
        let (stop, stopped) = watch::channel(None);
        let runner = Runner {
            name: name.to_owned(),
            record: entry.record.clone(),
            store: Arc::clone(&self.inner.store),
            status: entry.status.clone(),
            states: entry.states.clone(),
            limits: self.inner.options.limits,
            policy: self.inner.options.checkpoints,
        };
        let join = tokio::spawn(runner.run(stopped));
        entry.task = Some(Task { stop, join });
    }

    async fn stop_task(entry: &mut Entry, how: StopMode) {
        if let Some(task) = entry.task.take() {
            let _ = task.stop.send(Some(how));
            let _ = task.join.await;
        } else if entry.record.is_native() && entry.status.status() == Status::Running {
            entry.status.set(if how == StopMode::Abort { Status::Aborted } else { Status::Stopped }, "");
        }
    }

    async fn guard(&self) -> Result<tokio::sync::MutexGuard<'_, Admin>, ProjectionError> {
        if self.inner.options.run == RunProjections::None {
            return Err(ProjectionError::NotRunning);
        }
        let admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return Err(ProjectionError::NotRunning);
        }
        if let Some(leader) = &admin.following {
            return Err(not_leader(leader.as_ref()));
        }
        if let Some(reason) = &admin.unavailable {
            return Err(ProjectionError::Storage(reason.clone()));
        }
        Ok(admin)
    }

    /// Creates a projection and starts it; answers its name.
    pub async fn create(&self, request: CreateProjection) -> Result<String, ProjectionError> {
        self.create_as(request, true).await
    }

    /// Creates a projection disabled (`Stopped`): nothing runs until it is
    /// enabled, as KurrentDB's `enabled=false` asks.
    pub async fn create_stopped(&self, request: CreateProjection) -> Result<String, ProjectionError> {
        self.create_as(request, false).await
    }

    async fn create_as(&self, request: CreateProjection, enabled: bool) -> Result<String, ProjectionError> {
        if request.track_emitted_streams && !request.emit_enabled {
            return Err(ProjectionError::InvalidArgument(
                "EmitEnabled must be set to true to track emitted streams.".into(),
            ));
        }
        let name = if request.mode == Mode::OneTime { uuid::Uuid::new_v4().to_string() } else { request.name.clone() };
        if name.trim().is_empty() {
            return Err(ProjectionError::OperationFailed("Projection name is required".into()));
        }
        if self.inner.options.run != RunProjections::All {
            if self.inner.options.run == RunProjections::None {
                return Err(ProjectionError::NotRunning);
            }
            return Err(ProjectionError::OperationFailed(
                "this node runs the standard projections only (--run-projections System)".into(),
            ));
        }
        check_query(&request.query, self.inner.options.limits).await?;
        let mut admin = self.guard().await?;
        if admin.entries.contains_key(&name) {
            return Err(ProjectionError::AlreadyExists(name));
        }
        let record = ProjectionRecord {
            handler_type: JS_HANDLER.into(),
            query: request.query,
            mode: request.mode,
            enabled,
            emit_enabled: request.emit_enabled && request.mode == Mode::Continuous,
            track_emitted_streams: request.track_emitted_streams && request.mode == Mode::Continuous,
            checkpoints_disabled: !request.mode.checkpoints(),
            epoch: 0,
            version: 0,
            engine_version: request.engine_version,
            reset_position: None,
            run_as: request.run_as,
        };
        if request.mode != Mode::Transient {
            registry::create(self.store(), &name, &record).await?;
        }
        admin.entries.insert(
            name.clone(),
            Entry { record, status: StatusCell::default(), states: StateCache::default(), task: None },
        );
        self.start_if_enabled(&mut admin, &name).await;
        Ok(name)
    }

    /// Replaces the query (and the emit setting when given), and restarts
    /// the projection from its checkpoint when it is enabled.
    pub async fn update(&self, name: &str, query: String, emit_enabled: Option<bool>) -> Result<(), ProjectionError> {
        check_query(&query, self.inner.options.limits).await?;
        let mut admin = self.guard().await?;
        let entry = admin.entries.get_mut(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        if entry.record.is_native() {
            return Err(ProjectionError::OperationFailed("a standard projection's query cannot be changed".into()));
        }
        let mut record = entry.record.clone();
        record.query = query;
        if let Some(emit) = emit_enabled {
            record.emit_enabled = emit && record.mode == Mode::Continuous;
        }
        record.version += 1;
        if record.mode != Mode::Transient {
            registry::update(self.store(), name, &record).await?;
        }
        Self::stop_task(entry, StopMode::Checkpoint).await;
        entry.record = record;
        self.start_if_enabled(&mut admin, name).await;
        Ok(())
    }

    pub async fn enable(&self, name: &str) -> Result<(), ProjectionError> {
        let mut admin = self.guard().await?;
        let entry = admin.entries.get_mut(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        if entry.task.is_some() && entry.record.enabled {
            return Ok(());
        }
        if !entry.record.enabled {
            entry.record.enabled = true;
            if entry.record.mode != Mode::Transient {
                registry::update(self.store(), name, &entry.record).await?;
            }
        }
        Self::stop_task(entry, StopMode::Checkpoint).await;
        self.start_if_enabled(&mut admin, name).await;
        Ok(())
    }

    /// Stops the projection: with `write_checkpoint` what was processed is
    /// kept (`Stopped`), without it it is dropped (`Aborted`).
    pub async fn disable(&self, name: &str, write_checkpoint: bool) -> Result<(), ProjectionError> {
        let mut admin = self.guard().await?;
        let entry = admin.entries.get_mut(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        let how = if write_checkpoint { StopMode::Checkpoint } else { StopMode::Abort };
        Self::stop_task(entry, how).await;
        if entry.record.enabled {
            entry.record.enabled = false;
            if entry.record.mode != Mode::Transient {
                registry::update(self.store(), name, &entry.record).await?;
            }
        }
        if !matches!(entry.status.status(), Status::Faulted | Status::Aborted | Status::Completed) {
            entry.status.set(Status::Stopped, "");
        }
        Ok(())
    }

    /// Starts the projection over with an empty state: from the beginning,
    /// or after `from` (eventfold's rebuild of recent events only).
    pub async fn reset(&self, name: &str, from: Option<Position>) -> Result<(), ProjectionError> {
        let mut admin = self.guard().await?;
        let entry = admin.entries.get_mut(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        Self::stop_task(entry, StopMode::Abort).await;
        let mut record = entry.record.clone();
        record.epoch += 1;
        record.reset_position = from.map(|position| position.0);
        if record.mode != Mode::Transient {
            registry::update(self.store(), name, &record).await?;
        }
        entry.record = record;
        entry.states.clear();
        entry.status.set(Status::Stopped, "");
        self.start_if_enabled(&mut admin, name).await;
        Ok(())
    }

    /// Deletes a stopped or faulted projection and, as asked, its streams.
    pub async fn delete(&self, name: &str, options: DeleteOptions) -> Result<(), ProjectionError> {
        let mut admin = self.guard().await?;
        let entry = admin.entries.get_mut(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        if system::is_system(name) {
            return Err(ProjectionError::OperationFailed("A standard projection cannot be deleted.".into()));
        }
        let status = entry.status.status();
        let running = entry.task.as_ref().is_some_and(|task| !task.join.is_finished());
        if running && !matches!(status, Status::Faulted | Status::Completed) {
            return Err(ProjectionError::OperationFailed(
                "Cannot delete a projection that hasn't been stopped or faulted.".into(),
            ));
        }
        Self::stop_task(entry, StopMode::Abort).await;
        entry.status.set(Status::Deleting, "");
        let record = entry.record.clone();
        let streams = ProjectionStreams::new(name);
        if record.mode != Mode::Transient {
            if options.emitted_streams && record.emit_enabled && record.track_emitted_streams {
                for tracked in all_events(self.store(), &streams.emitted_streams()).await? {
                    let stream = String::from_utf8_lossy(&tracked.data).into_owned();
                    registry::soft_delete(self.store(), &stream).await?;
                }
                registry::soft_delete(self.store(), &streams.emitted_streams()).await?;
            }
            if options.checkpoint_stream {
                registry::soft_delete(self.store(), &streams.checkpoint()).await?;
                registry::soft_delete(self.store(), &streams.partitions()).await?;
            }
            registry::soft_delete(self.store(), &streams.order()).await?;
            registry::delete(self.store(), name).await?;
        }
        admin.entries.remove(name);
        Ok(())
    }

    pub async fn statistics(&self, select: Select) -> Result<Vec<ProjectionStatistics>, ProjectionError> {
        let admin = self.guard().await?;
        let head = self.inner.store.head_position();
        let pick =
            |name: &str, entry: &Entry| entry.status.statistics(name, entry.record.mode, entry.record.enabled, head);
        match select {
            Select::Named(name) => {
                let entry = admin.entries.get(&name).ok_or_else(|| ProjectionError::NotFound(name.clone()))?;
                Ok(vec![pick(&name, entry)])
            }
            Select::All => Ok(admin.entries.iter().map(|(name, entry)| pick(name, entry)).collect()),
            Select::Mode(mode) => Ok(admin
                .entries
                .iter()
                .filter(|(_, entry)| entry.record.mode == mode)
                .map(|(name, entry)| pick(name, entry))
                .collect()),
        }
    }

    /// The projection's definition as stored.
    pub async fn record(&self, name: &str) -> Result<ProjectionRecord, ProjectionError> {
        let admin = self.guard().await?;
        admin.entries.get(name).map(|entry| entry.record.clone()).ok_or_else(|| ProjectionError::NotFound(name.into()))
    }

    /// A partition's state as JSON (`""` is the root partition); `None`
    /// when the partition has none yet.
    pub async fn state(&self, name: &str, partition: &str) -> Result<Option<String>, ProjectionError> {
        Ok(self.partition(name, partition).await?.and_then(|held| held.state))
    }

    /// A partition's result (its state through `transformBy`/`filterBy`).
    pub async fn result(&self, name: &str, partition: &str) -> Result<Option<String>, ProjectionError> {
        Ok(self.partition(name, partition).await?.and_then(|held| held.result))
    }

    /// Every partition's state and result, in partition order (`""` is the
    /// root partition), as the projection last published them.
    pub async fn partitions(&self, name: &str) -> Result<Vec<(String, PartitionState)>, ProjectionError> {
        let admin = self.guard().await?;
        let entry = admin.entries.get(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        Ok(entry.states.all())
    }

    /// The streams the projection has emitted to, as it tracks them in
    /// `-emittedstreams` (empty unless it tracks emitted streams).
    pub async fn emitted_streams(&self, name: &str) -> Result<Vec<String>, ProjectionError> {
        let tracked = {
            let admin = self.guard().await?;
            let entry = admin.entries.get(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
            entry.record.track_emitted_streams
        };
        if !tracked {
            return Ok(Vec::new());
        }
        let events = all_events(self.store(), &ProjectionStreams::new(name).emitted_streams()).await?;
        let mut streams: Vec<String> =
            events.iter().map(|tracked| String::from_utf8_lossy(&tracked.data).into_owned()).collect();
        streams.sort();
        streams.dedup();
        Ok(streams)
    }

    async fn partition(&self, name: &str, partition: &str) -> Result<Option<PartitionState>, ProjectionError> {
        let admin = self.guard().await?;
        let entry = admin.entries.get(name).ok_or_else(|| ProjectionError::NotFound(name.into()))?;
        Ok(entry.states.get(partition))
    }

    /// Stops every projection (with a checkpoint) and loads them again.
    pub async fn restart(&self) -> Result<(), ProjectionError> {
        if self.inner.options.run == RunProjections::None {
            return Err(ProjectionError::NotRunning);
        }
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return Err(ProjectionError::OperationFailed(
                "Projection Subsystem cannot be restarted as it is in the wrong state: Stopped".into(),
            ));
        }
        if let Some(leader) = &admin.following {
            return Err(not_leader(leader.as_ref()));
        }
        let transient: Vec<(String, ProjectionRecord)> = admin
            .entries
            .iter()
            .filter(|(_, entry)| entry.record.mode == Mode::Transient)
            .map(|(name, entry)| (name.clone(), entry.record.clone()))
            .collect();
        for entry in admin.entries.values_mut() {
            Self::stop_task(entry, StopMode::Checkpoint).await;
        }
        admin.entries.clear();
        self.load(&mut admin).await;
        for (name, record) in transient {
            admin.entries.insert(
                name,
                Entry { record, status: StatusCell::default(), states: StateCache::default(), task: None },
            );
        }
        Ok(())
    }

    /// Stops every projection with a last checkpoint; later calls answer
    /// that projections do not run.
    pub async fn shutdown(&self) {
        let mut admin = self.inner.admin.lock().await;
        admin.shut_down = true;
        for entry in admin.entries.values_mut() {
            Self::stop_task(entry, StopMode::Checkpoint).await;
        }
    }
}

/// What a follower answers: where the leader is, when it is known.
fn not_leader(leader: Option<&NodeEndpoint>) -> ProjectionError {
    match leader {
        Some(leader) => ProjectionError::NotLeader(leader.clone()),
        None => ProjectionError::Storage("no node leads the shared store now".into()),
    }
}

/// Compiles the query off the async threads; a bad one is refused.
async fn check_query(query: &str, limits: crate::runtime::RuntimeLimits) -> Result<(), ProjectionError> {
    let query = query.to_owned();
    match tokio::task::spawn_blocking(move || compile(&query, limits).map(|_| ())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ProjectionError::InvalidQuery(error)),
        Err(error) => Err(ProjectionError::OperationFailed(format!("the query could not be checked: {error}"))),
    }
}

/// A stopped projection's states, read from its checkpoint so that `State`
/// answers without running it.
async fn preload_states(store: &dyn EventStore, name: &str, record: &ProjectionRecord, states: &StateCache) {
    match checkpoint::load(store, &ProjectionStreams::new(name), record.epoch).await {
        Ok(loaded) => {
            for (partition, state) in loaded.states {
                states.publish(partition, PartitionState { result: Some(state.clone()), state: Some(state) });
            }
        }
        Err(error) => tracing::warn!(projection = %name, %error, "a stopped projection's state cannot be read"),
    }
}
