//! The node: one value that holds everything a running eventfold serves,
//! composed once by the binary and handed to every face (gRPC, HTTP).
//!
//! - the store as clients see it, behind the access check ([`ClientAccess`]):
//!   whatever protocol a client speaks, what it may do is decided there, for
//!   the caller's [`Principal`] ([`Node::for_principal`]);
//! - the users (when authentication is on), who the faces authenticate
//!   through [`Node::authenticate`];
//! - the subsystems running over the store itself (persistent
//!   subscriptions, projections, connectors), which write their own state
//!   streams;
//! - facts about this node ([`NodeFacts`]: advertised address, versions,
//!   limits, start time) and its lifecycle ([`NodeState`]);
//! - what the faces report but only the transport knows (open connections);
//! - on a store shared by several nodes, which of them leads
//!   ([`ClusterOptions`], `leadership.rs`): the leader runs the subsystems,
//!   the others answer their calls with where it is.
//!
//! The faces translate their protocol to calls on these and hold no state of
//! their own, so gRPC and HTTP cannot tell two stories about one node. The
//! server crate only carries bytes: listener, connections, drain.

mod connections;
mod facts;
mod leadership;
mod members;
mod metrics;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use eventfold_connectors::{Connectors, ConnectorsOptions};
use eventfold_persistent::{PersistentSubscriptions, SubsystemOptions};
use eventfold_projections::Projections;
use eventfold_sql::ContinuousQueries;
use eventfold_store::{
    AccessDenied, AccessPolicy, AclRules, ClientAccess, EventStore, NodeAnnouncement, NodeEndpoint, Operation,
    Principal, Resource,
};
use eventfold_users::AuthenticationError;
use leadership::{Leadership, Led, Role};

pub use connections::OpenConnections;
pub use eventfold_users::{DefaultPasswords, Users};
pub use facts::{NodeFacts, NodeOptions};
pub use leadership::ClusterOptions;
pub use members::{ClusterMember, MemberState};
pub use metrics::MetricsText;
pub use state::NodeState;

/// eventfold's own version, reported by its own faces.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The EventStoreDB server version whose client protocol eventfold speaks.
/// Clients turn features on by this number, so it names the protocol level,
/// not eventfold's release.
pub const PROTOCOL_SERVER_VERSION: &str = "25.1.0";

/// A running node. Cheap to clone: every clone is the same node. A node
/// acts for one principal ([`Node::for_principal`]): the node itself (full
/// rights) unless a face scoped it to a request's caller.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    principal: Principal,
    /// The store behind the access check for `principal`.
    client_store: Arc<dyn EventStore>,
    /// The same check, for what is read on the caller's behalf elsewhere.
    access: Arc<ClientAccess>,
}

/// Everything here is built once, in [`Node::start`]; a handle that faces
/// share (a metrics recorder, projections, authentication) belongs here
/// beside the others, so that every face reaches the same one.
struct Inner {
    /// The store itself, for the per-principal access checks to wrap.
    store: Arc<dyn EventStore>,
    /// `None` while authentication is off.
    users: Option<Users>,
    persistent: PersistentSubscriptions,
    projections: Projections,
    connectors: Connectors,
    queries: ContinuousQueries,
    facts: NodeFacts,
    state: state::SharedState,
    connections: OpenConnections,
    metrics: Option<MetricsText>,
    /// Set on a store shared with other nodes.
    leadership: Option<Arc<Leadership>>,
}

