//! What the throwaway target servers of the tests share: the installed
//! binary, a free
//! loopback port, a child process in its own process group (a launcher
//! script and the server it starts go together), signalled as a group and
//! killed when its guard drops (on error and on panic too), and a bounded wait until it accepts
//! connections.

use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A loopback port nothing listens on now (the kernel's pick, released at
/// once: the server binds it a moment later).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("reading the free port")?.port())
}

/// The first of `candidates` that is an executable file.
pub fn find_executable(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|path| path.is_file()).cloned()
}

/// `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// `name` on `PATH`, else the first of `known` that exists (Debian puts
/// some servers in `/usr/sbin`, outside a user's `PATH`).
pub fn find_binary(name: &str, known: &[&str]) -> Option<PathBuf> {
    on_path(name).or_else(|| find_executable(&known.iter().map(PathBuf::from).collect::<Vec<_>>()))
}

/// A running child, killed and reaped on drop.
pub struct ChildGuard {
    child: Child,
    what: String,
    log: PathBuf,
}

impl ChildGuard {
    /// Starts `command` with its output in `log`, and waits (at most
    /// `timeout`) until `127.0.0.1:port` accepts connections.
    pub fn start(mut command: Command, what: &str, log: &Path, port: u16, timeout: Duration) -> anyhow::Result<Self> {
        let output = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let errors = output.try_clone().context("sharing the log file")?;
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let mut guard = Self { child, what: what.to_owned(), log: log.to_path_buf() };
        guard.wait_for_port(port, timeout)?;
        Ok(guard)
    }

    fn wait_for_port(&mut self, port: u16, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().context("polling the child")? {
                bail!("{} exited ({status}) before listening: {}", self.what, self.log_tail());
            }
            if Instant::now() >= deadline {
                bail!("{} did not listen on port {port} within {timeout:?}: {}", self.what, self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of the server's output, for an error.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or(&text).to_owned()
    }

    /// Asks the server to stop (SIGTERM), and waits for it at most 30 s
    /// before killing it.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        self.signal_group("TERM")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().context("polling the child")?.is_none() {
            if Instant::now() >= deadline {
                self.kill();
                bail!("{} did not stop within 30 s of SIGTERM", self.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the server's whole group (SIGKILL: as a crash would) and
    /// reaps it.
    pub fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.signal_group("KILL");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` to every process of the child's group (its id is the
    /// child's, set at spawn).
    fn signal_group(&self, signal: &str) -> anyhow::Result<()> {
        let group = format!("-{}", self.child.id());
        let sent = Command::new("kill").args([&format!("-{signal}"), "--", &group]).status().context("running kill")?;
        if !sent.success() {
            bail!("kill -{signal} -- {group} failed");
        }
        Ok(())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
