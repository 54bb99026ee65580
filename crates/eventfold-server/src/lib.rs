//! The server: every protocol eventfold speaks (gRPC for the EventStoreDB
//! clients, its own HTTP/JSON), on one port. The faces are thin adapters
//! over a [`Node`], which the binary composes once; this crate carries
//! bytes (listener, HTTP/1.1 and h2c, connection limits, drain). It never
//! sees the engine behind the store, so the same server runs on the
//! embedded engine or on PostgreSQL.

mod auth;
mod http;
pub mod metrics;
pub mod tls;
mod transport;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

use eventfold_node::Node;
pub use eventfold_node::{PROTOCOL_SERVER_VERSION, VERSION};
pub use http::{BackupReportBody, DamagedRangeBody, ScavengeStatusBody, VerifyReportBody, fallback, router};
pub use transport::ConnectionLimits;

/// Every face of `node` in one router: eventfold's HTTP/JSON, the gRPC
/// services, and an answer for anything else; every request passes the
/// authentication layer first.
pub fn app(node: &Node) -> Router {
    let app = router(node.clone()).merge(eventfold_grpc::routes(node).into_axum_router()).fallback(fallback);
    metrics::instrument(auth::layer(app, node), node.metrics().cloned())
}

/// Serves `node` (gRPC over HTTP/2, and HTTP/1.1; over TLS when `tls` is
/// given, plaintext otherwise) on `listener` until `shutdown` completes,
/// then stops accepting, lets in-flight requests finish and returns.
///
/// The node is ready from the moment the listener accepts, and stopping from
/// the moment `shutdown` completes: its subsystems stop then, so that their
/// open calls (persistent subscription reads) end rather than hold the
/// drain open.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    limits: ConnectionLimits,
    tls: Option<tls::ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(&node);
    let stopping = node.clone();
    let shutdown = async move {
        shutdown.await;
        stopping.stop().await;
    };
    node.mark_ready();
    let served = transport::serve(listener, app, limits, tls, node.connections().clone(), shutdown).await;
    // Serving may also end on an error; the node stops either way.
    node.stop().await;
    served
}
