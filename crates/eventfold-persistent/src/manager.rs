//! The subsystem: every group, by key, with its running task. Changes to
//! the set of groups (create, update, delete, restart, shutdown) are done
//! one at a time under one lock, and are stored before they take effect for
//! consumers; consumers, info and replays only look a group up.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use eventfold_store::{EventStore, NodeEndpoint, StorageError};
use futures::future::join_all;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::config_store::ConfigStore;
use crate::consumer::{Consumer, ConsumerOptions, DropReason};
use crate::definition::{GroupDefinition, GroupSpec};
use crate::error::{ConnectError, CreateError, GroupError, UpdateError};
use crate::group::GroupHandle;
use crate::info::GroupInfo;
use crate::key::{GroupKey, Source};
use crate::settings::{GroupSettings, InvalidSettings, StartFrom};
use crate::timeouts::SubsystemOptions;
use crate::{checkpoint, parked, store_errors};

/// Persistent subscriptions over one store. Cheap to clone.
#[derive(Clone)]
pub struct PersistentSubscriptions {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    options: SubsystemOptions,
    groups: RwLock<BTreeMap<GroupKey, Arc<GroupHandle>>>,
    admin: Mutex<Admin>,
    /// Why no groups run here: their definitions could not be read at the
    /// last (re)start, or another node leads. While set, every call answers
    /// it. Kept outside `admin` so that lookups do not wait for a create or
    /// delete.
    unavailable: RwLock<Option<Absent>>,
}

/// Why the groups are not running on this node.
#[derive(Clone, Debug)]
enum Absent {
    /// Their definitions could not be read: why, as logged then.
    Broken(String),
    /// Another node of a shared store leads (`None`: no node is known to
    /// lead now); the groups run there.
    Following(Option<NodeEndpoint>),
}

const NO_LEADER: &str = "no node leads the shared store now (it cannot be reached, or another node is taking over)";

macro_rules! absent_into {
    ($($error:ident),*) => {$(
        impl From<Absent> for $error {
            fn from(absent: Absent) -> Self {
                match absent {
                    Absent::Broken(reason) => $error::Unavailable(reason),
                    Absent::Following(Some(leader)) => $error::NotLeader(leader),
                    Absent::Following(None) => $error::Unavailable(NO_LEADER.to_owned()),
                }
            }
        }
    )*};
}
absent_into!(CreateError, UpdateError, GroupError, ConnectError);

struct Admin {
    /// `None` while the definitions cannot be read.
    config: Option<ConfigStore>,
    shut_down: bool,
}

impl PersistentSubscriptions {
    /// Loads every group and starts its task. Never fails: the server must
    /// start whatever state these streams are in. When the definitions
    /// cannot be read, the error is logged and every call answers
    /// `Unavailable` with it until a restart of the subsystem reads them;
    /// a group whose own state cannot be read fails alone.
    pub async fn start(store: Arc<dyn EventStore>) -> PersistentSubscriptions {
        Self::start_with(store, SubsystemOptions::default()).await
    }

    /// [`Self::start`] with other subsystem options (tests use a short
    /// timeout tick to run quickly).
    pub async fn start_with(store: Arc<dyn EventStore>, options: SubsystemOptions) -> PersistentSubscriptions {
        let subscriptions = Self::stopped(store, options);
        {
            let mut admin = subscriptions.inner.admin.lock().await;
            // Logged inside; the subsystem answers with it from now on.
            let _ = subscriptions.load(&mut admin).await;
        }
        subscriptions
    }

    /// The subsystem on a node that follows `leader` over a shared store:
    /// no group runs here, and every call answers where the leader is,
    /// until [`Self::lead`].
    pub fn follower(store: Arc<dyn EventStore>, options: SubsystemOptions, leader: Option<NodeEndpoint>) -> Self {
        let subscriptions = Self::stopped(store, options);
        subscriptions.set_unavailable(Some(Absent::Following(leader)));
        subscriptions
    }

    /// This node leads now: the groups are loaded and start here (from
    /// their checkpoints). A node that leads already is left as it is.
    pub async fn lead(&self) {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down || !matches!(self.unavailable(), Some(Absent::Following(_))) {
            return;
        }
        // Logged inside; the subsystem answers with it from now on.
        let _ = self.load(&mut admin).await;
    }

