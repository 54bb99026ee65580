//! `eventfold serve` as a child process of the bench, on a loopback port
//! the kernel picks, over a throwaway database. Dropping the guard kills
//! it, so an error anywhere in the run leaves no server behind.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct ChildServer {
    child: Child,
    pub address: SocketAddr,
    /// In secure mode: the CA certificate the server's certificate chains to.
    ca_file: Option<PathBuf>,
}

/// The `eventfold` binary to serve with: the one named (`--server-bin`,
/// `EVENTFOLD_BIN`), else the one beside this executable. Cargo puts every
/// binary of a profile in the same directory, so the default measures the
/// server built with the bench's own profile — once it is built: building
/// this crate does not build that one.
pub fn server_binary(named: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(named) = named {
        if !named.is_file() {
            bail!("the server binary {} (--server-bin / EVENTFOLD_BIN) is not a file", named.display());
        }
        return Ok(named.to_path_buf());
    }
    let bench = std::env::current_exe().context("finding the eventfold-bench executable")?;
    let directory = bench.parent().context("the directory of the eventfold-bench executable")?;
    let beside = directory.join("eventfold");
    if beside.is_file() {
        return Ok(beside);
    }
    let profile = if directory.file_name().is_some_and(|name| name == "release") { " --release" } else { "" };
    bail!(
        "no eventfold binary at {}: build the server with the bench's profile (`cargo build{profile} -p \
         eventfold-cli`), or name one with --server-bin or EVENTFOLD_BIN",
        beside.display()
    )
}

impl ChildServer {
    /// Starts `binary serve` on a database in `db`.
    pub fn start(binary: &Path, db: &Path) -> anyhow::Result<Self> {
        Self::spawn(binary, db, None, None)
    }

    /// Starts `binary serve --store store_url` (events in PostgreSQL).
    pub fn start_on_postgres(binary: &Path, db: &Path, store_url: &str) -> anyhow::Result<Self> {
        Self::spawn(binary, db, None, Some(store_url))
    }

    /// Starts `binary serve` in secure mode on a database in `db`, with a CA
    /// and a node certificate for `localhost` made by `binary certs` in
    /// `db/certs` (outside the engine's own files).
    pub fn start_secure(binary: &Path, db: &Path) -> anyhow::Result<Self> {
        let certs = db.join("certs");
        let (ca, node) = (certs.join("ca"), certs.join("node"));
        run_certs(binary, &[OsStr::new("create-ca"), OsStr::new("--out"), ca.as_os_str()])?;
        let (ca_file, ca_key) = (ca.join("ca.crt"), ca.join("ca.key"));
        run_certs(
            binary,
            &[
                OsStr::new("create-node"),
                OsStr::new("--ca-certificate"),
                ca_file.as_os_str(),
                OsStr::new("--ca-key"),
                ca_key.as_os_str(),
                OsStr::new("--out"),
                node.as_os_str(),
                OsStr::new("--dns-names"),
                OsStr::new("localhost"),
            ],
        )?;
        Self::spawn(binary, &db.join("data"), Some((node, ca_file)), None)
    }

    fn spawn(binary: &Path, db: &Path, tls: Option<(PathBuf, PathBuf)>, store: Option<&str>) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command.args(["serve", "--listen", "127.0.0.1:0", "--db"]).arg(db);
        if let Some(store) = store {
            command.arg("--store").arg(store);
        }
        if let Some((node, _)) = &tls {
            command
                .arg("--certificate-file")
                .arg(node.join("node.crt"))
                .arg("--certificate-private-key-file")
                .arg(node.join("node.key"));
        }
        let ca_file = tls.map(|(_, ca_file)| ca_file);
        let mut child = command
            .env("EVENTFOLD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let stderr = child.stderr.take().context("the child's stderr")?;
        let mut server = Self { child, address: SocketAddr::from(([127, 0, 0, 1], 0)), ca_file };
        // Port 0 avoids racing another process for a "free" port; the server
        // logs the address it got. The reader keeps draining afterwards so a
        // chatty server never blocks on a full pipe.
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        server.address = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log.recv_timeout(left).context("eventfold serve did not log its address within 30 s")?;
            if let Some(address) = line.split("address=").nth(1).and_then(|rest| rest.split_whitespace().next()) {
                break address.parse().with_context(|| format!("the logged address {address:?}"))?;
            }
        };
        // The health check speaks plaintext HTTP/1.1; a secure server is
        // ready once it has logged its address (the listener is bound).
        if server.ca_file.is_none() {
            wait_for_health(server.address, deadline)?;
        }
        Ok(server)
    }

    /// The address clients connect to: plaintext, or TLS by the name the
    /// certificate carries, trusting its CA, as the built-in admin (secure
    /// mode authenticates every call, so its cost is measured too).
    pub fn url(&self) -> String {
        match &self.ca_file {
            None => format!("http://{}", self.address),
            Some(ca_file) => {
                format!(
                    "esdb://admin:changeit@localhost:{}?tls=true&tlsCaFile={}",
                    self.address.port(),
                    ca_file.display()
                )
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // A throwaway database: no need for a clean stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `binary certs ARGS`, failing with its stderr.
fn run_certs(binary: &Path, args: &[&OsStr]) -> anyhow::Result<()> {
    let output = Command::new(binary)
        .arg("certs")
        .args(args)
        .output()
        .with_context(|| format!("running {} certs", binary.display()))?;
    if !output.status.success() {
        bail!("{} certs failed: {}", binary.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// Polls `GET /health` until it answers 200 or the deadline passes.
pub fn wait_for_health(address: SocketAddr, deadline: Instant) -> anyhow::Result<()> {
    loop {
        if health_is_ok(address) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{address} did not answer GET /health in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` over HTTP/1.0 (so the answer is never chunked): the body of a
/// 200 answer.
pub fn http_get(address: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut socket = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .with_context(|| format!("connecting to {address}"))?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).context("setting a read timeout")?;
    write!(socket, "GET {path} HTTP/1.0\r\nhost: localhost\r\n\r\n").with_context(|| format!("GET {path}"))?;
    let mut response = String::new();
    socket.read_to_string(&mut response).with_context(|| format!("reading the answer to GET {path}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    if head.split_whitespace().nth(1) != Some("200") {
        bail!("GET {path} on {address} answered {:?}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_owned())
}

fn health_is_ok(address: SocketAddr) -> bool {
    let Ok(mut socket) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else { return false };
    let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(socket, "GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = socket.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}
