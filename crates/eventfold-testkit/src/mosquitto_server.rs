//! A throwaway Mosquitto for the MQTT sink's tests: Debian's
//! `/usr/sbin/mosquitto` with its own configuration in a temporary
//! directory, anonymous access on a free loopback port, persistence in that
//! directory (queued messages of persistent sessions survive a clean
//! stop), and no limit on the messages queued for a slow subscriber.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::child_server::{ChildGuard, find_executable, free_port, on_path};

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct MosquittoServer {
    binary: PathBuf,
    pub port: u16,
    config: PathBuf,
    child: Option<ChildGuard>,
    dir: tempfile::TempDir,
}

pub fn find_binary() -> Option<PathBuf> {
    find_executable(&[PathBuf::from("/usr/sbin/mosquitto")]).or_else(|| on_path("mosquitto"))
}

impl MosquittoServer {
    pub fn start(binary: PathBuf) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("eventfold-mosquitto").tempdir().context("creating its directory")?;
        let port = free_port()?;
        let location = dir.path().to_str().context("the directory is not UTF-8")?;
        // `user root`: run as whoever starts it (root included) rather than
        // switching to a `mosquitto` user who cannot write the directory.
        let settings = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {location}/\n\
             max_queued_messages 0\nmax_inflight_messages 0\nuser root\nlog_dest stderr\n"
        );
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(&config, settings).context("writing mosquitto.conf")?;
        let mut server = Self { binary, port, config, child: None, dir };
        server.start_again()?;
        Ok(server)
    }

    /// Starts it (again) on its port, configuration and persisted state.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("mosquitto is already running");
        }
        let mut command = Command::new(&self.binary);
        command.arg("-c").arg(&self.config).current_dir(self.dir.path());
        let log = self.dir.path().join(format!("mosquitto-{}.log", std::process::id()));
        self.child = Some(ChildGuard::start(command, "mosquitto", &log, self.port, START_TIMEOUT)?);
        Ok(())
    }

    /// Stops it cleanly (SIGTERM: it saves its state) and waits.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.terminate().context("stopping mosquitto")?;
        }
        Ok(())
    }

    /// Starts one for a test, or says why the test is skipped: only where
    /// Mosquitto is not installed (`scripts/test` installs it).
    pub fn for_test() -> Option<Self> {
        let Some(binary) = find_binary() else {
            eprintln!("SKIPPED: mosquitto is not installed (apt-get install -y mosquitto); no MQTT test ran");
            return None;
        };
        match Self::start(binary) {
            Ok(server) => Some(server),
            Err(error) => panic!("mosquitto is installed but did not start: {error:#}"),
        }
    }
}
