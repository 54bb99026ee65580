//! A throwaway PostgreSQL for tests and the benchmark: the installed server
//! binaries, `initdb` into a temporary directory, listening on a unix socket
//! in that directory and on a free loopback port (nothing leaves the
//! machine). Dropping the guard stops it and removes the directory, on
//! error and on panic too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::child_server::free_port;

pub struct PgServer {
    bin: PathBuf,
    /// The loopback TCP port (the unix socket's name carries it too).
    pub port: u16,
    data: PathBuf,
    /// `pg_ctl -o` options: the same at every start.
    options: String,
    run_as_postgres: bool,
    pub socket_dir: PathBuf,
    // Last, so it is removed after the server stopped.
    _dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
pub fn find_binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A server certificate and its private key, PEM.
pub struct ServerTls<'a> {
    pub certificate_pem: &'a str,
    pub key_pem: &'a str,
}

impl PgServer {
    pub fn start(bin: PathBuf) -> anyhow::Result<Self> {
        Self::start_with(bin, None)
    }

    /// A server that also offers TLS with `tls` (plain connections are still
    /// accepted: what a client insists on is the client's `sslmode`).
    pub fn start_with_tls(bin: PathBuf, tls: &ServerTls<'_>) -> anyhow::Result<Self> {
        Self::start_with(bin, Some(tls))
    }

    fn start_with(bin: PathBuf, tls: Option<&ServerTls<'_>>) -> anyhow::Result<Self> {
        // In the system temp directory rather than the scratch one: the
        // `postgres` user must be able to reach it.
        let dir = tempfile::Builder::new().prefix("eventfold-pg").tempdir().context("creating the PG directory")?;
        let run_as_postgres = is_root();
        if run_as_postgres {
            let uid = postgres_id("-u")?;
            let gid = postgres_id("-g")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("handing the PG directory to postgres")?;
        }
        let data = dir.path().join("data");
        let port = free_port()?;
        // Durable commits, as an event store needs; more connections than
        // the default so 256 writers can each have one.
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -k {} -p {port} -c max_connections=300 -c synchronous_commit=on -c fsync=on",
            path(dir.path())?,
        );
        if let Some(tls) = tls {
            let certificate = dir.path().join("server.crt");
            let key = dir.path().join("server.key");
            std::fs::write(&certificate, tls.certificate_pem).context("writing the server certificate")?;
            std::fs::write(&key, tls.key_pem).context("writing the server key")?;
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .context("restricting the server key")?;
            if run_as_postgres {
                let (uid, gid) = (postgres_id("-u")?, postgres_id("-g")?);
                for file in [&certificate, &key] {
                    std::os::unix::fs::chown(file, Some(uid), Some(gid))
                        .context("handing the TLS files to postgres")?;
                }
            }
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                path(&certificate)?,
                path(&key)?
            ));
        }
        let server =
            Self { bin, port, data, options, run_as_postgres, socket_dir: dir.path().to_path_buf(), _dir: dir };
        server
            .run("initdb", &["-D", path(&server.data)?, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])?;
        server.start_again()?;
        Ok(server)
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: no
    /// checkpoint, open connections cut); [`Self::start_again`] recovers it.
    pub fn stop_immediately(&self) -> anyhow::Result<()> {
        self.run("pg_ctl", &["-D", path(&self.data)?, "stop", "-m", "immediate", "-w"])
    }

    /// Starts the server on its data directory and port, and waits until
    /// it accepts connections.
    pub fn start_again(&self) -> anyhow::Result<()> {
        let log = self.socket_dir.join("server.log");
        self.run("pg_ctl", &["-D", path(&self.data)?, "-l", path(&log)?, "-o", &self.options, "-w", "start"])
    }

    /// Starts one for a test, or says why the test is skipped: only where
    /// PostgreSQL is not installed (`scripts/test` installs it).
    pub fn for_test() -> Option<Self> {
        let Some(bin) = find_binaries() else {
            eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install -y postgresql); no PostgreSQL test ran");
            return None;
        };
        match Self::start(bin) {
            Ok(server) => Some(server),
            Err(error) => panic!("PostgreSQL is installed but did not start: {error:#}"),
        }
    }

    /// The URL of database `database` as user `postgres`, over loopback TCP.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database (as `createdb` does).
    pub fn create_database(&self, database: &str) -> anyhow::Result<()> {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", database])
    }

    /// Every process of the server (postmaster and backends), for RSS.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn run(&self, tool: &str, arguments: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(tool);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(arguments)
            .current_dir(&self.socket_dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        if !output.status.success() {
            bail!("{tool} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Throwaway data: the quickest stop is fine.
        if let Ok(data) = path(&self.data) {
            let _ = self.run("pg_ctl", &["-D", data, "stop", "-m", "immediate"]);
        }
    }
}

fn path(path: &Path) -> anyhow::Result<&str> {
    path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn postgres_id(flag: &str) -> anyhow::Result<u32> {
    let output = Command::new("id").args([flag, "postgres"]).output().context("looking up the postgres user")?;
    if !output.status.success() {
        bail!("there is no postgres user to run PostgreSQL as");
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().context("the postgres user's id")
}