impl Node {
    /// Starts the node's subsystems over `store` and composes the node, in
    /// state [`NodeState::Starting`]. `bound` is the address the listener
    /// is bound to, advertised unless `options` say otherwise.
    ///
    /// Persistent subscriptions, projections and connectors run over the
    /// store itself:
    /// their state streams are theirs to write, and clients may not. A start
    /// that cannot read their state leaves them reporting why; the log is
    /// served all the same.
    pub async fn start(store: Arc<dyn EventStore>, options: NodeOptions, bound: SocketAddr) -> Self {
        let users = match options.authentication {
            true => Some(Users::start(Arc::clone(&store), &options.default_passwords).await),
            false => None,
        };
        // Connectors keep their registry in memory: on a store shared by
        // several nodes each would deliver every event, so they run only on
        // a node alone on its store.
        let connectors_options = match options.cluster {
            None => options.connectors,
            Some(_) => {
                if options.connectors.run {
                    tracing::warn!("connectors do not run on a store shared by several nodes");
                }
                ConnectorsOptions { run: false }
            }
        };
        let connectors = Connectors::start(Arc::clone(&store), connectors_options).await;
        let facts = NodeFacts::new(&options, bound);
        // Alone on its store, a node leads; on a shared one, the lease decides.
        let joined = match options.cluster.clone() {
            None => None,
            Some(cluster) => {
                let me = NodeAnnouncement {
                    instance_id: facts.instance_id,
                    endpoint: NodeEndpoint { host: facts.advertised_host.clone(), port: facts.advertised_port },
                };
                Some(Leadership::join(cluster, me).await)
            }
        };
        let role = joined.as_ref().map_or(Role::Leader, |(_, role, _)| role.clone());
        // Continuous queries run on the leader only: each writes its rows
        // and checkpoint, which two nodes running it would both write.
        let (persistent, projections, queries) = match role {
            Role::Leader => (
                PersistentSubscriptions::start(Arc::clone(&store)).await,
                Projections::start(Arc::clone(&store), options.projections).await,
                ContinuousQueries::start(Arc::clone(&store), options.queries).await,
            ),
            Role::Follower(leader) => (
                PersistentSubscriptions::follower(Arc::clone(&store), SubsystemOptions::default(), leader.clone()),
                Projections::follower(Arc::clone(&store), options.projections, leader),
                ContinuousQueries::follower(Arc::clone(&store), options.queries),
            ),
        };
        let leadership = joined.map(|(leadership, _, granted_at)| {
            let led =
                Led { persistent: persistent.clone(), projections: projections.clone(), queries: queries.clone() };
            leadership.run(led, granted_at);
            leadership
        });
        let access = Arc::new(ClientAccess::new(Arc::clone(&store), AccessPolicy));
        let client_store: Arc<dyn EventStore> = access.clone();
        let metrics = options.metrics;
        Self {
            principal: Principal::System,
            client_store,
            access,
            inner: Arc::new(Inner {
                store,
                users,
                persistent,
                projections,
                connectors,
                queries,
                facts,
                state: state::SharedState::default(),
                connections: OpenConnections::default(),
                metrics,
                leadership,
            }),
        }
    }

    /// The store as every client request must reach it: behind the access
    /// check, for this node's principal (full rights unless the node was
    /// scoped with [`Node::for_principal`]).
    pub fn client_store(&self) -> &Arc<dyn EventStore> {
        &self.client_store
    }

    /// The store behind the access check for `principal`.
    pub fn client_store_for(&self, principal: &Principal) -> Arc<dyn EventStore> {
        Arc::clone(self.for_principal(principal.clone()).client_store())
    }

    /// This node acting for `principal`: its `client_store()` checks every
    /// call for that caller, and [`Node::authorize`] decides for it. While
    /// authentication is off, every caller has full rights.
    pub fn for_principal(&self, principal: Principal) -> Node {
        if !self.authentication_enabled() || principal == Principal::System {
            return Node { principal: Principal::System, ..self.clone() };
        }
        let access =
            Arc::new(ClientAccess::for_principal(Arc::clone(&self.inner.store), AccessPolicy, principal.clone()));
        Node { inner: Arc::clone(&self.inner), principal, client_store: access.clone(), access }
    }

    /// Who this node acts for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether requests must authenticate (secure mode).
    pub fn authentication_enabled(&self) -> bool {
        self.inner.users.is_some()
    }

    /// The principal of a request without credentials: full rights while
    /// authentication is off, anonymous otherwise.
    pub fn unauthenticated_principal(&self) -> Principal {
        if self.authentication_enabled() { Principal::Anonymous } else { Principal::System }
    }

