//! A throwaway Redis for tests: the installed `redis-server` on a free
//! loopback port, its data in a temporary directory, with the append-only
//! file on and `appendfsync always` (a write is acknowledged once it is on
//! disk), so that a test can kill it and start it again on the same port
//! and data and find every acknowledged write. Dropping the guard kills it
//! and removes the directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Longest wait for a start (loading the append-only file included).
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RedisServer {
    binary: PathBuf,
    pub port: u16,
    /// A second port serving TLS with this certificate and key, if any.
    tls: Option<(u16, PathBuf, PathBuf)>,
    child: Option<Child>,
    // Last, so it is removed after the server stopped.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one for a test, or says why the test is skipped: only where
    /// Redis is not installed (`scripts/test` installs it).
    pub fn for_test() -> Option<Self> {
        let Some(binary) = crate::child_server::find_binary("redis-server", &["/usr/bin/redis-server"]) else {
            eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server); no Redis test ran");
            return None;
        };
        match Self::start(binary) {
            Ok(server) => Some(server),
            Err(error) => panic!("redis-server is installed but did not start: {error:#}"),
        }
    }

    /// As [`Self::for_test`], also serving TLS on a second port with the
    /// PEM `certificate` and `key` (clients need no certificate).
    pub fn for_test_with_tls(certificate: PathBuf, key: PathBuf) -> Option<Self> {
        let Some(binary) = crate::child_server::find_binary("redis-server", &["/usr/bin/redis-server"]) else {
            eprintln!("SKIPPED: redis-server is not installed (apt-get install -y redis-server); no Redis test ran");
            return None;
        };
        let started = crate::child_server::free_port()
            .and_then(|tls_port| Self::start_serving(binary, Some((tls_port, certificate, key))));
        match started {
            Ok(server) => Some(server),
            Err(error) => panic!("redis-server is installed but did not start with TLS: {error:#}"),
        }
    }

    pub fn start(binary: PathBuf) -> anyhow::Result<Self> {
        Self::start_serving(binary, None)
    }

    fn start_serving(binary: PathBuf, tls: Option<(u16, PathBuf, PathBuf)>) -> anyhow::Result<Self> {
        let dir =
            tempfile::Builder::new().prefix("eventfold-redis").tempdir().context("creating the Redis directory")?;
        let port = crate::child_server::free_port()?;
        let mut server = Self { binary, port, tls, child: None, dir };
        server.start_again()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://127.0.0.1:<TLS port>`, when it serves TLS.
    pub fn tls_url(&self) -> Option<String> {
        self.tls.as_ref().map(|(port, _, _)| format!("rediss://127.0.0.1:{port}"))
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing redis-server")?;
            child.wait().context("waiting for redis-server")?;
        }
        Ok(())
    }

    /// Starts the server on its port and directory (after [`Self::kill`]),
    /// and waits until it answers a PING (the append-only file loaded).
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("redis-server is already running");
        }
        let log = std::fs::File::create(self.dir.path().join("server.log")).context("creating the Redis log")?;
        let mut command = Command::new(&self.binary);
        command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path());
        if let Some((port, certificate, key)) = &self.tls {
            command.args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no", "--tls-cert-file"]);
            command.arg(certificate).arg("--tls-key-file").arg(key);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("sharing the Redis log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("running {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.answers_ping() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                bail!("redis-server exited ({status}): {log}");
            }
            if Instant::now() > deadline {
                bail!("redis-server did not answer on port {} within {START_TIMEOUT:?}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers `+PONG` (not `-LOADING`) now.
    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut answer = [0; 5];
        stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
