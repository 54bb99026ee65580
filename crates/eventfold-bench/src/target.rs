//! What a workload runs against: the engine in this process, a server over
//! gRPC (through the lean client or the official one) or over its JSON API,
//! or the PostgreSQL
//! baseline, behind one small set of operations so
//! every workload measures each target the same way. A target is opened
//! fresh for each measurement (its own database), so bytes on disk and peak
//! memory belong to that measurement alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest,
    ReadStreamRequest, StreamName, SubscribeFrom, SubscribeToAllRequest, SubscribeToStreamRequest, SubscriptionItem,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use crate::child_server::{self, ChildServer};
use crate::pg_client::PgClients;
use crate::server_client::{ClientKind, ServerClient};
use crate::stats::{directory_bytes, peak_rss_bytes, rss_bytes};
use eventfold_testkit::pg_server::{self, PgServer};

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum TargetKind {
    /// The embedded engine, in this process.
    Engine,
    /// `eventfold serve` through the bench's lean gRPC client (a child
    /// process unless --server-url).
    Grpc,
    /// The same as `grpc`, over TLS: the server in secure mode with a
    /// certificate from `eventfold certs`, the lean client trusting its CA.
    /// Beside `grpc` in one run, the ratio is what TLS costs.
    #[value(name = "grpc-tls")]
    GrpcTls,
    /// `eventfold serve --store postgres://...` on a throwaway PostgreSQL
    /// (or --pg-url's), through the lean client: the PostgreSQL backend as
    /// clients see it, beside `grpc` (the engine) and `postgres` (a plain
    /// table) in one run.
    #[value(name = "grpc-postgres")]
    GrpcPostgres,
    /// The same server through the official Rust client, `kurrentdb`, as
    /// an application calls it.
    Kurrentdb,
    /// A plain PostgreSQL events table (a throwaway server unless --pg-url).
    Postgres,
    /// The same server through its JSON API (`/api/v1`), over HTTP/1.1
    /// keep-alive connections.
    Http,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Engine => "engine",
            TargetKind::Grpc => "grpc",
            TargetKind::GrpcTls => "grpc-tls",
            TargetKind::GrpcPostgres => "grpc-postgres",
            TargetKind::Kurrentdb => "kurrentdb",
            TargetKind::Postgres => "postgres",
            TargetKind::Http => "http",
        }
    }
}

/// Where the targets are, when they are not started by the bench.
#[derive(Clone, Default, clap::Args)]
pub struct TargetOptions {
    /// A running eventfold server (`http://127.0.0.1:2113`); otherwise the
    /// bench starts `eventfold serve` itself.
    #[arg(long, global = true, env = "EVENTFOLD_BENCH_SERVER_URL")]
    pub server_url: Option<String>,
    /// The `eventfold` binary the bench starts as its server; by default
    /// the one beside `eventfold-bench` (same cargo target directory and
    /// profile).
    #[arg(long, global = true, env = "EVENTFOLD_BIN")]
    pub server_bin: Option<PathBuf>,
    /// A PostgreSQL to use (`host=... user=...` or `postgres://...`);
    /// otherwise the bench starts a throwaway one.
    #[arg(long, global = true, env = "EVENTFOLD_BENCH_PG_URL")]
    pub pg_url: Option<String>,
}

pub enum AppendResult {
    Written,
    Conflict { actual: CurrentRevision },
}

pub enum Delivery {
    Event { revision: u64 },
    CaughtUp,
}

pub type DeliveryStream = BoxStream<'static, anyhow::Result<Delivery>>;

pub struct Target {
    pub kind: TargetKind,
    backend: Backend,
    /// Makes stream names unique per measurement, for servers that outlive it.
    prefix: String,
}

enum Backend {
    Engine {
        engine: Engine,
        db: tempfile::TempDir,
    },
    // Fields drop in order: the client before the server it talks to, the
    // server before the PostgreSQL it stores its events in.
    Server {
        client: ServerClient,
        url: String,
        server: Option<ChildServer>,
        db: Option<tempfile::TempDir>,
        /// The PostgreSQL database the server stores its events in, when
        /// it is the bench's own `grpc-postgres` server.
        store: Option<String>,
        /// Kept running while the server stores its events in it.
        _pg: Option<PgServer>,
    },
    Postgres {
        clients: PgClients,
        server: Option<PgServer>,
    },
}

