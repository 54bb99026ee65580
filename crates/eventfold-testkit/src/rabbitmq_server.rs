//! A throwaway RabbitMQ for the RabbitMQ sink's tests: Debian's
//! `rabbitmq-server` script run directly (it and its Erlang VM are one
//! process group, which the guard signals as a whole), with its database, logs, Erlang cookie and
//! configuration in a temporary directory, a unique node name, and free
//! loopback ports for AMQP and for Erlang distribution. It takes seconds to
//! start; the wait is bounded. The Erlang port mapper (`epmd`) it starts
//! is shared by every node on the machine and stays.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::child_server::{ChildGuard, find_executable, free_port};

const START_TIMEOUT: Duration = Duration::from_secs(90);
static NODES_STARTED: AtomicU32 = AtomicU32::new(0);

pub struct RabbitMqServer {
    binary: PathBuf,
    pub port: u16,
    distribution_port: u16,
    node_name: String,
    child: Option<ChildGuard>,
    dir: tempfile::TempDir,
}

pub fn find_binary() -> Option<PathBuf> {
    find_executable(&[PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server")])
}

impl RabbitMqServer {
    pub fn start(binary: PathBuf) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("eventfold-rabbitmq").tempdir().context("creating its directory")?;
        let node_name =
            format!("eventfold-{}-{}@localhost", std::process::id(), NODES_STARTED.fetch_add(1, Ordering::Relaxed));
        let mut server =
            Self { binary, port: free_port()?, distribution_port: free_port()?, node_name, child: None, dir };
        server.start_again()?;
        Ok(server)
    }

    /// Starts it (again) on its ports and database, and waits until it
    /// accepts AMQP connections.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("RabbitMQ is already running");
        }
        let dir = self.dir.path();
        let mut command = Command::new(&self.binary);
        command
            .current_dir(dir)
            // Its own Erlang cookie, in the temporary home.
            .env("HOME", dir)
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.distribution_port.to_string())
            .env("RABBITMQ_NODENAME", &self.node_name)
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"));
        let log = dir.join("server.log");
        self.child = Some(ChildGuard::start(command, "rabbitmq-server", &log, self.port, START_TIMEOUT)?);
        Ok(())
    }

    /// Stops it cleanly (SIGTERM: persistent messages of durable queues
    /// stay) and waits.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.terminate().context("stopping RabbitMQ")?;
        }
        Ok(())
    }

    /// Starts one for a test, or says why the test is skipped: only where
    /// RabbitMQ is not installed (`scripts/test` installs it).
    pub fn for_test() -> Option<Self> {
        let Some(binary) = find_binary() else {
            eprintln!("SKIPPED: RabbitMQ is not installed (apt-get install -y rabbitmq-server); no RabbitMQ test ran");
            return None;
        };
        match Self::start(binary) {
            Ok(server) => Some(server),
            Err(error) => panic!("RabbitMQ is installed but did not start: {error:#}"),
        }
    }

    /// The URL of the default virtual host as the default user.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}
