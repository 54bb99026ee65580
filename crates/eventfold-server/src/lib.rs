//! The server: every protocol eventfold speaks, on one port, each a thin
//! adapter over [`EventStore`]. It never sees the engine behind the trait,
//! so the same server runs on the embedded engine or on PostgreSQL.

mod http;

use std::future::Future;
use std::sync::Arc;

use eventfold_store::EventStore;
use tokio::net::TcpListener;

pub use http::router;

/// What the adapters share: the store and facts about this server.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
}

/// Serves on `listener` until `shutdown` completes, then stops accepting,
/// lets in-flight requests finish and returns.
pub async fn serve(
    store: Arc<dyn EventStore>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(AppState { store });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// The version every face reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