/// Either an open target, or why it cannot run here (reported, not fatal).
pub enum Opened {
    // Boxed: a target is large, a skip reason small.
    Ready(Box<Target>),
    Skipped(String),
}

impl Target {
    /// Opens a fresh target; `connections` is how many concurrent writers
    /// it must serve (PostgreSQL opens one connection for each).
    pub async fn open(
        kind: TargetKind,
        options: &TargetOptions,
        scratch: &Path,
        connections: usize,
    ) -> anyhow::Result<Opened> {
        let prefix = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
        let backend = match kind {
            TargetKind::Engine => {
                let db = tempfile::tempdir_in(scratch).context("creating the database directory")?;
                let engine = Engine::open(EngineConfig::new(db.path())).context("opening the engine")?;
                Backend::Engine { engine, db }
            }
            TargetKind::Grpc => open_server(ClientKind::Lean, options, scratch, false).await?,
            TargetKind::GrpcTls => open_server(ClientKind::Lean, options, scratch, true).await?,
            TargetKind::GrpcPostgres => match open_server_on_postgres(options, scratch).await? {
                Some(backend) => backend,
                None => return Ok(Opened::Skipped(NO_POSTGRES.to_owned())),
            },
            TargetKind::Kurrentdb => open_server(ClientKind::Official, options, scratch, false).await?,
            TargetKind::Http => open_server(ClientKind::Http, options, scratch, false).await?,
            TargetKind::Postgres => {
                let (config, server) = match &options.pg_url {
                    Some(url) => (url.parse().context("the --pg-url")?, None),
                    None => {
                        let Some(bin) = pg_server::find_binaries() else {
                            return Ok(Opened::Skipped(NO_POSTGRES.to_owned()));
                        };
                        let server = match tokio::task::block_in_place(|| PgServer::start(bin)) {
                            Ok(server) => server,
                            Err(error) => return Ok(Opened::Skipped(format!("{error:#}"))),
                        };
                        let mut config = tokio_postgres::Config::new();
                        config.host_path(&server.socket_dir).port(server.port).user("postgres").dbname("postgres");
                        (config, Some(server))
                    }
                };
                let clients = PgClients::connect(&config, connections).await?;
                Backend::Postgres { clients, server }
            }
        };
        Ok(Opened::Ready(Box::new(Target { kind, backend, prefix })))
    }

    /// The in-process engine, for workloads that run subsystems over it.
    pub fn engine(&self) -> Option<&Engine> {
        match &self.backend {
            Backend::Engine { engine, .. } => Some(engine),
            _ => None,
        }
    }

    /// The server's address, for a workload that calls a service of its own.
    pub fn server_url(&self) -> Option<&str> {
        match &self.backend {
            Backend::Server { url, .. } => Some(url),
            _ => None,
        }
    }

    /// The PostgreSQL database URL the bench's `grpc-postgres` server stores
    /// its events in: another node can serve the same database.
    pub fn postgres_store(&self) -> Option<&str> {
        match &self.backend {
            Backend::Server { store, .. } => store.as_deref(),
            _ => None,
        }
    }

    /// A stream name unique to this measurement.
    pub fn stream(&self, name: &str) -> String {
        format!("{name}_{}", self.prefix)
    }

    pub async fn append(
        &self,
        writer: usize,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        match &self.backend {
            Backend::Engine { engine, .. } => {
                let stream = StreamName::new(stream).context("stream name")?;
                let events = bodies.into_iter().map(|body| ProposedEvent::json("OrderPlaced", body)).collect();
                match engine.append(AppendRequest::new(stream, expected, events)).await {
                    Ok(_) => Ok(AppendResult::Written),
                    Err(AppendError::WrongExpectedVersion { actual, .. }) => Ok(AppendResult::Conflict { actual }),
                    Err(error) => Err(anyhow::Error::new(error).context("appending")),
                }
            }
            Backend::Server { client, .. } => client.append(stream, expected, bodies).await,
            Backend::Postgres { clients, .. } => clients.append(writer, stream, expected, bodies).await,
        }
    }

