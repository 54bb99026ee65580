//! A throwaway S3-compatible server for the object storage sink's tests:
//! moto's `moto_server` (PyPI `moto[server]`), on a free loopback port,
//! keeping everything in memory. `scripts/test` installs it into the
//! virtualenv `$EVENTFOLD_VENV/connectors` (default
//! `~/.cache/eventfold-venv`); `EVENTFOLD_MOTO_SERVER` names another
//! binary.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::child_server::{ChildGuard, find_executable, free_port, on_path};

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct MotoServer {
    pub port: u16,
    _child: ChildGuard,
    // Last, so it is removed after the server stopped.
    _dir: tempfile::TempDir,
}

/// Where `scripts/test` installs `moto_server`, or where it is named.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(named) = std::env::var_os("EVENTFOLD_MOTO_SERVER") {
        return Some(PathBuf::from(named));
    }
    let venv_root = std::env::var_os("EVENTFOLD_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/eventfold-venv")))?;
    find_executable(&[venv_root.join("connectors/bin/moto_server")]).or_else(|| on_path("moto_server"))
}

impl MotoServer {
    pub fn start(binary: PathBuf) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("eventfold-moto").tempdir().context("creating moto's directory")?;
        let port = free_port()?;
        let mut command = Command::new(&binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).current_dir(dir.path());
        let child = ChildGuard::start(command, "moto_server", &dir.path().join("moto.log"), port, START_TIMEOUT)?;
        Ok(Self { port, _child: child, _dir: dir })
    }

    /// Starts one for a test, or says why the test is skipped: only where
    /// moto is not installed (`scripts/test` installs it).
    pub fn for_test() -> Option<Self> {
        let Some(binary) = find_binary() else {
            eprintln!(
                "SKIPPED: moto_server is not installed (scripts/test installs moto[server] into \
                 $EVENTFOLD_VENV/connectors); no object storage test ran"
            );
            return None;
        };
        match Self::start(binary) {
            Ok(server) => Some(server),
            Err(error) => panic!("moto_server is installed but did not start: {error:#}"),
        }
    }

    /// The endpoint, for path-style requests.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
