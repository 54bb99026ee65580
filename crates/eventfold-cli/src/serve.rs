use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_node::{ClusterOptions, Node, NodeOptions};
use eventfold_projections::{ProjectionsOptions, RunProjections};
use eventfold_server::ConnectionLimits;
use eventfold_store::EventStore;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Data directory of the embedded engine.
    #[arg(long, env = "EVENTFOLD_DB", default_value = "./data")]
    db: PathBuf,
    /// Where events are stored: unset for the embedded engine in --db, or a
    /// PostgreSQL URL (`postgres://user@host/db`); several eventfold nodes
    /// may share one database.
    #[arg(long, env = "EVENTFOLD_STORE")]
    store: Option<String>,
    /// Connections to PostgreSQL per node (with --store postgres://...).
    #[arg(long, env = "EVENTFOLD_PG_POOL_SIZE", default_value_t = eventfold_postgres::PostgresConfig::new("").pool_size)]
    pg_pool_size: usize,
    /// Nodes sharing one PostgreSQL database agree on a leader, which runs
    /// persistent subscriptions and projections, through a lease in the
    /// database: a dead leader is replaced within this time. Each node
    /// renews its entry six times per lease.
    #[arg(long, env = "EVENTFOLD_PG_LEADER_LEASE_MS", default_value_t = 6000, value_parser = clap::value_parser!(u64).range(600..=600_000))]
    pg_leader_lease_ms: u64,
    /// Migrate a data directory of an older format version in place (take
    /// a backup first); without it, an older directory is opened as it is.
    #[arg(long, env = "EVENTFOLD_UPGRADE_FORMAT")]
    upgrade_format: bool,
    /// Address to listen on, `HOST:PORT` (gRPC and HTTP share it). A host
    /// name is resolved, and is what Gossip tells clients to use.
    #[arg(long, env = "EVENTFOLD_LISTEN", default_value = "127.0.0.1:2113")]
    listen: String,
    /// The host Gossip tells clients to use (by default the host of
    /// --listen, or `localhost` when that is every interface).
    #[arg(long, env = "EVENTFOLD_ADVERTISE_HOST_TO_CLIENT_AS")]
    advertise_host_to_client_as: Option<String>,
    /// The port Gossip tells clients to use (by default the one listened on).
    #[arg(long, env = "EVENTFOLD_ADVERTISE_NODE_PORT_TO_CLIENT_AS")]
    advertise_node_port_to_client_as: Option<u16>,
    /// Largest append accepted, in bytes of event types, data and metadata.
    #[arg(long, env = "EVENTFOLD_MAX_APPEND_BYTES", default_value_t = eventfold_store::DEFAULT_MAX_APPEND_BYTES)]
    max_append_bytes: usize,
    /// Connections served at once; more wait until one closes.
    #[arg(long, env = "EVENTFOLD_MAX_CONNECTIONS", default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
    /// Milliseconds a new connection has to send its first request's headers
    /// (and an HTTP/1.1 connection each request's headers).
    #[arg(long, env = "EVENTFOLD_REQUEST_HEADER_TIMEOUT_MS", default_value_t = millis(ConnectionLimits::default().request_header_timeout))]
    request_header_timeout_ms: u64,
    /// Milliseconds a connection may stay without any open request or
    /// subscription before it is closed.
    #[arg(long, env = "EVENTFOLD_IDLE_TIMEOUT_MS", default_value_t = millis(ConnectionLimits::default().idle_timeout))]
    idle_timeout_ms: u64,
    /// Milliseconds without a frame from an HTTP/2 peer before it is pinged.
    #[arg(long, env = "EVENTFOLD_KEEP_ALIVE_INTERVAL", default_value_t = millis(ConnectionLimits::default().keep_alive_interval))]
    keep_alive_interval: u64,
    /// Milliseconds a ping may go unanswered before the connection is closed.
    #[arg(long, env = "EVENTFOLD_KEEP_ALIVE_TIMEOUT", default_value_t = millis(ConnectionLimits::default().keep_alive_timeout))]
    keep_alive_timeout: u64,
    /// Serve KurrentDB's HTTP stream API (`/streams/...`) and the persistent
    /// subscription routes beyond listing, as KurrentDB does with the same
    /// option. Off by default, as there.
    #[arg(long, env = "EVENTFOLD_ENABLE_ATOM_PUB_OVER_HTTP")]
    enable_atom_pub_over_http: bool,
    /// Which projections run: None, System (the standard projections only)
    /// or All. `$ce-`, `$et-` and `$streams` are read from the index
    /// whatever this says.
    #[arg(long, env = "EVENTFOLD_RUN_PROJECTIONS", default_value = "All")]
    run_projections: RunProjections,
    /// Enables the standard projections (`$by_category`, `$by_event_type`,
    /// `$stream_by_category`, `$streams`, `$by_correlation_id`) at start.
    #[arg(long, env = "EVENTFOLD_START_STANDARD_PROJECTIONS")]
    start_standard_projections: bool,
    #[command(flatten)]
    authentication: crate::authentication::AuthenticationArgs,
    #[command(flatten)]
    tls: crate::tls::TlsArgs,
    /// Run connectors (`/connectors`, `eventfold connector`): `true` or
    /// `false`. Their definitions stay in the log either way.
    #[arg(long, env = "EVENTFOLD_RUN_CONNECTORS", default_value_t = true, action = clap::ArgAction::Set)]
    run_connectors: bool,
    /// Run continuous SQL queries (`/api/v1/queries`, `eventfold query`):
    /// `true` or `false`. Their definitions stay in the log either way.
    #[arg(long, env = "EVENTFOLD_RUN_QUERIES", default_value_t = true, action = clap::ArgAction::Set)]
    run_queries: bool,
    /// Rows an SQL answer (`/api/v1/sql`) holds when the query names no limit.
    #[arg(long, env = "EVENTFOLD_SQL_ROW_LIMIT", default_value_t = 10_000)]
    sql_row_limit: u64,
    /// How long an SQL query runs when it names no timeout, in milliseconds.
    #[arg(long, env = "EVENTFOLD_SQL_TIMEOUT_MS", default_value_t = 30_000)]
    sql_timeout_ms: u64,
}

