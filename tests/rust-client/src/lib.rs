//! Test harness: runs a real `eventfold serve` process (the binary named by
//! `EVENTFOLD_BIN`) on a free loopback port with a temporary data directory,
//! and hands out official `kurrentdb` clients connected to it.
//!
//! With `EVENTFOLD_TEST_PG_BASE` (a PostgreSQL cluster's URL without a
//! database, as `scripts/test-rust-client` sets it when
//! `EVENTFOLD_RUST_CLIENT_STORE=postgres`), every server stores its events
//! in a fresh database of that cluster instead.
//!
//! The server is stopped with SIGTERM by [`Server::stop`]; a server still
//! running when its [`Server`] is dropped (a failed test) is killed.

use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::io::Read as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kurrentdb::{Client, ClientSettings, EventData};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long the server may take to answer `/health` after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `eventfold serve`.
pub struct Server {
    child: Option<Child>,
    address: SocketAddr,
    log_path: PathBuf,
    /// In secure mode: the CA certificate clients trust.
    ca_file: Option<PathBuf>,
    _dir: TempDir,
}

/// The server binary: `EVENTFOLD_BIN`, as `scripts/test-rust-client` sets it.
pub fn server_binary() -> PathBuf {
    let path = std::env::var_os("EVENTFOLD_BIN").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "EVENTFOLD_BIN is not set: build the server (cargo build -p eventfold-cli) and point \
             EVENTFOLD_BIN at the `eventfold` binary, or run scripts/test-rust-client"
        )
    });
    assert!(path.is_file(), "EVENTFOLD_BIN={} is not a file", path.display());
    path
}

/// The PostgreSQL cluster the servers store their events in, when the
/// suite runs on PostgreSQL.
pub fn postgres_base() -> Option<String> {
    std::env::var("EVENTFOLD_TEST_PG_BASE").ok().filter(|base| !base.is_empty())
}

/// `--store` for a new server: on PostgreSQL, a database of its own (so
/// every server starts empty) made with the cluster's `createdb`; nothing
/// on the embedded engine.
fn store_args() -> Vec<OsString> {
    let Some(base) = postgres_base() else { return Vec::new() };
    let database = format!("ef_rust_{}", uuid::Uuid::new_v4().simple());
    let (host, port) = base
        .rsplit_once('@')
        .map_or(base.as_str(), |(_, host_port)| host_port)
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("EVENTFOLD_TEST_PG_BASE={base} has no host:port"));
    let createdb = std::env::var_os("EVENTFOLD_TEST_PG_CREATEDB").unwrap_or_else(|| "createdb".into());
    let output = Command::new(&createdb)
        .args(["-h", host, "-p", port, "-U", "postgres", &database])
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", createdb.to_string_lossy()));
    assert!(output.status.success(), "createdb {database} failed: {}", String::from_utf8_lossy(&output.stderr));
    vec![OsString::from("--store"), OsString::from(format!("{base}/{database}"))]
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    listener.local_addr().expect("reading the bound address").port()
}

impl Server {
    /// Starts a server on a fresh data directory and waits until `/health`
    /// answers 200. Retries on another port if the chosen one was taken
    /// in between.
    pub async fn start() -> Server {
        Self::start_in_mode(false).await
    }

    /// Starts a server in secure mode: TLS with a node certificate for
    /// `localhost` and 127.0.0.1 signed by a CA, both made by `eventfold
    /// certs` in the server's directory. Ready once it logs that it serves.
    pub async fn start_secure() -> Server {
        Self::start_in_mode(true).await
    }