    /// Who `login` with `password` is. While authentication is off any
    /// credentials act with full rights, as no credentials do.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Principal, AuthenticationError> {
        match &self.inner.users {
            Some(users) => users.authenticate(login, password).await,
            None => Ok(Principal::System),
        }
    }

    /// The users, while authentication is on.
    pub fn users(&self) -> Option<&Users> {
        self.inner.users.as_ref()
    }

    /// Whether this node's principal may read `resource` (a stream or
    /// `$all`), for reads made on its behalf outside the client store: a
    /// persistent subscription's consumer reads the group's source.
    pub async fn authorize_read(&self, resource: Resource<'_>) -> Result<(), eventfold_store::ReadError> {
        self.access.authorize_read(resource).await
    }

    /// Whether this node's principal may run `operation` on the node
    /// (scavenge, subsystems, projections or persistent subscription
    /// management), by the access policy.
    pub fn authorize(&self, operation: Operation) -> Result<(), AccessDenied> {
        AccessPolicy.check(&self.principal, Resource::Node, operation, &AclRules::default())
    }

    pub fn persistent_subscriptions(&self) -> &PersistentSubscriptions {
        &self.inner.persistent
    }

    pub fn projections(&self) -> &Projections {
        &self.inner.projections
    }

    pub fn connectors(&self) -> &Connectors {
        &self.inner.connectors
    }

    /// Continuous SQL queries (`/api/v1/queries`).
    pub fn queries(&self) -> &ContinuousQueries {
        &self.inner.queries
    }

    pub fn facts(&self) -> &NodeFacts {
        &self.inner.facts
    }

    pub fn state(&self) -> NodeState {
        self.inner.state.get()
    }

    /// The node serves: called once the listener accepts connections. A node
    /// already stopping stays stopping.
    pub fn mark_ready(&self) {
        self.inner.state.ready();
    }

    /// Begins the node's stop: it reports [`NodeState::Stopping`] from now on
    /// and its subsystems stop (persistent subscriptions write their last
    /// checkpoints and drop their consumers, so that their open calls end
    /// rather than hold the drain open; projections checkpoint what they
    /// processed; connectors checkpoint what they delivered). Calling it
    /// again does no harm.
    pub async fn stop(&self) {
        self.inner.state.stopping();
        self.inner.persistent.shutdown().await;
        self.inner.projections.shutdown().await;
        self.inner.connectors.shutdown().await;
        self.inner.queries.shutdown().await;
        if let Some(users) = &self.inner.users {
            users.shutdown();
        }
        if let Some(leadership) = &self.inner.leadership {
            leadership.leave().await;
        }
    }

    /// The connections the transport serves now.
    pub fn connections(&self) -> &OpenConnections {
        &self.inner.connections
    }

    /// What `GET /metrics` serves, if the binary installed a recorder.
    pub fn metrics(&self) -> Option<&MetricsText> {
        self.inner.metrics.as_ref()
    }

    /// This node's role as clients see it (Gossip, `/gossip`, `/info`).
    pub fn member_state(&self) -> MemberState {
        let leads = self.inner.leadership.as_ref().is_none_or(|leadership| leadership.role() == Role::Leader);
        MemberState::of(self.state(), leads)
    }

    /// The cluster as clients discover it (gRPC Gossip, HTTP `/gossip`): a
    /// node alone on its store is its own cluster and its leader while it
    /// serves; on a shared store, every node the store has heard from, with
    /// the lease holder as leader.
    pub fn cluster_members(&self) -> Vec<ClusterMember> {
        let me = ClusterMember::of_this_node(&self.inner.facts, self.member_state());
        let Some(view) = self.inner.leadership.as_ref().and_then(|leadership| leadership.view()) else {
            return vec![me];
        };
        let mut members: Vec<ClusterMember> = view
            .peers
            .iter()
            .filter(|peer| peer.instance_id != me.instance_id)
            .map(|peer| ClusterMember::of_peer(peer, view.leader == Some(peer.instance_id)))
            .collect();
        members.push(me);
        members.sort_by_key(|member| member.instance_id);
        members
    }
}
