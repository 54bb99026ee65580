//! A throwaway NATS server with JetStream for tests: the installed
//! `nats-server` on a free loopback port, JetStream's file storage in a
//! temporary directory, so that a test can kill it and start it again on
//! the same port and storage and find its streams and messages. Dropping
//! the guard kills it and removes the directory.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Longest wait for a start (JetStream recovering its streams included).
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct NatsServer {
    binary: PathBuf,
    pub port: u16,
    /// The certificate and key it serves TLS with, if it does.
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
    // Last, so it is removed after the server stopped.
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one for a test, or says why the test is skipped: only where
    /// NATS is not installed (`scripts/test` installs it).
    pub fn for_test() -> Option<Self> {
        let Some(binary) =
            crate::child_server::find_binary("nats-server", &["/usr/sbin/nats-server", "/usr/bin/nats-server"])
        else {
            eprintln!("SKIPPED: nats-server is not installed (apt-get install -y nats-server); no NATS test ran");
            return None;
        };
        match Self::start(binary) {
            Ok(server) => Some(server),
            Err(error) => panic!("nats-server is installed but did not start: {error:#}"),
        }
    }

    /// As [`Self::for_test`], serving TLS (after its plain `INFO`, as NATS
    /// does) with the PEM `certificate` and `key`, and requiring it.
    pub fn for_test_with_tls(certificate: PathBuf, key: PathBuf) -> Option<Self> {
        let binary =
            crate::child_server::find_binary("nats-server", &["/usr/sbin/nats-server", "/usr/bin/nats-server"]);
        let Some(binary) = binary else {
            eprintln!("SKIPPED: nats-server is not installed (apt-get install -y nats-server); no NATS test ran");
            return None;
        };
        match Self::start_serving(binary, Some((certificate, key))) {
            Ok(server) => Some(server),
            Err(error) => panic!("nats-server is installed but did not start with TLS: {error:#}"),
        }
    }

    pub fn start(binary: PathBuf) -> anyhow::Result<Self> {
        Self::start_serving(binary, None)
    }

    fn start_serving(binary: PathBuf, tls: Option<(PathBuf, PathBuf)>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("eventfold-nats").tempdir().context("creating the NATS directory")?;
        let port = crate::child_server::free_port()?;
        let mut server = Self { binary, port, tls, child: None, dir };
        server.start_again()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`, or `tls://…` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing nats-server")?;
            child.wait().context("waiting for nats-server")?;
        }
        Ok(())
    }

    /// Starts the server on its port and storage (after [`Self::kill`]),
    /// and waits until it greets a client.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("nats-server is already running");
        }
        let log = self.dir.path().join("server.log");
        let mut command = Command::new(&self.binary);
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path().join("jetstream"))
            .arg("-l")
            .arg(&log);
        if let Some((certificate, key)) = &self.tls {
            command.args(["--tls", "--tlscert"]).arg(certificate).arg("--tlskey").arg(key);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.greets() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("nats-server exited ({status}): {log}");
            }
            if Instant::now() > deadline {
                bail!("nats-server did not answer on port {} within {START_TIMEOUT:?}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server sends its `INFO` greeting now.
    fn greets(&self) -> bool {
        let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO ")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