    async fn start_in_mode(secure: bool) -> Server {
        let binary = server_binary();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new().prefix("eventfold-client-test").tempdir().expect("temp dir");
            let (ca_file, tls_args) = if secure { make_certificates(&binary, dir.path()) } else { (None, Vec::new()) };
            let log_path = dir.path().join("server.log");
            let log = File::create(&log_path).expect("creating the server log");
            let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let child = Command::new(&binary)
                .arg("serve")
                .arg("--db")
                .arg(dir.path().join("data"))
                .arg("--listen")
                .arg(address.to_string())
                .args(&tls_args)
                .args(store_args())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning the log file handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
            let mut server = Server { child: Some(child), address, log_path, ca_file, _dir: dir };
            let deadline = Instant::now() + STARTUP_TIMEOUT;
            loop {
                if let Some(status) = server.try_wait() {
                    last_log = server.log();
                    eprintln!("eventfold exited during startup ({status}); log:\n{last_log}");
                    break;
                }
                if secure {
                    // The health check below speaks plaintext; the listener
                    // is bound once this line is logged.
                    if server.log().contains("eventfold is serving") {
                        return server;
                    }
                } else if let Ok(Ok((200, _))) =
                    tokio::time::timeout(Duration::from_secs(2), http_get(address, "/health")).await
                {
                    return server;
                }
                if Instant::now() > deadline {
                    panic!("eventfold did not answer /health within {STARTUP_TIMEOUT:?}; log:\n{}", server.log());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("eventfold failed to start three times; last log:\n{last_log}");
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server process").id()
    }

    /// `esdb://127.0.0.1:PORT?tls=false`: plaintext HTTP/2, one node.
    pub fn connection_string(&self) -> String {
        format!("esdb://127.0.0.1:{}?tls=false", self.port())
    }

    /// `esdb://admin:changeit@localhost:PORT?tls=true&tlsCaFile=CA` for a
    /// server started with [`Server::start_secure`].
    pub fn secure_connection_string(&self) -> String {
        let ca_file = self.ca_file.as_ref().expect("a server started in secure mode");
        format!("esdb://admin:changeit@localhost:{}?tls=true&tlsCaFile={}", self.port(), ca_file.display())
    }

    /// A new official client, with its own HTTP/2 connection.
    pub fn client(&self) -> Client {
        let settings: ClientSettings = self.connection_string().parse().expect("valid connection string");
        Client::new(settings).expect("creating a kurrentdb client")
    }

    /// `GET /health` over HTTP/1.1: the status code and body.
    pub async fn health(&self) -> std::io::Result<(u16, String)> {
        http_get(self.address, "/health").await
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().expect("polling the server process"))
    }

    /// Resident memory of the server process in KiB (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Sends SIGTERM and waits up to `patience` for the process to exit.
    /// `Err` (with the log) if it is still running then; it is killed by
    /// the drop that follows.
    pub async fn stop_within(mut self, patience: Duration) -> Result<ExitStatus, String> {
        let pid = self.pid();
        let sent = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "eventfold (pid {pid}) still running {patience:?} after SIGTERM; log:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, and the process must exit cleanly within 10 s.
    pub async fn stop(self) {
        let status = self.stop_within(Duration::from_secs(10)).await.unwrap_or_else(|error| panic!("{error}"));
        assert!(status.success(), "eventfold exited with {status} after SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A CA and a node certificate in `dir` (by `eventfold certs`): the CA
/// certificate's path and the server's TLS arguments.
fn make_certificates(binary: &std::path::Path, dir: &std::path::Path) -> (Option<PathBuf>, Vec<OsString>) {
    let certs = |args: &[&std::ffi::OsStr]| {
        let output = Command::new(binary).arg("certs").args(args).output().expect("running eventfold certs");
        assert!(output.status.success(), "eventfold certs failed: {}", String::from_utf8_lossy(&output.stderr));
    };
    let (ca, node) = (dir.join("ca"), dir.join("node"));
    certs(&["create-ca".as_ref(), "--out".as_ref(), ca.as_os_str()]);
    let (ca_file, ca_key) = (ca.join("ca.crt"), ca.join("ca.key"));
    certs(&[
        "create-node".as_ref(),
        "--ca-certificate".as_ref(),
        ca_file.as_os_str(),
        "--ca-key".as_ref(),
        ca_key.as_os_str(),
        "--out".as_ref(),
        node.as_os_str(),
        "--ip-addresses".as_ref(),
        "127.0.0.1".as_ref(),
        "--dns-names".as_ref(),
        "localhost".as_ref(),
    ]);
    let args = vec![
        OsString::from("--certificate-file"),
        node.join("node.crt").into_os_string(),
        OsString::from("--certificate-private-key-file"),
        node.join("node.key").into_os_string(),
    ];
    (Some(ca_file), args)
}

/// A minimal HTTP/1.1 GET with `Connection: close`: the status and body.
pub async fn http_get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Awaits `future` for at most `seconds`; a test that would hang fails,
/// naming what it was waiting for.
pub async fn within<T>(seconds: u64, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(seconds), future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {seconds} s: {what}"),
    }
}

/// A stream name no other test uses: `{category}-{uuid}`.
pub fn unique_stream(category: &str) -> String {
    format!("{category}-{}", uuid::Uuid::new_v4().simple())
}

/// A JSON event of `event_type` carrying `value`.
pub fn json_event(event_type: &str, value: serde_json::Value) -> EventData {
    EventData::json(event_type, &value).expect("serialisable JSON")
}

/// `count` JSON events of `event_type`, numbered from 0 in their `n` field.
pub fn numbered_events(event_type: &str, count: usize) -> Vec<EventData> {
    (0..count).map(|n| json_event(event_type, serde_json::json!({ "n": n }))).collect()
}