    /// Another node leads now: every group stops here (writing its last
    /// checkpoint; its consumers are dropped and told where the leader is),
    /// and calls answer where the leader is.
    pub async fn follow(&self, leader: Option<NodeEndpoint>) {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return;
        }
        let was_following = matches!(self.unavailable(), Some(Absent::Following(_)));
        admin.config = None;
        self.set_unavailable(Some(Absent::Following(leader.clone())));
        if !was_following {
            self.stop_all(DropReason::NotLeader(leader)).await;
        }
    }

    fn stopped(store: Arc<dyn EventStore>, options: SubsystemOptions) -> PersistentSubscriptions {
        PersistentSubscriptions {
            inner: Arc::new(Inner {
                store,
                options,
                groups: RwLock::new(BTreeMap::new()),
                admin: Mutex::new(Admin { config: None, shut_down: false }),
                unavailable: RwLock::new(None),
            }),
        }
    }

    /// Reads the definitions and starts a task per group, or records why
    /// they cannot be read.
    async fn load(&self, admin: &mut Admin) -> Result<(), StorageError> {
        match ConfigStore::load(Arc::clone(&self.inner.store)).await {
            Ok((config, definitions)) => {
                admin.config = Some(config);
                self.set_unavailable(None);
                let count = definitions.len();
                for definition in definitions.into_values() {
                    self.insert(definition);
                }
                tracing::debug!(groups = count, "persistent subscriptions started");
                Ok(())
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    "persistent subscriptions are unavailable: their definitions cannot be read; the log is served without them"
                );
                admin.config = None;
                self.set_unavailable(Some(Absent::Broken(error.to_string())));
                Err(error)
            }
        }
    }

    pub async fn create(&self, spec: GroupSpec) -> Result<(), CreateError> {
        check_spec(&spec)?;
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return Err(CreateError::ShutDown);
        }
        let Some(config) = admin.config.as_mut() else {
            return Err(self.not_loaded().into());
        };
        if self.handle(&spec.key).is_some() {
            return Err(CreateError::AlreadyExists(spec.key));
        }
        let store = self.inner.store.as_ref();
        let definition =
            GroupDefinition::resolve(spec, store, Uuid::new_v4()).await.map_err(store_errors::from_read)?;
        let key = definition.key().clone();
        checkpoint::prepare(store, &key).await?;
        config.put(&definition).await?;
        self.insert(definition);
        self.snapshot_if_due(&mut admin).await;
        Ok(())
    }

    /// New settings and start for a group; its consumers are dropped and it
    /// restarts from its checkpoint (the start applies only without one).
    pub async fn update(
        &self,
        key: &GroupKey,
        start_from: StartFrom,
        settings: GroupSettings,
    ) -> Result<(), UpdateError> {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return Err(UpdateError::ShutDown);
        }
        let Some(config) = admin.config.as_mut() else {
            return Err(self.not_loaded().into());
        };
        let Some(current) = self.handle(key) else {
            return Err(UpdateError::NotFound(key.clone()));
        };
        let spec = GroupSpec { start_from, settings, ..current.definition.spec.clone() };
        check_spec(&spec)?;
        let store = self.inner.store.as_ref();
        let definition = GroupDefinition::resolve(spec, store, current.definition.incarnation)
            .await
            .map_err(store_errors::from_read)?;
        current.stop(DropReason::Updated).await;
        if let Err(error) = config.put(&definition).await {
            // Not stored: the group goes on as it was.
            self.insert(GroupDefinition::clone(&current.definition));
            return Err(error.into());
        }
        self.insert(definition);
        self.snapshot_if_due(&mut admin).await;
        Ok(())
    }

    /// Deletes a group with its checkpoint and parked events; its
    /// consumers are dropped.
    pub async fn delete(&self, key: &GroupKey) -> Result<(), GroupError> {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return Err(GroupError::ShutDown);
        }
        let Some(config) = admin.config.as_mut() else {
            return Err(self.not_loaded().into());
        };
        let Some(current) = self.remove(key) else {
            return Err(GroupError::NotFound(key.clone()));
        };
        current.stop(DropReason::Deleted).await;
        if let Err(error) = config.remove(key).await {
            self.insert(GroupDefinition::clone(&current.definition));
            return Err(error.into());
        }
        // Best effort: a later group of the same name ignores an old
        // checkpoint anyway (its incarnation differs).
        let store = self.inner.store.as_ref();
        checkpoint::delete(store, key).await;
        parked::delete(store, key).await;
        self.snapshot_if_due(&mut admin).await;
        Ok(())
    }

    /// Joins a group as a consumer.
    pub async fn connect(&self, key: &GroupKey, options: ConsumerOptions) -> Result<Consumer, ConnectError> {
        if let Some(absent) = self.unavailable() {
            return Err(absent.into());
        }
        let handle = self.handle(key).ok_or_else(|| ConnectError::NotFound(key.clone()))?;
        handle.connect(options).await
    }

    pub async fn info(&self, key: &GroupKey) -> Result<GroupInfo, GroupError> {
        let handle = self.existing(key)?;
        handle.info().await
    }

    /// Every group, or those on `source`, in key order.
    pub async fn list(&self, source: Option<&Source>) -> Result<Vec<GroupInfo>, GroupError> {
        if let Some(absent) = self.unavailable() {
            return Err(absent.into());
        }
        let handles: Vec<Arc<GroupHandle>> = self
            .read_groups()
            .iter()
            .filter(|(key, _)| source.is_none_or(|source| key.source() == source))
            .map(|(_, handle)| Arc::clone(handle))
            .collect();
        // A group stopped meanwhile (deleted, updated) is left out.
        Ok(join_all(handles.iter().map(|handle| handle.info())).await.into_iter().filter_map(Result::ok).collect())
    }

    /// Delivers parked events again, the oldest first: those not replayed
    /// yet below the parked stream's revision `stop_at` (all when `None`), as
    /// EventStoreDB reads its stop-at.
    pub async fn replay_parked(&self, key: &GroupKey, stop_at: Option<u64>) -> Result<(), GroupError> {
        let handle = self.existing(key)?;
        handle.replay_parked(stop_at).await
    }

    /// Discards parked events without replaying them: those below the parked
    /// stream's revision `stop_at`, or all when `None`.
    pub async fn truncate_parked(&self, key: &GroupKey, stop_at: Option<u64>) -> Result<(), GroupError> {
        let handle = self.existing(key)?;
        handle.truncate_parked(stop_at).await
    }

    /// Stops every group (dropping its consumers) and loads them again from
    /// the store. An error says why the definitions cannot be read; the
    /// subsystem then answers `Unavailable` with it.
    pub async fn restart(&self) -> Result<(), StorageError> {
        let mut admin = self.inner.admin.lock().await;
        if admin.shut_down {
            return Ok(());
        }
        self.stop_all(DropReason::Restarted).await;
        self.load(&mut admin).await
    }

    /// Stops every group: last checkpoints are written and consumers are
    /// dropped. Later calls are refused. Idempotent.
    pub async fn shutdown(&self) {
        let mut admin = self.inner.admin.lock().await;
        admin.shut_down = true;
        self.stop_all(DropReason::ShuttingDown).await;
    }

    async fn stop_all(&self, reason: DropReason) {
        let handles: Vec<Arc<GroupHandle>> = {
            let mut groups = self.inner.groups.write().unwrap_or_else(|poison| poison.into_inner());
            std::mem::take(&mut *groups).into_values().collect()
        };
        join_all(handles.iter().map(|handle| handle.stop(reason.clone()))).await;
    }

    async fn snapshot_if_due(&self, admin: &mut Admin) {
        let definitions: Vec<GroupDefinition> =
            self.read_groups().values().map(|handle| GroupDefinition::clone(&handle.definition)).collect();
        if let Some(config) = admin.config.as_mut() {
            config.snapshot_if_due(definitions.iter()).await;
        }
    }

    fn insert(&self, definition: GroupDefinition) {
        let key = definition.key().clone();
        let handle = Arc::new(GroupHandle::spawn(
            Arc::new(definition),
            Arc::clone(&self.inner.store),
            self.inner.options.timeout_tick,
        ));
        self.inner.groups.write().unwrap_or_else(|poison| poison.into_inner()).insert(key, handle);
    }

    fn remove(&self, key: &GroupKey) -> Option<Arc<GroupHandle>> {
        self.inner.groups.write().unwrap_or_else(|poison| poison.into_inner()).remove(key)
    }

    fn handle(&self, key: &GroupKey) -> Option<Arc<GroupHandle>> {
        self.read_groups().get(key).cloned()
    }

    /// The group's handle, or why there is none.
    pub(crate) fn existing(&self, key: &GroupKey) -> Result<Arc<GroupHandle>, GroupError> {
        if let Some(absent) = self.unavailable() {
            return Err(absent.into());
        }
        self.handle(key).ok_or_else(|| GroupError::NotFound(key.clone()))
    }

    fn unavailable(&self) -> Option<Absent> {
        self.inner.unavailable.read().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    /// For a call that found no definitions loaded.
    fn not_loaded(&self) -> Absent {
        self.unavailable().unwrap_or_else(|| Absent::Broken("the group definitions are not loaded".to_owned()))
    }

    fn set_unavailable(&self, reason: Option<Absent>) {
        *self.inner.unavailable.write().unwrap_or_else(|poison| poison.into_inner()) = reason;
    }

    fn read_groups(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<GroupKey, Arc<GroupHandle>>> {
        self.inner.groups.read().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Settings, start and filter that fit together and can run.
fn check_spec(spec: &GroupSpec) -> Result<(), InvalidSettings> {
    spec.settings.validate()?;
    match (spec.key.source(), spec.start_from, &spec.filter) {
        (Source::Stream(_), StartFrom::Position(_), _) => {
            Err(InvalidSettings::new("a stream group starts from a revision, not a position"))
        }
        (Source::All, StartFrom::Revision(_), _) => {
            Err(InvalidSettings::new("a $all group starts from a position, not a revision"))
        }
        (Source::Stream(_), _, Some(_)) => Err(InvalidSettings::new("only $all groups can have a filter")),
        (_, _, Some(filter)) => filter.compile().map(|_| ()).map_err(|error| InvalidSettings::new(error.to_string())),
        _ => Ok(()),
    }
}
