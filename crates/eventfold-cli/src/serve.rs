use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::EventStore;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Data directory of the embedded engine.
    #[arg(long, env = "EVENTFOLD_DB", default_value = "./data")]
    db: PathBuf,
    /// Address to listen on (gRPC and HTTP share it).
    #[arg(long, env = "EVENTFOLD_LISTEN", default_value = "127.0.0.1:2113")]
    listen: SocketAddr,
    /// Largest append accepted, in bytes of event types, data and metadata.
    #[arg(long, env = "EVENTFOLD_MAX_APPEND_BYTES", default_value_t = eventfold_store::DEFAULT_MAX_APPEND_BYTES)]
    max_append_bytes: usize,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = EngineConfig::new(&args.db);
    config.max_append_bytes = args.max_append_bytes;
    let engine = tokio::task::spawn_blocking(move || Engine::open(config))
        .await
        .context("opening the engine")?
        .with_context(|| format!("opening the database in {}", args.db.display()))?;
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr().context("reading the listening address")?;
    tracing::info!(%address, db = %args.db.display(), version = eventfold_server::VERSION, "eventfold is serving");
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    let options = eventfold_server::ServeOptions { max_append_bytes: args.max_append_bytes };
    let stop_accepting = Arc::new(tokio::sync::Notify::new());
    let server = eventfold_server::serve(store, listener, options, {
        let stop_accepting = Arc::clone(&stop_accepting);
        async move { stop_accepting.notified().await }
    });
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served.context("serving")?,
        () = shutdown_signal() => {
            tracing::info!("shutting down: no new connections; flushing the index and closing files");
            // `notify_one` keeps the permit if the server is not waiting yet.
            stop_accepting.notify_one();
            // First the server's own stop (persistent subscriptions write
            // their last checkpoints, which needs the engine) and whatever
            // requests finish by themselves.
            if let Ok(served) = tokio::time::timeout(GRACE_PERIOD, &mut server).await {
                served.context("serving")?;
            } else {
                // Stopping the engine answers queued appends, then ends every
                // live subscription, so open streams finish instead of
                // holding the drain open.
                engine.shutdown().await;
                match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
                    Ok(served) => served.context("serving")?,
                    Err(_) => tracing::warn!(
                        seconds = DRAIN_TIMEOUT.as_secs(),
                        "connections still open after the drain timeout; closing them"
                    ),
                }
            }
        }
    }
    engine.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// How long a stopping server lets its own stop and open requests run
/// before it stops the engine under them.
const GRACE_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a stopping server then waits for open connections (a silent client,
/// a half-sent request) before it exits anyway.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
