//! Which node of a shared store runs the subsystems that must run once per
//! store (persistent subscription groups, projections): the holder of the
//! store's leader lease ([`Coordination`]). Every node serves appends, reads
//! and catch-up subscriptions whatever its role.
//!
//! A task renews the lease every heartbeat. This node counts itself leader
//! only until `sent + lease - margin`, `sent` being when the heartbeat that
//! granted it left: the store times the lease from when it received it,
//! later, so this node stops leading before any other node can take over.
//! A node that loses the lease stops its subsystems (each writes a last
//! checkpoint) and answers their calls with where the leader is; the node
//! that gains it loads them from their checkpoints.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use eventfold_persistent::PersistentSubscriptions;
use eventfold_projections::Projections;
use eventfold_store::{ClusterView, Coordination, NodeAnnouncement, NodeEndpoint};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the nodes of a shared store agree on a leader.
#[derive(Clone)]
pub struct ClusterOptions {
    pub coordination: Arc<dyn Coordination>,
    /// How long a granted lease lasts without renewal: a dead leader is
    /// replaced after at most this long.
    pub lease: Duration,
    /// How often each node renews its entry and, when it leads, the lease.
    pub heartbeat: Duration,
}

impl ClusterOptions {
    pub fn new(coordination: Arc<dyn Coordination>) -> Self {
        Self { coordination, lease: Duration::from_secs(6), heartbeat: Duration::from_secs(1) }
    }

    /// Kept this much short of the lease, for the time a heartbeat takes to
    /// reach the store and for clocks that run at slightly different rates.
    fn margin(&self) -> Duration {
        (self.lease / 5).max(self.heartbeat)
    }
}

impl std::fmt::Debug for ClusterOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterOptions")
            .field("lease", &self.lease)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

/// This node's role as last decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Leader,
    /// Another node leads (`None`: none is known now: the store could not
    /// be reached, or the lease just expired).
    Follower(Option<NodeEndpoint>),
}

/// The subsystems a change of role starts or stops.
pub(crate) struct Led {
    pub persistent: PersistentSubscriptions,
    pub projections: Projections,
    pub queries: eventfold_sql::ContinuousQueries,
}

impl Led {
    async fn apply(&self, role: &Role) {
        match role {
            Role::Leader => {
                self.persistent.lead().await;
                self.projections.lead().await;
                self.queries.lead().await;
            }
            Role::Follower(leader) => {
                self.persistent.follow(leader.clone()).await;
                self.projections.follow(leader.clone()).await;
                self.queries.follow().await;
            }
        }
    }
}

pub(crate) struct Leadership {
    options: ClusterOptions,
    me: NodeAnnouncement,
    state: RwLock<State>,
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

struct State {
    role: Role,
    view: Option<ClusterView>,
}

impl Leadership {
    /// The first heartbeat, retried until the store answers: a node that
    /// cannot reach its store cannot serve anyway. Answers the role to
    /// start the subsystems in.
    pub async fn join(options: ClusterOptions, me: NodeAnnouncement) -> (Arc<Self>, Role, Instant) {
        let mut retry = Duration::from_millis(100);
        let (view, sent) = loop {
            let sent = Instant::now();
            match options.coordination.heartbeat(&me, options.lease).await {
                Ok(view) => break (view, sent),
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = retry.as_millis() as u64, "cannot reach the shared store to join its nodes");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(Duration::from_secs(5));
                }
            }
        };
        let role = role_of(&view, &me);
        tracing::info!(role = ?role, "joined the nodes of the shared store");
        let (stop, _) = watch::channel(false);
        let leadership = Arc::new(Self {
            options,
            me,
            state: RwLock::new(State { role: role.clone(), view: Some(view) }),
            stop,
            task: std::sync::Mutex::new(None),
        });
        (leadership, role, sent)
    }

    /// Renews every heartbeat and moves the subsystems when the role
    /// changes, until [`Self::leave`]. `granted_at`: when the heartbeat of
    /// [`Self::join`] left.
    pub fn run(self: &Arc<Self>, led: Led, granted_at: Instant) {
        let leadership = Arc::clone(self);
        let mut stopped = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let mut valid_until = granted_at + leadership.options.lease.saturating_sub(leadership.options.margin());
            loop {
                tokio::select! {
                    () = tokio::time::sleep(leadership.options.heartbeat) => {}
                    _ = stopped.changed() => return,
                }
                let sent = Instant::now();
                let heard = leadership.options.coordination.heartbeat(&leadership.me, leadership.options.lease).await;
                let role = match heard {
                    Ok(view) => {
                        let role = role_of(&view, &leadership.me);
                        if role == Role::Leader {
                            valid_until = sent + leadership.options.lease.saturating_sub(leadership.options.margin());
                        }
                        leadership.write().view = Some(view);
                        role
                    }
                    Err(error) => {
                        tracing::warn!(%error, "heartbeat to the shared store failed");
                        match leadership.role() {
                            Role::Leader if Instant::now() < valid_until => Role::Leader,
                            Role::Leader => Role::Follower(None),
                            follower => follower,
                        }
                    }
                };
                if role != leadership.role() {
                    tracing::info!(role = ?role, "this node's role changed");
                    led.apply(&role).await;
                    leadership.write().role = role;
                }
            }
        });
        *self.task.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(task);
    }

    pub fn role(&self) -> Role {
        self.read().role.clone()
    }

    pub fn view(&self) -> Option<ClusterView> {
        self.read().view.clone()
    }

    /// Stops renewing and gives the lease up, so that another node takes
    /// over at once. Called after the subsystems stopped.
    pub async fn leave(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|poison| poison.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Err(error) = self.options.coordination.leave(&self.me).await {
            tracing::warn!(%error, "could not give the leader lease up; it expires by itself");
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poison| poison.into_inner())
    }
}

fn role_of(view: &ClusterView, me: &NodeAnnouncement) -> Role {
    if view.leader == Some(me.instance_id) { Role::Leader } else { Role::Follower(view.leader_endpoint().cloned()) }
}
