//! The server: every protocol eventfold speaks (gRPC for the EventStoreDB
//! clients, its own HTTP/JSON), on one port, each a thin
//! adapter over [`EventStore`]. It never sees the engine behind the trait,
//! so the same server runs on the embedded engine or on PostgreSQL.

mod http;
pub mod metrics;
mod transport;

use std::future::Future;
use std::sync::Arc;

use eventfold_store::{AccessPolicy, ClientAccess, EventStore};
use tokio::net::TcpListener;

pub use http::{ScavengeStatusBody, fallback, router};
pub use transport::ConnectionLimits;

/// What the adapters share: the store and facts about this server.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
}

/// How the server presents itself and treats connections.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Largest append the store accepts; the gRPC face reports it.
    pub max_append_bytes: usize,
    pub connections: ConnectionLimits,
    /// The host Gossip tells clients to use; by default the address the
    /// listener is bound to, or `localhost` when it is bound to every
    /// interface (what a client on this machine would use).
    pub advertise_host: Option<String>,
    /// The port Gossip tells clients to use; by default the bound one.
    pub advertise_port: Option<u16>,
    /// Serves `GET /metrics` when set; requests are measured either way.
    pub metrics: Option<metrics::MetricsEndpoint>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_append_bytes: eventfold_store::DEFAULT_MAX_APPEND_BYTES,
            connections: ConnectionLimits::default(),
            advertise_host: None,
            advertise_port: None,
            metrics: None,
        }
    }
}

/// Serves gRPC (HTTP/2, plaintext) and HTTP/1.1 on `listener` until
/// `shutdown` completes, then stops accepting, lets in-flight requests
/// finish and returns.
pub async fn serve(
    store: Arc<dyn EventStore>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let bound = listener.local_addr()?;
    let node = eventfold_grpc::NodeInfo {
        advertised_host: options.advertise_host.clone().unwrap_or_else(|| default_advertised_host(bound.ip())),
        advertised_port: options.advertise_port.unwrap_or(bound.port()),
        server_version: PROTOCOL_SERVER_VERSION.to_owned(),
        max_append_bytes: options.max_append_bytes,
    };
    // Persistent subscriptions run over the store itself: their state
    // streams are theirs to write. They stop as soon as shutdown begins
    // (last checkpoints written, consumers dropped), so that their open
    // Read calls end rather than hold the drain open. A start that cannot
    // read their state leaves them reporting why, and the log is served
    // all the same.
    let persistent = eventfold_persistent::PersistentSubscriptions::start(Arc::clone(&store)).await;
    // Every face gets the store behind the access check: what a client may
    // do is decided there, once, whichever protocol it speaks.
    let client_store: Arc<dyn EventStore> = Arc::new(ClientAccess::new(store, AccessPolicy));
    let grpc = eventfold_grpc::routes(Arc::clone(&client_store), node, persistent.clone()).into_axum_router();
    let app = router(AppState { store: client_store }).merge(grpc).fallback(fallback);
    let app = metrics::instrument(app, options.metrics.clone());
    let stopping = persistent.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.shutdown().await;
    };
    let served = transport::serve(listener, app, options.connections, shutdown).await;
    // Serving may also end on an error; the subsystem stops either way.
    persistent.shutdown().await;
    served
}

/// What a client on this machine would use to reach a listener bound to `ip`.
fn default_advertised_host(ip: std::net::IpAddr) -> String {
    if ip.is_unspecified() { "localhost".to_owned() } else { ip.to_string() }
}

/// eventfold's own version, reported by its own faces.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The EventStoreDB server version whose client protocol eventfold speaks.
/// Clients turn features on by this number, so it names the protocol level,
/// not eventfold's release.
pub const PROTOCOL_SERVER_VERSION: &str = "25.1.0";