/// The host of a `HOST:PORT` listen address when it is a name, not an IP
/// address: clients should be told the name that was configured.
fn configured_host_name(listen: &str) -> Option<String> {
    let (host, _port) = listen.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && host.parse::<std::net::IpAddr>().is_err()).then(|| host.to_owned())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ServeArgs {
    fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            request_header_timeout: Duration::from_millis(self.request_header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            keep_alive_interval: Duration::from_millis(self.keep_alive_interval),
            keep_alive_timeout: Duration::from_millis(self.keep_alive_timeout),
        }
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::listen();
    raise_open_files_limit();
    let mode = args.tls.mode(&args.listen).await.inspect_err(|error| tracing::error!("{error:#}"))?;
    crate::tls::reload_on_hangup(&mode);
    let exporter = crate::metrics::install();
    let backend = Backend::open(&args).await?;
    let listener =
        tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr().context("reading the listening address")?;
    tracing::info!(%address, store = %backend.describe(&args), version = eventfold_server::VERSION, "eventfold is serving");
    mode.log(address);
    let store = backend.store();
    let options = NodeOptions {
        max_append_bytes: args.max_append_bytes,
        advertise_host: args.advertise_host_to_client_as.clone().or_else(|| configured_host_name(&args.listen)),
        advertise_port: args.advertise_node_port_to_client_as,
        metrics: exporter.map(|handle| crate::metrics::text(handle, backend.metrics_sampler(), &args.db)),
        atom_pub_over_http: args.enable_atom_pub_over_http,
        projections: ProjectionsOptions {
            run: args.run_projections,
            start_standard_projections: args.start_standard_projections,
            ..ProjectionsOptions::default()
        },
        cluster: backend.cluster(&args),
        // Secure mode is KurrentDB's: TLS, and every client authenticates.
        authentication: mode.is_secure() || args.authentication.authentication,
        default_passwords: args.authentication.default_passwords(),
        secure: mode.is_secure(),
        connectors: eventfold_connectors::ConnectorsOptions { run: args.run_connectors },
        sql: sql_limits(&args),
        queries: eventfold_sql::QueriesOptions { run: args.run_queries, ..Default::default() },
    };
    // The node is composed once, here: the store behind the access check,
    // the subsystems over the store, the facts every face reports.
    let node = Node::start(store, options, address).await;
    let stop_accepting = Arc::new(tokio::sync::Notify::new());
    let server = eventfold_server::serve(node, listener, args.connection_limits(), mode.server_tls(), {
        let stop_accepting = Arc::clone(&stop_accepting);
        async move { stop_accepting.notified().await }
    });
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served.context("serving")?,
        () = signals.received() => {
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
                backend.shutdown().await;
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
    backend.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The storage backend the node serves.
enum Backend {
    Engine(Engine),
    Postgres(eventfold_postgres::PostgresStore),
}

impl Backend {
    async fn open(args: &ServeArgs) -> anyhow::Result<Self> {
        match args.store.as_deref() {
            None => {
                let mut config = EngineConfig::new(&args.db);
                config.max_append_bytes = args.max_append_bytes;
                config.upgrade_format = args.upgrade_format;
                let engine = tokio::task::spawn_blocking(move || Engine::open(config))
                    .await
                    .context("opening the engine")?
                    .with_context(|| format!("opening the database in {}", args.db.display()))?;
                Ok(Backend::Engine(engine))
            }
            Some(url) if eventfold_postgres::PostgresConfig::is_postgres_url(url) => {
                let mut config = eventfold_postgres::PostgresConfig::new(url);
                config.pool_size = args.pg_pool_size;
                config.max_append_bytes = args.max_append_bytes;
                let store =
                    eventfold_postgres::PostgresStore::open(config).await.context("opening the PostgreSQL store")?;
                Ok(Backend::Postgres(store))
            }
            Some(other) => {
                anyhow::bail!("--store must be a postgres:// URL (or unset for the embedded engine), not `{other}`")
            }
        }
    }

    fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Backend::Engine(engine) => Arc::new(engine.clone()),
            Backend::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// What the log line says: the directory, or the database without the
    /// URL's password.
    fn describe(&self, args: &ServeArgs) -> String {
        match self {
            Backend::Engine(_) => args.db.display().to_string(),
            // Whatever precedes `@` may hold a password.
            Backend::Postgres(_) => {
                let url = args.store.as_deref().unwrap_or_default();
                format!("postgresql {}", url.rsplit_once('@').map_or(url, |(_, database)| database))
            }
        }
    }

    /// How nodes sharing the store agree on a leader; the embedded engine's
    /// directory is locked to one node, which leads alone.
    fn cluster(&self, args: &ServeArgs) -> Option<ClusterOptions> {
        match self {
            Backend::Engine(_) => None,
            Backend::Postgres(store) => {
                let mut cluster = ClusterOptions::new(Arc::new(store.clone()));
                cluster.lease = Duration::from_millis(args.pg_leader_lease_ms);
                cluster.heartbeat = cluster.lease / 6;
                Some(cluster)
            }
        }
    }

    /// What `/metrics` samples of the backend before each scrape.
    fn metrics_sampler(&self) -> impl Fn() + Send + Sync + 'static {
        let backend = match self {
            Backend::Engine(engine) => Backend::Engine(engine.clone()),
            Backend::Postgres(store) => Backend::Postgres(store.clone()),
        };
        move || match &backend {
            Backend::Engine(engine) => engine.record_metrics(),
            Backend::Postgres(store) => store.record_metrics(),
        }
    }

    /// Stops the engine (answers queued appends, ends live subscriptions);
    /// the PostgreSQL store holds nothing that needs stopping.
    async fn shutdown(&self) {
        if let Backend::Engine(engine) = self {
            engine.shutdown().await;
        }
    }
}

/// How long a stopping server lets its own stop and open requests run
/// before it stops the engine under them.
const GRACE_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a stopping server then waits for open connections (a silent client,
/// a half-sent request) before it exits anyway.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// SIGINT (Ctrl-C) and SIGTERM, listened for from the moment this is made.
/// It is made before anything else starts: a signal that arrives while the
/// engine opens or the first requests are served must stop the server
/// cleanly, not kill it with the signal's default action.
struct ShutdownSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind)
                .inspect_err(
                    |error| tracing::warn!(%error, "cannot listen for {name}; it will not stop the server cleanly"),
                )
                .ok()
        };
        Self {
            interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            terminate: listen(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Completes when either signal has come (at once if one already has).
    async fn received(&mut self) {
        async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(self.interrupt.as_mut()) => {}
            () = next(self.terminate.as_mut()) => {}
        }
    }
}