    /// Reads one stream, or `$all` for None, from the start to the end.
    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        match &self.backend {
            Backend::Engine { engine, .. } => {
                let mut events = match stream {
                    Some(stream) => {
                        let stream = StreamName::new(stream).context("stream name")?;
                        engine.read_stream(ReadStreamRequest::forwards(stream)).await?
                    }
                    None => engine.read_all(ReadAllRequest::forwards()).await?,
                };
                let mut count = 0;
                while let Some(event) = events.next().await {
                    event.context("reading")?;
                    count += 1;
                }
                Ok(count)
            }
            Backend::Server { client, .. } => client.read_to_end(stream).await,
            Backend::Postgres { clients, .. } => clients.read_to_end(stream).await,
        }
    }

    /// A catch-up subscription from the start of a stream or of `$all`.
    /// As [`Self::subscribe`], over a connection of its own for gRPC: an
    /// HTTP/2 connection's flow-control window is shared by its calls, so a
    /// subscription its reader stops polling would stall the others.
    pub async fn subscribe_apart(&self, stream: Option<&str>) -> anyhow::Result<DeliveryStream> {
        match &self.backend {
            Backend::Server { client, url, .. } => {
                ServerClient::connect(client.kind(), url).await?.subscribe(stream).await
            }
            _ => self.subscribe(stream).await,
        }
    }

    pub async fn subscribe(&self, stream: Option<&str>) -> anyhow::Result<DeliveryStream> {
        match &self.backend {
            Backend::Engine { engine, .. } => {
                let items = match stream {
                    Some(stream) => {
                        let stream = StreamName::new(stream).context("stream name")?;
                        engine
                            .subscribe_to_stream(SubscribeToStreamRequest { stream, from: SubscribeFrom::Start })
                            .await?
                    }
                    None => {
                        let request = SubscribeToAllRequest {
                            from: SubscribeFrom::Start,
                            filter: None,
                            checkpoint_interval: None,
                        };
                        engine.subscribe_to_all(request).await?
                    }
                };
                Ok(items
                    .filter_map(|item| async move {
                        match item {
                            Ok(SubscriptionItem::Event(event)) => {
                                Some(Ok(Delivery::Event { revision: event.revision }))
                            }
                            Ok(SubscriptionItem::CaughtUp) => Some(Ok(Delivery::CaughtUp)),
                            Ok(SubscriptionItem::Checkpoint(_)) => None,
                            Err(error) => Some(Err(anyhow::Error::new(error).context("subscription"))),
                        }
                    })
                    .boxed())
            }
            Backend::Server { client, .. } => client.subscribe(stream).await,
            Backend::Postgres { .. } => bail!("a plain PostgreSQL table has no subscriptions"),
        }
    }

    /// Asks the kernel to forget the cached pages of the database files, for
    /// a cold read. False where the bench cannot reach those files (a
    /// server it did not start; PostgreSQL keeps its own buffer cache).
    pub fn drop_page_cache(&self) -> anyhow::Result<bool> {
        let dir = match &self.backend {
            Backend::Engine { db, .. } => db.path(),
            Backend::Server { db: Some(db), .. } => db.path(),
            _ => return Ok(false),
        };
        evict_directory(dir)?;
        Ok(true)
    }

    /// Bytes the target's database takes on disk, when it can be measured.
    pub async fn bytes_on_disk(&self) -> Option<u64> {
        match &self.backend {
            Backend::Engine { db, .. } => Some(directory_bytes(db.path())),
            Backend::Server { db, .. } => db.as_ref().map(|db| directory_bytes(db.path())),
            Backend::Postgres { clients, .. } => clients.relation_bytes().await.ok(),
        }
    }

    /// Peak RSS of the process serving the target: this one for the
    /// engine, the child server, or the sum over PostgreSQL's processes
    /// (each backend counts the shared buffers it touched).
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        match &self.backend {
            Backend::Engine { .. } => peak_rss_bytes("self"),
            Backend::Server { server, .. } => {
                server.as_ref().and_then(|server| peak_rss_bytes(&server.pid().to_string()))
            }
            Backend::Postgres { server, .. } => {
                let postmaster = server.as_ref()?.postmaster_pid()?;
                Some(process_tree(postmaster).iter().filter_map(|pid| peak_rss_bytes(&pid.to_string())).sum())
            }
        }
    }

    /// Resident memory of the process serving the target now (engine and
    /// gRPC targets).
    pub fn rss_bytes(&self) -> Option<u64> {
        match &self.backend {
            Backend::Engine { .. } => rss_bytes("self"),
            Backend::Server { server, .. } => server.as_ref().and_then(|server| rss_bytes(&server.pid().to_string())),
            Backend::Postgres { .. } => None,
        }
    }

    /// The figures every report carries about the target itself.
    pub async fn describe(&self, events: u64) -> Value {
        let bytes = self.bytes_on_disk().await;
        json!({
            "target": self.kind.name(),
            "bytes_on_disk": bytes,
            "bytes_on_disk_per_event": bytes.filter(|_| events > 0).map(|bytes| bytes as f64 / events as f64),
            "peak_rss_bytes": self.peak_rss_bytes(),
        })
    }

    pub async fn close(self) {
        if let Backend::Engine { engine, .. } = &self.backend {
            engine.shutdown().await;
        }
    }
}