/// Raises the soft limit on open files to the hard limit: each connection
/// takes a descriptor, and the writer needs some left to roll segments.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "could not raise the limit on open files");
        }
    }
}

/// The SQL bounds from `serve`'s flags; a default above the built-in
/// maximum raises the maximum with it.
fn sql_limits(args: &ServeArgs) -> eventfold_sql::SqlLimits {
    let built_in = eventfold_sql::SqlLimits::default();
    let timeout_default = std::time::Duration::from_millis(args.sql_timeout_ms);
    eventfold_sql::SqlLimits {
        row_limit_default: args.sql_row_limit,
        row_limit_max: built_in.row_limit_max.max(args.sql_row_limit),
        timeout_default,
        timeout_max: built_in.timeout_max.max(timeout_default),
        ..built_in
    }
}

#[cfg(test)]
mod tests {
    use super::configured_host_name;

    #[test]
    fn only_a_host_name_is_advertised_as_configured() {
        assert_eq!(configured_host_name("db.example.com:2113").as_deref(), Some("db.example.com"));
        assert_eq!(configured_host_name("localhost:0").as_deref(), Some("localhost"));
        assert_eq!(configured_host_name("127.0.0.1:2113"), None);
        assert_eq!(configured_host_name("[::1]:2113"), None);
        assert_eq!(configured_host_name("0.0.0.0:2113"), None);
        assert_eq!(configured_host_name("2113"), None);
    }
}