/// A server for `client` to drive: the one at --server-url, or a child
/// `eventfold serve` on a database of its own.
/// A server target: the one at `--server-url` (whatever its mode), or a
/// child server, in secure mode when `secure`.
async fn open_server(
    client: ClientKind,
    options: &TargetOptions,
    scratch: &Path,
    secure: bool,
) -> anyhow::Result<Backend> {
    if let Some(url) = &options.server_url {
        let client = ServerClient::connect(client, url).await?;
        return Ok(Backend::Server { client, url: url.clone(), server: None, db: None, store: None, _pg: None });
    }
    let db = tempfile::tempdir_in(scratch).context("creating the database directory")?;
    let binary = child_server::server_binary(options.server_bin.as_deref())?;
    let server = tokio::task::block_in_place(|| {
        if secure { ChildServer::start_secure(&binary, db.path()) } else { ChildServer::start(&binary, db.path()) }
    })?;
    let url = server.url();
    let client = ServerClient::connect(client, &url).await?;
    Ok(Backend::Server { client, url, server: Some(server), db: Some(db), store: None, _pg: None })
}

const NO_POSTGRES: &str = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)";

/// `eventfold serve` on a fresh database of --pg-url's server or of a
/// throwaway one; `None` where PostgreSQL is not installed.
async fn open_server_on_postgres(options: &TargetOptions, scratch: &Path) -> anyhow::Result<Option<Backend>> {
    let database = format!("eventfold_bench_{}", uuid::Uuid::new_v4().simple());
    let (url, pg) = match &options.pg_url {
        Some(url) => {
            let (client, connection) =
                tokio_postgres::connect(url, tokio_postgres::NoTls).await.context("connecting to --pg-url")?;
            let connection = tokio::spawn(connection);
            client.batch_execute(&format!("CREATE DATABASE {database}")).await.context("creating a database")?;
            drop(client);
            let _ = connection.await;
            let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
            (format!("{base}/{database}"), None)
        }
        None => {
            let Some(bin) = pg_server::find_binaries() else { return Ok(None) };
            let server = tokio::task::block_in_place(|| PgServer::start(bin))?;
            tokio::task::block_in_place(|| server.create_database(&database))?;
            (server.url(&database), Some(server))
        }
    };
    let db = tempfile::tempdir_in(scratch).context("creating the server's directory")?;
    let binary = child_server::server_binary(options.server_bin.as_deref())?;
    let server = tokio::task::block_in_place(|| ChildServer::start_on_postgres(&binary, db.path(), &url))?;
    let server_url = server.url();
    let client = ServerClient::connect(ClientKind::Lean, &server_url).await?;
    Ok(Some(Backend::Server { client, url: server_url, server: Some(server), db: Some(db), store: Some(url), _pg: pg }))
}

fn evict_directory(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context("listing")?;
        let file_type = entry.file_type().context("file type")?;
        if file_type.is_dir() {
            evict_directory(&entry.path())?;
        } else if file_type.is_file() {
            let file =
                std::fs::File::open(entry.path()).with_context(|| format!("opening {}", entry.path().display()))?;
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
                .with_context(|| format!("evicting {} from the page cache", entry.path().display()))?;
        }
    }
    Ok(())
}

/// `root` and its direct children, from /proc.
fn process_tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The parent id is the second field after the parenthesised name.
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if parent == Some(root) {
            pids.push(pid);
        }
    }
    pids
}
